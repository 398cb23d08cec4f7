//! The HTTP API end to end: the real host, the real components, over a socket.

mod common;

use common::{ADMIN_TOKEN, Host, error_of};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Barrier};

#[test]
fn health_needs_no_token() {
    let h = Host::start(&[]);
    let r = h.client().get(h.url("/healthz")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["status"], "ok");
}

#[test]
fn missing_or_invalid_tokens_get_401_json() {
    let h = Host::start(&[]);
    let r = h.client().get(h.url("/v1/lists")).send().unwrap();
    assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer");
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));

    for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ble_nope", "Bearer wrong-admin-token-0123456789", "ble_x"] {
        let r = h.client().get(h.url("/v1/lists")).header("authorization", header).send().unwrap();
        let (status, code, message) = error_of(r);
        assert_eq!((status, code.as_str()), (401, "unauthorized"), "{header}: {message}");
    }
    // A well-formed token that was never issued.
    let fake = format!("ble_{}", "ab".repeat(32));
    let (status, _, _) = error_of(h.get("/v1/lists", &fake).send().unwrap());
    assert_eq!(status, 401);
}

#[test]
fn admin_manages_users_and_users_cannot() {
    let h = Host::start(&[]);
    let (alice_id, alice) = h.create_user("alice");
    let r = h.get("/v1/me", &alice).send().unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().unwrap();
    assert_eq!(me["user"]["id"], alice_id.as_str());
    assert_eq!(me["user"]["name"], "alice");

    let (status, code, _) = error_of(h.post("/v1/users", &alice).json(&json!({"name": "mallory"})).send().unwrap());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    // The admin token is not a user: it has no lists.
    let (status, _, _) = error_of(h.get("/v1/lists", ADMIN_TOKEN).send().unwrap());
    assert_eq!(status, 403);

    // A second token for alice works alongside the first.
    let r = h.post(&format!("/v1/users/{alice_id}/tokens"), ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status(), 201);
    let second = r.json::<Value>().unwrap()["token"].as_str().unwrap().to_owned();
    assert_ne!(second, alice);
    assert_eq!(h.get("/v1/me", &second).send().unwrap().status(), 200);
    assert_eq!(h.get("/v1/me", &alice).send().unwrap().status(), 200);

    let (status, _, _) = error_of(h.post("/v1/users", ADMIN_TOKEN).json(&json!({"name": "  "})).send().unwrap());
    assert_eq!(status, 400);
}

