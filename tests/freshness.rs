//! Always fresh, safely (issue 16, parts 2–4 and 6): URL sources are fetched conditionally
//! (`If-None-Match` / `If-Modified-Since`, `304` reuses the kept copy), a refresh whose inputs
//! did not change ends `unchanged` without compiling, the publish guard holds a refresh whose
//! source failed (5xx, timeout) or that shrank, until its owner publishes or discards it, and
//! the last versions are kept, compared and rolled back to. The real host over a socket, a
//! local upstream server that changes, answers `304`, fails, stalls and shrinks.

mod common;

use common::http_server::{Upstream, UpstreamMode, upstream_etag};
use common::{Host, error_of};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// `n` rules `||r{i}.{tag}.example^`, one per line.
fn rules(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("||r{i}.{tag}.example^\n")).collect()
}

/// A host that may fetch from `upstream`, with every compile request its own job.
fn host(upstream: &Upstream, extra: &[&str]) -> Host {
    let mut args = vec![
        "--allowed-outbound-hosts",
        upstream.addr(),
        "--compile-dedupe-secs",
        "0",
        "--refresh-min-interval-secs",
        "1",
        "--sweep-interval-ms",
        "100",
        // The tests poll jobs every 50 ms.
        "--rate-limit",
        "100000",
    ];
    args.extend_from_slice(extra);
    Host::start(&args)
}

