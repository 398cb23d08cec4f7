//! Subscriptions through the real host over a socket: every format from one compiled list,
//! versions and validators across compiles, large lists streamed and compressed, limits of
//! their own, revocation with the list, and another user's lists out of reach. (The
//! conformance suite covers the basic lifecycle on every host; `tests/consumers.rs` feeds the
//! files to real resolvers.)

mod common;

use common::{Host, error_of, gunzip, sha256_hex};
use reqwest::blocking::Response;
use serde_json::{Value, json};

/// Rules that exercise what formats can and cannot express.
const RULES: &str = "||ads.example^\n\
                     exact.example\n\
                     0.0.0.0 hosts-line.example\n\
                     ||important.example^$important\n\
                     @@||ok.ads.example^\n\
                     /ads[0-9]+\\.example/\n\
                     ||wild*.example^\n\
                     ||typed.example^$dnstype=AAAA\n";

fn header(r: &Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// A user with a compiled list of `rules`: (token, list id).
fn compiled_list(h: &Host, name: &str, rules: &str) -> (String, String) {
    let (_, token) = h.create_user("owner");
    let id = h.create_list(&token, name, rules);
    compile(h, &token, &id);
    (token, id)
}

fn compile(h: &Host, token: &str, id: &str) {
    h.wait_job(token, &h.request_compile(token, id), "done");
}

/// Creates a subscription; the creation answer.
fn subscribe(h: &Host, token: &str, id: &str, name: &str, format: &str) -> Value {
    h.subscribe(token, id, name, format)
}

fn fetch(h: &Host, path: &str) -> Response {
    h.client().get(h.url(path)).send().unwrap()
}

/// The lines of a subscription file that are not comments (nor the RPZ/unbound preamble).
fn entries(body: &str, comment: &str) -> Vec<String> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with(comment))
        .filter(|l| !l.starts_with('$') && !l.starts_with("@ ") && *l != "server:")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_format_from_one_compiled_list() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Mixed", RULES);
    let expected: [(&str, &str, &[&str]); 9] = [
        (
            "adblock",
            "!",
            &[
                "||ads.example^",
                "exact.example",
                "0.0.0.0 hosts-line.example",
                "||important.example^$important",
                "@@||ok.ads.example^",
                "/ads[0-9]+\\.example/",
                "||wild*.example^",
                "||typed.example^$dnstype=AAAA",
            ],
        ),
        (
            "hosts",
            "#",
            &[
                "0.0.0.0 ads.example",
                "0.0.0.0 exact.example",
                "0.0.0.0 hosts-line.example",
                "0.0.0.0 important.example",
            ],
        ),
        ("domains", "#", &["ads.example", "exact.example", "hosts-line.example", "important.example"]),
        (
            "wildcard",
            "#",
            &[
                "ads.example",
                "*.ads.example",
                "exact.example",
                "hosts-line.example",
                "important.example",
                "*.important.example",
            ],
        ),
        (
            "dnsmasq",
            "#",
            &[
                "local=/ads.example/",
                "local=/exact.example/",
                "local=/hosts-line.example/",
                "local=/important.example/",
            ],
        ),
        (
            "dnsmasq-legacy",
            "#",
            &[
                "address=/ads.example/",
                "address=/exact.example/",
                "address=/hosts-line.example/",
                "address=/important.example/",
            ],
        ),
        (
            "unbound",
            "#",
            &[
                "local-zone: \"ads.example.\" always_nxdomain",
                "local-zone: \"exact.example.\" always_nxdomain",
                "local-zone: \"hosts-line.example.\" always_nxdomain",
                "local-zone: \"important.example.\" always_nxdomain",
            ],
        ),
        ("allowlist", "#", &["ok.ads.example"]),
        ("rpz", ";", &[]),
    ];
    for (format, comment, want) in expected {
        let created = subscribe(&h, &token, &id, &format!("{format} subscribers"), format);
        let path = created["path"].as_str().unwrap();
        let r = fetch(&h, path);
        assert_eq!(r.status(), 200, "{format}");
        let omitted: u64 = header(&r, "x-blocklist-omitted").parse().unwrap();
        let etag = header(&r, "etag");
        let body = r.text().unwrap();
        assert_eq!(etag, format!("\"{}\"", sha256_hex(body.as_bytes())), "{format}: the ETag is the body's digest");
        assert!(body.starts_with(&format!("{comment} Title: Mixed\n")), "{format}: {body}");
        assert!(body.contains("Expires: 1 day"), "{format}: {body}");
        let published = &created["subscription"]["published"];
        assert_eq!(published["omitted"].as_u64(), Some(omitted), "{format}: the view and the header agree");
        assert_eq!(published["etag"].as_str(), Some(etag.as_str()));
        if format == "rpz" {
            // A zone: SOA with the list's version as serial, then the policy records.
            let version = published["version"].as_u64().unwrap();
            assert!(body.contains(&format!(" {version} ")) && body.contains("SOA"), "{body}");
            let records = entries(&body, comment);
            for want in [
                "ads.example CNAME .",
                "*.ads.example CNAME .",
                "exact.example CNAME .",
                "ok.ads.example CNAME rpz-passthru.",
            ] {
                assert!(records.iter().any(|r| r == want), "rpz lacks {want:?}: {body}");
            }
        } else {
            assert_eq!(entries(&body, comment), want, "{format}: {body}");
        }
        if format == "adblock" {
            assert_eq!(omitted, 0, "adblock expresses everything");
        }
        if format == "hosts" {
            // The regex, the wildcard and the $dnstype rule. (The exception is not lost: the
            // hosts file blocks ads.example alone, never ok.ads.example.)
            assert_eq!(omitted, 3, "{created}");
            assert_eq!(published["unneeded"], 1, "{created}");
            assert_eq!(published["narrowed"], 2, "||ads.example^ and ||important.example^ lose their subdomains");
            assert!(published["omittedSample"].to_string().contains("dnstype"), "{created}");
        }
    }
    let all: Value = h.get(&format!("/v1/lists/{id}/subscriptions"), &token).send().unwrap().json().unwrap();
    assert_eq!(all["subscriptions"].as_array().unwrap().len(), 9);
}

