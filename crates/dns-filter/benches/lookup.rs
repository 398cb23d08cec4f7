//! `cargo bench -p dns-filter --bench lookup`: builds the index of 1,000,000 generated rules
//! (in memory and sharded) and times lookups of names that hit and miss, in memory and through
//! the sharded form (shards fetched from an in-memory map, standing for the node-local cache).
//! Prints a Markdown table. `DNS_FILTER_BENCH_RULES` changes the list size.

use dns_filter::{Engine, build_shards, lookup_sharded};
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/common/rng.rs"]
mod rng;
use rng::Rng;

const TLDS: &[&str] = &["com", "net", "org", "io", "co.uk", "de", "ru", "info"];

fn domain(rng: &mut Rng) -> String {
    let tld = TLDS[rng.below(TLDS.len())];
    let base = format!("d{:x}.{tld}", rng.below(1 << 40));
    match rng.below(3) {
        0 => format!("{}.{base}", ["ads", "cdn", "track", "img", "px"][rng.below(5)]),
        _ => base,
    }
}

/// A list shaped like a compiled DNS blocklist: mostly `||d^` and hosts lines, some exceptions,
/// `$important`, `$dnstype` and `$badfilter` rules, and a few hundred rules that need a scan.
fn generate(n: usize) -> (String, Vec<String>) {
    let mut rng = Rng(42);
    let mut text = String::with_capacity(n * 28);
    let mut names = Vec::with_capacity(n);
    text.push_str("! Title: bench\n");
    for i in 0..n {
        let d = domain(&mut rng);
        let line = match rng.below(100) {
            _ if i % 4000 == 0 => format!("||ads{}*.com^", i / 4000),
            _ if i % 4000 == 1 => format!("/^tr{}[0-9]+\\.net/", i / 4000),
            0..=69 => format!("||{d}^"),
            70..=89 => format!("0.0.0.0 {d}"),
            90..=94 => format!("@@||{d}^"),
            95..=96 => format!("||{d}^$important"),
            97 => format!("||{d}^$dnstype=AAAA"),
            98 => format!("||{d}^$badfilter"),
            _ => d.clone(),
        };
        text.push_str(&line);
        text.push('\n');
        names.push(d);
    }
    (text, names)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let n: usize = std::env::var("DNS_FILTER_BENCH_RULES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let (text, names) = generate(n);
    let mut rng = Rng(7);
    let hits: Vec<String> = (0..20_000)
        .map(|i| {
            let d = &names[rng.below(names.len())];
            if i % 2 == 0 { d.clone() } else { format!("sub.{d}") }
        })
        .collect();
    let misses: Vec<String> = (0..20_000).map(|_| domain(&mut rng)).collect();

    let rss0 = rss_kib();
    let t = Instant::now();
    let engine = Engine::new(&text);
    let build_mem = t.elapsed();
    let engine_mib = (rss_kib().saturating_sub(rss0)) as f64 / 1024.0;

    let t = Instant::now();
    let shards = build_shards(&text);
    let build_shards_time = t.elapsed();
    let total: usize = shards.iter().map(|s| s.bytes.len()).sum();
    let max = shards.iter().filter(|s| s.key != "meta").map(|s| s.bytes.len()).max().unwrap_or(0);
    let meta = shards.iter().find(|s| s.key == "meta").map_or(0, |s| s.bytes.len());
    let store: HashMap<String, Vec<u8>> = shards.into_iter().map(|s| (s.key, s.bytes)).collect();

    let time = |f: &dyn Fn(&str) -> bool, names: &[String]| -> (Duration, Duration, usize) {
        let mut v = Vec::with_capacity(names.len());
        let mut blocked = 0;
        for (i, name) in names.iter().enumerate() {
            let t = Instant::now();
            let b = black_box(f(black_box(name)));
            let e = t.elapsed();
            if i >= 1000 {
                v.push(e);
            }
            blocked += usize::from(b);
        }
        let (p50, p99) = percentiles(v);
        (p50, p99, blocked)
    };
    let in_memory = |name: &str| engine.lookup(name, Some("A")).unwrap().blocked;
    let sharded = |name: &str| lookup_sharded(name, Some("A"), |k| store.get(k).cloned()).unwrap().blocked;

    println!(
        "| dns-filter, {n} generated rules ({} indexed, {} scanned) | value |",
        engine.rule_count() - engine.scan_count(),
        engine.scan_count()
    );
    println!("|---|---|");
    println!("| build in-memory index | {:.2} s, ~{engine_mib:.0} MiB (RSS growth) |", build_mem.as_secs_f64());
    println!(
        "| build shards | {:.2} s, {} shards, {:.1} MiB in all, largest {:.1} KiB, meta {:.1} KiB |",
        build_shards_time.as_secs_f64(),
        store.len(),
        total as f64 / 1048576.0,
        max as f64 / 1024.0,
        meta as f64 / 1024.0
    );
    for (label, f) in [("in memory", &in_memory as &dyn Fn(&str) -> bool), ("sharded (map fetch)", &sharded)] {
        for (kind, set) in [("hit", &hits), ("miss", &misses)] {
            let (p50, p99, blocked) = time(f, set);
            println!(
                "| lookup {label}, {kind} ({blocked} of {} blocked) | p50 {}, p99 {} |",
                set.len(),
                us(p50),
                us(p99)
            );
        }
    }
}
