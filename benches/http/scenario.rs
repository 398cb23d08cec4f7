//! A measured scenario: the request wrk repeats, probed once before the runs and checked
//! against each run.

use crate::client::Api;
use crate::wrk::Load;
use std::path::PathBuf;

/// A measured scenario.
pub(crate) struct Scenario {
    pub(crate) name: String,
    pub(crate) url: String,
    /// Request headers (`Name: value`) wrk sends.
    pub(crate) headers: Vec<String>,
    pub(crate) script: Option<PathBuf>,
    /// The status every answer has (checked once before the runs; wrk then counts answers of
    /// 400 or more, asserted to be none).
    pub(crate) expect: u16,
    /// Body bytes of one answer as sent (after content coding), where it is fixed.
    pub(crate) wire_body: Option<u64>,
    /// Body bytes of one answer uncompressed, where it is fixed.
    pub(crate) content_body: Option<u64>,
}

impl Scenario {
    pub(crate) fn get(name: impl Into<String>, url: String, headers: Vec<String>, expect: u16) -> Scenario {
        Scenario { name: name.into(), url, headers, script: None, expect, wire_body: None, content_body: None }
    }

    /// Checks what wrk saw against what the probe saw: answers, none 4xx/5xx, and bytes per
    /// answer that fit the body (a `304` has none; a full answer has all of it).
    pub(crate) fn check(&self, load: &Load) {
        let name = &self.name;
        assert!(load.requests > 0, "{name}: no complete answer: {load:?}");
        assert_eq!(load.non_2xx, 0, "{name}: {} answers of 400 or more: {load:?}", load.non_2xx);
        let per_answer = load.read_bytes / load.requests as f64;
        if self.expect == 304 {
            assert!(per_answer < 1024.0, "{name}: {per_answer:.0} bytes per answer: not only 304s");
        }
        if let Some(body) = self.wire_body {
            // wrk prints the bytes read with three significant digits.
            assert!(
                per_answer >= body as f64 * 0.99,
                "{name}: {per_answer:.0} bytes per answer, the body alone is {body}"
            );
        }
    }
}

/// One GET as wrk will make it (`headers`, no others), before the runs: its status must be
/// `expect`. Returns the answer's headers and body.
pub(crate) fn probe(api: &Api, url: &str, headers: &[String], expect: u16) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = api.client().get(url);
    for h in headers {
        let (name, value) = h.split_once(':').expect("a header as `Name: value`");
        req = req.header(name.trim(), value.trim());
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let head = r.headers().clone();
    let body = r.bytes().unwrap().to_vec();
    assert_eq!(status, expect, "GET {url} {headers:?}: {}", String::from_utf8_lossy(&body[..body.len().min(500)]));
    if let Some(len) = head.get("content-length").and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        assert!(status == 304 || len == body.len(), "GET {url}: content-length {len}, read {}", body.len());
    }
    (head, body)
}

pub(crate) fn header(head: &reqwest::header::HeaderMap, name: &str) -> String {
    head.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}