#[test]
fn versions_validators_and_the_compiled_list_across_compiles() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "V", "||a.example^\n");
    let path = subscribe(&h, &token, &id, "zone", "rpz")["path"].as_str().unwrap().to_owned();
    let first = fetch(&h, &path);
    let (etag, lm) = (header(&first, "etag"), header(&first, "last-modified"));
    let version: u64 = header(&first, "x-blocklist-version").parse().unwrap();
    let compiled = h.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap();
    let compiled_etag = header(&compiled, "etag");
    let compiled_lm = header(&compiled, "last-modified");
    assert!(!compiled_lm.is_empty(), "the compiled list has a Last-Modified");

    // The compiled list answers HEAD and If-Modified-Since.
    let r = h.client().head(h.url(&format!("/v1/lists/{id}/compiled"))).bearer_auth(&token).send().unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "etag")), (200, compiled_etag.clone()));
    let r =
        h.get(&format!("/v1/lists/{id}/compiled"), &token).header("if-modified-since", &compiled_lm).send().unwrap();
    assert_eq!(r.status(), 304);

    // Same rules, new revision, recompiled: nothing changes for anyone.
    h.put(&format!("/v1/lists/{id}"), &token).json(&json!({"name": "V", "rules": "||a.example^\n"})).send().unwrap();
    compile(&h, &token, &id);
    let r = h.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap();
    assert_eq!((header(&r, "etag"), header(&r, "last-modified")), (compiled_etag.clone(), compiled_lm.clone()));
    let r = fetch(&h, &path);
    assert_eq!((header(&r, "etag"), header(&r, "last-modified")), (etag.clone(), lm.clone()));

    // New rules: a new version (the RPZ serial grows), new validators, the old ones 200.
    std::thread::sleep(std::time::Duration::from_millis(1100)); // Last-Modified has whole seconds
    h.put(&format!("/v1/lists/{id}"), &token).json(&json!({"name": "V", "rules": "||b.example^\n"})).send().unwrap();
    compile(&h, &token, &id);
    let r = h.client().get(h.url(&path)).header("if-none-match", &etag).send().unwrap();
    assert_eq!(r.status(), 200, "the old tag no longer matches");
    let next_version: u64 = header(&r, "x-blocklist-version").parse().unwrap();
    assert!(next_version > version, "{next_version} > {version}");
    assert_ne!(header(&r, "etag"), etag);
    assert!(r.text().unwrap().contains("b.example CNAME ."));
    let r = h.client().get(h.url(&path)).header("if-modified-since", &lm).send().unwrap();
    assert_eq!(r.status(), 200, "modified since the old Last-Modified");
}

#[test]
fn large_lists_stream_whole_and_compressed() {
    let h = Host::start(&["--max-body-bytes", "8000000"]);
    let rules: String = (0..120_000).map(|i| format!("||host-{i}.tracker.example^\n")).collect();
    let (token, id) = compiled_list(&h, "Big", &rules);
    let path = subscribe(&h, &token, &id, "pihole", "hosts")["path"].as_str().unwrap().to_owned();
    let r = fetch(&h, &path);
    assert_eq!(r.status(), 200);
    let etag = header(&r, "etag");
    let length: usize = header(&r, "content-length").parse().unwrap();
    let body = r.bytes().unwrap();
    assert!(length > 3_000_000 && body.len() == length, "{length} bytes, read {}", body.len());
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&body)));
    let text = std::str::from_utf8(&body).unwrap();
    assert_eq!(entries(text, "#").len(), 120_000);
    assert!(text.contains("\n0.0.0.0 host-119999.tracker.example\n"));

    let r = h.client().get(h.url(&path)).header("accept-encoding", "gzip").send().unwrap();
    assert_eq!(header(&r, "content-encoding"), "gzip");
    let compressed = r.bytes().unwrap();
    assert!(compressed.len() * 4 < body.len(), "gzip: {} of {} bytes", compressed.len(), body.len());
    assert_eq!(gunzip(&compressed), body.to_vec());
    let r = h.client().head(h.url(&path)).header("accept-encoding", "gzip").send().unwrap();
    assert_eq!(header(&r, "content-length"), compressed.len().to_string());
}

