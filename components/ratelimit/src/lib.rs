//! The ratelimit component: a sliding-window limiter over `wasi:keyvalue` counters.
//!
//! Protocol per check (see the `sliding-window` crate for the arithmetic): increment the
//! current window's counter and decide on the value returned; read the previous window's counter
//! with `increment(key, 0)`; a refused request takes its increment back. Only `increment` is
//! used, never compare-and-swap or get-then-set, so concurrent instances sharing a store (any
//! Spin backend, or this project's host) never over-admit.

wit_bindgen::generate!({
    world: "ratelimit-component",
    path: "../../wit",
    generate_all,
});

use exports::blocklist::ratelimit::ratelimit::{Decision, Error, Guest, Policy};
use wasi::keyvalue::{atomics, store};

/// The key-value store that holds the counters.
const STORE: &str = "default";

struct Component;

fn store_error(e: store::Error) -> Error {
    Error::Store(match e {
        store::Error::NoSuchStore => format!("no key-value store named {STORE:?}"),
        store::Error::AccessDenied => format!("access to key-value store {STORE:?} denied"),
        store::Error::Other(m) => m,
    })
}

fn now_ms() -> u64 {
    let now = wasi::clocks::wall_clock::now();
    now.seconds.saturating_mul(1000).saturating_add(u64::from(now.nanoseconds / 1_000_000))
}

impl Guest for Component {
    fn check(key: String, policy: Policy) -> Result<Decision, Error> {
        let policy = sliding_window::Policy::new(policy.limit, policy.window_ms)
            .map_err(|e| Error::InvalidPolicy(e.to_string()))?;
        let now = now_ms();
        let window = policy.window_at(now);
        let bucket = store::open(STORE).map_err(store_error)?;
        let current_key = sliding_window::counter_key(&key, policy.window_ms, window.index);
        let current = atomics::increment(&bucket, &current_key, 1).map_err(store_error)?;
        let previous = match window.index.checked_sub(1) {
            Some(prev) => atomics::increment(&bucket, &sliding_window::counter_key(&key, policy.window_ms, prev), 0)
                .map_err(store_error)?,
            None => 0,
        };
        let d = policy.decide(now, previous.max(0) as u64, current.max(0) as u64);
        if !d.allowed {
            atomics::increment(&bucket, &current_key, -1).map_err(store_error)?;
        }
        if current == 1 {
            // The first request of a window retires the counter two windows back.
            if let Some(old) = window.index.checked_sub(2) {
                let _ = bucket.delete(&sliding_window::counter_key(&key, policy.window_ms, old));
            }
        }
        Ok(Decision {
            allowed: d.allowed,
            limit: d.limit,
            remaining: d.remaining,
            reset_ms: d.reset_ms,
            retry_after_ms: d.retry_after_ms,
        })
    }
}

export!(Component);
