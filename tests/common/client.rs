//! A client of the HTTP API at a base URL: what every test (and the conformance suite, against
//! any host) speaks.

#![allow(dead_code)]

use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};
use std::time::Duration;

/// The API at `base` (or, [`Api::alternating`], at several instances of one service).
pub struct Api {
    pub base: String,
    /// Every instance, when requests alternate between several.
    instances: Vec<String>,
    next: std::sync::atomic::AtomicUsize,
    client: Client,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api::alternating(&[base])
    }

    /// The API of one service served by several instances: each request goes to the next one.
    pub fn alternating(bases: &[&str]) -> Api {
        let client = Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let instances: Vec<String> = bases.iter().map(|b| b.trim_end_matches('/').to_owned()).collect();
        Api { base: instances[0].clone(), instances, next: Default::default(), client }
    }

    /// How many instances requests alternate between.
    pub fn instances(&self) -> usize {
        self.instances.len()
    }

    pub fn url(&self, path: &str) -> String {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}{}", self.instances[n % self.instances.len()], path)
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
        let r = self.post("/v1/users", super::ADMIN_TOKEN).json(&json!({"name": name})).send().unwrap();
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

    /// Creates a subscription to list `list` in `format`; returns the creation answer
    /// (`{subscription, token, path, url}`).
    pub fn subscribe(&self, token: &str, list: &str, name: &str, format: &str) -> Value {
        let r = self
            .post(&format!("/v1/lists/{list}/subscriptions"), token)
            .json(&json!({"name": name, "format": format}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "subscribing to {list} in {format}");
        r.json().unwrap()
    }

    /// The value of sample `name` (with its labels, exactly as printed) in `GET /metrics`
    /// (with the admin token).
    pub fn metric(&self, name: &str) -> f64 {
        let r = self.get("/metrics", super::ADMIN_TOKEN).send().unwrap();
        assert_eq!(r.status(), 200, "GET /metrics");
        let text = r.text().unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    }

    /// Requests a compile of list `list` (`POST /v1/lists/{id}/compile`); returns the job id.
    pub fn request_compile(&self, token: &str, list: &str) -> String {
        let r = self.post(&format!("/v1/lists/{list}/compile"), token).send().unwrap();
        assert_eq!(r.status(), 202, "compiling list {list}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["status"], "queued", "{v}");
        v["jobId"].as_str().unwrap().to_owned()
    }

    /// The job's status record (`GET /v1/jobs/{id}`).
    pub fn job(&self, token: &str, job_id: &str) -> Value {
        let r = self.get(&format!("/v1/jobs/{job_id}"), token).send().unwrap();
        assert_eq!(r.status(), 200, "job {job_id}");
        r.json().unwrap()
    }

    /// Polls job `job_id` until its status is `status`, and returns it. Fails if the job ends
    /// (done, dead, unchanged, held or discarded) in another status, or after 90 s.
    pub fn wait_job(&self, token: &str, job_id: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let job = self.job(token, job_id);
            let now = job["status"].as_str().unwrap_or("").to_owned();
            if now == status {
                return job;
            }
            let terminal = ["done", "dead", "unchanged", "held", "discarded"].contains(&now.as_str());
            assert!(!terminal, "job {job_id} ended {now}, not {status}: {job}");
            assert!(std::time::Instant::now() < deadline, "job {job_id} is still {now} after 90 s: {job}");
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// SHA-256 of `data` as lowercase hex (strong entity tags are this, quoted).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// The bytes a gzip body decompresses to (panics if it is not gzip).
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data).read_to_end(&mut out).expect("a gzip body");
    out
}

/// Sends `clients × per_client` requests of `token` (`GET /v1/lists`) from `clients` threads
/// started together, client `i` to `apis[i % apis.len()]`; returns how many were admitted (200)
/// and how many refused (429). Any other status fails.
pub fn concurrent_admissions(apis: &[&Api], token: &str, clients: usize, per_client: usize) -> (u32, u32) {
    let barrier = std::sync::Barrier::new(clients);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|i| {
                let (api, barrier) = (apis[i % apis.len()], &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut counts = (0u32, 0u32);
                    for _ in 0..per_client {
                        match api.get("/v1/lists", token).send().unwrap().status().as_u16() {
                            200 => counts.0 += 1,
                            429 => counts.1 += 1,
                            other => panic!("unexpected status {other}"),
                        }
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|j| j.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    })
}
