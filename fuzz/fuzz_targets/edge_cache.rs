//! The host's edge cache (`crates/edge-cache`) under arbitrary answers and requests.
//!
//! Input: a sequence of operations on one small cache (4 KiB): store an answer whose headers
//! (`Cache-Control`, `Vary`, `Surrogate-Key`, `Edge-Rate-Limit`, `ETag`, `Last-Modified`) and
//! body are arbitrary, look a URL up with arbitrary request headers, purge a tag, let time pass.
//! Checks, after every operation:
//! - nothing panics on any header value (admission, budgets, variants, conditional answers);
//! - the memory accounted never passes the bound;
//! - a purged tag's answers are gone at once, and an answer made before the purge (an older
//!   generation) is never stored after it;
//! - an answer from the cache is either `200` with the stored body (or none, for `HEAD`) and
//!   its `Content-Length`, or a bodiless `304`.

#![no_main]

use arbitrary::Arbitrary;
use edge_cache::{EdgeCache, Stored, admit};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_BYTES: usize = 4096;

#[derive(Arbitrary, Debug)]
enum Op {
    Store { url: u8, request: Vec<(u8, String)>, answer: Vec<(u8, String)>, body: Vec<u8>, stale: bool },
    Lookup { url: u8, request: Vec<(u8, String)>, head: bool },
    Purge { tag: u8 },
    Wait { secs: u16 },
}

/// Header names the cache reads, chosen by a byte.
fn name(i: u8) -> HeaderName {
    const NAMES: [&str; 10] = [
        "cache-control",
        "vary",
        "surrogate-key",
        "edge-rate-limit",
        "etag",
        "last-modified",
        "accept-encoding",
        "if-none-match",
        "if-modified-since",
        "x-other",
    ];
    HeaderName::from_static(NAMES[usize::from(i) % NAMES.len()])
}

fn headers(pairs: &[(u8, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.append(name(*n), v);
        }
    }
    h
}

fn tag(i: u8) -> String {
    format!("t{}", i % 4)
}

fuzz_target!(|ops: Vec<Op>| {
    let cache = EdgeCache::new(MAX_BYTES);
    let mut now = Instant::now();
    for op in ops.iter().take(64) {
        match op {
            Op::Store { url, request, answer, body, stale } => {
                let mut answer = headers(answer);
                // Often a tag the purges below use, so that purges find something.
                answer.append("surrogate-key", HeaderValue::from_str(&tag(*url)).unwrap());
                let Some(admission) = admit(StatusCode::OK, &answer) else { continue };
                let request = headers(request);
                let generation = cache.generation();
                if *stale {
                    cache.purge("unrelated");
                }
                let key = format!("u{}", url % 8);
                let stored = Arc::new(Stored::new(admission, answer, body.clone().into(), &request, now));
                let stored_now = cache.insert(&key, generation, stored);
                assert!(!(stored_now && *stale), "an answer older than a purge was stored");
                assert!(!stored_now || body.len() <= cache.max_entry_bytes());
            }
            Op::Lookup { url, request, head } => {
                let request = headers(request);
                let Some(hit) = cache.lookup(&format!("u{}", url % 8), &request, now) else { continue };
                assert!(hit.is_fresh(now));
                let answer = hit.answer(&request, *head, now, "HIT");
                match answer.status() {
                    StatusCode::OK => {
                        let expected = if *head { &[][..] } else { hit.body().as_ref() };
                        assert_eq!(answer.body().as_ref(), expected);
                        assert_eq!(answer.headers()["content-length"], hit.body().len().to_string().as_str());
                    }
                    StatusCode::NOT_MODIFIED => assert!(answer.body().is_empty()),
                    other => panic!("answered {other}"),
                }
                assert!(!answer.headers().contains_key("surrogate-key"));
                assert!(!answer.headers().contains_key("edge-rate-limit"));
            }
            Op::Purge { tag: t } => {
                let t = tag(*t);
                cache.purge(&t);
                for url in 0..8u8 {
                    if tag(url) == t {
                        assert!(cache.lookup(&format!("u{url}"), &HeaderMap::new(), now).is_none());
                    }
                }
            }
            Op::Wait { secs } => now += Duration::from_secs(u64::from(*secs)),
        }
        let stats = cache.stats();
        assert!(stats.bytes <= MAX_BYTES as u64, "{stats:?}");
    }
});
