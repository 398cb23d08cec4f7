//! `POST /v1/preview`: the gateway compiles through the plugged-in compiler component; URL
//! sources are fetched with wasi:http, only from allowed hosts.

mod common;

use common::http_server::{Reply, Server};
use common::{Host, error_of};
use serde_json::json;

#[test]
fn preview_compiles_inline_and_allowed_url_sources() {
    let source = Server::start(|_| Reply::text(200, "0.0.0.0 remote.example.org\n0.0.0.0 sub.remote.example.org\n"));
    let h = Host::start(&["--allowed-outbound-hosts", &source.addr]);
    let (_, t) = h.create_user("alice");
    let body = json!({
        "config": {
            "name": "Preview",
            "sources": [{"source": "local.txt", "name": "inline"}, {"source": source.url("/hosts.txt")}],
            "transformations": ["Compress", "Validate", "InsertFinalNewLine"]
        },
        "sources": {"local.txt": "||ads.example.org^\n||bad^\n"}
    });
    let r = h.post("/v1/preview", &t).json(&body).send().unwrap();
    let status = r.status();
    let rules = r.headers().get("x-rule-count").cloned();
    let text = r.text().unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(rules.unwrap(), "2");
    assert!(text.starts_with("!\n! Title: Preview\n"), "{text}");
    assert!(text.contains("! Source name: inline\n! Source: local.txt\n!\n||ads.example.org^\n"), "{text}");
    assert!(text.contains("||remote.example.org^\n"), "{text}");
    assert!(!text.contains("sub.remote"), "compressed away: {text}");
    assert!(!text.contains("||bad^"), "invalid rule validated away: {text}");
}

#[test]
fn preview_refuses_what_it_cannot_do() {
    let h = Host::start(&["--max-preview-bytes", "200"]);
    let (_, t) = h.create_user("alice");
    let cases = [
        (
            json!({"config": {"name": "x", "sources": [{"source": "https://lists.example.org/a.txt"}]}}),
            422,
            "source_failed",
        ),
        (json!({"config": {"sources": [{"source": "a"}]}}), 400, "invalid_configuration"),
        (
            json!({"config": {"name": "x", "sources": [{"source": "a"}], "exclusions": ["/(/"]}, "sources": {"a": "x"}}),
            422,
            "invalid_pattern",
        ),
        // Well-formed, but two validation transformations: a rule between properties.
        (
            json!({"config": {"name": "x", "sources": [{"source": "a"}], "transformations": ["Validate", "ValidateAllowIp"]}}),
            422,
            "invalid_configuration",
        ),
        (json!({"config": {"name": "x", "sources": [{"source": "a", "kind": "hosts"}]}}), 400, "invalid_configuration"),
        (
            json!({"config": {"name": "x", "sources": [{"source": "a"}]}, "sources": {"a": "||a.org^\n".repeat(100)}}),
            413,
            "preview_too_large",
        ),
        (json!({"config": "nope"}), 400, "invalid_configuration"),
        (json!({"config": {}, "extra": 1}), 400, "bad_request"),
    ];
    for (body, status, code) in cases {
        let (s, c, m) = error_of(h.post("/v1/preview", &t).json(&body).send().unwrap());
        assert_eq!((s, c.as_str()), (status, code), "{body}: {m}");
    }
    // The host keeps serving.
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().status(), 200);
}

#[test]
fn a_source_that_never_answers_fails_the_preview_in_time() {
    let source = Server::silent();
    let h = Host::start(&["--allowed-outbound-hosts", &source.addr]);
    let (_, t) = h.create_user("alice");
    let body = json!({"config": {"name": "x", "sources": [{"source": source.url("/stalled.txt")}]}});
    let started = std::time::Instant::now();
    let (status, code, message) = error_of(h.post("/v1/preview", &t).json(&body).send().unwrap());
    // The compiler's own fetch timeout (8 s to the first byte) ends it, inside the request's
    // deadline (10 s CPU, 11 s wall clock), with an answer that names the source.
    assert_eq!((status, code.as_str()), (422, "source_failed"), "{message}");
    assert!(message.contains("stalled.txt"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(11), "{:?}", started.elapsed());
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().status(), 200);
}
