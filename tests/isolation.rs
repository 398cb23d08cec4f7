//! The isolation matrix: user B tries every endpoint on user A's resources (lists, their rules,
//! compiled lists, jobs, dead-letter entries) and on A's account, and gets 404 (or 403 where the
//! endpoint needs the admin token) every time; A's resources are unchanged afterwards.

mod common;

use common::{Host, error_of};
use serde_json::{Value, json};

#[test]
fn another_user_can_reach_nothing_of_a_users() {
    // One attempt per job, and a source on a host nobody is allowed to reach: A's second list
    // ends up dead at once.
    let h = Host::start(&["--job-max-attempts", "1", "--job-backoff-ms", "10"]);
    let (a_id, a) = h.create_user("alice");
    let (_, b) = h.create_user("mallory");

    // A: a compiled list (served once, so its cache entry is hot), and a dead job.
    let list = h.create_list(&a, "private", "||private.example^\n");
    let r: Value = h.post(&format!("/v1/lists/{list}/compile"), &a).send().unwrap().json().unwrap();
    let done_job = r["jobId"].as_str().unwrap().to_owned();
    h.wait_job(&a, &done_job, "done");
    let compiled = h.get(&format!("/v1/lists/{list}/compiled"), &a).send().unwrap();
    assert_eq!(compiled.status(), 200);
    let etag = compiled.headers()["etag"].to_str().unwrap().to_owned();
    let compiled_body = compiled.text().unwrap();
    let config = json!({"name": "c", "sources": [{"source": "http://unreachable.invalid/list.txt"}]});
    let r = h.post("/v1/lists", &a).json(&json!({"name": "failing", "config": config})).send().unwrap();
    assert_eq!(r.status(), 201);
    let failing = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let r: Value = h.post(&format!("/v1/lists/{failing}/compile"), &a).send().unwrap().json().unwrap();
    let dead_job = r["jobId"].as_str().unwrap().to_owned();
    h.wait_job(&a, &dead_job, "dead");
    let before: Value = h.get(&format!("/v1/lists/{list}"), &a).send().unwrap().json().unwrap();

    // B, with a valid token of its own, on each of A's resources.
    let body = json!({"name": "stolen", "rules": "||evil.example^\n"});
    let attempts = [
        ("read a list", h.get(&format!("/v1/lists/{list}"), &b)),
        ("replace a list", h.put(&format!("/v1/lists/{list}"), &b).json(&body)),
        ("delete a list", h.delete(&format!("/v1/lists/{list}"), &b)),
        ("request a compile", h.post(&format!("/v1/lists/{list}/compile"), &b)),
        ("fetch a compiled list (cached)", h.get(&format!("/v1/lists/{list}/compiled"), &b)),
        (
            "fetch a compiled list with its ETag",
            h.get(&format!("/v1/lists/{list}/compiled"), &b).header("if-none-match", &etag),
        ),
        ("read a done job", h.get(&format!("/v1/jobs/{done_job}"), &b)),
        ("read a dead job", h.get(&format!("/v1/jobs/{dead_job}"), &b)),
        ("replay a dead job", h.post(&format!("/v1/jobs/{dead_job}/replay"), &b)),
        ("replay a done job", h.post(&format!("/v1/jobs/{done_job}/replay"), &b)),
        ("delete the failing list", h.delete(&format!("/v1/lists/{failing}"), &b)),
    ];
    for (what, request) in attempts {
        let (status, code, message) = error_of(request.send().unwrap());
        assert_eq!(status, 404, "{what}: {code} {message}");
        assert!(!message.contains("alice"), "{what}: the message names the owner: {message}");
    }
    // Endpoints that need the admin token.
    for (what, request) in [
        ("issue a token for A", h.post(&format!("/v1/users/{a_id}/tokens"), &b)),
        ("create a user", h.post("/v1/users", &b).json(&json!({"name": "x"}))),
    ] {
        assert_eq!(error_of(request.send().unwrap()).0, 403, "{what}");
    }
    // B's own views show nothing of A's.
    let lists: Value = h.get("/v1/lists", &b).send().unwrap().json().unwrap();
    assert_eq!(lists["lists"], json!([]));
    let dead: Value = h.get("/v1/jobs?status=dead", &b).send().unwrap().json().unwrap();
    assert_eq!(dead["jobs"], json!([]));
    let me: Value = h.get("/v1/me", &b).send().unwrap().json().unwrap();
    assert_ne!(me["user"]["id"], json!(a_id));

    // A's resources are as they were.
    let after: Value = h.get(&format!("/v1/lists/{list}"), &a).send().unwrap().json().unwrap();
    assert_eq!(after, before);
    let compiled = h.get(&format!("/v1/lists/{list}/compiled"), &a).send().unwrap();
    assert_eq!(compiled.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(compiled.text().unwrap(), compiled_body);
    assert_eq!(h.job(&a, &dead_job)["status"], "dead");
    assert_eq!(h.job(&a, &dead_job)["replays"], 0);
    let dead: Value = h.get("/v1/jobs?status=dead", &a).send().unwrap().json().unwrap();
    assert_eq!(dead["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(h.get(&format!("/v1/lists/{failing}"), &a).send().unwrap().status(), 200);
}

#[test]
fn tokens_are_checked_exactly() {
    let h = Host::start(&[]);
    let (_, a) = h.create_user("alice");
    // A token differing in its last digit, a prefix of it, and the admin token's hash as a token.
    let last = a.chars().last().unwrap();
    let flipped = format!("{}{}", &a[..a.len() - 1], if last == '0' { '1' } else { '0' });
    for (what, token) in [("one digit off", flipped.as_str()), ("a prefix", &a[..a.len() - 1]), ("empty", " ")] {
        let (status, code, message) = error_of(h.get("/v1/lists", token).send().unwrap());
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{what}: {message}");
        assert!(!message.contains(&a[4..]), "{what}: the message echoes a token");
    }
    assert_eq!(h.get("/v1/lists", &a).send().unwrap().status(), 200);
}
