//! Times the cache's hit path and its inserts (with evictions), without a benchmark framework:
//! `cargo run --release -p edge-cache --example lru_timing`.
//!
//! - hit: `lookup` of a stored answer among `KEYS` URLs, two variants each (gzip, identity),
//!   the request selecting one by `Accept-Encoding`, as a subscription fetch does;
//! - insert: `insert` of fresh answers into a cache whose bound holds about a quarter of them,
//!   so that most inserts also evict the least recently used URL.
//!
//! Prints the median of `ROUNDS` rounds, in nanoseconds per operation.

use bytes::Bytes;
use edge_cache::{EdgeCache, Stored, admit};
use http::header::{HeaderMap, HeaderValue};
use http::{HeaderName, StatusCode};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

const KEYS: usize = 10_000;
const ROUNDS: usize = 15;
const BODY: usize = 1024;

fn answer(gzip: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("cache-control", "public, max-age=3600"),
        ("vary", "accept-encoding"),
        ("etag", "\"abc\""),
        ("content-type", "text/plain"),
        ("surrogate-key", "list/l1 sub/s1"),
        ("edge-rate-limit", "sub:s1;limit=3;window-ms=60000;of=\"this subscription\""),
    ] {
        h.insert(HeaderName::from_static(n), HeaderValue::from_static(v));
    }
    if gzip {
        h.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h
}

fn request(gzip: bool) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(http::header::ACCEPT_ENCODING, HeaderValue::from_static(if gzip { "gzip, br" } else { "identity" }));
    h
}

fn stored(gzip: bool, body: &Bytes, now: Instant) -> Arc<Stored> {
    let head = answer(gzip);
    let admission = admit(StatusCode::OK, &head).expect("cacheable");
    Arc::new(Stored::new(admission, head, body.clone(), &request(gzip), now))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let now = Instant::now();
    let body = Bytes::from(vec![b'x'; BODY]);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("lists.example/s/bls_{i:08}/list.txt")).collect();
    let (gzip, identity) = (request(true), request(false));

    // Hits: every key stored, in both variants; lookups in a scattered order.
    let cache = EdgeCache::new(1 << 30);
    for k in &keys {
        assert!(cache.insert(k, cache.generation(), stored(true, &body, now)));
        assert!(cache.insert(k, cache.generation(), stored(false, &body, now)));
    }
    let order: Vec<usize> = (0..KEYS).map(|i| (i * 7919) % KEYS).collect();
    let hit = median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                for (n, &i) in order.iter().enumerate() {
                    let request = if n % 2 == 0 { &gzip } else { &identity };
                    black_box(cache.lookup(&keys[i], request, now).expect("a hit"));
                }
                started.elapsed().as_nanos() as f64 / KEYS as f64
            })
            .collect(),
    );

    // Inserts: a bound of about a quarter of the keys' answers, so most inserts evict.
    let one = stored(true, &body, now);
    let per_entry = 256 + keys[0].len() + BODY + 400;
    let inserts = median(
        (0..ROUNDS)
            .map(|_| {
                let cache = EdgeCache::new(KEYS / 4 * per_entry);
                let started = Instant::now();
                for k in &keys {
                    black_box(cache.insert(k, cache.generation(), one.clone()));
                }
                let ns = started.elapsed().as_nanos() as f64 / KEYS as f64;
                assert!(cache.stats().evictions > 0);
                ns
            })
            .collect(),
    );

    println!("edge-cache, {KEYS} URLs, median of {ROUNDS} rounds:");
    println!("  lookup (hit)      {hit:7.1} ns");
    println!("  insert (+ evict)  {inserts:7.1} ns");
}
