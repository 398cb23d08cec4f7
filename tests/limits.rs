//! Rate limiting, and the host's guest limits (CPU deadline, memory cap), end to end.

mod common;

use common::client::concurrent_admissions;
use common::{Host, error_of};
use std::time::{Duration, Instant};

// A one-hour window keeps these tests inside one window: the sliding window then admits
// exactly `limit` requests (the previous window's weight cannot shrink by a whole request
// within a test).
const WINDOW: &str = "3600";

#[test]
fn the_101st_request_gets_429_with_retry_after() {
    let h = Host::start(&["--rate-limit", "100", "--rate-window-secs", WINDOW]);
    let (_, t) = h.create_user("alice");
    for i in 0..100 {
        let r = h.get("/v1/lists", &t).send().unwrap();
        assert_eq!(r.status(), 200, "request {}", i + 1);
        assert_eq!(r.headers()["ratelimit-limit"], "100");
        assert_eq!(r.headers()["ratelimit-remaining"].to_str().unwrap(), (99 - i).to_string());
    }
    let r = h.get("/v1/lists", &t).send().unwrap();
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2 * 3600).contains(&retry), "retry-after {retry}");
    assert_eq!(r.headers()["ratelimit-remaining"], "0");
    assert!(r.headers().contains_key("ratelimit-reset"));
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (429, "rate_limited"));

    // Other users have their own budget.
    let (_, other) = h.create_user("bob");
    assert_eq!(h.get("/v1/lists", &other).send().unwrap().status(), 200);
    // Alice stays refused; the health check is not limited at all.
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().status(), 429);
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
}

#[test]
fn limit_is_exact_with_8_concurrent_clients() {
    let limit = 60;
    let h = Host::start(&["--rate-limit", &limit.to_string(), "--rate-window-secs", WINDOW]);
    let (_, t) = h.create_user("alice");
    let clients = 8;
    let per_client = 20; // 160 requests for a limit of 60
    let (ok, limited) = concurrent_admissions(&[&h], &t, clients, per_client);
    assert_eq!(ok, limit, "admitted exactly the limit");
    assert_eq!(limited, (clients * per_client) as u32 - limit);
}

/// Counts admitted requests of `token` against `h` until one is refused (or `max` are sent).
fn admitted_until_429(h: &Host, token: &str, max: u32) -> u32 {
    for i in 0..max {
        match h.get("/v1/lists", token).send().unwrap().status().as_u16() {
            200 => {}
            429 => return i,
            other => panic!("unexpected status {other}"),
        }
    }
    max
}

#[test]
fn with_the_data_rate_limit_store_processes_sharing_a_data_directory_share_one_budget() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--rate-limit", "20", "--rate-window-secs", WINDOW, "--rate-limit-store", "data"];
    let a = Host::start_in(dir.path(), &args);
    let b = Host::start_in(dir.path(), &args);
    let (_, t) = a.create_user("alice");
    for _ in 0..12 {
        assert_eq!(a.get("/v1/lists", &t).send().unwrap().status(), 200);
    }
    // 12 of 20 spent on A: B admits the remaining 8.
    assert_eq!(admitted_until_429(&b, &t, 20), 8);
    assert_eq!(a.get("/v1/lists", &t).send().unwrap().status(), 429);
}

#[test]
fn with_the_memory_rate_limit_store_each_process_counts_its_own_requests() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--rate-limit", "20", "--rate-window-secs", WINDOW];
    let a = Host::start_in(dir.path(), &args);
    let (_, t) = a.create_user("alice");
    assert_eq!(admitted_until_429(&a, &t, 40), 20);
    // A second process on the same data directory knows the user (durable store) but keeps
    // its own counters (the default, in memory).
    let b = Host::start_in(dir.path(), &args);
    assert_eq!(admitted_until_429(&b, &t, 40), 20);
    assert_eq!(a.get("/v1/lists", &t).send().unwrap().status(), 429);
}

#[test]
fn failed_authentications_are_limited_per_client_address() {
    let h = Host::start(&["--auth-failure-limit", "5", "--rate-window-secs", WINDOW]);
    let (_, good) = h.create_user("alice");
    let bad = format!("ble_{}", "0".repeat(64));
    // Five failures, some without a token, some with a wrong one, some claiming to come from
    // elsewhere (the host replaces the client's own `spin-client-addr`).
    for i in 0..5 {
        let r = match i % 3 {
            0 => h.client().get(h.url("/v1/lists")),
            1 => h.get("/v1/lists", &bad),
            _ => h.get("/v1/lists", &bad).header("spin-client-addr", format!("203.0.113.{i}:1234")),
        };
        assert_eq!(error_of(r.send().unwrap()).0, 401, "failure {}", i + 1);
    }
    let r = h.get("/v1/lists", &bad).header("spin-client-addr", "198.51.100.7:80").send().unwrap();
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "retry-after {retry}");
    let (status, code, message) = error_of(r);
    assert_eq!((status, code.as_str()), (429, "too_many_auth_failures"), "{message}");
    // A valid token from the same address is still served: the budget is for failures only.
    assert_eq!(h.get("/v1/lists", &good).send().unwrap().status(), 200);
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
}

