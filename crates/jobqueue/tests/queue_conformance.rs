//! The behaviour every [`Queue`] backend must have, run against each backend (`sqlite::*` and,
//! with the `redis` feature, `redis::*`), plus each backend's own durability test.
//!
//! The Redis tests start their own `redis-server` (one per test, on a free loopback port, with its
//! data in a temporary directory) and fail if it is not installed.

use jobqueue::{Dead, Depth, Failed, Policy, Queue};
use std::sync::Arc;

/// One backing store (a database file, a server) that hands out any number of handles on it; two
/// handles behave like two processes.
trait Store {
    type Handle: Queue + 'static;
    fn handle(&self) -> Self::Handle;
}

/// The shared test bodies, generic over the backend.
mod suite {
    use super::*;

    pub fn enqueue_claim_ack(store: &impl Store) {
        let q = store.handle();
        assert!(q.enqueue("compile", "j1", b"{}", 1_000).unwrap());
        assert!(!q.enqueue("compile", "j1", b"{}", 1_000).unwrap(), "one message per job");
        assert_eq!(q.claim("compile", 999, 30_000).unwrap(), None, "not visible yet");
        assert_eq!(q.claim("other", 1_000, 30_000).unwrap(), None, "queues are separate");
        let m = q.claim("compile", 1_000, 30_000).unwrap().unwrap();
        assert_eq!((m.job_id.as_str(), m.attempts, &m.payload[..]), ("j1", 1, &b"{}"[..]));
        assert_eq!(q.claim("compile", 1_001, 30_000).unwrap(), None, "leased");
        assert_eq!(q.depth("compile", 1_001).unwrap(), Depth { leased: 1, ..Depth::default() });
        assert!(q.ack(&m).unwrap());
        assert!(!q.ack(&m).unwrap());
        assert_eq!(q.depth("compile", 1_001).unwrap(), Depth::default());
    }

    pub fn an_expired_lease_redelivers_and_the_old_lease_is_void(store: &impl Store) {
        let q = store.handle();
        q.enqueue("c", "j1", b"", 0).unwrap();
        let first = q.claim("c", 0, 1_000).unwrap().unwrap();
        // The consumer died; after the lease the message comes back.
        assert_eq!(q.claim("c", 999, 1_000).unwrap(), None);
        assert_eq!(q.depth("c", 1_000).unwrap(), Depth { ready: 1, ..Depth::default() }, "an expired lease is ready");
        let second = q.claim("c", 1_000, 1_000).unwrap().unwrap();
        assert_eq!(second.attempts, 2);
        assert!(!q.ack(&first).unwrap(), "a stale lease cannot ack");
        assert_eq!(q.fail(&first, "late", 1_000, &Policy::default()).unwrap(), Failed::LeaseLost);
        assert!(q.ack(&second).unwrap());
    }

    pub fn a_renewed_lease_keeps_the_message_and_a_stale_one_cannot_renew(store: &impl Store) {
        let q = store.handle();
        q.enqueue("c", "j1", b"", 0).unwrap();
        let first = q.claim("c", 0, 1_000).unwrap().unwrap();
        assert!(q.extend(&first, 900, 1_000).unwrap(), "renewed until 1900");
        assert_eq!(q.claim("c", 1_500, 1_000).unwrap(), None, "a renewed lease is not redelivered");
        assert_eq!(q.depth("c", 1_500).unwrap(), Depth { leased: 1, ..Depth::default() });
        let second = q.claim("c", 1_900, 1_000).unwrap().unwrap();
        assert!(!q.extend(&first, 1_900, 1_000).unwrap(), "a stale lease cannot renew");
        assert!(q.ack(&second).unwrap());
        assert!(!q.extend(&second, 2_000, 1_000).unwrap(), "nor can an acknowledged one");
    }

