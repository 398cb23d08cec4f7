//! Webhooks at least once (issue 15, part 9): a finished job's event is written to the job's
//! outbox in the same compare-and-swap as its final state, attempted at once, retried with
//! backoff by the ledger and the sweeper until a receiver answers 2xx (or the attempts run out),
//! and every attempt carries the same delivery id. Against the real host and real receivers.

mod common;

use common::Host;
use common::http_server::{Reply, Server};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request a receiver got, and when.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    path: String,
    delivery: String,
    attempt: String,
    event: String,
    body: Value,
}

/// A receiver that answers `status_of(n)` to its `n`th request (0-based), recording each.
fn receiver(status_of: impl Fn(usize) -> u16 + Send + Sync + 'static) -> (Server, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Default::default();
    let g = got.clone();
    let n = AtomicUsize::new(0);
    let server = Server::start(move |req| {
        let header = |name: &str| req.headers.get(name).cloned().unwrap_or_default();
        g.lock().unwrap().push(Received {
            at: Instant::now(),
            path: req.path.clone(),
            delivery: header("x-blocklist-edge-delivery"),
            attempt: header("x-blocklist-edge-delivery-attempt"),
            event: header("x-blocklist-edge-event"),
            body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
        });
        Reply::text(status_of(n.fetch_add(1, Ordering::SeqCst)), "")
    });
    (server, got)
}