#[test]
fn only_token_hashes_are_stored() {
    let h = Host::start(&[]);
    let (_, token) = h.create_user("alice");
    drop(h.get("/v1/lists", &token).send().unwrap());
    let db = std::fs::read(h.data_dir.join("data.sqlite3")).unwrap();
    let wal = std::fs::read(h.data_dir.join("data.sqlite3-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(!contains(bytes, token.as_bytes()), "the token is stored in clear");
        assert!(!contains(bytes, ADMIN_TOKEN.as_bytes()), "the admin token is stored in clear");
    }
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    assert!(contains(&db, hash.as_bytes()) || contains(&wal, hash.as_bytes()), "the token's hash is stored");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn list_crud() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().json::<Value>().unwrap()["lists"], json!([]));

    let r = h
        .post("/v1/lists", &t)
        .json(&json!({"name": "ads", "description": "my ads", "rules": "||ads.example^\n"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["rules"], "||ads.example^\n");
    assert_eq!(created["kind"], "rules");

    let config = json!({"name": "hosts", "sources": [{"source": "https://hosts.example/list.txt", "type": "hosts"}], "transformations": ["Deduplicate"]});
    let r = h.post("/v1/lists", &t).json(&json!({"name": "from config", "config": config})).send().unwrap();
    assert_eq!(r.status(), 201);
    let second = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();

    let all: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    let ids: Vec<&str> = all["lists"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![id.as_str(), second.as_str()]);

    let got: Value = h.get(&format!("/v1/lists/{id}"), &t).send().unwrap().json().unwrap();
    assert_eq!(got["name"], "ads");
    assert_eq!(got["description"], "my ads");
    assert_eq!(got["rules"], "||ads.example^\n");
    let got: Value = h.get(&format!("/v1/lists/{second}"), &t).send().unwrap().json().unwrap();
    assert_eq!(got["config"], config);

    // A large rules text (several storage chunks) survives the round trip.
    let big: String = (0..60_000).map(|i| format!("||host{i}.example^\n")).collect();
    assert!(big.len() > 1_200_000);
    let r = h.put(&format!("/v1/lists/{id}"), &t).json(&json!({"name": "ads v2", "rules": big})).send().unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = h.get(&format!("/v1/lists/{id}"), &t).send().unwrap().json().unwrap();
    assert_eq!(got["name"], "ads v2");
    assert_eq!(got["description"], Value::Null);
    assert_eq!(got["revision"], 2);
    assert_eq!(got["rules"].as_str().unwrap(), big);

    assert_eq!(h.delete(&format!("/v1/lists/{id}"), &t).send().unwrap().status(), 204);
    let (status, code, _) = error_of(h.get(&format!("/v1/lists/{id}"), &t).send().unwrap());
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let all: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert_eq!(all["lists"].as_array().unwrap().len(), 1);
    let (status, _, _) = error_of(h.delete(&format!("/v1/lists/{id}"), &t).send().unwrap());
    assert_eq!(status, 404);
}

#[test]
fn lists_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (t, id) = {
        let h = Host::start_in(dir.path(), &[]);
        let (_, t) = h.create_user("alice");
        let id = h.create_list(&t, "kept", "||kept.example^\n");
        h.kill();
        (t, id)
    };
    let h = Host::start_in(dir.path(), &[]);
    let got: Value = h.get(&format!("/v1/lists/{id}"), &t).send().unwrap().json().unwrap();
    assert_eq!(got["rules"], "||kept.example^\n");
}

#[test]
fn tenant_isolation() {
    let h = Host::start(&[]);
    let (_, a) = h.create_user("alice");
    let (_, b) = h.create_user("bob");
    let id = h.create_list(&a, "alice's", "||a.example^\n");
    let r = h.post(&format!("/v1/lists/{id}/compile"), &a).send().unwrap();
    let job = r.json::<Value>().unwrap()["jobId"].as_str().unwrap().to_owned();
    seed_compiled(&h, &id, b"||a.example^\n");

    let attempts = [
        h.get(&format!("/v1/lists/{id}"), &b),
        h.put(&format!("/v1/lists/{id}"), &b).json(&json!({"name": "stolen", "rules": "x"})),
        h.delete(&format!("/v1/lists/{id}"), &b),
        h.post(&format!("/v1/lists/{id}/compile"), &b),
        h.get(&format!("/v1/lists/{id}/compiled"), &b),
        h.get(&format!("/v1/jobs/{job}"), &b),
    ];
    for req in attempts {
        let (status, code, _) = error_of(req.send().unwrap());
        assert_eq!((status, code.as_str()), (404, "not_found"));
    }
    let listed: Value = h.get("/v1/lists", &b).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"], json!([]));
    // Alice's list is untouched.
    let got: Value = h.get(&format!("/v1/lists/{id}"), &a).send().unwrap().json().unwrap();
    assert_eq!(got["name"], "alice's");
    assert_eq!(got["rules"], "||a.example^\n");
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &a).send().unwrap().status(), 200);
    assert_eq!(h.get(&format!("/v1/jobs/{job}"), &a).send().unwrap().status(), 200);
}

