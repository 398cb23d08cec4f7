//! Two-counter sliding-window rate limiting, as arithmetic only.
//!
//! Time is cut into fixed windows of `window_ms`. A limiter keeps one counter per window and, at
//! time `now`, estimates the requests of the last `window_ms` as the current window's count plus
//! the previous window's count weighted by the part of it that still lies inside the sliding
//! window. The weighted part is rounded **up**, so the estimate never under-counts and a limiter
//! built on it never admits more than `limit` requests in a window.
//!
//! The storage protocol that makes this exact under concurrency is [`check`]: every request
//! increments the current counter first, decides on the value the increment returned, and a
//! refused request takes its increment back. It runs on any [`Counters`] with an atomic
//! increment: the ratelimit component's `wasi:keyvalue` store, and the host's edge cache, which
//! charges answers from the cache to the same counters.

#![forbid(unsafe_code)]

/// At most `limit` requests in any sliding window of `window_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Requests admitted per window; at least 1.
    pub limit: u32,
    /// The window's length in milliseconds; at least 1.
    pub window_ms: u64,
}

/// Why a [`Policy`] cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// `limit` was 0.
    ZeroLimit,
    /// `window_ms` was 0.
    ZeroWindow,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::ZeroLimit => f.write_str("the limit must be at least 1"),
            PolicyError::ZeroWindow => f.write_str("the window must be at least 1 ms"),
        }
    }
}

impl std::error::Error for PolicyError {}

impl Policy {
    /// A policy, checked.
    pub fn new(limit: u32, window_ms: u64) -> Result<Self, PolicyError> {
        if limit == 0 {
            return Err(PolicyError::ZeroLimit);
        }
        if window_ms == 0 {
            return Err(PolicyError::ZeroWindow);
        }
        Ok(Policy { limit, window_ms })
    }

    /// The fixed window that contains `now_ms`.
    pub fn window_at(&self, now_ms: u64) -> Window {
        Window { index: now_ms / self.window_ms, elapsed_ms: now_ms % self.window_ms }
    }

    /// The previous window's count weighted by the share of it still inside the sliding
    /// window at `elapsed_ms` into the current one, rounded up.
    fn weighted_previous(&self, previous: u64, elapsed_ms: u64) -> u64 {
        let w = u128::from(self.window_ms);
        let remaining = w - u128::from(elapsed_ms.min(self.window_ms));
        let weighted = (u128::from(previous) * remaining).div_ceil(w);
        u64::try_from(weighted).unwrap_or(u64::MAX)
    }

    /// Decides on a request at `now_ms`, given the previous window's count and the current
    /// window's count **including this request** (the value the increment returned).
    pub fn decide(&self, now_ms: u64, previous: u64, current_including_this: u64) -> Decision {
        let window = self.window_at(now_ms);
        let limit = u64::from(self.limit);
        let estimate = self.weighted_previous(previous, window.elapsed_ms).saturating_add(current_including_this);
        let allowed = estimate <= limit;
        // Counts as they stand once a refused request has taken its increment back.
        let current = if allowed { current_including_this } else { current_including_this.saturating_sub(1) };
        let to_window_end = self.window_ms - window.elapsed_ms;
        let reset_ms = if current > 0 {
            to_window_end + self.window_ms
        } else if previous > 0 {
            to_window_end
        } else {
            0
        };
        let retry_after_ms = if allowed { 0 } else { self.wait_for_room(window.elapsed_ms, previous, current) };
        Decision {
            allowed,
            limit: self.limit,
            remaining: u32::try_from(limit.saturating_sub(estimate)).unwrap_or(0),
            reset_ms,
            retry_after_ms,
        }
    }