/// Host flags: receivers on `allowed` reachable, small webhook backoff, a busy sweeper.
fn flags(allowed: &str, max_attempts: &str) -> Vec<String> {
    [
        "--rate-limit",
        "1000000",
        "--allowed-outbound-hosts",
        allowed,
        "--webhook-max-attempts",
        max_attempts,
        "--webhook-backoff-ms",
        "200",
        "--webhook-backoff-max-ms",
        "2000",
        "--sweep-interval-ms",
        "100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A list with rules and a webhook at `url`; returns its id.
fn list_with_webhook(h: &Host, token: &str, name: &str, url: &str) -> String {
    let body = json!({"name": name, "rules": "||a.example^\n", "webhookUrl": url});
    let r = h.post("/v1/lists", token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned()
}

/// Polls job `job`'s `notification` until its `state` is `state`; returns it.
fn wait_delivery(h: &Host, token: &str, job: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = h.job(token, job)["notification"].clone();
        if n["state"] == state {
            return n;
        }
        assert!(Instant::now() < deadline, "job {job}'s delivery is not {state}: {n}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failing_receiver_gets_the_event_again_with_the_same_delivery_id_until_it_accepts() {
    // 500, 500, 503, then 204.
    let (server, got) = receiver(|n| [500, 500, 503].get(n).copied().unwrap_or(204));
    let h = Host::start(&as_strs(&flags(&server.named_addr(), "10")));
    let (_, t) = h.create_user("alice");
    let list = list_with_webhook(&h, &t, "flaky receiver", &server.named_url("/hook"));
    let job = h.request_compile(&t, &list);
    h.wait_job(&t, &job, "done");
    let n = wait_delivery(&h, &t, &job, "delivered");
    assert_eq!((n["attempts"].as_u64(), n["status"].as_u64()), (Some(4), Some(204)), "{n}");
    assert!(n["error"].is_null() && n["nextAttemptAt"].is_null(), "{n}");
    let id = format!("{job}.job.done.0");
    assert_eq!(n["deliveryId"], id.as_str());

    let received = got;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 4, "one request per attempt: {got:?}");
    for (i, r) in got.iter().enumerate() {
        assert_eq!((r.path.as_str(), r.event.as_str()), ("/hook", "job.done"));
        assert_eq!(r.delivery, id, "every attempt carries the same delivery id");
        assert_eq!(r.body["deliveryId"], id.as_str());
        assert_eq!(r.attempt, (i + 1).to_string(), "attempt numbers");
    }
    // Backoff: 200 ms, 400 ms, 800 ms (each plus up to a sweep interval).
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (gap, min) in gaps.iter().zip([200, 400, 800]) {
        assert!(*gap >= Duration::from_millis(min), "an attempt came before its backoff: {gaps:?}");
    }
    assert!(gaps[2] > gaps[0], "the delays grow: {gaps:?}");
    // Nothing more once delivered.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(received.lock().unwrap().len(), 4, "no attempt after the delivery");
    assert_eq!(h.job(&t, &job)["status"], "done");
}

#[test]
fn a_receiver_that_never_accepts_fails_the_delivery_after_the_last_attempt_and_the_job_stays_done() {
    // A port nothing listens on: every attempt's connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // And a receiver that answers 410 Gone: not retried.
    let (gone, gone_got) = receiver(|_| 410);
    let allowed = format!("localhost:{closed},{}", gone.named_addr());
    let dir = tempfile::tempdir().unwrap();
    let h = Host::start_in(dir.path(), &as_strs(&flags(&allowed, "3")));
    let (_, t) = h.create_user("alice");
    let refused_list = list_with_webhook(&h, &t, "refused", &format!("http://localhost:{closed}/hook"));
    let gone_list = list_with_webhook(&h, &t, "gone", &gone.named_url("/hook"));
    let refused_job = h.request_compile(&t, &refused_list);
    let gone_job = h.request_compile(&t, &gone_list);

    let n = wait_delivery(&h, &t, &refused_job, "failed");
    assert_eq!(n["attempts"], 3, "{n}");
    assert!(n["status"].is_null() && n["nextAttemptAt"].is_null(), "{n}");
    assert!(n["error"].as_str().is_some_and(|e| !e.is_empty()), "{n}");
    let job = h.job(&t, &refused_job);
    assert_eq!((job["status"].as_str(), job["attempts"].as_u64()), (Some("done"), Some(1)), "{job}");

    let n = wait_delivery(&h, &t, &gone_job, "failed");
    assert_eq!((n["attempts"].as_u64(), n["status"].as_u64()), (Some(1), Some(410)), "{n}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gone_got.lock().unwrap().len(), 1, "410 Gone is not retried");
    assert_eq!(h.job(&t, &refused_job)["notification"]["attempts"], 3, "no attempt after the last");

    // Settled deliveries leave the sweeper's index with their finished jobs.
    h.kill();
    let store = common::data_store(dir.path());
    for key in store.all_keys("lists").unwrap().iter().filter(|k| k.starts_with("jobs-active/")) {
        let ids: Vec<String> = serde_json::from_slice(&store.get("lists", key).unwrap().unwrap()).unwrap();
        assert!(!ids.contains(&refused_job) && !ids.contains(&gone_job), "{key}: {ids:?}");
    }
}

/// The host aborts right after the write that makes the job done (which writes its event in
/// the outbox), before any POST: the host started again delivers it.
#[test]
fn a_crash_between_done_and_the_post_loses_no_event() {
    let (server, got) = receiver(|_| 204);
    let dir = tempfile::tempdir().unwrap();
    let mut args = flags(&server.named_addr(), "10");
    args.extend(["--job-deadline-ms", "2000", "--job-requeue-after-ms", "1000"].map(String::from));
    let (token, list) = {
        let h = Host::start_in(dir.path(), &as_strs(&args));
        let (_, token) = h.create_user("owner");
        let list = list_with_webhook(&h, &token, "crash", &server.named_url("/hook"));
        h.kill();
        (token, list)
    };
    // Writes of `job/…`: the compile request's, the claim's, then done's.
    let failpoint = "abort-after-write=lists:job/#3";
    let mut h = Host::start_in_with_env(dir.path(), &as_strs(&args), &[("BLOCKLIST_EDGE_FAILPOINTS", failpoint)]);
    // The answer may or may not be sent before the consumer reaches the fail point.
    let _ = h.post(&format!("/v1/lists/{list}/compile"), &token).send();
    assert!(h.wait_exit(Duration::from_secs(30)).is_some(), "the fail point was never reached");
    drop(h);
    assert_eq!(got.lock().unwrap().len(), 0, "the host died before any POST");
    let job = {
        let store = common::data_store(dir.path());
        let keys = store.all_keys("lists").unwrap();
        let jobs: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix("job/")).collect();
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        let job = jobs[0].to_owned();
        let record: Value =
            serde_json::from_slice(&store.get("lists", &format!("job/{job}")).unwrap().unwrap()).unwrap();
        assert_eq!(record["status"], "done", "{record}");
        assert_eq!(record["notification"]["state"], "pending", "done and its event in one write: {record}");
        job
    };

    let h = Host::start_in(dir.path(), &as_strs(&args));
    let n = wait_delivery(&h, &token, &job, "delivered");
    assert_eq!(n["deliveryId"], format!("{job}.job.done.0"));
    let got = got.lock().unwrap().clone();
    assert!(!got.is_empty(), "delivered at least once");
    assert!(got.iter().all(|r| r.delivery == format!("{job}.job.done.0") && r.event == "job.done"), "{got:?}");
}