#[test]
fn a_body_is_not_read_before_the_caller_is_authenticated() {
    let h = Host::start(&["--max-body-bytes", "1000"]);
    // Over the body limit, but without a valid token: the answer is 401, not 413 — the body
    // was never read.
    let r = h.client().post(h.url("/v1/lists")).body(vec![b'x'; 5000]).send().unwrap();
    assert_eq!(error_of(r).0, 401);
    let (_, t) = h.create_user("alice");
    let r = h.post("/v1/lists", &t).header("content-type", "application/json").body(vec![b'x'; 5000]).send().unwrap();
    assert_eq!(error_of(r).0, 413);
}

#[test]
fn a_looping_guest_is_cut_off_and_the_host_keeps_serving() {
    let deadline_ms = 500;
    let h = Host::start(&[
        "--gateway",
        env!("BLOCKLIST_EDGE_TEST_BUSY_LOOP_WASM"),
        "--deadline-ms",
        &deadline_ms.to_string(),
    ]);
    let started = Instant::now();
    let r = h.client().get(h.url("/loop")).send().unwrap();
    let took = started.elapsed();
    let (status, code, _) = error_of(r);
    assert_eq!((status, code.as_str()), (503, "deadline_exceeded"));
    // Cut off at the deadline (epochs tick every 10 ms), well before the wall-clock backstop.
    assert!(took >= Duration::from_millis(deadline_ms), "stopped early: {took:?}");
    assert!(took < Duration::from_millis(deadline_ms + 1_000), "stopped late: {took:?}");
    let r = h.client().get(h.url("/ok")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "ok\n");
}

#[test]
fn looping_guests_on_every_worker_thread_do_not_stall_other_requests() {
    // More looping guests than the host has worker threads (one per core): a guest that did
    // not yield would hold its thread until its deadline, and nothing else would be served.
    let loops = 2 * std::thread::available_parallelism().map_or(2, |n| n.get()) + 2;
    let h = Host::start(&["--gateway", env!("BLOCKLIST_EDGE_TEST_BUSY_LOOP_WASM"), "--deadline-ms", "5000"]);
    let url = h.url("/loop");
    let looping: Vec<_> = (0..loops)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let r = reqwest::blocking::Client::new().get(url).timeout(Duration::from_secs(30)).send().unwrap();
                (r.status().as_u16(), Instant::now())
            })
        })
        .collect();
    // Every loop is running (the host answers its own metrics meanwhile) ...
    let deadline = Instant::now() + Duration::from_secs(4);
    while h.metric("blocklist_edge_instances{state=\"live\"}") < loops as f64 {
        assert!(Instant::now() < deadline, "the looping requests were not all running within 4 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ... and a request to the same component is answered while they still run.
    let r = h.client().get(h.url("/ok")).send().unwrap();
    let served_at = Instant::now();
    assert_eq!(r.text().unwrap(), "ok\n");
    for l in looping {
        let (status, ended_at) = l.join().unwrap();
        assert_eq!(status, 503, "a loop is cut off at its deadline");
        assert!(served_at < ended_at, "the other request waited for a loop to be cut off");
    }
}

#[test]
fn a_guest_over_its_memory_cap_traps_and_the_host_keeps_serving() {
    let h = Host::start(&["--gateway", env!("BLOCKLIST_EDGE_TEST_BUSY_LOOP_WASM"), "--memory-mib", "32"]);
    let (status, code, _) = error_of(h.client().get(h.url("/grow")).send().unwrap());
    assert_eq!((status, code.as_str()), (500, "guest_trap"));
    for _ in 0..3 {
        assert_eq!(h.client().get(h.url("/ok")).send().unwrap().status(), 200);
    }
}

#[test]
fn clients_that_trickle_their_headers_are_cut_off_and_others_are_served() {
    use std::io::{Read, Write};
    let h = Host::start(&["--header-timeout-ms", "500"]);
    // 200 connections that each send half a request line and then nothing.
    let slow: Vec<std::net::TcpStream> = (0..200)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&h.addr).unwrap();
            s.write_all(b"GET /v1/lists HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    // Meanwhile a normal client is served at once. (`Connection: close`: a connection kept
    // idle in the client's pool would itself be cut off by the header timeout, and reusing it
    // for the last request below would race the server closing it.)
    let started = Instant::now();
    assert_eq!(h.client().get(h.url("/healthz")).header("connection", "close").send().unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_millis(400), "{:?}", started.elapsed());
    // Each slow connection is closed by the server once its headers are late.
    for mut s in slow {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        // Ends (EOF, or a reset) instead of timing out after 5 s.
        match s.read_to_end(&mut buf) {
            Ok(_) => {}
            Err(e) => assert!(
                !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
                "a slow connection was kept open: {e}"
            ),
        }
    }
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
}

#[test]
fn oversized_headers_are_refused() {
    let h = Host::start(&[]);
    let (_, t) = h.create_user("alice");
    let r = h.get("/v1/lists", &t).header("x-big", "a".repeat(100 * 1024)).send();
    // The server answers 431 or closes the connection; either way no guest runs for it.
    match r {
        Ok(r) => assert_eq!(r.status(), 431),
        Err(e) => assert!(e.is_request() || e.is_connect() || e.to_string().contains("connection"), "{e}"),
    }
    assert_eq!(h.get("/v1/lists", &t).send().unwrap().status(), 200);
}
