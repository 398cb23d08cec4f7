//! Test support: a `redis-server` of one's own (Debian's package) on a free loopback port.
//! Enabled by the `testing` feature; used by this crate's tests and the host's.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of our own on a free loopback port, its data in a temporary directory;
/// killed when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    durable: bool,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub fn new() -> RedisServer {
        RedisServer::start(false)
    }

    /// Starts a server that syncs every write to its append-only file.
    pub fn durable() -> RedisServer {
        RedisServer::start(true)
    }

    fn start(durable: bool) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        // Another process may take the free port before the server binds it: try again.
        for _ in 0..10 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if let Some(child) = spawn(port, dir.path(), durable) {
                return RedisServer { child, port, dir, durable };
            }
        }
        panic!("redis-server did not start (see {}/redis.log)", dir.keep().display());
    }

    /// The server's loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server again on the same port and directory, killing it first if needed.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.path(), self.durable).expect("redis-server did not restart");
    }

    /// Kills the server (SIGKILL, as a crash would).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Default for RedisServer {
    fn default() -> Self {
        RedisServer::new()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `redis-server` on `port` and waits until it answers; None if it exited (the port was
/// taken).
fn spawn(port: u16, dir: &Path, durable: bool) -> Option<Child> {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"));
    if durable {
        cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
    } else {
        cmd.args(["--appendonly", "no"]);
    }
    let mut child = match cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "redis-server is not on PATH: the Redis backend tests need it \
             (Debian/Ubuntu: apt-get install redis-server)"
        ),
        Err(e) => panic!("cannot run redis-server: {e}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if answers(port, child.id()) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server on port {port} did not answer PING within 20 s");
}

/// Whether the server on `port` is up (not loading) and is process `pid`, not someone else's.
fn answers(port: u16, pid: u32) -> bool {
    let Ok(client) = ::redis::Client::open(format!("redis://127.0.0.1:{port}")) else { return false };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else { return false };
    if ::redis::cmd("PING").query::<String>(&mut conn).ok().as_deref() != Some("PONG") {
        return false;
    }
    let Ok(info) = ::redis::cmd("INFO").arg("server").query::<String>(&mut conn) else { return false };
    info.lines().any(|l| l.trim() == format!("process_id:{pid}"))
}
