//! Test harness: starts the real `blocklist-edge` binary on a free loopback port with its own
//! data directory, speaks HTTP to it, and stops it in `Drop`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

pub mod browser;
pub mod client;
pub mod consumers;
pub mod http_server;
pub mod proxy;
#[allow(unused_imports)] // not every test binary uses both
pub use client::{Api, error_of, gunzip, sha256_hex};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// The key-value store of data directory `dir` (`data.sqlite3`), opened beside any host
/// running on it: what tests read to see what is stored.
pub fn data_store(dir: &Path) -> keyvalue_sqlite::Store {
    keyvalue_sqlite::Store::open(dir.join("data.sqlite3")).unwrap()
}

/// Every key of `bucket` in the data directory `dir`.
pub fn stored_keys(dir: &Path, bucket: &str) -> Vec<String> {
    data_store(dir).all_keys(bucket).unwrap()
}

/// `up` flags for tests that crash or kill hosts mid-job, with `max_lists` lists per user: short
/// job deadlines (so a claim left by a crash runs out in seconds), a busy sweeper, and a rate
/// limit no test reaches.
pub fn crash_test_flags(max_lists: &'static str) -> [&'static str; 10] {
    [
        "--rate-limit",
        "1000000",
        "--job-deadline-ms",
        "2000",
        "--job-requeue-after-ms",
        "1000",
        "--sweep-interval-ms",
        "300",
        "--max-lists-per-user",
        max_lists,
    ]
}

/// A running host; its HTTP API through [`Api`] (`Deref`).
pub struct Host {
    child: Child,
    api: Api,
    pub addr: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// The host's log lines, when it was started with [`Host::start_logging`].
    log: Option<Arc<Mutex<Vec<String>>>>,
}

impl std::ops::Deref for Host {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Host {
    /// Starts a host with a fresh data directory and extra `args` for `up`.
    pub fn start(args: &[&str]) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut h = Host::start_in(&dir, args);
        h._tmp = Some(tmp);
        h
    }

    /// Starts a host on an existing data directory (to test restarts).
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Host {
        Host::spawn(data_dir, args, &[], false)
    }

    /// Starts a host on an existing data directory with extra environment variables (for
    /// example `BLOCKLIST_EDGE_FAILPOINTS`).
    pub fn start_in_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Host {
        Host::spawn(data_dir, args, env, false)
    }

    /// Starts a host with a fresh data directory, logging at `info`, its log kept for
    /// [`Host::log_lines_with`].
    pub fn start_logging(args: &[&str]) -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = Host::spawn(tmp.path(), args, &[], true);
        h._tmp = Some(tmp);
        h
    }

    fn spawn(data_dir: &Path, args: &[&str], env: &[(&str, &str)], keep_log: bool) -> Host {
        let level = match keep_log {
            true => "info".to_owned(),
            false => std::env::var("BLOCKLIST_EDGE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        };
        let mut child = up_command(data_dir, args)
            // BLOCKLIST_EDGE_TEST_LOG=info (say) shows more of the hosts' logs when debugging.
            .env("BLOCKLIST_EDGE_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(if keep_log { Stdio::piped() } else { Stdio::inherit() })
            .spawn()
            .expect("starting blocklist-edge");
        let log = child.stderr.take().map(|stderr| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    sink.lock().unwrap().push(line);
                }
            });
            lines
        });
        let base = match listening_address(child.stdout.take().unwrap(), Duration::from_secs(60)) {
            Some(b) => b,
            None => {
                let _ = child.kill();
                panic!("blocklist-edge did not report its address within 60 s");
            }
        };
        let addr = base.trim_start_matches("http://").to_owned();
        Host { child, api: Api::new(&base), addr, data_dir: data_dir.to_path_buf(), _tmp: None, log }
    }

    /// The lines of the host's log (plain text: not a terminal) that contain `needle`, once
    /// there are `n` of them, or all there are after 10 s. Needs [`Host::start_logging`].
    pub fn log_lines_with(&self, needle: &str, n: usize) -> Vec<String> {
        let log = self.log.as_ref().expect("the host was started with Host::start_logging");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let found: Vec<String> = log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect();
            if found.len() >= n || std::time::Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends raw bytes as a request and returns (status, body) of the response. Send HTTP/1.0
    /// requests: the answer then comes unchunked, ending with the connection.
    pub fn raw(&self, request: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => out[i + 4..].to_vec(),
            None => Vec::new(),
        };
        (status, body)
    }

    /// Waits (at most `timeout`) for the host to exit by itself (a fail point aborted it, say);
    /// its exit status, or `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends the host SIGTERM (a graceful shutdown).
    pub fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Sends the host SIGKILL now, while other threads may still be using it.
    pub fn kill_now(&self) {
        let status = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -KILL failed");
    }

    /// Stops the host with SIGKILL (no clean shutdown).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The base URL a starting `blocklist-edge up` prints on `stdout` ("blocklist-edge listening on
/// …"), if it does within `timeout`; `stdout` is read (and dropped) on a thread of its own.
pub fn listening_address(stdout: std::process::ChildStdout, timeout: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("blocklist-edge listening on ") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

/// `blocklist-edge up` on a free loopback port with the tests' admin token, on `data_dir`,
/// with extra `args`.
fn up_command(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"));
    command
        .arg("up")
        .args(["--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--data-dir")
        .arg(data_dir)
        .args(args);
    command
}

/// Runs `up` on `data_dir` with `args` expecting it not to start: waits up to 60 s for it to
/// exit and returns its exit status and everything it printed. Panics if it starts serving.
pub fn failed_start(data_dir: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = up_command(data_dir, args)
        .env("BLOCKLIST_EDGE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting blocklist-edge");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("blocklist-edge up is still running after 60 s: it did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let printed = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    assert!(!printed.contains("listening on"), "it started serving: {printed}");
    (status, printed)
}
