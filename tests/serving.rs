//! The serving path under clients that stop reading or read slowly, against the real host and
//! a big compiled list, over raw sockets: stalled clients hold no concurrency slot, an
//! instance only until the write timeout, and running out of instances answers 503 with
//! `Retry-After`; a slow reader gets the whole list whatever the CPU deadline.
//!
//! Each test prints what it measured (`cargo test --release --test serving -- --nocapture`).

mod common;
#[path = "common/sockets.rs"]
mod sockets;

use common::{Host, error_of};
use sha2::{Digest, Sha256};
use sockets::{connect_with_rcvbuf, peek_status, read_body_slowly, read_head, read_until_closed, send_get};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Lines of the list slow readers read, `||host-NNNNNNNN.example.org^\n` (29 bytes each):
/// about 5.5 MB.
const SLOW_READ_LINES: usize = 190_000;

/// Lines of the list stalled clients request: about 16 MB. A client that reads nothing still
/// takes in what the buffers on the way hold: here 2.8 MB queued in the host's socket (its send
/// buffer autotunes up to `net.ipv4.tcp_wmem`'s maximum, 4 MiB by default, even toward a tiny
/// receive window) and some 1.5 MB between wasi-http's body channel and hyper. Of a 5.5 MB list
/// that leaves about 1 MB for the guest to block on; 16 MB keeps the guests blocked, holding
/// their instances, with room for larger socket buffers.
const STALLED_LINES: usize = 550_000;

/// The receive buffer of a client that stops reading: 4 KiB (8 KiB once the kernel doubles
/// it), set before connecting, so it advertises a tiny window from the start.
const STALLED_RCVBUF: usize = 4 * 1024;

/// The most a request may take while clients are stalled, as the issue demands.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// A host serving one compiled list of generated rules to one user, and to subscribers.
struct Served {
    host: Host,
    token: String,
    /// `/v1/lists/{id}/compiled`.
    path: String,
    /// The list's subscription URL (hosts format; no credentials needed).
    subscription: String,
}

