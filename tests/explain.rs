//! Explain, on the built binary: `blocklist-edge explain -c config.json NAME` and
//! `GET /v1/lists/{id}/explain?name=…` through the real host (the compiler component's
//! `explain`), on the exclusion pitfalls (an adblock-style exclusion does not remove a hosts
//! line; a plain one does, before any transformation), and their errors.

mod common;

use common::http_server::Upstream;
use common::{Host, error_of};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn explain(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let o =
        Command::new(env!("CARGO_BIN_EXE_blocklist-edge")).arg("explain").args(args).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into_owned(), stderr)
}

/// A directory holding `config.json` (with `exclusions`) and the source `hosts.txt`.
fn case(name: &str, exclusions: &[&str]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("blocklist-edge-explain-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts.txt"), "# ads\n0.0.0.0 ads.example.com\n0.0.0.0 cdn.example.net\n").unwrap();
    let config = serde_json::json!({
        "name": "pitfalls",
        "sources": [{"source": "hosts.txt"}],
        "exclusions": exclusions,
        "transformations": ["RemoveComments", "Compress"],
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn an_adblock_exclusion_misses_a_hosts_line_and_explain_shows_where_and_why() {
    let dir = case("adblock", &["||ads.example.com^"]);
    let (ok, text, err) = explain(&dir, &["-c", "config.json", "ads.example.com"]);
    assert!(ok, "{err}");
    assert!(text.starts_with("ads.example.com: blocked by line "), "{text}");
    assert!(text.contains("hosts.txt, line 2: 0.0.0.0 ads.example.com"), "{text}");
    assert!(text.contains("Compress (the list's): now ||ads.example.com^"), "{text}");
    assert!(text.contains("hint: the exclusion pattern \"||ads.example.com^\" does not match"), "{text}");

    let (ok, json, err) = explain(&dir, &["-c", "config.json", "ads.example.com", "--json"]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(e["verdict"]["blocked"], true);
    assert_eq!(e["verdict"]["decidedBy"]["text"], "||ads.example.com^");
    let lines = e["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{json}");
    assert_eq!(lines[0]["output"], serde_json::json!(["||ads.example.com^"]));
    assert_eq!(lines[0]["steps"][0]["stage"], "Compress");
}

#[test]
fn a_plain_exclusion_removes_the_line_before_compress_and_explain_names_the_pattern() {
    let dir = case("plain", &["ads.example.com"]);
    let (ok, json, err) = explain(&dir, &["-c", "config.json", "ads.example.com", "--json"]);
    assert!(ok, "{err}");
    let e: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(e["verdict"]["blocked"], false);
    assert_eq!(e["verdict"]["matches"], serde_json::json!([]));
    let step = &e["lines"][0]["steps"][0];
    assert_eq!(step["stage"], "exclusions");
    assert_eq!(step["scope"], "list");
    assert_eq!(step["why"], "matches the exclusion pattern \"ads.example.com\"");
    assert_eq!(e["lines"][0]["output"], serde_json::json!([]));
    assert_eq!(e["hints"], serde_json::json!([]));
    // A name no line mentions.
    let (ok, text, _) = explain(&dir, &["-c", "config.json", "nothing.example"]);
    assert!(ok);
    assert!(text.contains("not blocked: no line of the compiled list matches it"), "{text}");
    assert!(text.contains("No source line mentions nothing.example."), "{text}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = case("errors", &[]);
    let (ok, _, err) = explain(&dir, &["-c", "config.json", "not a name"]);
    assert!(!ok);
    assert!(err.contains("invalid name"), "{err}");
    let (ok, _, err) = explain(&dir, &["-c", "missing.json", "ads.example.com"]);
    assert!(!ok);
    assert!(err.contains("missing.json"), "{err}");
    std::fs::write(dir.join("bad.json"), r#"{"name": "x", "sources": [{"source": "absent.txt"}]}"#).unwrap();
    let (ok, _, err) = explain(&dir, &["-c", "bad.json", "ads.example.com"]);
    assert!(!ok);
    assert!(err.contains("absent.txt"), "{err}");
}

const HOSTS: &str = "# ads\n0.0.0.0 ads.example.com\n0.0.0.0 cdn.example.net\n";

#[test]
fn the_api_explains_a_configuration_list_from_its_kept_source_copies() {
    let upstream = Upstream::start(HOSTS);
    let h = Host::start(&["--allowed-outbound-hosts", upstream.addr(), "--rate-limit", "100000"]);
    let (_, token) = h.create_user("alice");
    let config = serde_json::json!({
        "name": "pitfalls",
        "sources": [{"source": upstream.server.url("/list.txt")}],
        "exclusions": ["||ads.example.com^"],
        "transformations": ["RemoveComments", "Compress"],
    });
    let r =
        h.post("/v1/lists", &token).json(&serde_json::json!({"name": "pitfalls", "config": config})).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    h.wait_job(&token, &h.request_compile(&token, &list), "done");
    let fetches = upstream.hits().len();

    let r = h.get(&format!("/v1/lists/{list}/explain?name=ADS.example.com."), &token).send().unwrap();
    assert_eq!(r.status(), 200);
    let e: Value = r.json().unwrap();
    assert_eq!(e["list"], serde_json::json!(list));
    assert_eq!(e["name"], "ads.example.com");
    assert_eq!(e["verdict"]["blocked"], true, "{e}");
    assert_eq!(e["verdict"]["decidedBy"]["text"], "||ads.example.com^");
    let line = &e["lines"][0];
    assert_eq!(line["source"], serde_json::json!(upstream.server.url("/list.txt")));
    assert_eq!(
        (line["line"].clone(), line["text"].clone()),
        (serde_json::json!(2), serde_json::json!("0.0.0.0 ads.example.com"))
    );
    assert_eq!(line["steps"][0]["stage"], "Compress");
    assert_eq!(line["output"], serde_json::json!(["||ads.example.com^"]));
    assert!(e["hints"][0].as_str().unwrap().contains("does not match \"0.0.0.0 ads.example.com\""), "{e}");
    assert_eq!(upstream.hits().len(), fetches, "explained from the kept copy, without fetching");

    // The lookup of the published list agrees with the explanation's verdict.
    let v: Value =
        h.get(&format!("/v1/lists/{list}/lookup?name=ads.example.com"), &token).send().unwrap().json().unwrap();
    assert_eq!(v["decidedBy"]["text"], e["verdict"]["decidedBy"]["text"]);
}

#[test]
fn the_api_explains_a_rules_list_and_refuses_bad_requests_with_a_reason() {
    let h = Host::start(&["--rate-limit", "100000", "--max-body-bytes", "16000000"]);
    let (_, token) = h.create_user("alice");
    let (_, bob) = h.create_user("bob");
    let list = h.create_list(&token, "rules", "||ads.example^\n||ads.example^\n@@||ok.ads.example^\n");
    // Not compiled yet: a list of rules is explained from its rules.
    let e: Value =
        h.get(&format!("/v1/lists/{list}/explain?name=ok.ads.example"), &token).send().unwrap().json().unwrap();
    assert_eq!(e["verdict"]["blocked"], false, "{e}");
    assert_eq!(e["verdict"]["decidedBy"]["text"], "@@||ok.ads.example^");
    let lines = e["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3, "{e}");
    assert_eq!(lines[0]["source"], "rules.txt");
    assert_eq!(lines[0]["steps"][0]["stage"], "Deduplicate");
    assert_eq!(lines[0]["output"], serde_json::json!([]));
    assert_eq!(lines[1]["output"], serde_json::json!(["||ads.example^"]));

    for (query, status, code) in [
        ("", 400, "bad_request"),
        ("name=ads.example&type=A", 400, "bad_request"),
        ("name=not%20a%20name", 400, "invalid_name"),
        ("name=ads.example&x=1", 400, "bad_request"),
    ] {
        let r = h.get(&format!("/v1/lists/{list}/explain?{query}"), &token).send().unwrap();
        let (got, got_code, message) = error_of(r);
        assert_eq!((got, got_code.as_str()), (status, code), "{query}: {message}");
    }
    let r = h.get(&format!("/v1/lists/{list}/explain?name=ads.example"), &bob).send().unwrap();
    assert_eq!(error_of(r).0, 404);
    let r = h.post(&format!("/v1/lists/{list}/explain?name=ads.example"), &token).send().unwrap();
    assert_eq!(r.status(), 405);

    // Inputs over the bound: 413, pointing to the command line.
    let big = "||x.example^\n".repeat(700_000);
    let r = h.post("/v1/lists", &token).json(&serde_json::json!({"name": "big", "rules": big})).send().unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let r = h.get(&format!("/v1/lists/{id}/explain?name=x.example"), &token).send().unwrap();
    let (status, code, message) = error_of(r);
    assert_eq!((status, code.as_str()), (413, "too_large_to_explain"), "{message}");
    assert!(message.contains("blocklist-edge explain"), "{message}");
}
