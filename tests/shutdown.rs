//! Shutdown and crashes mid-work (issue 15, part 7): on SIGTERM the host finishes requests in
//! flight and hands back a job it cannot finish within the grace period, so that a restarted
//! host runs it at once; after `kill -9`, the job's claim (renewed while it runs) lapses within
//! seconds, not after the job deadline. The real host, a real slow source.

mod common;

use common::Host;
use common::http_server::{Reply, Server};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A source that answers after `delay`, counting the requests it received.
fn slow_source(delay: Duration) -> (Server, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = Server::start(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(delay);
        Reply::text(200, "0.0.0.0 slow.example.org\n")
    });
    (server, hits)
}

/// Waits until `hits` reaches `n` (the job's fetch has begun).
fn wait_hits(hits: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while hits.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "the source was never fetched");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Creates a list compiled from `source`'s URL and requests its compile; returns (list, job).
fn compile_from(h: &Host, token: &str, source: &Server) -> (String, String) {
    let body =
        json!({"name": "slow", "config": {"name": "slow", "sources": [{"source": source.named_url("/slow.txt")}]}});
    let r = h.post("/v1/lists", token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let job = h.request_compile(token, &list);
    (list, job)
}

#[test]
fn sigterm_finishes_requests_in_flight() {
    let (source, hits) = slow_source(Duration::from_millis(1500));
    let allowed = source.named_addr();
    let mut h = Host::start(&["--allowed-outbound-hosts", &allowed]);
    let (_, token) = h.create_user("owner");
    let preview = {
        let (url, token, source_url) = (h.url("/v1/preview"), token.clone(), source.named_url("/slow.txt"));
        let client = h.client().clone();
        std::thread::spawn(move || {
            let body = json!({"config": {"name": "p", "sources": [{"source": source_url}]}});
            let r = client.post(url).bearer_auth(token).json(&body).send().unwrap();
            (r.status().as_u16(), r.text().unwrap())
        })
    };
    wait_hits(&hits, 1);
    h.terminate();
    let (status, text) = preview.join().unwrap();
    assert_eq!(status, 200, "the request in flight was answered: {text}");
    assert!(text.contains("slow.example.org"), "{text}");
    let exit = h.wait_exit(Duration::from_secs(15)).expect("the host stops after its requests");
    assert!(exit.success(), "a graceful shutdown exits 0: {exit:?}");
    // Nothing new is accepted once it has stopped.
    assert!(h.client().get(h.url("/healthz")).send().is_err());
}

#[test]
fn a_job_cut_by_sigterm_is_handed_back_and_runs_at_once_after_restart() {
    let (source, hits) = slow_source(Duration::from_secs(4));
    let allowed = source.named_addr();
    let dir = tempfile::tempdir().unwrap();
    // Default job deadline (120 s): before hand-backs, the job's claim would hold it that long.
    let args = ["--allowed-outbound-hosts", &allowed, "--shutdown-grace-ms", "300", "--rate-limit", "100000"];
    let mut h = Host::start_in(dir.path(), &args);
    let (_, token) = h.create_user("owner");
    let (_, job) = compile_from(&h, &token, &source);
    wait_hits(&hits, 1);
    h.terminate();
    let exit = h.wait_exit(Duration::from_secs(15)).expect("the host stops after its grace period");
    assert!(exit.success(), "{exit:?}");
    drop(h);

    let restarted = Instant::now();
    let h = Host::start_in(dir.path(), &args);
    let done = h.wait_job(&token, &job, "done");
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(30), "the handed-back job ran {took:?} after the restart: {done}");
    assert!(hits.load(Ordering::SeqCst) >= 2, "the restarted host fetched the source again");
    let history = done["history"].as_array().unwrap();
    assert!(
        history.iter().any(|a| a["error"].as_str().is_some_and(|e| e.contains("did not finish"))),
        "the cut attempt is on record: {done}"
    );
}

#[test]
fn a_job_of_a_killed_host_runs_again_within_seconds() {
    let (source, hits) = slow_source(Duration::from_secs(4));
    let allowed = source.named_addr();
    let dir = tempfile::tempdir().unwrap();
    let args = ["--allowed-outbound-hosts", &allowed, "--rate-limit", "100000"];
    let h = Host::start_in(dir.path(), &args);
    let (_, token) = h.create_user("owner");
    let (_, job) = compile_from(&h, &token, &source);
    wait_hits(&hits, 1);
    // The job is running when the host dies.
    assert_eq!(h.job(&token, &job)["status"], "running");
    h.kill();

    let restarted = Instant::now();
    let h = Host::start_in(dir.path(), &args);
    let done = h.wait_job(&token, &job, "done");
    let took = restarted.elapsed();
    // The claim is renewed every few seconds while a job runs and lapses 10 s after the
    // renewals stop; the sweeper (every 5 s) then publishes the job again. Before renewals, the
    // claim lasted the job deadline plus 3 s: 123 s by default.
    assert!(took < Duration::from_secs(40), "the job ran again {took:?} after the restart: {done}");
    assert!(hits.load(Ordering::SeqCst) >= 2);
}
