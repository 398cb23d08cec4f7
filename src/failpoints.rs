//! Fail points in the host's key-value layer, for tests that crash the host between two writes
//! or hold a request between a read and what it does next. Off unless the environment variable
//! `BLOCKLIST_EDGE_FAILPOINTS` names some (never set it in production):
//!
//! - `abort-after-write=STORE:PREFIX[#N]`: the process aborts (as `kill -9` would stop it)
//!   right after the `N`th (default: first) write to a key of store `STORE` starting with
//!   `PREFIX` has been committed. A write is a `set`, `delete`, successful compare-and-swap, or
//!   a batch `set-many`/`delete-many` naming such a key.
//! - `pause-after-read=STORE:PREFIX@FILE`: a read (`get`, `get-many`) of such a key returns
//!   only once `FILE` exists (at most 60 s), so that a test can change the data in between.
//!
//! Several fail points are separated by `;`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The environment variable naming the fail points.
pub const ENV: &str = "BLOCKLIST_EDGE_FAILPOINTS";

/// What a fail point does.
#[derive(Debug, PartialEq)]
enum Action {
    /// Abort after the `nth` matching write.
    AbortAfterWrite { nth: u64 },
    /// Hold a matching read until the file exists.
    PauseAfterRead { until: PathBuf },
}

/// One fail point: which keys, what happens, how many matching writes were seen.
#[derive(Debug)]
struct FailPoint {
    store: String,
    prefix: String,
    action: Action,
    writes: AtomicU64,
}

impl FailPoint {
    fn matches(&self, store: &str, key: &str) -> bool {
        self.store == store && key.starts_with(&self.prefix)
    }
}

/// Parses `BLOCKLIST_EDGE_FAILPOINTS`.
fn parse(spec: &str) -> Result<Vec<FailPoint>, String> {
    let mut points = Vec::new();
    for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (kind, target) = entry.split_once('=').ok_or_else(|| format!("{entry:?}: expected KIND=STORE:PREFIX"))?;
        let (target, action) = match kind {
            "abort-after-write" => {
                let (target, nth) = match target.rsplit_once('#') {
                    Some((t, n)) => (t, n.parse().map_err(|_| format!("{entry:?}: #N must be a number"))?),
                    None => (target, 1),
                };
                (target, Action::AbortAfterWrite { nth })
            }
            "pause-after-read" => {
                let (target, file) =
                    target.split_once('@').ok_or_else(|| format!("{entry:?}: expected STORE:PREFIX@FILE"))?;
                (target, Action::PauseAfterRead { until: PathBuf::from(file) })
            }
            other => return Err(format!("{entry:?}: unknown fail point {other:?}")),
        };
        let (store, prefix) = target.split_once(':').ok_or_else(|| format!("{entry:?}: expected STORE:PREFIX"))?;
        points.push(FailPoint { store: store.into(), prefix: prefix.into(), action, writes: AtomicU64::new(0) });
    }
    Ok(points)
}

/// The fail points of this process (none, unless the environment names some; a malformed
/// value stops the process at its first key-value call, loudly, rather than testing nothing).
fn points() -> &'static [FailPoint] {
    static POINTS: OnceLock<Vec<FailPoint>> = OnceLock::new();
    POINTS.get_or_init(|| match std::env::var(ENV) {
        Ok(spec) => match parse(&spec) {
            Ok(points) => {
                tracing::warn!(%spec, "fail points are set: this process will stop or pause on purpose");
                points
            }
            Err(e) => {
                eprintln!("{ENV}: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => Vec::new(),
    })
}

/// Called after a write of `keys` in `store` was committed.
pub fn after_write<'a>(store: &str, keys: impl IntoIterator<Item = &'a str>) {
    let points = points();
    if points.is_empty() {
        return;
    }
    for key in keys {
        for p in points {
            if let Action::AbortAfterWrite { nth } = p.action
                && p.matches(store, key)
                && p.writes.fetch_add(1, Ordering::SeqCst) + 1 == nth
            {
                eprintln!("fail point: aborting after write #{nth} of {store}:{key}");
                std::process::abort();
            }
        }
    }
}

/// Called after a read of `keys` in `store`, before its values are handed to the guest (a
/// pause waits on the async runtime's timer, holding no worker).
pub async fn after_read<'a>(store: &str, keys: impl IntoIterator<Item = &'a str>) {
    let points = points();
    if points.is_empty() {
        return;
    }
    for key in keys {
        for p in points {
            if let Action::PauseAfterRead { until } = &p.action
                && p.matches(store, key)
            {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !until.exists() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fail_points() {
        let p = parse("abort-after-write=lists:job/#2; pause-after-read=lists:compiled/l_1/@/tmp/go").unwrap();
        assert_eq!((p[0].store.as_str(), p[0].prefix.as_str()), ("lists", "job/"));
        assert_eq!(p[0].action, Action::AbortAfterWrite { nth: 2 });
        assert_eq!(p[1].prefix, "compiled/l_1/");
        assert_eq!(p[1].action, Action::PauseAfterRead { until: PathBuf::from("/tmp/go") });
        assert_eq!(parse("abort-after-write=lists:list/").unwrap()[0].action, Action::AbortAfterWrite { nth: 1 });
        assert!(parse("explode=lists:x").is_err());
        assert!(parse("abort-after-write=nostore").is_err());
        assert!(parse("abort-after-write=lists:x#two").is_err());
        assert!(parse("").unwrap().is_empty());
    }
}