#[test]
fn compile_intake_dedupes_concurrent_requests() {
    let h = Arc::new(Host::start(&[]));
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "ads", "||ads.example^\n");
    let n = 20;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (h, t, id, barrier) = (h.clone(), t.clone(), id.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = h.post(&format!("/v1/lists/{id}/compile"), &t).send().unwrap();
                assert_eq!(r.status(), 202);
                r.json::<Value>().unwrap()
            })
        })
        .collect();
    let answers: Vec<Value> = handles.into_iter().map(|j| j.join().unwrap()).collect();
    let queued: Vec<&Value> = answers.iter().filter(|a| a["status"] == "queued").collect();
    assert_eq!(queued.len(), 1, "exactly one request queues a job: {answers:?}");
    let job = queued[0]["jobId"].as_str().unwrap();
    for a in &answers {
        if a["status"] != "queued" {
            assert_eq!(a["status"], "already_queued");
            assert_eq!(a["jobId"], job, "duplicates point at the queued job");
        }
    }
    let r = h.get(&format!("/v1/jobs/{job}"), &t).send().unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().unwrap();
    assert_eq!(status["listId"], id.as_str());
    // The compile consumer runs it once, however many requests there were.
    let done = h.wait_job(&t, job, "done");
    assert_eq!(done["attempts"], 1);
    // After the list changes, a compile request is not a duplicate of the finished job.
    let r =
        h.put(&format!("/v1/lists/{id}"), &t).json(&json!({"name": "ads", "rules": "||x.example^\n"})).send().unwrap();
    assert_eq!(r.status(), 200);
    let again: Value = h.post(&format!("/v1/lists/{id}/compile"), &t).send().unwrap().json().unwrap();
    assert_eq!(again["status"], "queued", "a new revision gets a new job");
    // Another list is not held by this list's lock.
    let other = h.create_list(&t, "other", "||other.example^\n");
    let r: Value = h.post(&format!("/v1/lists/{other}/compile"), &t).send().unwrap().json().unwrap();
    assert_eq!(r["status"], "queued");
}

#[test]
fn dedupe_window_expires() {
    let h = Host::start(&["--compile-dedupe-secs", "1"]);
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "ads", "||ads.example^\n");
    let first: Value = h.post(&format!("/v1/lists/{id}/compile"), &t).send().unwrap().json().unwrap();
    let second: Value = h.post(&format!("/v1/lists/{id}/compile"), &t).send().unwrap().json().unwrap();
    assert_eq!(first["status"], "queued");
    assert_eq!(second["status"], "already_queued");
    assert_eq!(second["jobId"], first["jobId"]);
    std::thread::sleep(std::time::Duration::from_millis(1_300));
    let third: Value = h.post(&format!("/v1/lists/{id}/compile"), &t).send().unwrap().json().unwrap();
    assert_eq!(third["status"], "queued", "the lock expired with its window");
    assert_ne!(third["jobId"], first["jobId"]);
}

/// Writes a compiled artifact the way the compile consumer stores it (layout documented in
/// components/gateway/src/model.rs): metadata at `compiled/{id}`, chunks under
/// `compiled/{id}/{etag}/{n}`, in the `lists` store.
fn seed_compiled(h: &Host, list_id: &str, body: &[u8]) -> String {
    let db = common::data_store(&h.data_dir);
    let etag = hex::encode(Sha256::digest(body));
    let chunks: Vec<&[u8]> = body.chunks(512 * 1024).collect();
    for (i, c) in chunks.iter().enumerate() {
        db.set("lists", &format!("compiled/{list_id}/{etag}/{i}"), c).unwrap();
    }
    let meta =
        json!({"etag": etag, "length": body.len(), "chunks": chunks.len(), "compiledAt": "2026-11-30T00:00:00.000Z"});
    db.set("lists", &format!("compiled/{list_id}"), meta.to_string().as_bytes()).unwrap();
    etag
}