    /// Milliseconds from `elapsed_ms` into the current window until one more request fits,
    /// if nothing else is admitted meanwhile.
    fn wait_for_room(&self, elapsed_ms: u64, previous: u64, current: u64) -> u64 {
        let w = u128::from(self.window_ms);
        let e = u128::from(elapsed_ms);
        let limit = u128::from(self.limit);
        let (previous, current) = (u128::from(previous), u128::from(current));
        // Within the current window: ceil(previous * (w - e - t) / w) + current + 1 <= limit.
        if current < limit {
            let room = limit - 1 - current;
            // previous * (w - e - t) <= room * w  <=>  t >= w - e - floor(room * w / previous)
            let wait = (room * w).checked_div(previous).map_or(0, |q| (w - e).saturating_sub(q));
            if wait < w - e {
                return u64::try_from(wait).unwrap_or(u64::MAX);
            }
        }
        // In the next window the current count becomes the previous one and decays:
        // ceil(current * (w - t') / w) + 1 <= limit  <=>  t' >= w - floor((limit - 1) * w / current).
        let next = ((limit - 1) * w).checked_div(current).map_or(0, |q| w.saturating_sub(q));
        u64::try_from((w - e) + next).unwrap_or(u64::MAX)
    }
}

/// One fixed window: its index since the epoch and how far into it a moment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// `now_ms / window_ms`.
    pub index: u64,
    /// `now_ms % window_ms`.
    pub elapsed_ms: u64,
}

/// The outcome of [`Policy::decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted. A refused request must take its increment back.
    pub allowed: bool,
    /// The policy's limit.
    pub limit: u32,
    /// Requests still admissible now, after this one.
    pub remaining: u32,
    /// Milliseconds until every request counted so far has slid out of the window.
    pub reset_ms: u64,
    /// For a refused request, milliseconds until one more would be admitted; 0 when admitted.
    pub retry_after_ms: u64,
}

/// The key-value key of the counter for `key`'s window `index` under a window of `window_ms`.
///
/// The window length is part of the key, so changing the policy's window never mixes counts
/// of different window sizes. Counter keys start with `rl/` and are used only as counters.
pub fn counter_key(key: &str, window_ms: u64, index: u64) -> String {
    format!("rl/{window_ms}/{index}/{key}")
}

/// Counters with an atomic increment: the storage [`check`] runs on.
pub trait Counters {
    type Error;

    /// Adds `delta` to the counter at `key` (0 when missing) and returns the new value,
    /// atomically: concurrent increments are never lost.
    fn increment(&mut self, key: &str, delta: i64) -> Result<i64, Self::Error>;

    /// Removes the counter at `key`, best effort.
    fn delete(&mut self, key: &str);
}

/// Whether `key` is a counter ([`counter_key`]) of a window that no check reads any more at
/// `now_ms` (older than the previous window): a key whose requests stopped leaves its last
/// windows' counters behind, which a collector deletes with this test.
pub fn is_retired_counter(key: &str, now_ms: u64) -> bool {
    let mut parts = key.splitn(4, '/');
    let (Some("rl"), Some(window_ms), Some(index), Some(_)) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match (window_ms.parse::<u64>(), index.parse::<u64>()) {
        (Ok(window_ms), Ok(index)) if window_ms > 0 => index.saturating_add(1) < now_ms / window_ms,
        _ => false,
    }
}

