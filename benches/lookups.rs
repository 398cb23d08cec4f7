//! `cargo bench --bench lookups`: `GET /v1/lists/{id}/lookup` on a published list of
//! `BENCH_LOOKUP_RULES` rules (default 1,000,000), through the real host.
//!
//! One host, one configuration list whose URL source (a local upstream) holds the rules: mostly
//! `||domain^`, with hosts lines, exceptions and `$important` rules mixed in. The compile job
//! stores the artifact and its lookup index. Then `BENCH_LOOKUPS` (default 2,000) lookups one at
//! a time, half of names the list blocks (or their subdomains), half of names it does not, in
//! two passes: the first fills the node's cache, the second asks the same names (the index
//! warm). For each: the time the index lookup took inside the gateway component (its
//! `Server-Timing: lookup;dur=…`) and the request's time at the client. The very first lookup
//! (this node's cache empty) is reported apart. Prints a Markdown table.

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

/// Rule `i` of the list.
fn rule(i: usize) -> String {
    match i % 20 {
        0 => format!("0.0.0.0 host-{i}.ads-example.net"),
        1 => format!("@@||ok-{i}.tracker-example.com^"),
        2 => format!("||imp-{i}.tracker-example.com^$important"),
        _ => format!("||host-{i}.tracker-example.com^"),
    }
}

/// A name to look up: a listed domain (or a subdomain of one), or one the list does not name.
fn name(n: usize, rules: usize) -> String {
    let i = (n.wrapping_mul(2_654_435_761)) % rules;
    match n % 4 {
        0 => format!("host-{i}.tracker-example.com"),
        1 => format!("cdn.host-{i}.tracker-example.com"),
        2 => format!("absent-{i}.example.org"),
        _ => format!("host-{i}.elsewhere-example.com"),
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let rules: usize = env_or("BENCH_LOOKUP_RULES", 1_000_000);
    let lookups: usize = env_or("BENCH_LOOKUPS", 2_000);
    let text: String = (0..rules).map(|i| rule(i) + "\n").collect();
    let upstream = Upstream::start(&text);
    let h = Host::start(&["--allowed-outbound-hosts", upstream.addr(), "--rate-limit", "1000000"]);
    let (_, token) = h.create_user("bench");
    let config = json!({"name": "bench", "sources": [{"source": upstream.server.url("/list.txt")}]});
    let r = h.post("/v1/lists", &token).json(&json!({"name": "bench", "config": config})).send().unwrap();
    assert_eq!(r.status(), 201);
    let list = r.json::<Value>().unwrap()["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let job = h.request_compile(&token, &list);
    let j = loop {
        let j: Value = h.job(&token, &job);
        match j["status"].as_str().unwrap() {
            "done" => break j,
            "dead" => panic!("the compile died: {j}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let a = &j["history"][0];
    let attempt_ms = ms(a["endedAt"].as_str().unwrap()) - ms(a["startedAt"].as_str().unwrap());
    eprintln!(
        "compiled {rules} rules with their lookup index: attempt {attempt_ms} ms, {:?} from the request",
        started.elapsed()
    );

    // (inside the component, of which in store calls, at the client) in ms, and the verdict.
    let one = |n: usize| -> ([f64; 3], bool) {
        let q = name(n, rules);
        let t = Instant::now();
        let r = h.get(&format!("/v1/lists/{list}/lookup?name={q}"), &token).send().unwrap();
        let wall = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(r.status(), 200, "{q}");
        let timing = r.headers()["server-timing"].to_str().unwrap().to_owned();
        let metric = |m: &str| -> f64 {
            let at = timing.find(&format!("{m};dur=")).unwrap() + m.len() + 5;
            timing[at..].split(',').next().unwrap().trim().parse().unwrap()
        };
        let v: Value = r.json().unwrap();
        ([metric("lookup"), metric("store"), wall], v["blocked"].as_bool().unwrap())
    };
    let (cold, _) = one(0);
    // A first pass fills this node's cache (each chunk read keeps its 256 shard numbers); the
    // second pass asks the same names again: the index warm.
    let mut passes = Vec::new();
    for _ in 0..2 {
        let mut columns: [Vec<f64>; 3] = Default::default();
        let mut blocked = 0;
        for n in 1..=lookups {
            let (times, b) = one(n);
            for (c, t) in columns.iter_mut().zip(times) {
                c.push(t);
            }
            blocked += b as usize;
        }
        for c in &mut columns {
            c.sort_by(f64::total_cmp);
        }
        passes.push((columns, blocked));
    }
    println!(
        "Lookups on a published list of {rules} rules ({lookups} names after the first, {} of them blocked):\n",
        passes[0].1
    );
    println!(
        "| lookup | inside the component p50 (µs) | p90 | p99 | of which store calls p50 (µs) | request at the client p50 (ms) | p99 |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| first on the node (cache empty) | {:.0} | | | {:.0} | {:.2} | |",
        cold[0] * 1000.0,
        cold[1] * 1000.0,
        cold[2]
    );
    for (label, ([inside, store, wall], _)) in
        ["first pass (the node's cache filling)", "warm (the same names again)"].iter().zip(&passes)
    {
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            quantile(inside, 0.5) * 1000.0,
            quantile(inside, 0.9) * 1000.0,
            quantile(inside, 0.99) * 1000.0,
            quantile(store, 0.5) * 1000.0,
            quantile(wall, 0.5),
            quantile(wall, 0.99)
        );
    }
    println!("\nThe compile attempt, with the index stored: {attempt_ms} ms.");
}