impl Served {
    /// Starts a host with `extra` flags (besides a rate limit out of reach and a request body
    /// limit that admits the rules), and creates and compiles a list of `lines` rules.
    fn start(lines: usize, extra: &[&str]) -> Served {
        let mut args = vec![
            "--rate-limit",
            "1000000",
            "--subscription-rate-limit",
            "0",
            "--subscription-address-limit",
            "0",
            "--max-body-bytes",
            "67108864",
        ];
        args.extend_from_slice(extra);
        let host = Host::start(&args);
        let (_, token) = host.create_user("alice");
        let rules: String = (0..lines).map(|i| format!("||host-{i:08}.example.org^\n")).collect();
        let list = host.create_list(&token, "big", &rules);
        // Subscribed before the compile, so that the compile job makes its file.
        let r = host
            .post(&format!("/v1/lists/{list}/subscriptions"), &token)
            .json(&serde_json::json!({"name": "resolvers", "format": "hosts"}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        let subscription = r.json::<serde_json::Value>().unwrap()["path"].as_str().unwrap().to_owned();
        let job = host.request_compile(&token, &list);
        host.wait_job(&token, &job, "done");
        Served { host, token, path: format!("/v1/lists/{list}/compiled"), subscription }
    }

    /// Fetches the whole subscription file as a resolver does (no credentials); asserts a 200
    /// whose body's SHA-256 is its entity tag, and returns the body's length.
    fn fetch_subscription(&self) -> usize {
        let r = self.host.client().get(self.host.url(&self.subscription)).send().unwrap();
        assert_eq!(r.status(), 200, "GET {}", self.subscription);
        let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
        let body = r.bytes().unwrap();
        assert_eq!(hex::encode(Sha256::digest(&body)), etag, "the body's SHA-256 is its ETag");
        body.len()
    }

    /// Fetches the whole list through the ordinary client; asserts a 200 whose body's SHA-256
    /// is its entity tag, and returns the body's length.
    fn fetch_whole(&self) -> usize {
        let r = self.host.get(&self.path, &self.token).send().unwrap();
        assert_eq!(r.status(), 200, "GET {}", self.path);
        let etag = r.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
        let body = r.bytes().unwrap();
        assert_eq!(hex::encode(Sha256::digest(&body)), etag, "the body's SHA-256 is its ETag");
        body.len()
    }

    /// The status `GET /healthz` answers.
    fn healthz(&self) -> u16 {
        self.host.client().get(self.host.url("/healthz")).send().unwrap().status().as_u16()
    }

    /// `n` clients that request the list and never read it (see [`STALLED_RCVBUF`]): every
    /// other one through the API, the rest through the subscription URL. Returns once each has
    /// its response head — peeked at, so nothing is consumed — with their statuses.
    fn stall(&self, n: usize) -> Vec<(TcpStream, u16)> {
        let clients: Vec<TcpStream> = (0..n)
            .map(|i| {
                let mut s = connect_with_rcvbuf(&self.host.addr, STALLED_RCVBUF);
                send_get(&mut s, if i % 2 == 0 { &self.path } else { &self.subscription }, &self.token);
                s
            })
            .collect();
        clients
            .into_iter()
            .map(|s| {
                let status = peek_status(&s);
                (s, status)
            })
            .collect()
    }

    /// Requests alive in the host (`--max-instances` counts them), from `GET /metrics`.
    fn live_instances(&self) -> f64 {
        self.host.metric("blocklist_edge_instances{state=\"live\"}")
    }
}

/// Runs `f`; returns its result and how long it took.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    (out, started.elapsed())
}

/// Polls `ok` every 20 ms until it holds, for at most `within`; returns whether it did.
fn eventually(within: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// With `clients` stalled readers of the list in place (each holding an instance, its guest
/// blocked on the full connection), `/healthz`, a whole fetch of the list and a whole fetch of
/// its subscription file by other clients each answer within [`ANSWER_WITHIN`].
fn stalled_readers_leave_the_host_serving(extra: &[&str], clients: usize) {
    let served = Served::start(STALLED_LINES, extra);
    let stalled = served.stall(clients);
    assert!(stalled.iter().all(|(_, status)| *status == 200), "every stalled client got its head");
    assert_eq!(served.live_instances(), clients as f64, "each stalled client holds its instance");
    let (healthz, healthz_took) = timed(|| served.healthz());
    let (length, fetch_took) = timed(|| served.fetch_whole());
    let (sub_length, sub_took) = timed(|| served.fetch_subscription());
    println!(
        "{clients} stalled clients, flags {extra:?}: /healthz answered in {healthz_took:?}, \
         the whole list ({length} bytes) in {fetch_took:?}, the subscription file ({sub_length} bytes) in {sub_took:?}"
    );
    assert_eq!(healthz, 200);
    assert!(healthz_took < ANSWER_WITHIN, "/healthz took {healthz_took:?}");
    assert!(fetch_took < ANSWER_WITHIN, "the list took {fetch_took:?}");
    assert!(sub_took < ANSWER_WITHIN, "the subscription file took {sub_took:?}");
    // Clients that go away (with unread data: their sockets are reset) free their instances.
    drop(stalled);
    assert!(eventually(Duration::from_secs(5), || served.live_instances() == 0.0), "instances still taken");
}

#[test]
fn two_hundred_stalled_readers_leave_the_host_serving_on_default_limits() {
    stalled_readers_leave_the_host_serving(&[], 200);
}

#[test]
fn forty_stalled_readers_leave_a_host_of_four_concurrent_requests_serving() {
    stalled_readers_leave_the_host_serving(&["--max-concurrency", "4"], 40);
}

/// Stalled readers that take every instance make the next requests 503 with `Retry-After`
/// (never 500); the write timeout then closes them, cutting their bodies short, their
/// instances come back, and requests succeed again.
#[test]
fn stalled_readers_exhaust_the_instances_until_the_write_timeout_closes_them() {
    // 2 s: the 12 requests and the probe must all land before the first stalled connection
    // is closed, on a machine that other tests load too (0.15 to 0.4 s here).
    let (instances, write_timeout) = (8, Duration::from_millis(2000));
    let served = Served::start(
        STALLED_LINES,
        &["--max-instances", &instances.to_string(), "--write-timeout-ms", &write_timeout.as_millis().to_string()],
    );
    let started = Instant::now();
    let mut stalled = served.stall(instances + 4);
    let statuses: Vec<u16> = stalled.iter().map(|(_, status)| *status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), instances, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), 4, "{statuses:?}");