/// Counts one request against `key` under `policy` at `now_ms` and decides whether it is
/// admitted: increment the current window's counter and decide on the value returned; read the
/// previous window's with an increment of 0; a refused request takes its increment back. Only
/// increments are used, never get-then-set, so any number of limiters sharing the counters
/// never admit more than `policy.limit` requests in a window.
pub fn check<C: Counters>(counters: &mut C, key: &str, policy: &Policy, now_ms: u64) -> Result<Decision, C::Error> {
    let window = policy.window_at(now_ms);
    let current_key = counter_key(key, policy.window_ms, window.index);
    let current = counters.increment(&current_key, 1)?;
    let previous = match window.index.checked_sub(1) {
        Some(prev) => counters.increment(&counter_key(key, policy.window_ms, prev), 0)?,
        None => 0,
    };
    let d = policy.decide(now_ms, previous.max(0) as u64, current.max(0) as u64);
    if !d.allowed {
        counters.increment(&current_key, -1)?;
    }
    if current == 1 {
        // The first request of a window retires the counter two windows back.
        if let Some(old) = window.index.checked_sub(2) {
            counters.delete(&counter_key(key, policy.window_ms, old));
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(limit: u32, window_ms: u64) -> Policy {
        Policy::new(limit, window_ms).unwrap()
    }

    #[test]
    fn rejects_zero_limit_and_window() {
        assert_eq!(Policy::new(0, 1000), Err(PolicyError::ZeroLimit));
        assert_eq!(Policy::new(1, 0), Err(PolicyError::ZeroWindow));
    }

    #[test]
    fn window_at_splits_time() {
        let p = policy(10, 60_000);
        assert_eq!(p.window_at(125_000), Window { index: 2, elapsed_ms: 5_000 });
    }

    #[test]
    fn fresh_key_admits_exactly_limit() {
        let p = policy(100, 60_000);
        let now = 10 * 60_000 + 1_000;
        let admitted = (1..=150u64).filter(|&n| p.decide(now, 0, n).allowed).count();
        assert_eq!(admitted, 100);
        let d = p.decide(now, 0, 100);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let d = p.decide(now, 0, 40);
        assert_eq!(d.remaining, 60);
    }

    #[test]
    fn previous_window_is_weighted_and_rounded_up() {
        let p = policy(100, 60_000);
        // A quarter into the window: three quarters of the previous 80 = 60 still count.
        let now = 60_000 * 7 + 15_000;
        assert!(p.decide(now, 80, 40).allowed);
        assert!(!p.decide(now, 80, 41).allowed);
        // 1 ms into the window, the previous count (99) rounds up to 99, never down to 98.
        let d = p.decide(60_000 * 7 + 1, 99, 2);
        assert!(!d.allowed);
        assert!(p.decide(60_000 * 7 + 1, 99, 1).allowed);
    }

    #[test]
    fn refused_request_gets_retry_after_within_window() {
        let p = policy(10, 1_000);
        // Previous window had 10, current has 0 admitted, at 0 ms into the window: the previous
        // 10 count fully. One slot opens once ceil(10 * (1000 - t) / 1000) <= 9, i.e. t >= 100.
        let d = p.decide(5_000, 10, 1);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_ms, 100);
        let later = p.decide(5_000 + 100, 10, 1);
        assert!(later.allowed, "{later:?}");
        let earlier = p.decide(5_000 + 99, 10, 1);
        assert!(!earlier.allowed);
    }

    #[test]
    fn refused_request_with_full_current_window_waits_into_next() {
        let p = policy(10, 1_000);
        // 10 admitted in this window, 300 ms in; the 11th is refused.
        let d = p.decide(5_300, 0, 11);
        assert!(!d.allowed);
        // Next window starts in 700 ms; there 10 decay and one slot opens after
        // ceil(10 * (1000 - t') / 1000) <= 9 <=> t' >= 100: 800 ms in all.
        assert_eq!(d.retry_after_ms, 800);
        assert!(p.decide(5_300 + 800, 10, 1).allowed);
        assert!(!p.decide(5_300 + 799, 10, 1).allowed);
        assert_eq!(d.reset_ms, 700 + 1_000);
    }

    #[test]
    fn retry_after_is_always_sufficient_and_tight() {
        // Exhaustive over small states: waiting retry_after_ms admits, one ms less does not.
        let w = 100u64;
        for limit in 1..6u32 {
            let p = policy(limit, w);
            for prev in 0..8u64 {
                for cur in 0..8u64 {
                    for e in 0..w {
                        let now = 10 * w + e;
                        let d = p.decide(now, prev, cur + 1);
                        if d.allowed {
                            continue;
                        }
                        let t = d.retry_after_ms;
                        let at = now + t;
                        let (p2, c2) = if at / w == now / w {
                            (prev, cur)
                        } else if at / w == now / w + 1 {
                            (cur, 0)
                        } else {
                            (0, 0)
                        };
                        assert!(p.decide(at, p2, c2 + 1).allowed, "limit {limit} prev {prev} cur {cur} e {e} t {t}");
                        if t > 0 {
                            let at = now + t - 1;
                            let (p2, c2) = if at / w == now / w { (prev, cur) } else { (cur, 0) };
                            assert!(
                                !p.decide(at, p2, c2 + 1).allowed,
                                "not tight: limit {limit} prev {prev} cur {cur} e {e} t {t}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sliding_never_admits_more_than_limit_in_any_window() {
        // Requests arrive every 7 ms for 20 windows; count admissions in every sliding window.
        let p = policy(5, 100);
        let mut counts = std::collections::HashMap::<u64, u64>::new();
        let mut admitted_at = Vec::new();
        for t in (0..2_000u64).step_by(7) {
            let win = p.window_at(t);
            let prev = counts.get(&(win.index.wrapping_sub(1))).copied().unwrap_or(0);
            let cur = counts.entry(win.index).or_default();
            *cur += 1;
            let d = p.decide(t, prev, *cur);
            if d.allowed {
                admitted_at.push(t);
            } else {
                *cur -= 1;
            }
        }
        for (i, &start) in admitted_at.iter().enumerate() {
            let in_window = admitted_at[i..].iter().take_while(|&&t| t < start + 100).count();
            assert!(in_window <= 5, "{in_window} admitted in the window from {start}");
        }
        assert!(admitted_at.len() >= 5 * 15, "far too strict: {}", admitted_at.len());
    }

    #[test]
    fn counters_older_than_the_previous_window_are_retired() {
        let key = counter_key("u1", 1000, 7);
        assert!(!is_retired_counter(&key, 7_500), "the current window");
        assert!(!is_retired_counter(&key, 8_999), "the previous window is still read");
        assert!(is_retired_counter(&key, 9_000));
        assert!(is_retired_counter(&counter_key("a/b", 1000, 7), 100_000), "keys may hold slashes");
        for other in ["rl/x/7/u1", "rl/0/7/u1", "rl/1000/7", "job/1/2/3", "rl/1000/x/u"] {
            assert!(!is_retired_counter(other, u64::MAX), "{other}");
        }
    }

    #[test]
    fn counter_keys_separate_windows_and_sizes() {
        assert_eq!(counter_key("u1", 60_000, 7), "rl/60000/7/u1");
        assert_ne!(counter_key("u1", 60_000, 7), counter_key("u1", 1_000, 7));
    }

    impl Counters for std::collections::HashMap<String, i64> {
        type Error = std::convert::Infallible;
        fn increment(&mut self, key: &str, delta: i64) -> Result<i64, Self::Error> {
            let v = self.entry(key.to_owned()).or_insert(0);
            *v += delta;
            Ok(*v)
        }
        fn delete(&mut self, key: &str) {
            self.remove(key);
        }
    }

    #[test]
    fn check_admits_the_limit_takes_refusals_back_and_retires_old_windows() {
        let p = policy(3, 1000);
        let mut counters = std::collections::HashMap::new();
        let admitted: Vec<bool> = (0..5).map(|i| check(&mut counters, "k", &p, 10_000 + i).unwrap().allowed).collect();
        assert_eq!(admitted, [true, true, true, false, false]);
        assert_eq!(counters[&counter_key("k", 1000, 10)], 3, "refusals took their increments back");
        // Two windows on, the first request retires the counter of window 10.
        assert!(check(&mut counters, "k", &p, 12_000).unwrap().allowed);
        assert!(!counters.contains_key(&counter_key("k", 1000, 10)));
        // Half-way through window 13, window 12's one request weighs ceil(1 * 0.5) = 1.
        let d = check(&mut counters, "k", &p, 13_500).unwrap();
        assert_eq!((d.allowed, d.remaining), (true, 1));
    }
}
