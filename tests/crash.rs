//! Crashes between two writes (issue 15, part 2): for each write of creating, updating and
//! deleting a list, of compile intake and of the compile consumer, the host is started with a
//! fail point that aborts the process right after that write (`BLOCKLIST_EDGE_FAILPOINTS`, in
//! the host's key-value layer), the operation is requested, the host dies, and a host started
//! again on the same data must show a truthful state and repair the rest: no list lost or torn,
//! every job done or dead with a reason, nothing stuck, the quota counting only real lists.

mod common;

use common::{Host, error_of};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const OLD_RULES: &str = "||old.example^\n";
const NEW_RULES: &str = "||new.example^\n";

/// Short job deadlines and a busy sweeper; a quota of 3 lists.
fn job_flags() -> [&'static str; 10] {
    common::crash_test_flags("3")
}

/// What is requested of the host that crashes.
#[derive(Clone, Copy, Debug)]
enum Op {
    Create,
    Update,
    Delete,
    Compile,
}

/// The ids of every job in the store's ledger (the host stopped).
fn job_ids(dir: &Path) -> Vec<String> {
    let store = common::data_store(dir);
    store.all_keys("lists").unwrap().iter().filter_map(|k| k.strip_prefix("job/")).map(str::to_owned).collect()
}

/// Polls job `id` until it is done or dead; returns it.
fn wait_finished(h: &Host, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let job = h.job(token, id);
        match job["status"].as_str() {
            Some("done" | "dead") => return job,
            _ => assert!(Instant::now() < deadline, "job {id} is stuck: {job}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `op` on a host that aborts after the `nth` write to a key starting with `prefix`, then
/// checks the invariants on a host started again on the same data.
fn crash_after(op: Op, prefix: &str, nth: u32) {
    let dir = tempfile::tempdir().unwrap();
    // Before: a user with one list.
    let (token, list) = {
        let h = Host::start_in(dir.path(), &job_flags());
        let (_, token) = h.create_user("owner");
        let list = h.create_list(&token, "first", OLD_RULES);
        // Compiled already, but not for a compile case (its request would be a duplicate).
        if !matches!(op, Op::Compile) {
            let job = h.request_compile(&token, &list);
            h.wait_job(&token, &job, "done");
        }
        h.kill();
        (token, list)
    };
    let jobs_before = job_ids(dir.path()).len();

    // The crash.
    let failpoint = format!("abort-after-write=lists:{prefix}#{nth}");
    let mut h = Host::start_in_with_env(dir.path(), &job_flags(), &[("BLOCKLIST_EDGE_FAILPOINTS", &failpoint)]);
    let sent = match op {
        Op::Create => h.post("/v1/lists", &token).json(&json!({"name": "second", "rules": NEW_RULES})).send(),
        Op::Update => {
            h.put(&format!("/v1/lists/{list}"), &token).json(&json!({"name": "first", "rules": NEW_RULES})).send()
        }
        Op::Delete => h.delete(&format!("/v1/lists/{list}"), &token).send(),
        Op::Compile => h.post(&format!("/v1/lists/{list}/compile"), &token).send(),
    };
    // The answer may or may not have been sent before the abort (the compile consumer runs
    // after intake answered); either way the host must die at the fail point.
    let status = h.wait_exit(Duration::from_secs(30));
    assert!(status.is_some(), "{op:?}: the fail point {failpoint} was never reached (answer: {sent:?})");
    drop(h);

    // After: a host on the same data, without fail points.
    let jobs = job_ids(dir.path());
    let h = Host::start_in(dir.path(), &job_flags());
    let listed: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    let ids: Vec<String> =
        listed["lists"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    for id in &ids {
        let r = h.get(&format!("/v1/lists/{id}"), &token).send().unwrap();
        assert_eq!(r.status(), 200, "{op:?} {failpoint}: listed list {id} cannot be read: {}", r.text().unwrap());
        let v: Value = r.json().unwrap();
        let rules = v["rules"].as_str().unwrap();
        assert!(rules == OLD_RULES || rules == NEW_RULES, "{op:?} {failpoint}: list {id} is torn: {rules:?}");
    }
    let first_listed = ids.contains(&list);
    let first_status = h.get(&format!("/v1/lists/{list}"), &token).send().unwrap().status();
    assert_eq!(first_status == 200, first_listed, "{op:?} {failpoint}: the first list is readable iff listed");
    match op {
        Op::Delete => {}
        _ => assert!(first_listed, "{op:?} {failpoint}: a list that was not deleted was lost"),
    }
    assert!(ids.len() <= 2, "{op:?} {failpoint}: {ids:?}");
    // The quota (3) counts only lists that exist: fill it up exactly.
    for n in ids.len()..3 {
        let r = h.post("/v1/lists", &token).json(&json!({"name": format!("fill {n}"), "rules": ""})).send().unwrap();
        assert_eq!(r.status(), 201, "{op:?} {failpoint}: quota: {}", r.text().unwrap());
    }
    let (status, code, _) =
        error_of(h.post("/v1/lists", &token).json(&json!({"name": "over", "rules": ""})).send().unwrap());
    assert_eq!((status, code.as_str()), (409, "quota_exceeded"), "{op:?} {failpoint}");

    // Every job the crash left runs to its end, with a reason if it died.
    assert!(jobs.len() >= jobs_before);
    for id in &jobs {
        let job = wait_finished(&h, &token, id);
        if job["status"] == "dead" {
            assert!(
                job["lastError"].as_str().is_some_and(|e| !e.is_empty()),
                "{op:?} {failpoint}: dead without a reason: {job}"
            );
        }
    }
    // A compile requested now is queued (never `already_queued` for a job that does not exist)
    // and runs.
    if first_listed {
        let r = h.post(&format!("/v1/lists/{list}/compile"), &token).send().unwrap();
        assert_eq!(r.status(), 202);
        let v: Value = r.json().unwrap();
        let job = v["jobId"].as_str().unwrap();
        assert_eq!(wait_finished(&h, &token, job)["status"], "done", "{op:?} {failpoint}: {v}");
        let compiled = h.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
        assert_eq!(compiled.status(), 200);
    }
}

macro_rules! crash_cases {
    ($($name:ident: $op:expr, $prefix:expr, $nth:expr;)*) => {
        $(
            #[test]
            fn $name() {
                crash_after($op, $prefix, $nth);
            }
        )*
    };
}

crash_cases! {
    create_after_reserving_the_id: Op::Create, "user-lists/", 1;
    create_after_storing_the_rules: Op::Create, "rules/", 1;
    create_after_writing_the_record: Op::Create, "list/", 1;
    update_after_storing_the_new_rules: Op::Update, "rules/", 1;
    update_after_swapping_the_record: Op::Update, "list/", 1;
    delete_after_marking_the_record: Op::Delete, "list/", 1;
    delete_after_removing_the_rules: Op::Delete, "rules/", 1;
    delete_after_removing_the_artifact: Op::Delete, "compiled/", 1;
    delete_after_removing_the_record: Op::Delete, "list/", 2;
    intake_after_indexing_the_job: Op::Compile, "jobs-active/", 1;
    intake_after_writing_the_job: Op::Compile, "job/", 1;
    intake_after_taking_the_lock: Op::Compile, "compile-lock/", 1;
    consumer_after_claiming: Op::Compile, "job/", 2;
    consumer_after_storing_the_artifact: Op::Compile, "compiled/", 1;
    consumer_after_swapping_the_artifact: Op::Compile, "compiled/", 2;
    consumer_after_finishing_the_job: Op::Compile, "job/", 3;
}
