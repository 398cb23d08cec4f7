//! Integrity under concurrency (issue 15): updates of one list never tear, an update racing a
//! delete never brings the list back, and `If-Match` refuses a stale update. The real host, over
//! a socket, with real concurrent clients.

mod common;

use common::{Host, error_of};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

/// A rules text of more than one key-value chunk (chunks are 512 KiB), distinct per `tag`.
fn big_rules(tag: &str) -> String {
    (0..24_000).map(|i| format!("||{tag}-{i:06}.example.org^\n")).collect()
}

#[test]
fn concurrent_updates_never_tear_a_list() {
    let h = Arc::new(Host::start(&["--rate-limit", "100000"]));
    let (_, token) = h.create_user("writer");
    let initial = big_rules("initial");
    let id = h.create_list(&token, "torn?", &initial);
    let texts = Arc::new([initial, big_rules("alpha"), big_rules("bravo")]);
    assert!(texts[1].len() > 512 * 1024, "the texts span several chunks");

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (h, token, id, texts, done) = (h.clone(), token.clone(), id.clone(), texts.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) || reads < 10 {
                let r = h.get(&format!("/v1/lists/{id}"), &token).send().unwrap();
                assert_eq!(r.status(), 200, "a read during updates: {}", r.text().unwrap_or_default());
                let v: Value = r.json().unwrap();
                let rules = v["rules"].as_str().unwrap();
                assert!(texts.iter().any(|t| t == rules), "a read returned rules that are none of the texts written");
                reads += 1;
            }
            reads
        })
    };
    let writers: Vec<_> = [1, 2]
        .into_iter()
        .map(|w| {
            let (h, token, id, texts) = (h.clone(), token.clone(), id.clone(), texts.clone());
            std::thread::spawn(move || {
                for _ in 0..30 {
                    let body = json!({"name": "torn?", "rules": texts[w]});
                    let r = h.put(&format!("/v1/lists/{id}"), &token).json(&body).send().unwrap();
                    assert_eq!(r.status(), 200, "an update: {}", r.text().unwrap_or_default());
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads >= 10);

    // 61 revisions, and the last write is what the list holds, whole.
    let v: Value = h.get(&format!("/v1/lists/{id}"), &token).send().unwrap().json().unwrap();
    assert_eq!(v["revision"], 61);
    assert!(v["rules"] == texts[1].as_str() || v["rules"] == texts[2].as_str());
}

#[test]
fn an_update_racing_a_delete_never_brings_the_list_back() {
    let h = Arc::new(Host::start(&["--rate-limit", "100000"]));
    let (_, token) = h.create_user("racer");
    // A large text: the update spends a while storing it, which is when the delete lands.
    let rules = Arc::new(big_rules("racer"));
    // The delete is sent a little later each round, to land at different points of the update
    // (the invariant is checked after both have answered, whatever the interleaving).
    for round in 0..40 {
        let id = h.create_list(&token, &format!("r{round}"), "||a.example^\n");
        let start = Arc::new(Barrier::new(2));
        let update = {
            let (h, token, id, start, rules) = (h.clone(), token.clone(), id.clone(), start.clone(), rules.clone());
            std::thread::spawn(move || {
                start.wait();
                let body = json!({"name": "updated", "rules": *rules});
                h.put(&format!("/v1/lists/{id}"), &token).json(&body).send().unwrap().status().as_u16()
            })
        };
        start.wait();
        std::thread::sleep(std::time::Duration::from_micros(500 * (round % 20)));
        let deleted = h.delete(&format!("/v1/lists/{id}"), &token).send().unwrap().status().as_u16();
        let updated = update.join().unwrap();
        assert_eq!(deleted, 204, "round {round}");
        assert!(updated == 200 || updated == 404, "round {round}: the update answered {updated}");
        // Deleted is deleted: not readable, not listed.
        let r = h.get(&format!("/v1/lists/{id}"), &token).send().unwrap();
        assert_eq!(r.status(), 404, "round {round}: the list came back after the update answered {updated}");
        let all: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
        assert!(all["lists"].as_array().unwrap().iter().all(|l| l["id"] != id.as_str()), "round {round}");
    }
}

#[test]
fn if_match_refuses_a_stale_update_or_delete() {
    let h = Host::start(&[]);
    let (_, token) = h.create_user("careful");
    let id = h.create_list(&token, "l", "||a.example^\n");
    let path = format!("/v1/lists/{id}");
    let r = h.get(&path, &token).send().unwrap();
    let first = r.headers().get("etag").expect("a list has an ETag").to_str().unwrap().to_owned();

    let body = json!({"name": "l", "rules": "||b.example^\n"});
    let r = h.put(&path, &token).header("if-match", &first).json(&body).send().unwrap();
    assert_eq!(r.status(), 200);
    let second = r.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    assert_ne!(first, second, "an update changes the entity tag");

    // An update from someone who read the first revision: refused, nothing changed.
    let stale = json!({"name": "l", "rules": "||stale.example^\n"});
    let r = h.put(&path, &token).header("if-match", &first).json(&stale).send().unwrap();
    assert_eq!(r.headers().get("etag").unwrap().to_str().unwrap(), second, "the 412 tells the current tag");
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (412, "precondition_failed"));
    let v: Value = h.get(&path, &token).send().unwrap().json().unwrap();
    assert_eq!(v["rules"], "||b.example^\n");

    let (status, code, _) = error_of(h.delete(&path, &token).header("if-match", &first).send().unwrap());
    assert_eq!((status, code.as_str()), (412, "precondition_failed"));
    let r = h.delete(&path, &token).header("if-match", "*").send().unwrap();
    assert_eq!(r.status(), 204);
}

#[test]
fn a_corrupt_index_is_an_error_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let (user_id, token) = {
        let h = Host::start_in(dir.path(), &[]);
        let (user_id, token) = h.create_user("owner");
        h.create_list(&token, "one", "||a.example^\n");
        h.create_list(&token, "two", "||b.example^\n");
        h.kill();
        (user_id, token)
    };
    // The owner's index of lists, damaged on disk while the host is down.
    let index = format!("user-lists/{user_id}");
    {
        let store = common::data_store(dir.path());
        assert!(store.get("lists", &index).unwrap().is_some(), "the index is where the model says");
        store.set("lists", &index, b"not json").unwrap();
    }
    let h = Host::start_in(dir.path(), &[]);
    let (status, _, message) = error_of(h.get("/v1/lists", &token).send().unwrap());
    assert_eq!(status, 500, "{message}");
    assert!(message.contains("corrupt"), "the error says what is wrong: {message}");
    // Creating a list must not reset the index to [] (which would hide the user's other lists).
    let r = h.post("/v1/lists", &token).json(&json!({"name": "three", "rules": ""})).send().unwrap();
    let (status, _, message) = error_of(r);
    assert_eq!(status, 500, "{message}");
    assert!(message.contains("corrupt"), "{message}");
    h.kill();
    let store = common::data_store(dir.path());
    assert_eq!(store.get("lists", &index).unwrap().as_deref(), Some(&b"not json"[..]), "the index was left as found");
}

/// A read of the compiled list that began before a compile replaced it must not put the old
/// artifact back into this node's cache (where it would be served until the entry expires). A
/// fail point holds the read between reading the old artifact and filling the cache, while the
/// list is updated and compiled again.
#[test]
fn a_cache_fill_racing_a_compile_does_not_outlive_it() {
    let dir = tempfile::tempdir().unwrap();
    let (token, id, old_etag) = {
        let h = Host::start_in(dir.path(), &[]);
        let (_, token) = h.create_user("owner");
        let id = h.create_list(&token, "raced", "||old.example^\n");
        let job = h.request_compile(&token, &id);
        h.wait_job(&token, &job, "done");
        let r = h.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap();
        let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
        h.kill();
        (token, id, etag)
    };
    let release = dir.path().join("release-the-read");
    let failpoint = format!("pause-after-read=lists:compiled/{id}/{old_etag}/@{}", release.display());
    let h = Arc::new(Host::start_in_with_env(dir.path(), &[], &[("BLOCKLIST_EDGE_FAILPOINTS", &failpoint)]));
    // The node-local cache is empty after the restart: this read goes to the store, reads the
    // old artifact, and is held there.
    let held = {
        let (h, token, id) = (h.clone(), token.clone(), id.clone());
        std::thread::spawn(move || h.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap().text().unwrap())
    };
    let update = json!({"name": "raced", "rules": "||new.example^\n"});
    assert_eq!(h.put(&format!("/v1/lists/{id}"), &token).json(&update).send().unwrap().status(), 200);
    let job = h.request_compile(&token, &id);
    h.wait_job(&token, &job, "done");
    std::fs::write(&release, b"").unwrap();
    let old = held.join().unwrap();
    assert!(old.contains("||old.example^"), "the held read answers what it read: {old}");
    let now = h.get(&format!("/v1/lists/{id}/compiled"), &token).send().unwrap().text().unwrap();
    assert!(now.contains("||new.example^"), "after the compile, the new list is served, not the old one: {now}");
}