    let r = served.host.client().get(served.host.url("/healthz")).send().unwrap();
    let refused_after = started.elapsed();
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let (status, code, message) = error_of(r);
    assert_eq!((status, code.as_str()), (503, "unavailable"), "{message}");
    assert!(retry_after >= 1, "retry-after {retry_after}");
    assert!(refused_after < write_timeout, "the probe came too late to find the pool full: {refused_after:?}");

    assert!(eventually(Duration::from_secs(10), || served.healthz() == 200), "still refused after 10 s");
    let recovered_after = started.elapsed();
    println!(
        "{instances} instances, write timeout {write_timeout:?}: refused with 503 (Retry-After: {retry_after}) \
         {refused_after:?} after the stall began, served again after {recovered_after:?}"
    );
    assert!(recovered_after >= write_timeout, "recovered before any write timeout: {recovered_after:?}");
    // Each stalled client's write timeout runs from its own stall: wait for them all before
    // reading (a read would be progress).
    assert!(eventually(Duration::from_secs(5), || served.live_instances() == 0.0), "instances still taken");
    assert_eq!(served.host.metric("blocklist_edge_write_timeouts_total"), instances as f64);
    for (client, _) in stalled.iter_mut().filter(|(_, status)| *status == 200) {
        let (head, start) = read_head(client);
        let rest = read_until_closed(client, Duration::from_secs(5)).expect("the host closed the stalled connection");
        let received = start.len() + rest.len();
        assert!(received < head.content_length(), "a stalled client got its whole body ({received} bytes)");
    }
    assert!(served.host.metric("blocklist_edge_busy_refusals_total") >= 5.0);
    served.fetch_whole();
}

/// A client reading 64 KiB every 100 ms (its receive buffer 64 KiB, so the host cannot run
/// ahead of it into kernel buffers) gets the whole list, its SHA-256 equal to the ETag: its
/// guest is not cut off by the write timeout, the body's idle bound or the CPU deadline, which
/// counts the guest's execution and not its waiting on the client.
fn a_slow_reader_gets_the_whole_list(extra: &[&str]) {
    let served = Served::start(SLOW_READ_LINES, extra);
    let step = 64 * 1024;
    let mut client = connect_with_rcvbuf(&served.host.addr, step);
    send_get(&mut client, &served.path, &served.token);
    let started = Instant::now();
    let (head, start) = read_head(&mut client);
    assert_eq!(head.status, 200);
    let length = head.content_length();
    let body = read_body_slowly(&mut client, start, length, step, Duration::from_millis(100));
    let took = started.elapsed();
    println!("a slow reader, flags {extra:?}: all {length} bytes in {took:?}");
    let etag = head.header("etag").expect("an etag").trim_matches('"');
    assert_eq!(hex::encode(Sha256::digest(&body)), etag, "the body's SHA-256 is its ETag");
    assert!(length > 5_000_000, "{length} bytes");
    assert!(took > Duration::from_secs(5), "the reader was not slow: {took:?}");
}

#[test]
fn a_slow_reader_gets_the_whole_list_on_default_limits() {
    a_slow_reader_gets_the_whole_list(&[]);
}

#[test]
fn a_slow_reader_gets_the_whole_list_with_a_500_ms_cpu_deadline() {
    a_slow_reader_gets_the_whole_list(&["--deadline-ms", "500"]);
}