#[test]
fn compiled_list_etag_and_read_through_cache() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "ads", "||ads.example^\n");
    let (status, code, _) = error_of(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap());
    assert_eq!((status, code.as_str()), (404, "not_compiled"));

    let body = b"! Title: ads\n||ads.example^\n".to_vec();
    let etag = seed_compiled(&h, &id, &body);
    let r = h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let got_etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(got_etag, format!("\"{etag}\""));
    assert_eq!(r.bytes().unwrap().as_ref(), &body[..]);

    let r = h.get(&format!("/v1/lists/{id}/compiled"), &t).header("if-none-match", &got_etag).send().unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), got_etag);
    assert!(r.bytes().unwrap().is_empty());
    let r =
        h.get(&format!("/v1/lists/{id}/compiled"), &t).header("if-none-match", "\"something-else\"").send().unwrap();
    assert_eq!(r.status(), 200);

    // The durable artifact changes behind the cache: within the TTL the node-local cache keeps
    // answering with the version it read through (this is what makes it a cache).
    let newer = b"! Title: ads\n||ads.example^\n||more.example^\n".to_vec();
    seed_compiled(&h, &id, &newer);
    let r = h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap();
    assert_eq!(r.headers()["etag"].to_str().unwrap(), got_etag);
    assert_eq!(r.bytes().unwrap().as_ref(), &body[..]);

    // Deleting the list removes the artifact and its cache entry.
    assert_eq!(h.delete(&format!("/v1/lists/{id}"), &t).send().unwrap().status(), 204);
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().status(), 404);
}

#[test]
fn cache_entries_expire_with_their_ttl() {
    let h = Host::start(&["--cache-ttl-secs", "1"]);
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "ads", "x");
    seed_compiled(&h, &id, b"first\n");
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().text().unwrap(), "first\n");
    seed_compiled(&h, &id, b"second\n");
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().text().unwrap(), "first\n");
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().text().unwrap(), "second\n");
}

#[test]
fn deleting_a_list_removes_its_artifact() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "ads", "x");
    seed_compiled(&h, &id, b"body\n");
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().status(), 200);
    assert_eq!(h.delete(&format!("/v1/lists/{id}"), &t).send().unwrap().status(), 204);
    assert_eq!(h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap().status(), 404);
}