/// A configuration list of `upstream`'s file, with `extra` fields.
fn remote_list(h: &Host, token: &str, upstream: &Upstream, extra: Value) -> String {
    let mut body = json!({
        "name": "remote",
        "config": {"name": "remote", "sources": [{"source": upstream.server.url("/list.txt")}]},
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = h.post("/v1/lists", token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201, "creating {body}");
    r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned()
}

/// Asks for a compile and waits until its job ends; the job.
fn compile(h: &Host, token: &str, list: &str) -> Value {
    let job = h.request_compile(token, list);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let j = h.job(token, &job);
        if ["done", "dead", "unchanged", "held"].contains(&j["status"].as_str().unwrap()) {
            return j;
        }
        assert!(Instant::now() < deadline, "job {job} did not end within 60 s: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /v1/lists/{id}/compiled`: status, ETag, Last-Modified, body.
fn compiled(h: &Host, token: &str, list: &str) -> (String, String, String) {
    let r = h.get(&format!("/v1/lists/{list}/compiled"), token).send().unwrap();
    assert_eq!(r.status(), 200);
    let header = |n: &str| r.headers().get(n).unwrap().to_str().unwrap().to_owned();
    let (etag, modified) = (header("etag"), header("last-modified"));
    (etag, modified, r.text().unwrap())
}

fn get(h: &Host, token: &str, path: &str) -> Value {
    let r = h.get(path, token).send().unwrap();
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().unwrap()
}

fn post(h: &Host, token: &str, path: &str) -> Value {
    let r = h.post(path, token).send().unwrap();
    assert_eq!(r.status(), 200, "POST {path}");
    r.json().unwrap()
}

#[test]
fn refreshes_fetch_conditionally_and_the_guard_holds_failures_and_shrinks() {
    let upstream = Upstream::start(&rules("a", 100));
    let h = host(&upstream, &[]);
    let (_, token) = h.create_user("owner");
    let list = remote_list(&h, &token, &upstream, json!({}));

    // The first compile fetches unconditionally and publishes version 1.
    let first = compile(&h, &token, &list);
    assert_eq!(first["status"], "done", "{first}");
    let (etag1, modified1, body1) = compiled(&h, &token, &list);
    assert!(body1.contains("||r99.a.example^"));
    let hits = upstream.hits();
    assert_eq!((hits.len(), hits[0].status, hits[0].if_none_match.as_deref()), (1, 200, None), "{hits:?}");

    // Nothing changed upstream: a conditional fetch gets 304, nothing is compiled, and
    // subscribers see the same entity tag and Last-Modified.
    std::thread::sleep(Duration::from_millis(1100));
    let again = compile(&h, &token, &list);
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["artifact"]["etag"], first["artifact"]["etag"], "{again}");
    let hit = upstream.hits().last().unwrap().clone();
    assert_eq!(hit.status, 304, "{hit:?}");
    assert_eq!(hit.if_none_match, Some(upstream_etag(&rules("a", 100))), "{hit:?}");
    assert!(hit.if_modified_since.is_some(), "{hit:?}");
    assert_eq!(compiled(&h, &token, &list), (etag1.clone(), modified1.clone(), body1.clone()));
    let view = get(&h, &token, &format!("/v1/lists/{list}"));
    let source = &view["sources"][0];
    assert_eq!(source["url"], upstream.server.url("/list.txt"), "{view}");
    assert_eq!((source["lastStatus"].as_u64(), source["consecutiveFailures"].as_u64()), (Some(304), Some(0)), "{view}");
    assert_eq!((source["rules"].as_u64(), source["bytes"].as_u64()), (Some(100), Some(rules("a", 100).len() as u64)));
    assert!(source["lastSuccessAt"].is_string() && source["etag"].is_string(), "{view}");

    // The upstream changes: published as version 2.
    upstream.set(&(rules("a", 100) + &rules("b", 20)));
    let changed = compile(&h, &token, &list);
    assert_eq!(changed["status"], "done", "{changed}");
    let (etag2, _, body2) = compiled(&h, &token, &list);
    assert!(etag2 != etag1 && body2.contains("||r19.b.example^"));

    // It fails (503): held, the published list stays, the source's health says so.
    upstream.mode(UpstreamMode::Fail(503));
    let failed = compile(&h, &token, &list);
    assert_eq!(failed["status"], "held", "{failed}");
    assert!(failed["lastError"].as_str().unwrap().contains("source-failed"), "{failed}");
    assert_eq!(compiled(&h, &token, &list).0, etag2);
    let view = get(&h, &token, &format!("/v1/lists/{list}"));
    assert_eq!(
        (view["sources"][0]["lastStatus"].as_u64(), view["sources"][0]["consecutiveFailures"].as_u64()),
        (Some(503), Some(1)),
        "{view}"
    );
    assert_eq!(view["held"]["reason"], "source-failed", "{view}");
    assert!(view["held"]["candidate"].is_null(), "nothing new to publish: {view}");
    let (status, code, _) = error_of(h.post(&format!("/v1/lists/{list}/held/publish"), &token).send().unwrap());
    assert_eq!((status, code.as_str()), (409, "no_candidate"));

    // It comes back unchanged: the refresh is `unchanged`, and the outdated hold is dropped.
    upstream.mode(UpstreamMode::Serve);
    let back = compile(&h, &token, &list);
    assert_eq!(back["status"], "unchanged", "{back}");
    assert_eq!(h.job(&token, failed["id"].as_str().unwrap())["status"], "discarded");
    let (status, code, _) = error_of(h.get(&format!("/v1/lists/{list}/held"), &token).send().unwrap());
    assert_eq!((status, code.as_str()), (404, "nothing_held"));

    // It shrinks to 10 %: held with the candidate, which the owner can compare and publish.
    upstream.set(&rules("a", 12));
    let shrunk = compile(&h, &token, &list);
    assert_eq!(shrunk["status"], "held", "{shrunk}");
    assert_eq!(compiled(&h, &token, &list).0, etag2, "the published list stays");
    let held = get(&h, &token, &format!("/v1/lists/{list}/held"));
    assert_eq!((held["reason"].as_str(), held["candidate"]["rules"].as_u64()), (Some("shrank"), Some(12)), "{held}");
    assert!(held["message"].as_str().unwrap().contains("12 rules where the published one has 120"), "{held}");
    let diff = get(&h, &token, &format!("/v1/lists/{list}/diff?from=current&to=held"));
    assert_eq!((diff["removed"].as_u64(), diff["added"].as_u64()), (Some(108), Some(0)), "{diff}");
    let published = post(&h, &token, &format!("/v1/lists/{list}/held/publish"));
    assert_eq!(published["cause"], "approval", "{published}");
    let (etag3, _, body3) = compiled(&h, &token, &list);
    assert!(etag3 != etag2 && body3.contains("||r11.a.example^") && !body3.contains("||r12.a.example^"));
    assert_eq!(h.job(&token, shrunk["id"].as_str().unwrap())["status"], "done");

    // A webhook-less list still records every outcome on its jobs.
    let jobs = get(&h, &token, &format!("/v1/lists/{list}/jobs"));
    let statuses: Vec<&str> = jobs["jobs"].as_array().unwrap().iter().map(|j| j["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["done", "unchanged", "discarded", "done", "unchanged", "done"], "{jobs}");

    // A timeout is a failure too (the fetch gives up after 8 s without an answer).
    upstream.mode(UpstreamMode::Stall(Duration::from_secs(12)));
    let stalled = compile(&h, &token, &list);
    assert_eq!(stalled["status"], "held", "{stalled}");
    let view = get(&h, &token, &format!("/v1/lists/{list}"));
    assert!(view["sources"][0]["lastStatus"].is_null(), "no answer, no status: {view}");
    assert_eq!(compiled(&h, &token, &list).0, etag3);
    let discarded = post(&h, &token, &format!("/v1/lists/{list}/held/discard"));
    assert_eq!(discarded["discarded"]["reason"], "source-failed", "{discarded}");
    assert_eq!(h.job(&token, stalled["id"].as_str().unwrap())["status"], "discarded");
}

#[test]
fn versions_are_listed_compared_and_rolled_back_to() {
    let upstream = Upstream::start(&rules("a", 10));
    let h = host(&upstream, &["--versions-kept", "3"]);
    let (_, token) = h.create_user("owner");
    let list = remote_list(&h, &token, &upstream, json!({"publishGuard": {"maxShrinkPercent": 100}}));
    let mut etags = Vec::new();
    for content in [rules("a", 10), rules("a", 10) + &rules("b", 5), rules("b", 5), rules("c", 3)] {
        upstream.set(&content);
        assert_eq!(compile(&h, &token, &list)["status"], "done");
        etags.push(compiled(&h, &token, &list).0.trim_matches('"').to_owned());
    }
    // Three kept, newest first; the first version's chunks are gone.
    let v = get(&h, &token, &format!("/v1/lists/{list}/versions"));
    let kept = v["versions"].as_array().unwrap();
    assert_eq!(kept.len(), 3, "{v}");
    assert_eq!(kept.iter().map(|k| k["etag"].as_str().unwrap()).collect::<Vec<_>>(), [&etags[3], &etags[2], &etags[1]]);
    assert!(kept[0]["current"].as_bool().unwrap() && kept.iter().all(|k| k["cause"] == "manual"), "{v}");
    let keys = common::stored_keys(&h.data_dir, "lists");
    assert!(!keys.iter().any(|k| k.contains(&etags[0])), "the version pushed out keeps no chunk");
    assert!(keys.iter().any(|k| k.contains(&etags[1])));

    // The diff between two versions: counted, paged.
    let (second, third) = (kept[2]["version"].as_u64().unwrap(), kept[1]["version"].as_u64().unwrap());
    let path = format!("/v1/lists/{list}/diff?from={second}&to={third}&limit=4");
    let page = get(&h, &token, &path);
    assert_eq!((page["removed"].as_u64(), page["added"].as_u64()), (Some(10), Some(0)), "{page}");
    assert_eq!(page["lines"].as_array().unwrap().len(), 4);
    assert_eq!(page["lines"][0], "-||r0.a.example^");
    let mut lines: Vec<Value> = page["lines"].as_array().unwrap().clone();
    let mut cursor = page["nextCursor"].clone();
    while let Some(c) = cursor.as_str() {
        let next = get(&h, &token, &format!("{path}&cursor={c}"));
        lines.extend(next["lines"].as_array().unwrap().iter().cloned());
        cursor = next["nextCursor"].clone();
    }
    assert_eq!(lines.len(), 10);
    let default = get(&h, &token, &format!("/v1/lists/{list}/diff"));
    assert_eq!(
        (default["removed"].as_u64(), default["added"].as_u64()),
        (Some(5), Some(3)),
        "previous → current: {default}"
    );
    for (query, status) in
        [("from=1", 404), ("from=x", 400), ("limit=0", 400), ("cursor=-1", 400), ("what=1", 400), ("to=held", 404)]
    {
        let r = h.get(&format!("/v1/lists/{list}/diff?{query}"), &token).send().unwrap();
        assert_eq!(error_of(r).0, status, "{query}");
    }

    // Rollback to the second version: a new version with its bytes; subscribers see it change.
    let (etag_now, modified_now, _) = compiled(&h, &token, &list);
    std::thread::sleep(Duration::from_millis(1100));
    let rolled = post(&h, &token, &format!("/v1/lists/{list}/versions/{second}/rollback"));
    assert_eq!((rolled["cause"].as_str(), rolled["restores"].as_u64()), (Some("rollback"), Some(second)), "{rolled}");
    let (etag_back, modified_back, body_back) = compiled(&h, &token, &list);
    assert_eq!(etag_back.trim_matches('"'), etags[1]);
    assert!(body_back.contains("||r4.b.example^") && body_back.contains("||r9.a.example^"));
    let r = h.get(&format!("/v1/lists/{list}/compiled"), &token).header("if-none-match", &etag_now).send().unwrap();
    assert_eq!(r.status(), 200, "the old entity tag no longer matches");
    assert_ne!(modified_back, modified_now);
    let versions = get(&h, &token, &format!("/v1/lists/{list}/versions"));
    assert!(versions["versions"][0]["version"].as_u64().unwrap() > third, "{versions}");

    // The upstream did not change since: a refresh leaves the rollback in place.
    assert_eq!(compile(&h, &token, &list)["status"], "unchanged");
    assert_eq!(compiled(&h, &token, &list).0, etag_back);

    // Errors a user can cause.
    let current = versions["current"].as_u64().unwrap();
    for (path, status, code) in [
        (format!("/v1/lists/{list}/versions/{current}/rollback"), 409, "already_current"),
        (format!("/v1/lists/{list}/versions/7/rollback"), 404, "no_such_version"),
        (format!("/v1/lists/{list}/versions/latest/rollback"), 400, "bad_request"),
        (format!("/v1/lists/{list}/held/publish"), 404, "nothing_held"),
        (format!("/v1/lists/{list}/held/discard"), 404, "nothing_held"),
    ] {
        let (s, c, _) = error_of(h.post(&path, &token).send().unwrap());
        assert_eq!((s, c.as_str()), (status, code), "{path}");
    }
    let (other, other_token) = h.create_user("other");
    let _ = other;
    let r = h.get(&format!("/v1/lists/{list}/versions"), &other_token).send().unwrap();
    assert_eq!(error_of(r).0, 404, "another user's list");
    let fresh = remote_list(&h, &token, &upstream, json!({}));
    let (s, c, _) = error_of(h.get(&format!("/v1/lists/{fresh}/versions"), &token).send().unwrap());
    assert_eq!((s, c.as_str()), (404, "not_compiled"));
}

#[test]
fn the_owners_edits_are_not_guarded_and_guards_are_checked() {
    let upstream = Upstream::start(&rules("a", 100));
    let h = host(&upstream, &["--publish-guard-min-rules", "50"]);
    let (_, token) = h.create_user("owner");
    let list = remote_list(&h, &token, &upstream, json!({}));
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    // Under the service's minimum of 50 rules after a refresh: held.
    upstream.set(&rules("a", 60));
    assert_eq!(compile(&h, &token, &list)["status"], "done", "60 of 100 is within the default 50 %");
    upstream.set(&rules("a", 40));
    let low = compile(&h, &token, &list);
    assert_eq!(low["status"], "held", "{low}");
    assert!(low["lastError"].as_str().unwrap().contains("fewer than the minimum of 50"), "{low}");
    // The owner's own edit (a new revision) publishes whatever it gives.
    let r = h
        .put(&format!("/v1/lists/{list}"), &token)
        .json(&json!({
            "name": "remote",
            "config": {"name": "remote", "sources": [{"source": upstream.server.url("/list.txt")}], "exclusions": ["||r1*"]},
        }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    let (_, _, body) = compiled(&h, &token, &list);
    assert!(body.contains("||r0.a.example^") && !body.contains("||r10.a.example^"), "{body}");
    assert!(
        error_of(h.get(&format!("/v1/lists/{list}/held"), &token).send().unwrap()).0 == 404,
        "the hold is outdated"
    );

    for (guard, why) in [
        (json!({"maxShrinkPercent": 101}), "between 0 and 100"),
        (json!({"minRules": 1_000_000_000u64}), "at most"),
        (json!({"maxShrink": 10}), "unknown field"),
        (json!("strict"), "must be an object"),
        (json!([null, null]), "must be an object"),
        (json!({"minRules": -1}), "invalid value"),
    ] {
        let body = json!({"name": "g", "rules": "||a^\n", "publishGuard": guard});
        let (status, _, message) = error_of(h.post("/v1/lists", &token).json(&body).send().unwrap());
        assert_eq!(status, 400, "{guard}");
        assert!(message.contains(why), "{guard}: {message}");
    }
    let made = h
        .post("/v1/lists", &token)
        .json(&json!({"name": "g", "rules": "||a^\n", "publishGuard": {"minRules": 5}}))
        .send()
        .unwrap();
    assert_eq!(made.status(), 201);
    let made: Value = made.json().unwrap();
    assert_eq!(made["publishGuard"], json!({"maxShrinkPercent": 50, "minRules": 5}), "{made}");
}

#[test]
fn a_schedule_of_seconds_refreshes_conditionally_and_holds_a_truncated_upstream() {
    let upstream = Upstream::start(&rules("a", 50));
    let h = host(&upstream, &[]);
    let (_, token) = h.create_user("owner");
    let list = remote_list(&h, &token, &upstream, json!({"refreshIntervalSecs": 1}));
    // Scheduled refreshes come, and while nothing changes they are `unchanged` 304s.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = get(&h, &token, &format!("/v1/lists/{list}/jobs"));
        let unchanged = jobs["jobs"].as_array().unwrap().iter().filter(|j| j["status"] == "unchanged").count();
        if unchanged >= 2 {
            assert!(jobs["jobs"].as_array().unwrap().iter().all(|j| j["cause"] == "schedule"), "{jobs}");
            break;
        }
        assert!(Instant::now() < deadline, "no unchanged refreshes within 30 s: {jobs}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(upstream.hits().iter().filter(|h| h.status == 304).count() >= 2, "{:?}", upstream.hits());
    let (etag, _, _) = compiled(&h, &token, &list);
    // Truncated upstream: the next refresh is held, and the list stays as it was.
    upstream.set(&rules("a", 5));
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let r = h.get(&format!("/v1/lists/{list}/held"), &token).send().unwrap();
        if r.status() == 200 {
            break r.json::<Value>().unwrap();
        }
        assert!(Instant::now() < deadline, "the truncated list was not held within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((held["reason"].as_str(), held["cause"].as_str()), (Some("shrank"), Some("schedule")), "{held}");
    assert_eq!(compiled(&h, &token, &list).0, etag);
    // Published after approval; later refreshes of the same upstream are `unchanged`.
    post(&h, &token, &format!("/v1/lists/{list}/held/publish"));
    let (_, _, body) = compiled(&h, &token, &list);
    assert!(body.contains("||r4.a.example^") && !body.contains("||r5.a.example^"), "{body}");
}

#[test]
fn a_held_refresh_is_announced_to_the_list_webhook() {
    use common::http_server::{Reply, Server};
    use std::sync::{Arc, Mutex};
    let upstream = Upstream::start(&rules("a", 20));
    let events: Arc<Mutex<Vec<Value>>> = Default::default();
    let got = events.clone();
    let receiver = Server::start(move |req| {
        got.lock().unwrap().push(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
        Reply::text(204, "")
    });
    let allowed = format!("{},{}", upstream.addr(), receiver.named_addr());
    let h =
        Host::start(&["--allowed-outbound-hosts", &allowed, "--compile-dedupe-secs", "0", "--rate-limit", "100000"]);
    let (_, token) = h.create_user("owner");
    let list = remote_list(&h, &token, &upstream, json!({"webhookUrl": receiver.named_url("/hook")}));
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    upstream.set(&rules("a", 2));
    let held = compile(&h, &token, &list);
    assert_eq!(held["status"], "held", "{held}");
    // A held refresh announces `job.held`, once.
    let again = compile(&h, &token, &list);
    assert_eq!(again["status"], "held", "the same inputs stay held: {again}");
    assert!(again["notification"].is_null(), "and are not announced again: {again}");
    assert!(held["notification"].is_object(), "{held}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let events = loop {
        let seen = events.lock().unwrap().clone();
        if seen.len() >= 2 {
            break seen;
        }
        assert!(Instant::now() < deadline, "events: {seen:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["job.done", "job.held"], "{events:?}");
    assert_eq!(events[1]["job"]["id"], held["id"]);
    assert_eq!(events[1]["job"]["status"], "held");
    assert!(events[1]["job"]["lastError"].as_str().unwrap().contains("shrank"), "{}", events[1]);
}

#[test]
fn one_failing_source_of_two_is_compiled_from_its_last_copy_and_held() {
    let (a, b) = (Upstream::start(&rules("a", 10)), Upstream::start(&rules("b", 10)));
    let allowed = format!("{},{}", a.addr(), b.addr());
    let h =
        Host::start(&["--allowed-outbound-hosts", &allowed, "--compile-dedupe-secs", "0", "--rate-limit", "100000"]);
    let (_, token) = h.create_user("owner");
    let body = json!({
        "name": "two",
        "config": {"name": "two", "sources": [{"source": a.server.url("/a.txt")}, {"source": b.server.url("/b.txt")}]},
    });
    let r = h.post("/v1/lists", &token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    // `a` grows while `b` is down: the candidate has `a`'s new rules and `b`'s last copy.
    a.set(&rules("a", 15));
    b.mode(UpstreamMode::Fail(502));
    let held = compile(&h, &token, &list);
    assert_eq!(held["status"], "held", "{held}");
    assert!(held["lastError"].as_str().unwrap().contains(&b.server.url("/b.txt")), "names the failed source: {held}");
    let view = get(&h, &token, &format!("/v1/lists/{list}"));
    let statuses: Vec<Option<u64>> =
        view["sources"].as_array().unwrap().iter().map(|s| s["lastStatus"].as_u64()).collect();
    assert_eq!(statuses, [Some(200), Some(502)], "{view}");
    assert_eq!(view["held"]["candidate"]["rules"], 25, "{view}");
    post(&h, &token, &format!("/v1/lists/{list}/held/publish"));
    let (_, _, text) = compiled(&h, &token, &list);
    assert!(text.contains("||r14.a.example^") && text.contains("||r9.b.example^"), "{text}");
}

#[test]
fn a_source_with_includes_is_compiled_each_time_and_its_list_kept_when_equal() {
    use common::http_server::{Reply, Server};
    let included = std::sync::Arc::new(std::sync::Mutex::new(rules("inc", 3)));
    let inc = included.clone();
    let server = Server::start(move |req| match req.path.as_str() {
        "/main.txt" => Reply::text(200, "||main.example^\n!#include part.txt\n"),
        "/part.txt" => Reply::text(200, inc.lock().unwrap().clone()),
        _ => Reply::text(404, ""),
    });
    let h = Host::start(&[
        "--allowed-outbound-hosts",
        &server.addr,
        "--compile-dedupe-secs",
        "0",
        "--rate-limit",
        "100000",
    ]);
    let (_, token) = h.create_user("owner");
    let body = json!({"name": "inc", "config": {"name": "inc", "sources": [{"source": server.url("/main.txt")}]}});
    let r = h.post("/v1/lists", &token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    let (etag, modified, _) = compiled(&h, &token, &list);
    // The included file's content is only known by compiling: compiled again, same list kept.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    assert_eq!(compiled(&h, &token, &list).0, etag);
    assert_eq!(compiled(&h, &token, &list).1, modified);
    // The included file changes, the main one does not: the change is published.
    *included.lock().unwrap() = rules("inc", 4);
    assert_eq!(compile(&h, &token, &list)["status"], "done");
    let (etag2, _, text) = compiled(&h, &token, &list);
    assert!(etag2 != etag && text.contains("||r3.inc.example^"), "{text}");
    // Deleting the list removes its sources' copies and health with it.
    assert!(common::stored_keys(&h.data_dir, "lists").iter().any(|k| k.starts_with("source/")));
    assert_eq!(h.delete(&format!("/v1/lists/{list}"), &token).send().unwrap().status(), 204);
    let left: Vec<String> = common::stored_keys(&h.data_dir, "lists")
        .into_iter()
        .filter(|k| k.starts_with("source/") || k.starts_with("sources/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