#[test]
fn subscription_limits_are_their_own() {
    let h = Host::start(&["--subscription-rate-limit", "3", "--auth-failure-limit", "5"]);
    let (token, id) = compiled_list(&h, "L", "||a.example^\n");
    let one = subscribe(&h, &token, &id, "one", "domains")["path"].as_str().unwrap().to_owned();
    let two = subscribe(&h, &token, &id, "two", "domains")["path"].as_str().unwrap().to_owned();
    let before: u64 = header(&h.get("/v1/me", &token).send().unwrap(), "ratelimit-remaining").parse().unwrap();
    for _ in 0..3 {
        assert_eq!(fetch(&h, &one).status(), 200);
    }
    let r = fetch(&h, &one);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(error_of(r).0, 429, "the fourth fetch of one subscription");
    assert_eq!(fetch(&h, &two).status(), 200, "another subscription has its own budget");
    let after: u64 = header(&h.get("/v1/me", &token).send().unwrap(), "ratelimit-remaining").parse().unwrap();
    assert_eq!(after, before - 1, "fetches are not charged to the owner's API budget");

    // Guessed tokens: bare 404s, then the address's failure budget.
    let guesses: Vec<u16> = (0..7).map(|i| fetch(&h, &format!("/s/bls_{:064x}/x.txt", i)).status().as_u16()).collect();
    assert_eq!(&guesses[..5], &[404; 5], "{guesses:?}");
    assert_eq!(guesses[6], 429, "{guesses:?}");
}

#[test]
fn subscriptions_go_with_their_list_and_stay_with_their_owner() {
    let h = Host::start(&[]);
    let (token, id) = compiled_list(&h, "Mine", "||a.example^\n");
    let created = subscribe(&h, &token, &id, "home", "hosts");
    let path = created["path"].as_str().unwrap().to_owned();
    let sid = created["subscription"]["id"].as_str().unwrap().to_owned();
    assert!(created["url"].as_str().unwrap().starts_with(&format!("http://{}/s/bls_", h.addr)), "{created}");

    // Another user reaches none of it.
    let (_, other) = h.create_user("mallory");
    for r in [
        h.get(&format!("/v1/lists/{id}/subscriptions"), &other),
        h.post(&format!("/v1/lists/{id}/subscriptions"), &other).json(&json!({"name": "x", "format": "hosts"})),
        h.get(&format!("/v1/lists/{id}/subscriptions/{sid}"), &other),
        h.post(&format!("/v1/lists/{id}/subscriptions/{sid}/rotate"), &other),
        h.delete(&format!("/v1/lists/{id}/subscriptions/{sid}"), &other),
    ] {
        assert_eq!(error_of(r.send().unwrap()).0, 404);
    }
    // Bad input is named.
    let r =
        h.post(&format!("/v1/lists/{id}/subscriptions"), &token).json(&json!({"name": "x", "format": "bind"})).send();
    let (status, _, message) = error_of(r.unwrap());
    assert!(status == 400 && message.contains("unknown format") && message.contains("rpz"), "{message}");
    let r = h.post(&format!("/v1/lists/{id}/subscriptions"), &token).json(&json!({"name": "x"})).send();
    assert_eq!(error_of(r.unwrap()).0, 400);
    let r = h.client().post(h.url(&path)).send().unwrap();
    assert_eq!(error_of(r).0, 405, "subscriptions are read-only");

    // A subscription to a list not compiled yet says so.
    let fresh = h.create_list(&token, "Fresh", "||b.example^\n");
    let created = subscribe(&h, &token, &fresh, "early", "hosts");
    assert!(created["subscription"]["published"].is_null());
    let (status, code, _) = error_of(fetch(&h, created["path"].as_str().unwrap()));
    assert_eq!((status, code.as_str()), (404, "not_compiled"));

    // Deleting the list revokes its subscriptions.
    assert_eq!(fetch(&h, &path).status(), 200);
    assert_eq!(h.delete(&format!("/v1/lists/{id}"), &token).send().unwrap().status(), 204);
    assert_eq!(error_of(fetch(&h, &path)), (404, "not_found".into(), "not found".into()));
}