#[test]
fn large_compiled_list_is_served_from_chunks() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    let id = h.create_list(&t, "big", "||big.example^\n");
    let body: Vec<u8> = (0..200_000).flat_map(|i| format!("||host-{i}.example^\n").into_bytes()).collect();
    assert!(body.len() > 3 * 1024 * 1024);
    let etag = seed_compiled(&h, &id, &body);
    for _ in 0..2 {
        let r = h.get(&format!("/v1/lists/{id}/compiled"), &t).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["etag"].to_str().unwrap(), format!("\"{etag}\""));
        assert!(r.bytes().unwrap().as_ref() == &body[..]);
    }
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let h = Host::start(&["--max-body-bytes", "65536"]);
    let (_, t) = h.create_user("alice");
    let cases: Vec<(&str, reqwest::blocking::RequestBuilder, u16)> = vec![
        ("malformed JSON", h.post("/v1/lists", &t).header("content-type", "application/json").body("{\"name\": "), 400),
        (
            "wrong content type",
            h.post("/v1/lists", &t).header("content-type", "text/plain").body("{\"name\":\"x\",\"rules\":\"y\"}"),
            415,
        ),
        ("no content type", h.post("/v1/lists", &t).body("{\"name\":\"x\",\"rules\":\"y\"}"), 415),
        ("unknown field", h.post("/v1/lists", &t).json(&json!({"name": "x", "rules": "y", "owner": "u_0"})), 400),
        (
            "invalid UTF-8",
            h.post("/v1/lists", &t)
                .header("content-type", "application/json")
                .body(b"{\"name\":\"\xff\xfe\",\"rules\":\"y\"}".to_vec()),
            400,
        ),
        ("body over the limit", h.post("/v1/lists", &t).json(&json!({"name": "x", "rules": "a".repeat(70_000)})), 413),
        ("neither rules nor config", h.post("/v1/lists", &t).json(&json!({"name": "x"})), 400),
        (
            "both rules and config",
            h.post("/v1/lists", &t)
                .json(&json!({"name": "x", "rules": "y", "config": {"name": "c", "sources": [{"source": "s"}]}})),
            400,
        ),
        ("config without sources", h.post("/v1/lists", &t).json(&json!({"name": "x", "config": {"name": "c"}})), 400),
        ("config not an object", h.post("/v1/lists", &t).json(&json!({"name": "x", "config": "nope"})), 400),
        (
            "config with an unknown property",
            h.post("/v1/lists", &t).json(&json!({"name": "x", "config": {"name": "c", "sources": [{"source": "s"}], "sourcez": []}})),
            400,
        ),
        (
            "config with an unknown transformation",
            h.post("/v1/lists", &t)
                .json(&json!({"name": "x", "config": {"name": "c", "sources": [{"source": "s"}], "transformations": ["Dedupe"]}})),
            400,
        ),
        (
            "config with validation at both levels",
            h.post("/v1/lists", &t).json(&json!({"name": "x", "config": {"name": "c", "transformations": ["Validate"],
                "sources": [{"source": "s", "transformations": ["ValidateAllowIp"]}]}})),
            422,
        ),
        (
            "a configuration with 101 sources",
            h.post("/v1/lists", &t).json(&json!({"name": "x", "config": {"name": "c",
                "sources": (0..101).map(|i| json!({"source": format!("https://lists.example/{i}.txt")})).collect::<Vec<_>>()}})),
            400,
        ),
        ("name with a control character", h.post("/v1/lists", &t).json(&json!({"name": "\tx", "rules": "y"})), 400),
        ("empty name", h.post("/v1/lists", &t).json(&json!({"name": "", "rules": "y"})), 400),
        ("name too long", h.post("/v1/lists", &t).json(&json!({"name": "n".repeat(201), "rules": "y"})), 400),
        ("JSON array", h.post("/v1/lists", &t).json(&json!(["x"])), 400),
        ("encoded ../x id", h.get("/v1/lists/..%2Fx", &t), 400),
        ("id of another kind", h.get("/v1/lists/u_0123456789abcdef01234567", &t), 400),
        ("unknown route", h.get("/v1/nothing-here", &t), 404),
        ("wrong method", h.client().patch(h.url("/v1/lists")).bearer_auth(&t), 405),
    ];
    for (what, req, expected) in cases {
        let (status, code, message) = error_of(req.send().unwrap());
        assert_eq!(status, expected, "{what}: {code} {message}");
    }
    // A literal `../x` in the request line (clients normalise it away, so send it raw).
    let req = format!("GET /v1/lists/../x HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {t}\r\n\r\n");
    let (status, body) = h.raw(req.as_bytes());
    assert!((400..500).contains(&status), "raw ../x: {status}");
    let v: Value = serde_json::from_slice(&body).expect("JSON error body");
    assert!(v["error"]["message"].is_string());

    let listed: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"], json!([]), "nothing was stored");
    // The host still serves.
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().status(), 200);
}

#[test]
fn list_quota_is_enforced() {
    let h = Host::start(&["--max-lists-per-user", "3"]);
    let (_, t) = h.create_user("alice");
    for i in 0..3 {
        h.create_list(&t, &format!("l{i}"), "x");
    }
    let (status, code, _) =
        error_of(h.post("/v1/lists", &t).json(&json!({"name": "one too many", "rules": "x"})).send().unwrap());
    assert_eq!((status, code.as_str()), (409, "quota_exceeded"));
    let listed: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"].as_array().unwrap().len(), 3);
}