    pub fn retries_back_off_then_die_and_replay_brings_back(store: &impl Store) {
        let q = store.handle();
        let policy = Policy { max_attempts: 3, base_backoff_ms: 100, max_backoff_ms: 10_000 };
        q.enqueue("c", "j1", b"", 0).unwrap();
        let mut now = 0;
        let mut delays = Vec::new();
        loop {
            let m = q.claim("c", now, 1_000).unwrap().unwrap();
            match q.fail(&m, &format!("boom {}", m.attempts), now, &policy).unwrap() {
                Failed::RetryAt(at) => {
                    delays.push(at - now);
                    assert_eq!(q.depth("c", at - 1).unwrap(), Depth { delayed: 1, ..Depth::default() });
                    assert_eq!(q.claim("c", at - 1, 1_000).unwrap(), None, "not before the backoff");
                    now = at;
                }
                Failed::Dead => break,
                Failed::LeaseLost => panic!("lease lost"),
            }
        }
        assert_eq!(delays, vec![100, 200], "growing delays, then dead after 3 attempts");
        assert_eq!(q.claim("c", now + 1_000_000, 1_000).unwrap(), None, "dead messages are not delivered");
        assert_eq!(q.depth("c", now).unwrap(), Depth { dead: 1, ..Depth::default() });
        let dead = q.dead("c").unwrap();
        assert_eq!(dead, vec![Dead { job_id: "j1".into(), attempts: 3, last_error: Some("boom 3".into()) }]);
        assert!(!q.enqueue("c", "j1", b"", now).unwrap(), "a dead job is not enqueued twice");
        assert!(q.replay("c", "j1", now).unwrap());
        assert!(!q.replay("c", "j1", now).unwrap());
        assert!(!q.replay("c", "nope", now).unwrap());
        let m = q.claim("c", now, 1_000).unwrap().unwrap();
        assert_eq!(m.attempts, 1, "a replayed job starts its attempts again");
        assert!(q.ack(&m).unwrap());
        assert_eq!(policy.backoff_ms(30), 10_000, "capped");
    }

    pub fn delivery_order_is_due_time_then_enqueue_order(store: &impl Store) {
        let q = store.handle();
        for job in ["b", "a", "c"] {
            q.enqueue("c", job, b"", 10).unwrap();
        }
        q.enqueue("c", "early", b"", 5).unwrap();
        // An expired lease competes by its expiry time: it ran out at 7, before the others' 10.
        let leased = q.claim("c", 5, 2).unwrap().unwrap();
        assert_eq!(leased.job_id, "early");
        let order: Vec<String> = std::iter::from_fn(|| q.claim("c", 10, 1_000).unwrap()).map(|m| m.job_id).collect();
        assert_eq!(order, ["early", "b", "a", "c"]);

        // Dead messages are listed oldest (first enqueued) first, whatever order they died in.
        for (job, at) in [("d", 102), ("e", 101), ("f", 100)] {
            q.enqueue("dead", job, b"", at).unwrap();
        }
        let policy = Policy { max_attempts: 1, ..Policy::default() };
        while let Some(m) = q.claim("dead", 200, 10).unwrap() {
            assert_eq!(q.fail(&m, "boom", 200, &policy).unwrap(), Failed::Dead);
        }
        let dead: Vec<String> = q.dead("dead").unwrap().into_iter().map(|d| d.job_id).collect();
        assert_eq!(dead, ["d", "e", "f"]);

        // Pruning keeps the newest dead messages; a pruned job may be enqueued afresh.
        assert_eq!(q.prune_dead("dead", 5).unwrap(), 0);
        assert_eq!(q.prune_dead("dead", 1).unwrap(), 2);
        let dead: Vec<String> = q.dead("dead").unwrap().into_iter().map(|d| d.job_id).collect();
        assert_eq!(dead, ["f"]);
        assert_eq!(q.depth("dead", 200).unwrap(), Depth { dead: 1, ..Depth::default() });
        assert!(q.enqueue("dead", "d", b"", 300).unwrap(), "a pruned job is a new message");
        assert!(!q.enqueue("dead", "f", b"", 300).unwrap(), "a kept dead job is still there");
        assert_eq!(q.prune_dead("dead", 0).unwrap(), 1);
        assert_eq!(q.depth("dead", 300).unwrap(), Depth { ready: 1, ..Depth::default() });
    }

    pub fn concurrent_consumers_never_share_a_message(store: &impl Store) {
        let producer = store.handle();
        for i in 0..400 {
            producer.enqueue("c", &format!("j{i}"), b"", 0).unwrap();
        }
        // Separate handles behave like separate processes.
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let q = Arc::new(store.handle());
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(m) = q.claim("c", 1, 60_000).unwrap() {
                        assert!(q.ack(&m).unwrap(), "thread {t}");
                        got.push(m.job_id);
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort();
        let mut expected: Vec<String> = (0..400).map(|i| format!("j{i}")).collect();
        expected.sort();
        assert_eq!(all, expected, "every message delivered exactly once");
    }
}

/// One `#[test]` per function of [`suite`], each on a fresh store made by `$store`.
macro_rules! conformance {
    ($store:expr) => {
        #[test]
        fn enqueue_claim_ack() {
            crate::suite::enqueue_claim_ack(&$store);
        }
        #[test]
        fn an_expired_lease_redelivers_and_the_old_lease_is_void() {
            crate::suite::an_expired_lease_redelivers_and_the_old_lease_is_void(&$store);
        }
        #[test]
        fn a_renewed_lease_keeps_the_message_and_a_stale_one_cannot_renew() {
            crate::suite::a_renewed_lease_keeps_the_message_and_a_stale_one_cannot_renew(&$store);
        }
        #[test]
        fn retries_back_off_then_die_and_replay_brings_back() {
            crate::suite::retries_back_off_then_die_and_replay_brings_back(&$store);
        }
        #[test]
        fn delivery_order_is_due_time_then_enqueue_order() {
            crate::suite::delivery_order_is_due_time_then_enqueue_order(&$store);
        }
        #[test]
        fn concurrent_consumers_never_share_a_message() {
            crate::suite::concurrent_consumers_never_share_a_message(&$store);
        }
    };
}

mod sqlite {
    use super::Store;
    use jobqueue::{Queue, SqliteQueue};
    use std::path::PathBuf;

