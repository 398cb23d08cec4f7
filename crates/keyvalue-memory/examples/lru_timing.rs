//! Times the store's hit path, its counters and its writes with evictions, without a benchmark
//! framework: `cargo run --release -p keyvalue-memory --example lru_timing`.
//!
//! - get (hit): `get` of one of `KEYS` stored keys (each read marks the key as recently used);
//! - increment: `increment` of one of `KEYS` existing counters, as the rate limiter does;
//! - set (+ evict): `set` of fresh keys into a store whose budget holds about a quarter of
//!   them, so that most writes also evict the least recently used key.
//!
//! Prints the median of `ROUNDS` rounds, in nanoseconds per operation.

use keyvalue_memory::{ENTRY_OVERHEAD, MemoryStore};
use std::hint::black_box;
use std::time::Instant;

const KEYS: usize = 10_000;
const ROUNDS: usize = 15;
const VALUE: usize = 100;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median time per operation of `op` over every key, in a scattered order.
fn time(keys: &[String], mut op: impl FnMut(&str)) -> f64 {
    let order: Vec<usize> = (0..keys.len()).map(|i| (i * 7919) % keys.len()).collect();
    median(
        (0..ROUNDS)
            .map(|_| {
                let started = Instant::now();
                for &i in &order {
                    op(&keys[i]);
                }
                started.elapsed().as_nanos() as f64 / keys.len() as f64
            })
            .collect(),
    )
}

fn main() {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("ratelimit:window:user_{i:08}")).collect();
    let value = vec![b'x'; VALUE];

    let store = MemoryStore::new(1 << 30);
    for k in &keys {
        store.set(k, &value).unwrap();
    }
    let get = time(&keys, |k| {
        black_box(store.get(k).expect("a hit"));
    });

    let counters = MemoryStore::new(1 << 30);
    for k in &keys {
        counters.increment(k, 1).unwrap();
    }
    let increment = time(&keys, |k| {
        black_box(counters.increment(k, 1).unwrap());
    });

    let per_entry = keys[0].len() + VALUE + ENTRY_OVERHEAD;
    let small = MemoryStore::new(KEYS / 4 * per_entry);
    let mut n = 0u64;
    let set = time(&keys, |k| {
        n += 1;
        // A fresh key each time, so that the store stays full and each write evicts.
        small.set(&format!("{k}:{n}"), &value).unwrap();
    });
    assert!(small.usage().evictions > 0);

    println!("keyvalue-memory, {KEYS} keys, median of {ROUNDS} rounds:");
    println!("  get (hit)      {get:7.1} ns");
    println!("  increment      {increment:7.1} ns");
    println!("  set (+ evict)  {set:7.1} ns");
}
