//! `cargo bench --bench scale`: what sharing one Redis costs a host, and what three hosts on one
//! Redis serve together, on this machine.
//!
//! Setups (each host with every limit out of reach, its edge cache on, `wrk -t2 -c16` per host
//! (and, for one host, `-t1 -c1`: one request at a time, the latency without queueing),
//! `BENCH_SECS` seconds per measurement, `BENCH_ROUNDS` rounds, medians):
//!
//! - **one host, embedded**: the store in the data directory (SQLite), the limiter's counters in
//!   memory (the default);
//! - **one host on Redis**: `--kv-url`, `--redis-url` and `--rate-limit-store data` on one local
//!   `redis-server` (Debian's), as a host of a cluster runs;
//! - **three hosts on Redis**: three such hosts on the same server, loaded at once (three wrk
//!   processes), their req/s summed.
//!
//! Requests, on a list of `BENCH_RULES` rules (default 2,000):
//!
//! - a subscription fetch (`GET /s/{token}/….txt`, no credentials) answered by the edge cache
//!   (`X-Cache: HIT`): no component runs, but the answer is charged to the subscription's
//!   budgets, on the limiter's counters (in memory, or one Redis round trip per budget);
//! - `GET /v1/lists/{id}/compiled` with a bearer token: the gateway component runs (token,
//!   rate limit, the list's record and artifact, from the node-local cache once warm).
//!
//! The machine's cores are shared by the hosts, Redis and wrk: three hosts on two cores cannot
//! serve three times one host's rate; the table says what they do.

#[path = "../tests/common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "http/wrk.rs"]
mod wrk;

use common::Host;
use jobqueue::testing::RedisServer;
use std::time::Duration;
use wrk::{Load, median, wrk_on};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const NO_LIMITS: [&str; 6] = [
    "--rate-limit",
    "1000000000",
    "--subscription-rate-limit",
    "1000000000",
    "--subscription-address-limit",
    "1000000000",
];

/// One setup's hosts, and the two URLs of each (subscription, compiled list) with the token.
struct Setup {
    name: &'static str,
    hosts: Vec<Host>,
    token: String,
    list: String,
    sub_path: String,
}

fn setup(name: &'static str, hosts: Vec<Host>, rules: &str) -> Setup {
    let (_, token) = hosts[0].create_user("bench");
    let list = hosts[0].create_list(&token, "bench", rules);
    hosts[0].wait_job(&token, &hosts[0].request_compile(&token, &list), "done");
    let sub_path = hosts[0].subscribe(&token, &list, "bench", "hosts")["path"].as_str().unwrap().to_owned();
    // Every host answers both, the subscription from its edge cache once warm.
    for h in &hosts {
        for _ in 0..50 {
            let r = h.client().get(h.url(&sub_path)).send().unwrap();
            assert_eq!(r.status(), 200);
            if r.headers().get("x-cache").is_some_and(|v| v == "HIT") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let r = h.client().get(h.url(&sub_path)).send().unwrap();
        assert_eq!(r.headers()["x-cache"], "HIT", "{name}: the edge cache answers");
        let r = h.get(&format!("/v1/lists/{list}/compiled"), &token).send().unwrap();
        assert_eq!(r.status(), 200);
    }
    Setup { name, hosts, token, list, sub_path }
}

/// wrk against every URL at once, `connections` each; (summed req/s, median p50, worst p99).
fn load_all(urls: &[String], headers: &[String], secs: u64, connections: u32) -> Load {
    let loads: Vec<Load> = std::thread::scope(|s| {
        let runs: Vec<_> = urls.iter().map(|u| s.spawn(move || wrk_on(u, headers, None, secs, connections))).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for l in &loads {
        assert!(l.non_2xx == 0 && l.socket_errors == 0, "errors under load: {l:?}");
    }
    Load {
        rps: loads.iter().map(|l| l.rps).sum(),
        p50_ms: median(loads.iter().map(|l| l.p50_ms).collect()),
        p99_ms: loads.iter().map(|l| l.p99_ms).fold(0.0, f64::max),
        non_2xx: 0,
        socket_errors: 0,
        requests: loads.iter().map(|l| l.requests).sum(),
        read_bytes: loads.iter().map(|l| l.read_bytes).sum(),
        transfer_bps: loads.iter().map(|l| l.transfer_bps).sum(),
    }
}

fn measure(urls: &[String], headers: &[String], secs: u64, rounds: usize, connections: u32) -> (f64, f64, f64) {
    let loads: Vec<Load> = (0..rounds).map(|_| load_all(urls, headers, secs, connections)).collect();
    (
        median(loads.iter().map(|l| l.rps).collect()),
        median(loads.iter().map(|l| l.p50_ms).collect()),
        median(loads.iter().map(|l| l.p99_ms).collect()),
    )
}

fn main() {
    let secs: u64 = env_or("BENCH_SECS", 5);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let n: usize = env_or("BENCH_RULES", 2_000);
    let rules: String = (0..n).map(|i| format!("||host-{i}.tracker-example.com^\n")).collect();
    let redis = RedisServer::new();
    let url = redis.url();
    let cluster_host = || {
        let mut args = vec!["--kv-url", &url, "--redis-url", &url, "--rate-limit-store", "data"];
        args.extend(NO_LIMITS);
        Host::start(&args)
    };

    let mut rows = Vec::new();
    let setups = [
        ("one host, embedded (SQLite, limiter in memory)", vec![Host::start(&NO_LIMITS)]),
        ("one host on Redis (store, queue, limiter)", vec![cluster_host()]),
        ("three hosts on one Redis", vec![cluster_host(), cluster_host(), cluster_host()]),
    ];
    for (name, hosts) in setups {
        let s = setup(name, hosts, &rules);
        let subs: Vec<String> = s.hosts.iter().map(|h| h.url(&s.sub_path)).collect();
        let compiled: Vec<String> = s.hosts.iter().map(|h| h.url(&format!("/v1/lists/{}/compiled", s.list))).collect();
        let bearer = vec![format!("Authorization: Bearer {}", s.token)];
        rows.push((s.name, "subscription, edge-cache HIT", measure(&subs, &[], secs, rounds, 16)));
        rows.push((s.name, "compiled list, bearer token", measure(&compiled, &bearer, secs, rounds, 16)));
        if s.hosts.len() == 1 {
            // One request at a time: the latency itself, not a queue.
            let one = &subs[..1];
            rows.push((s.name, "subscription, edge-cache HIT, 1 connection", measure(one, &[], secs, rounds, 1)));
            let one = &compiled[..1];
            rows.push((s.name, "compiled list, bearer token, 1 connection", measure(one, &bearer, secs, rounds, 1)));
        }
    }

    println!(
        "\n`cargo bench --bench scale`: {n} rules, wrk -t2 -c16 per host (or -t1 -c1), {secs} s × {rounds} rounds (medians)\n"
    );
    println!("| setup | request | req/s | p50 ms | p99 ms | req/s vs one embedded host |");
    println!("|---|---|---:|---:|---:|---:|");
    for (setup, request, (rps, p50, p99)) in &rows {
        let base = rows.iter().find(|r| r.1 == *request).map(|r| r.2.0).unwrap();
        println!("| {setup} | {request} | {rps:.0} | {p50:.2} | {p99:.2} | {:.2}× |", rps / base);
    }
}