    /// A database file in a temporary directory; each handle opens it anew.
    struct Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    }

    impl Sqlite {
        fn new() -> Sqlite {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("queue.sqlite3");
            Sqlite { _dir: dir, path }
        }
    }

    impl Store for Sqlite {
        type Handle = SqliteQueue;
        fn handle(&self) -> SqliteQueue {
            SqliteQueue::open(&self.path).unwrap()
        }
    }

    conformance!(Sqlite::new());

    #[test]
    fn messages_survive_reopening() {
        let store = Sqlite::new();
        {
            let q = store.handle();
            q.enqueue("c", "j1", b"payload", 0).unwrap();
            q.claim("c", 0, 500).unwrap().unwrap();
            // Dropped while leased, as a crash would.
        }
        let q = store.handle();
        let m = q.claim("c", 500, 500).unwrap().unwrap();
        assert_eq!((m.job_id.as_str(), m.attempts, &m.payload[..]), ("j1", 2, &b"payload"[..]));
    }
}

#[cfg(feature = "testing")]
mod redis {
    use super::Store;
    use jobqueue::testing::RedisServer as Server;
    use jobqueue::{Depth, Error, Queue, RedisQueue};
    use std::time::Instant;

    const PREFIX: &str = "blocklist-edge-test";

    impl Store for Server {
        type Handle = RedisQueue;
        fn handle(&self) -> RedisQueue {
            RedisQueue::open(&self.url(), PREFIX).unwrap()
        }
    }

    conformance!(Server::new());

    #[test]
    fn prefixes_keep_stores_apart() {
        let server = Server::new();
        let a = RedisQueue::open(&server.url(), "a").unwrap();
        let b = RedisQueue::open(&server.url(), "b").unwrap();
        assert!(a.enqueue("c", "j1", b"", 0).unwrap());
        assert!(b.enqueue("c", "j1", b"", 0).unwrap());
        assert_eq!(b.claim("c", 0, 1_000).unwrap().unwrap().job_id, "j1");
        assert_eq!(a.depth("c", 0).unwrap(), Depth { ready: 1, ..Depth::default() });
    }

    #[test]
    fn open_checks_the_url_but_does_not_connect() {
        assert!(matches!(RedisQueue::open("not a url", PREFIX), Err(Error::Redis(_))));
        // Nothing listens on port 1: opening succeeds, operations fail fast with `Error::Redis`.
        let q = RedisQueue::open("redis://127.0.0.1:1", PREFIX).unwrap();
        let start = Instant::now();
        assert!(matches!(q.enqueue("c", "j1", b"", 0), Err(Error::Redis(_))));
        assert!(start.elapsed() < RedisQueue::TIMEOUT * 2);
    }

    #[test]
    fn messages_survive_a_server_restart_and_the_handle_reconnects() {
        let mut server = Server::durable();
        let q = server.handle();
        q.enqueue("c", "j1", b"payload", 0).unwrap();
        let first = q.claim("c", 0, 500).unwrap().unwrap();

        // The server crashes: operations fail (without hanging) rather than block the caller.
        server.kill();
        let start = Instant::now();
        assert!(matches!(q.claim("c", 500, 500), Err(Error::Redis(_))), "the old connection is dead");
        assert!(matches!(q.claim("c", 500, 500), Err(Error::Redis(_))), "the server is down");
        assert!(start.elapsed() < RedisQueue::TIMEOUT * 2);

        // It comes back with its data; the same handle reconnects (and reloads its scripts).
        server.restart();
        assert_eq!(q.claim("c", 499, 500).unwrap(), None, "still leased");
        let second = q.claim("c", 500, 500).unwrap().unwrap();
        assert_eq!((second.job_id.as_str(), second.attempts, &second.payload[..]), ("j1", 2, &b"payload"[..]));
        assert_ne!(second.lease, first.lease);
        assert!(!q.ack(&first).unwrap(), "the lease from before the crash is void");
        assert!(q.ack(&second).unwrap());
        assert_eq!(q.depth("c", 500).unwrap(), Depth::default());
    }
}
