//! The ratelimit component: a sliding-window limiter over `wasi:keyvalue` counters.
//!
//! The protocol per check is `sliding_window::check`: increment the current window's counter
//! and decide on the value returned; read the previous window's counter with
//! `increment(key, 0)`; a refused request takes its increment back. Only `increment` is used,
//! never compare-and-swap or get-then-set, so concurrent instances sharing a store (any Spin
//! backend, or this project's host) never over-admit.

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

/// The counters, in the `default` store.
struct Bucket(store::Bucket);

impl sliding_window::Counters for Bucket {
    type Error = store::Error;

    fn increment(&mut self, key: &str, delta: i64) -> Result<i64, store::Error> {
        atomics::increment(&self.0, key, delta)
    }

    fn delete(&mut self, key: &str) {
        let _ = self.0.delete(key);
    }
}

impl Guest for Component {
    fn check(key: String, policy: Policy) -> Result<Decision, Error> {
        let policy = sliding_window::Policy::new(policy.limit, policy.window_ms)
            .map_err(|e| Error::InvalidPolicy(e.to_string()))?;
        let mut bucket = Bucket(store::open(STORE).map_err(store_error)?);
        let d = sliding_window::check(&mut bucket, &key, &policy, now_ms()).map_err(store_error)?;
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
