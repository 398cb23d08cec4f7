//! The servers under test, as child processes: the host, the floor (`wasmtime serve`) and nginx.

use crate::ADMIN_TOKEN;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn wait_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if reqwest::blocking::get(url).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{url} did not answer within 60 s");
}

/// wasmtime-cli 48.0.8: `BENCH_WASMTIME`, or installed once into the target directory.
pub(crate) fn wasmtime() -> PathBuf {
    if let Some(p) = std::env::var_os("BENCH_WASMTIME") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-tools");
    let bin = root.join("bin/wasmtime");
    let version_ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("48.0.8"));
    if !version_ok {
        eprintln!("installing wasmtime-cli 48.0.8 into {} (once; several minutes)", root.display());
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "wasmtime-cli", "--version", "=48.0.8", "--locked", "--root"])
            .arg(&root)
            .status()
            .expect("running cargo install");
        assert!(status.success(), "installing wasmtime-cli failed");
    }
    bin
}

/// Starts the host; returns it and its base URL.
pub(crate) fn start_host(data: &Path) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"))
        .args(["up", "--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
        .arg("--data-dir")
        .arg(data)
        // Every limit far out of reach: the bench measures serving, not refusing.
        .args(["--rate-limit", "1000000000", "--max-lists-per-user", "100000000"])
        .args(["--subscription-rate-limit", "1000000000", "--subscription-address-limit", "1000000000"])
        // Large lists are created directly from their rules text.
        .args(["--max-body-bytes", "64000000"])
        .env("BLOCKLIST_EDGE_LOG", std::env::var("BENCH_HOST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting blocklist-edge");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    let base = loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "blocklist-edge exited");
        if let Some(url) = line.trim().strip_prefix("blocklist-edge listening on ") {
            break url.to_owned();
        }
    };
    (Proc(child), base)
}

/// Starts nginx (Debian's `nginx-light`) on a free loopback port serving `bench.txt` (`body`) and
/// its precompressed `bench.txt.gz` (`gzipped`, sent by `gzip_static` when asked for); returns
/// it and the file's URL.
pub(crate) fn start_nginx(dir: &Path, body: &[u8], gzipped: &[u8]) -> (Nginx, String) {
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("nginx not found: apt-get install nginx-light");
    let root = dir.join("nginx");
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::write(root.join("www/bench.txt"), body).unwrap();
    std::fs::write(root.join("www/bench.txt.gz"), gzipped).unwrap();
    let port = free_port();
    let r = root.display();
    std::fs::write(
        root.join("nginx.conf"),
        format!(
            "worker_processes auto;\ndaemon off;\npid {r}/nginx.pid;\nerror_log {r}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type text/plain;\n  \
             client_body_temp_path {r}/tmp;\n  proxy_temp_path {r}/tmp;\n  fastcgi_temp_path {r}/tmp;\n  \
             uwsgi_temp_path {r}/tmp;\n  scgi_temp_path {r}/tmp;\n  \
             server {{ listen 127.0.0.1:{port}; root {r}/www; location / {{ gzip_static on; }} }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .arg("-p")
        .arg(&root)
        .arg("-c")
        .arg(root.join("nginx.conf"))
        .arg("-e")
        .arg(root.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting nginx");
    let url = format!("http://127.0.0.1:{port}/bench.txt");
    let nginx = Nginx(child);
    wait_http(&url);
    (nginx, url)
}

/// nginx's master process, stopped with SIGTERM when dropped (its workers stop with it; a
/// SIGKILL would leave them serving).
pub(crate) struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; no memory is involved.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}
