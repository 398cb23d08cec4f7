//! Test harness: starts the real `blocklist-edge` binary on a free loopback port with its own
//! data directory, speaks HTTP to it, and stops it in `Drop`.

#![allow(dead_code)]

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running host.
pub struct Host {
    child: Child,
    pub base: String,
    pub addr: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    client: Client,
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"))
            .arg("up")
            .args(["--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            // BLOCKLIST_EDGE_TEST_LOG=info (say) shows more of the hosts' logs when debugging.
            .env("BLOCKLIST_EDGE_LOG", std::env::var("BLOCKLIST_EDGE_TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting blocklist-edge");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("blocklist-edge listening on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("blocklist-edge did not report its address within 60 s");
            }
        };
        let addr = base.trim_start_matches("http://").to_owned();
        let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Host { child, base, addr, data_dir: data_dir.to_path_buf(), _tmp: None, client }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(token)
    }
    pub fn post(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(token)
    }
    pub fn put(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.put(self.url(path)).bearer_auth(token)
    }
    pub fn delete(&self, path: &str, token: &str) -> RequestBuilder {
        self.client.delete(self.url(path)).bearer_auth(token)
    }
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates a user through the admin API; returns (user id, token).
    pub fn create_user(&self, name: &str) -> (String, String) {
        let r = self.post("/v1/users", ADMIN_TOKEN).json(&json!({"name": name})).send().unwrap();
        assert_eq!(r.status(), 201, "creating user {name}");
        let v: Value = r.json().unwrap();
        (v["user"]["id"].as_str().unwrap().to_owned(), v["token"].as_str().unwrap().to_owned())
    }

    /// Creates a rules list; returns its id.
    pub fn create_list(&self, token: &str, name: &str, rules: &str) -> String {
        let r = self.post("/v1/lists", token).json(&json!({"name": name, "rules": rules})).send().unwrap();
        assert_eq!(r.status(), 201, "creating list {name}");
        let v: Value = r.json().unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    /// The job's status record (`GET /v1/jobs/{id}`).
    pub fn job(&self, token: &str, job_id: &str) -> Value {
        let r = self.get(&format!("/v1/jobs/{job_id}"), token).send().unwrap();
        assert_eq!(r.status(), 200, "job {job_id}");
        r.json().unwrap()
    }

    /// Polls job `job_id` until its status is `status`, and returns it. Fails if the job ends
    /// (done or dead) in another status, or after 90 s.
    pub fn wait_job(&self, token: &str, job_id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let job = self.job(token, job_id);
            let now = job["status"].as_str().unwrap_or("").to_owned();
            if now == status {
                return job;
            }
            let terminal = now == "done" || now == "dead";
            assert!(!terminal, "job {job_id} ended {now}, not {status}: {job}");
            assert!(std::time::Instant::now() < deadline, "job {job_id} is still {now} after 90 s: {job}");
            std::thread::sleep(Duration::from_millis(50));
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

/// The JSON error body of a response, asserting its shape: `{"error": {"code", "message"}}`.
pub fn error_of(r: Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(ct.starts_with("application/json"), "error response content-type {ct:?}");
    let v: Value = r.json().expect("error body is JSON");
    let code = v["error"]["code"].as_str().expect("error.code").to_owned();
    let message = v["error"]["message"].as_str().expect("error.message").to_owned();
    assert!(!message.is_empty());
    (status, code, message)
}
