//! `cargo bench --bench refresh`: what a refresh costs when its upstream changed (a full fetch
//! and compile) and when it did not (a conditional fetch answered `304`, no compile: the job
//! ends `unchanged`).
//!
//! One host (`blocklist-edge up`), one list whose configuration names one URL source on a local
//! upstream of `BENCH_REFRESH_RULES` rules (default 200,000, ~6 MB) with HostlistCompiler's
//! usual transformations; `BENCH_ROUNDS` (default 5) compiles of each kind, alternating. For
//! each: the attempt's duration as the job records it (claim to end) and the time from the
//! compile request until the job is seen ended (polled every 5 ms). Prints a Markdown table of
//! medians.

#[path = "../tests/common/mod.rs"]
mod common;

use common::Host;
use common::http_server::Upstream;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Milliseconds since the epoch of an RFC 3339 time as the API writes it.
fn ms(t: &str) -> u64 {
    humantime::parse_rfc3339(t).unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Requests a compile; waits for its end. (status, attempt ms, request-to-end ms)
fn refresh(h: &Host, token: &str, list: &str) -> (String, u64, u64) {
    let started = Instant::now();
    let job = h.request_compile(token, list);
    loop {
        let j: Value = h.job(token, &job);
        let status = j["status"].as_str().unwrap().to_owned();
        if ["done", "unchanged", "held", "dead"].contains(&status.as_str()) {
            let wall = started.elapsed().as_millis() as u64;
            let a = &j["history"][0];
            let attempt = ms(a["endedAt"].as_str().unwrap()) - ms(a["startedAt"].as_str().unwrap());
            return (status, attempt, wall);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let rules: usize = env_or("BENCH_REFRESH_RULES", 200_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 5);
    let text = |round: usize| -> String {
        (0..rules)
            .map(|i| format!("||host-{i}.tracker-example.com^\n"))
            .chain([format!("||round-{round}.example^\n")])
            .collect()
    };
    let upstream = Upstream::start(&text(0));
    let h = Host::start(&[
        "--allowed-outbound-hosts",
        upstream.addr(),
        "--compile-dedupe-secs",
        "0",
        "--rate-limit",
        "1000000000",
        // A full compile is what is measured, never held for shrinking.
        "--publish-guard-max-shrink-percent",
        "100",
    ]);
    let (_, token) = h.create_user("bench");
    let body = json!({
        "name": "refresh",
        "config": {
            "name": "refresh",
            "sources": [{"source": upstream.server.url("/list.txt")}],
            "transformations": ["Deduplicate", "Validate", "RemoveEmptyLines", "TrimLines", "InsertFinalNewLine"],
        },
    });
    let r = h.post("/v1/lists", &token).json(&body).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(refresh(&h, &token, &list).0, "done", "the first compile");

    let (mut full, mut unchanged) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for round in 1..=rounds {
        upstream.set(&text(round));
        let (status, attempt, wall) = refresh(&h, &token, &list);
        assert_eq!(status, "done", "a changed upstream is compiled");
        full.0.push(attempt);
        full.1.push(wall);
        let (status, attempt, wall) = refresh(&h, &token, &list);
        assert_eq!(status, "unchanged", "an unchanged upstream is not");
        unchanged.0.push(attempt);
        unchanged.1.push(wall);
    }
    let not_modified = upstream.hits().iter().filter(|h| h.status == 304).count();
    assert_eq!(not_modified, rounds, "every unchanged refresh was a 304");
    let size = text(0).len();
    println!("\n### Refresh of a {rules}-rule list ({:.1} MB upstream), medians of {rounds}\n", size as f64 / 1e6);
    println!("| refresh | upstream answer | attempt (ms) | request to end (ms) |");
    println!("|---|---|---:|---:|");
    let (fa, fw) = (median(full.0), median(full.1));
    let (ua, uw) = (median(unchanged.0), median(unchanged.1));
    println!("| changed: fetch + compile + publish | 200, {:.1} MB | {fa} | {fw} |", size as f64 / 1e6);
    println!("| unchanged: conditional fetch, no compile | 304, 0 B | {ua} | {uw} |");
    println!(
        "\nunchanged / changed: attempt {:.3}×, request to end {:.3}×",
        ua as f64 / fa.max(1) as f64,
        uw as f64 / fw.max(1) as f64
    );
}
