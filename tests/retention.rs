//! Retention (issue 15, part 4): state stays bounded. Finished jobs are kept per list (the
//! newest) and deleted with their lists; chunks, records and keys nothing refers to (a crash
//! between two writes, a delete during a compile) are collected; the rate limiter's counters
//! of past windows and the job queue's oldest dead messages are deleted. The real host over a
//! socket; the store read directly (as SQLite, while the host runs) to see what is in it.

mod common;

use common::{Host, error_of};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Polls until `check` (given the `lists` store's keys) returns `None`; fails with its last
/// complaint after `within`.
fn eventually(dir: &Path, within: Duration, mut check: impl FnMut(&[String]) -> Option<String>) -> Vec<String> {
    let deadline = Instant::now() + within;
    loop {
        let keys = common::stored_keys(dir, "lists");
        match check(&keys) {
            None => return keys,
            Some(why) => assert!(Instant::now() < deadline, "{why}\nkeys ({}):\n{}", keys.len(), keys.join("\n")),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A host that collects promptly: a sweep every 100 ms, 300 ms of grace, five jobs kept per
/// list, no dedupe window (every compile request is a job).
fn retention_flags() -> Vec<&'static str> {
    flags_with_grace("300")
}

/// [`retention_flags`] with a grace of `grace_ms`.
fn flags_with_grace(grace_ms: &'static str) -> Vec<&'static str> {
    vec![
        "--sweep-interval-ms",
        "100",
        "--retention-grace-ms",
        grace_ms,
        "--job-retention-per-list",
        "5",
        "--compile-dedupe-secs",
        "0",
        "--rate-limit",
        "1000000",
        "--max-lists-per-user",
        "1000",
        // Durability is not what this test is about; the 2,500 operations go faster.
        "--sync",
        "normal",
    ]
}

#[test]
fn two_thousand_compiles_and_five_hundred_deleted_lists_leave_a_bounded_store() {
    let h = Host::start(&retention_flags());
    let (user, token) = h.create_user("owner");
    let list = h.create_list(&token, "kept", "||kept.example^\n");
    h.subscribe(&token, &list, "router", "hosts");

    // 2,000 compiles of one list, in bursts of 50 (the last of each burst waited for).
    let (mut first_job, mut last_job) = (String::new(), String::new());
    for burst in 0..40 {
        for _ in 0..50 {
            last_job = h.request_compile(&token, &list);
            if first_job.is_empty() {
                first_job = last_job.clone();
            }
        }
        h.wait_job(&token, &last_job, "done");
        if burst % 10 == 9 {
            eprintln!(
                "{} compiles requested; {} keys in the store",
                (burst + 1) * 50,
                common::stored_keys(&h.data_dir, "lists").len()
            );
        }
    }

    // 500 lists created and deleted: every tenth with a subscription, every seventh deleted
    // while its compile may be running (an artifact stored after the delete is an orphan).
    let mut deleted = BTreeSet::new();
    for i in 0..500 {
        let id = h.create_list(&token, &format!("temp {i}"), &format!("||temp{i}.example^\n"));
        if i % 10 == 0 {
            h.subscribe(&token, &id, "temp", "dnsmasq");
        }
        if i % 7 == 0 {
            h.request_compile(&token, &id);
        }
        assert_eq!(h.delete(&format!("/v1/lists/{id}"), &token).send().unwrap().status(), 204);
        deleted.insert(id);
    }
    eprintln!("500 lists created and deleted; {} keys in the store", common::stored_keys(&h.data_dir, "lists").len());

    // Every job finishes, then the collector leaves: the kept list's newest five jobs, nothing
    // of any deleted list, and a store of a few dozen keys.
    let done = h.request_compile(&token, &list);
    h.wait_job(&token, &done, "done");
    let left = eventually(&h.data_dir, Duration::from_secs(120), |keys| {
        let jobs = keys.iter().filter(|k| k.starts_with("job/")).count();
        let of_deleted: Vec<&String> =
            keys.iter().filter(|k| deleted.iter().any(|id| k.contains(id.as_str()))).take(5).collect();
        if jobs > 5 {
            Some(format!("{jobs} job records are left; retention keeps 5 per list"))
        } else if !of_deleted.is_empty() {
            Some(format!("keys of deleted lists are left: {of_deleted:?}"))
        } else if keys.len() > 60 {
            Some(format!("{} keys are left", keys.len()))
        } else {
            None
        }
    });
    eprintln!("after retention: {} keys", left.len());

    // What is kept still works: the newest job, the list, its compiled file and subscription.
    assert_eq!(h.job(&token, &done)["status"], "done");
    assert_eq!(error_of(h.get(&format!("/v1/jobs/{first_job}"), &token).send().unwrap()).0, 404, "an old job is gone");
    let r = h.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("||kept.example^"));
    let listed: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"].as_array().map(Vec::len), Some(1), "{listed}");
    let subs: Value = h.get(&format!("/v1/lists/{list}/subscriptions"), &token).send().unwrap().json().unwrap();
    assert_eq!(subs["subscriptions"].as_array().map(Vec::len), Some(1), "{subs}");
    assert!(left.contains(&format!("user/{user}")));
}

#[test]
fn what_a_crash_between_two_writes_leaves_is_collected() {
    let dir = tempfile::tempdir().unwrap();
    let flags = retention_flags();
    // Until the crashes are done, a grace the test never reaches (the collector deletes nothing
    // the fail points could count).
    let patient = flags_with_grace("3600000");
    let (token, list) = {
        let h = Host::start_in(dir.path(), &patient);
        let (_, token) = h.create_user("owner");
        let list = h.create_list(&token, "first", "||one.example^\n");
        h.kill();
        (token, list)
    };
    // A create that dies after writing its record (before its place in the owner's index),
    // then an update that dies after writing its new rules (before the record names them).
    for (failpoint, request) in [
        ("abort-after-write=lists:list/#1", json!({"name": "second", "rules": "||two.example^\n"})),
        ("abort-after-write=lists:rules/#1", json!({"name": "first", "rules": "||three.example^\n"})),
    ] {
        let mut h = Host::start_in_with_env(dir.path(), &patient, &[("BLOCKLIST_EDGE_FAILPOINTS", failpoint)]);
        let sent = match request["name"].as_str() {
            Some("second") => h.post("/v1/lists", &token).json(&request).send(),
            _ => h.put(&format!("/v1/lists/{list}"), &token).json(&request).send(),
        };
        assert!(sent.is_err(), "the host died before answering ({failpoint})");
        assert!(h.wait_exit(Duration::from_secs(10)).is_some());
    }
    let before = common::stored_keys(dir.path(), "lists");
    let orphans = |keys: &[String]| -> Vec<String> {
        keys.iter()
            .filter(|k| {
                k.starts_with("list/") && !k.ends_with(list.as_str()) || k.starts_with("rules/") && !k.contains(&list)
            })
            .cloned()
            .collect()
    };
    assert!(!orphans(&before).is_empty(), "the unindexed record of the crashed create is in the store");
    let rules_of_first = |keys: &[String]| keys.iter().filter(|k| k.starts_with(&format!("rules/{list}/"))).count();
    assert_eq!(rules_of_first(&before), 2, "the crashed update's rules chunk is in the store: {before:?}");

    let h = Host::start_in(dir.path(), &flags);
    eventually(dir.path(), Duration::from_secs(30), |keys| {
        let o = orphans(keys);
        let rules = rules_of_first(keys);
        (!o.is_empty() || rules != 1).then(|| format!("orphans left: {o:?}; {rules} rules chunks of the list"))
    });
    // The list is whole, with its first rules (the update never happened).
    let got: Value = h.get(&format!("/v1/lists/{list}"), &token).send().unwrap().json().unwrap();
    assert_eq!(got["rules"], "||one.example^\n", "{got}");
    let listed: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    assert_eq!(listed["lists"].as_array().map(Vec::len), Some(1), "{listed}");
}

#[test]
fn counters_of_past_rate_limit_windows_are_deleted() {
    let mut flags = retention_flags();
    flags.retain(|f| *f != "--rate-limit" && *f != "1000000");
    flags.extend(["--rate-limit-store", "data", "--rate-window-secs", "1", "--rate-limit", "1000"]);
    let h = Host::start(&flags);
    // Counters for a few users and for failed authentications.
    for i in 0..5 {
        let (_, token) = h.create_user(&format!("user {i}"));
        assert_eq!(h.get("/v1/me", &token).send().unwrap().status(), 200);
        assert_eq!(error_of(h.get("/v1/me", "wrong-token").send().unwrap()).0, 401);
    }
    let counters = |dir: &Path| {
        common::stored_keys(dir, "default").into_iter().filter(|k| k.starts_with("rl/")).collect::<Vec<_>>()
    };
    assert!(!counters(&h.data_dir).is_empty(), "the limiter counts in the data store");
    // The users stop. Their counters are never read again four windows later; the collector
    // must have deleted them by then (and keep doing so).
    let stopped = Instant::now();
    loop {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let stale: Vec<String> = counters(&h.data_dir)
            .into_iter()
            .filter(|k| k.split('/').nth(2).unwrap().parse::<u64>().unwrap() + 3 < now_ms / 1000)
            .collect();
        if stale.is_empty() && stopped.elapsed() > Duration::from_secs(6) {
            break;
        }
        assert!(stopped.elapsed() < Duration::from_secs(30), "counters of past windows are left: {stale:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_queue_keeps_only_the_newest_dead_messages() {
    // Sources on a closed port: every compile fails, once, and is dead.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://localhost:{}/list.txt", closed.local_addr().unwrap().port());
    drop(closed);
    let mut flags = retention_flags();
    flags.extend([
        "--job-max-attempts",
        "1",
        "--queue-dead-keep",
        "2",
        "--allowed-outbound-hosts",
        "http://localhost:*",
    ]);
    let h = Host::start(&flags);
    let (_, token) = h.create_user("owner");
    let config = json!({"name": "remote", "sources": [{"source": url}]});
    let r = h.post("/v1/lists", &token).json(&json!({"name": "remote", "config": config})).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let job = h.request_compile(&token, &list);
        h.wait_job(&token, &job, "dead");
    }
    // The ledger lists every dead job; the queue keeps two dead messages.
    let dead: Value = h.get("/v1/jobs?status=dead", &token).send().unwrap().json().unwrap();
    assert_eq!(dead["jobs"].as_array().map(Vec::len), Some(5), "{dead}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.metric("blocklist_edge_job_queue_messages{state=\"dead\"}") > 2.0 {
        assert!(Instant::now() < deadline, "the queue still holds more than 2 dead messages");
        std::thread::sleep(Duration::from_millis(100));
    }
}