#[test]
fn webhook_urls_and_job_requests_are_checked() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    for (url, why) in [
        (json!("ftp://hooks.example/x"), "http or https"),
        (json!("not a url"), "not a valid URL"),
        (json!("https://user:pw@hooks.example/x"), "credentials"),
        (json!(format!("https://hooks.example/{}", "a".repeat(2100))), "longer than"),
    ] {
        let r = h.post("/v1/lists", &t).json(&json!({"name": "x", "rules": "", "webhookUrl": url})).send().unwrap();
        let (status, code, message) = error_of(r);
        assert_eq!((status, code.as_str()), (400, "bad_request"), "{url}");
        assert!(message.contains(why), "{message}");
    }
    let r = h.post("/v1/lists", &t).json(&json!({"name": "x", "rules": "", "webhookUrl": 5})).send().unwrap();
    assert_eq!(error_of(r).0, 400);
    let lists: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert_eq!(lists["lists"], json!([]), "nothing was stored");

    // The secret is made by the server, shown once, kept across updates, and dropped with the
    // webhook; a webhook added again gets a new secret, shown once (that is how it is rotated).
    let r = h
        .post("/v1/lists", &t)
        .json(&json!({"name": "x", "rules": "", "webhookUrl": "https://hooks.example/x"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().unwrap();
    let (id, secret) = (v["id"].as_str().unwrap().to_owned(), v["webhook"]["secret"].as_str().unwrap().to_owned());
    assert!(secret.starts_with("whsec_") && secret.len() == 70, "{secret}");
    let body = json!({"name": "x", "rules": "", "webhookUrl": "https://hooks.example/y"});
    let v: Value = h.put(&format!("/v1/lists/{id}"), &t).json(&body).send().unwrap().json().unwrap();
    assert_eq!(v["webhook"], json!({"url": "https://hooks.example/y"}), "an update does not show the secret again");
    let v: Value = h.get(&format!("/v1/lists/{id}"), &t).send().unwrap().json().unwrap();
    assert_eq!(v["webhook"], json!({"url": "https://hooks.example/y"}), "a read never shows the secret");
    let v: Value =
        h.put(&format!("/v1/lists/{id}"), &t).json(&json!({"name": "x", "rules": ""})).send().unwrap().json().unwrap();
    assert!(v["webhook"].is_null());
    let v: Value = h.put(&format!("/v1/lists/{id}"), &t).json(&body).send().unwrap().json().unwrap();
    let rotated = v["webhook"]["secret"].as_str().expect("a new webhook's secret is shown once");
    assert!(rotated.starts_with("whsec_") && rotated != secret, "a webhook added again has a new secret");
    let summary: Value = h.get("/v1/lists", &t).send().unwrap().json().unwrap();
    assert!(summary["lists"][0].get("webhook").is_none(), "the list of lists shows no secret");

    for (method, path, status) in [
        ("POST", "/v1/jobs/j_0123/replay", 400),
        ("GET", "/v1/jobs/j_0123456789abcdef01234567/replay", 405),
        ("POST", "/v1/jobs/j_0123456789abcdef01234567/replay", 404),
        ("GET", "/v1/jobs", 400),
        ("GET", "/v1/jobs?status=dead&limit=5", 400),
        ("DELETE", "/v1/jobs", 405),
    ] {
        let r = h.client().request(method.parse().unwrap(), h.url(path)).bearer_auth(&t).send().unwrap();
        assert_eq!(error_of(r).0, status, "{method} {path}");
    }
    let dead: Value = h.get("/v1/jobs?status=dead", &t).send().unwrap().json().unwrap();
    assert_eq!(dead, json!({"jobs": []}));
}

/// `POST /v1/admin/jobs/run` is for deployments whose jobs run through HTTP (spin-http.toml);
/// this host runs them from its queue and says so (409), after the usual admin checks.
#[test]
fn the_http_job_runner_route_answers_409_on_this_host() {
    let h = Host::start(&[]);
    let (status, code, _) = error_of(h.post("/v1/admin/jobs/run", ADMIN_TOKEN).send().unwrap());
    assert_eq!((status, code.as_str()), (409, "not_http_runner"));
    let (status, _, _) = error_of(h.post("/v1/admin/jobs/run?max=0", ADMIN_TOKEN).send().unwrap());
    assert_eq!(status, 400, "max is checked first");
    let (_, alice) = h.create_user("alice");
    let (status, _, _) = error_of(h.post("/v1/admin/jobs/run", &alice).send().unwrap());
    assert_eq!(status, 403);
    // The compile consumer's runner route is not the gateway's.
    assert_eq!(h.client().post(h.url("/internal/jobs/run")).send().unwrap().status(), 401);
}
