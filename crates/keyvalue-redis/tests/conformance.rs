//! The store conformance suite: the same assertions run against every key-value backend of the
//! host, `keyvalue-sqlite` (`sqlite::*`), `keyvalue-memory` (`memory::*`) and this crate
//! (`redis::*`), through one small trait, [`KvUnderTest`]. The Redis backend also has tests of
//! its own (prefixes, its key layout, restarts of the server).
//!
//! The Redis tests start their own `redis-server` (one per test, on a free loopback port, with its
//! data in a temporary directory, `jobqueue::testing::RedisServer`) and fail if it is not
//! installed.

use std::sync::Arc;

/// An error of any backend, as far as the suite tells them apart.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    NotACounter,
    Overflow,
    Other(String),
}

type R<T> = Result<T, Failure>;

/// One page of keys.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    keys: Vec<String>,
    cursor: Option<String>,
}

/// A key-value store with named buckets, as the suite sees it: the API of `keyvalue-sqlite`'s
/// `Store` (the memory store, which has one bucket, gets one store per bucket).
trait KvUnderTest: Send + Sync + 'static {
    fn get(&self, bucket: &str, key: &str) -> R<Option<Vec<u8>>>;
    /// The value and its version.
    fn get_versioned(&self, bucket: &str, key: &str) -> R<(Option<Vec<u8>>, Option<i64>)>;
    fn set(&self, bucket: &str, key: &str, value: &[u8]) -> R<()>;
    fn delete(&self, bucket: &str, key: &str) -> R<()>;
    fn exists(&self, bucket: &str, key: &str) -> R<bool>;
    fn increment(&self, bucket: &str, key: &str, delta: i64) -> R<i64>;
    fn compare_and_swap(&self, bucket: &str, key: &str, expected: Option<i64>, value: &[u8]) -> R<bool>;
    fn list_keys(&self, bucket: &str, cursor: Option<&str>) -> R<Page>;
    fn all_keys(&self, bucket: &str) -> R<Vec<String>>;
    fn get_many(&self, bucket: &str, keys: &[String]) -> R<Vec<Option<Vec<u8>>>>;
    fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> R<()>;
    fn delete_many(&self, bucket: &str, keys: &[String]) -> R<()>;
}

/// Keys per page, the same in every backend.
const LIST_PAGE: usize = 1000;

#[test]
fn every_backend_pages_keys_alike() {
    assert_eq!(keyvalue_sqlite::LIST_PAGE, LIST_PAGE);
    assert_eq!(keyvalue_memory::LIST_PAGE, LIST_PAGE);
    assert_eq!(keyvalue_redis::LIST_PAGE, LIST_PAGE);
}

/// The shared test bodies, generic over the backend.
mod suite {
    use super::*;
    use std::sync::Barrier;

    pub fn set_get_delete_exists(s: impl KvUnderTest) {
        assert_eq!(s.get("b", "k").unwrap(), None);
        assert!(!s.exists("b", "k").unwrap());
        s.set("b", "k", b"v1").unwrap();
        assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"v1"[..]));
        assert!(s.exists("b", "k").unwrap());
        s.set("b", "k", b"v2").unwrap();
        assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"v2"[..]));
        s.delete("b", "k").unwrap();
        assert!(!s.exists("b", "k").unwrap());
        assert_eq!(s.get("b", "k").unwrap(), None);
        s.delete("b", "k").unwrap();
        s.delete("b", "never").unwrap();
        // An empty value is a value, not an absent key.
        s.set("b", "empty", b"").unwrap();
        assert!(s.exists("b", "empty").unwrap());
        assert_eq!(s.get("b", "empty").unwrap(), Some(Vec::new()));
        // Binary values come back as they went in.
        let binary: Vec<u8> = (0..=255).collect();
        s.set("b", "binary", &binary).unwrap();
        assert_eq!(s.get("b", "binary").unwrap(), Some(binary));
    }

    pub fn buckets_are_separate(s: impl KvUnderTest) {
        // Names that a naive "bucket:key" layout would confuse.
        s.set("a", "b:c", b"1").unwrap();
        s.set("a:b", "c", b"2").unwrap();
        s.set("a:k:b", "c", b"3").unwrap();
        s.set("3:a", "x", b"4").unwrap();
        assert_eq!(s.get("a", "b:c").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(s.get("a:b", "c").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(s.get("a:k:b", "c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(s.get("3:a", "x").unwrap().as_deref(), Some(&b"4"[..]));
        assert!(!s.exists("a", "c").unwrap());
        assert!(!s.exists("a:b", "b:c").unwrap());
        // The same key in two buckets: two entries.
        s.set("one", "k", b"in one").unwrap();
        s.increment("two", "k", 5).unwrap();
        assert_eq!(s.get("one", "k").unwrap().as_deref(), Some(&b"in one"[..]));
        assert_eq!(s.increment("two", "k", 0).unwrap(), 5);
        s.delete("one", "k").unwrap();
        assert_eq!(s.increment("two", "k", 0).unwrap(), 5);
        assert!(s.exists("two", "k").unwrap());
        // Listing sees one bucket only.
        assert_eq!(s.all_keys("a").unwrap(), vec!["b:c".to_owned()]);
        assert_eq!(s.all_keys("a:b").unwrap(), vec!["c".to_owned()]);
        assert_eq!(s.all_keys("one").unwrap(), Vec::<String>::new());
        assert_eq!(s.all_keys("two").unwrap(), vec!["k".to_owned()]);
        assert_eq!(s.all_keys("never used").unwrap(), Vec::<String>::new());
    }

    pub fn counters_and_values_do_not_mix(s: impl KvUnderTest) {
        // Reading an absent counter creates nothing.
        assert_eq!(s.increment("b", "n", 0).unwrap(), 0);
        assert!(!s.exists("b", "n").unwrap());
        assert_eq!(s.increment("b", "n", 5).unwrap(), 5);
        assert_eq!(s.increment("b", "n", -7).unwrap(), -2);
        assert_eq!(s.increment("b", "n", 0).unwrap(), -2);
        // A counter reads as its 8-byte little-endian encoding.
        assert_eq!(s.get("b", "n").unwrap(), Some((-2i64).to_le_bytes().to_vec()));
        assert_eq!(s.get_versioned("b", "n").unwrap().0, Some((-2i64).to_le_bytes().to_vec()));
        assert_eq!(s.get_many("b", &["n".into()]).unwrap(), vec![Some((-2i64).to_le_bytes().to_vec())]);

        // An increment on a value is refused, changes nothing, and the store keeps working.
        s.set("b", "v", b"12").unwrap();
        let before = s.get_versioned("b", "v").unwrap();
        assert_eq!(s.increment("b", "v", 1), Err(Failure::NotACounter));
        assert_eq!(s.increment("b", "v", 0), Err(Failure::NotACounter), "reading a value as a counter");
        assert_eq!(s.get_versioned("b", "v").unwrap(), before, "a refused increment changes nothing");
        assert_eq!(s.increment("b", "n", 1).unwrap(), -1);

        // `set` turns a counter into a value.
        s.set("b", "n", b"now a value").unwrap();
        assert_eq!(s.get("b", "n").unwrap().as_deref(), Some(&b"now a value"[..]));
        assert_eq!(s.increment("b", "n", 1), Err(Failure::NotACounter));
        // ... and so does a swap.
        s.increment("b", "c", 3).unwrap();
        let (_, version) = s.get_versioned("b", "c").unwrap();
        assert!(s.compare_and_swap("b", "c", version, b"swapped").unwrap());
        assert_eq!(s.increment("b", "c", 1), Err(Failure::NotACounter));
        // A deleted value can become a counter.
        s.delete("b", "c").unwrap();
        assert_eq!(s.increment("b", "c", 1).unwrap(), 1);

        // Overflow, both ways: refused, and the counter is unchanged.
        assert_eq!(s.increment("b", "max", i64::MAX).unwrap(), i64::MAX);
        let before = s.get_versioned("b", "max").unwrap();
        assert_eq!(s.increment("b", "max", 1), Err(Failure::Overflow));
        assert_eq!(s.increment("b", "max", i64::MAX), Err(Failure::Overflow));
        assert_eq!(s.get_versioned("b", "max").unwrap(), before, "a refused increment changes nothing");
        assert_eq!(s.increment("b", "max", -1).unwrap(), i64::MAX - 1);
        assert_eq!(s.increment("b", "min", i64::MIN).unwrap(), i64::MIN);
        assert_eq!(s.increment("b", "min", -1), Err(Failure::Overflow));
        assert_eq!(s.get("b", "min").unwrap(), Some(i64::MIN.to_le_bytes().to_vec()));
        assert_eq!(s.increment("b", "min", i64::MAX).unwrap(), -1);
    }

    pub fn every_write_gives_a_fresh_version(s: impl KvUnderTest) {
        assert_eq!(s.get_versioned("b", "k").unwrap(), (None, None));
        s.set("b", "k", b"same").unwrap();
        let (value, v1) = s.get_versioned("b", "k").unwrap();
        assert_eq!(value.as_deref(), Some(&b"same"[..]));
        assert!(v1.is_some());
        assert_eq!(s.get_versioned("b", "k").unwrap().1, v1, "reading changes no version");
        // The same bytes again: a new version (no ABA).
        s.set("b", "k", b"same").unwrap();
        let (_, v2) = s.get_versioned("b", "k").unwrap();
        assert_ne!(v2, v1);
        // Deleted and written again: a new version.
        s.delete("b", "k").unwrap();
        s.set("b", "k", b"same").unwrap();
        let (_, v3) = s.get_versioned("b", "k").unwrap();
        assert!(v3 != v1 && v3 != v2);
        // Increments give new versions, reading a counter does not.
        s.increment("b", "n", 1).unwrap();
        let (_, n1) = s.get_versioned("b", "n").unwrap();
        s.increment("b", "n", 0).unwrap();
        assert_eq!(s.get_versioned("b", "n").unwrap().1, n1);
        s.increment("b", "n", 1).unwrap();
        assert_ne!(s.get_versioned("b", "n").unwrap().1, n1);
        // A batch write gives new versions too.
        let (_, before) = s.get_versioned("b", "k").unwrap();
        s.set_many("b", &[("k".into(), b"same".to_vec())]).unwrap();
        assert_ne!(s.get_versioned("b", "k").unwrap().1, before);
        // ... and a swap.
        let (_, before) = s.get_versioned("b", "k").unwrap();
        assert!(s.compare_and_swap("b", "k", before, b"same").unwrap());
        assert_ne!(s.get_versioned("b", "k").unwrap().1, before);
    }

    pub fn compare_and_swap_is_exact(s: impl KvUnderTest) {
        let (value, absent) = s.get_versioned("b", "k").unwrap();
        assert_eq!((value, absent), (None, None));
        assert!(s.compare_and_swap("b", "k", None, b"one").unwrap(), "a swap on an absent key succeeds");
        assert!(!s.compare_and_swap("b", "k", None, b"two").unwrap(), "once: no longer absent");
        let (value, v1) = s.get_versioned("b", "k").unwrap();
        assert_eq!(value.as_deref(), Some(&b"one"[..]));
        assert!(s.compare_and_swap("b", "k", v1, b"three").unwrap());
        assert!(!s.compare_and_swap("b", "k", v1, b"four").unwrap(), "stale version");
        assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"three"[..]), "a failed swap writes nothing");
        // ABA: the same bytes written again have a new version.
        let (_, v3) = s.get_versioned("b", "k").unwrap();
        s.set("b", "k", b"three").unwrap();
        assert!(!s.compare_and_swap("b", "k", v3, b"five").unwrap());
        assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"three"[..]));
        // A version on a key that is now absent, or never was: no swap, nothing created.
        let (_, v) = s.get_versioned("b", "k").unwrap();
        s.delete("b", "k").unwrap();
        assert!(!s.compare_and_swap("b", "k", v, b"back").unwrap());
        assert!(!s.exists("b", "k").unwrap());
        assert!(!s.compare_and_swap("b", "other", v, b"x").unwrap());
        assert!(!s.exists("b", "other").unwrap());
        // Uncontested swaps report that they swapped, every time.
        let mut version = None;
        for i in 0..100u32 {
            assert!(s.compare_and_swap("b", "loop", version, &i.to_le_bytes()).unwrap(), "uncontested swap {i}");
            let (value, v) = s.get_versioned("b", "loop").unwrap();
            assert_eq!(value, Some(i.to_le_bytes().to_vec()));
            version = v;
        }
    }

    /// 8 threads add 1 to a number 200 times each, read-modify-swap, retrying on conflicts.
    pub fn concurrent_swaps_lose_no_update(s: impl KvUnderTest) {
        let s = Arc::new(s);
        let (threads, per_thread) = (8, 200);
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut conflicts = 0u32;
                    for _ in 0..per_thread {
                        loop {
                            let (value, version) = s.get_versioned("b", "ctr").unwrap();
                            let n: u64 = value.map(|v| std::str::from_utf8(&v).unwrap().parse().unwrap()).unwrap_or(0);
                            if s.compare_and_swap("b", "ctr", version, (n + 1).to_string().as_bytes()).unwrap() {
                                break;
                            }
                            conflicts += 1;
                            // A store that never reports a swap fails here instead of hanging.
                            assert!(conflicts < 1_000_000, "a million swaps failed");
                        }
                    }
                    conflicts
                })
            })
            .collect();
        let conflicts: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        let total = s.get("b", "ctr").unwrap().unwrap();
        assert_eq!(std::str::from_utf8(&total).unwrap(), (threads * per_thread).to_string());
        eprintln!("{conflicts} swap conflicts retried");
    }

    /// Rounds in which 8 threads, having all read the same version, swap at once: exactly one
    /// reports success each round, and its value is the one stored.
    pub fn concurrent_swaps_have_one_winner_per_round(s: impl KvUnderTest) {
        let s = Arc::new(s);
        let threads = 8;
        s.set("b", "k", b"start").unwrap();
        for round in 0..20 {
            let read = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (s, read) = (s.clone(), read.clone());
                    std::thread::spawn(move || {
                        let (_, version) = s.get_versioned("b", "k").unwrap();
                        read.wait();
                        let mine = format!("{round}:{t}");
                        s.compare_and_swap("b", "k", version, mine.as_bytes()).unwrap().then_some(mine)
                    })
                })
                .collect();
            let winners: Vec<String> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            assert_eq!(s.get("b", "k").unwrap().unwrap(), winners[0].as_bytes(), "round {round}");
        }
    }

    pub fn concurrent_increments_are_exact(s: impl KvUnderTest) {
        let s = Arc::new(s);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || (0..200).map(|_| s.increment("b", "n", 1).unwrap()).collect::<Vec<_>>())
            })
            .collect();
        let mut seen: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        seen.sort();
        assert_eq!(seen, (1..=1600).collect::<Vec<_>>(), "every increment returned a distinct value");
        assert_eq!(s.increment("b", "n", 0).unwrap(), 1600);
    }

    pub fn list_keys_pages_in_ascending_order(s: impl KvUnderTest) {
        // 2,500 keys written out of order (7919 is prime to 2,500: a permutation).
        let pairs: Vec<(String, Vec<u8>)> = (0..2500).map(|i| (format!("k{:05}", i * 7919 % 2500), vec![1])).collect();
        s.set_many("b", &pairs[..1200]).unwrap();
        for (k, v) in &pairs[1200..1300] {
            s.set("b", k, v).unwrap();
        }
        for (k, _) in &pairs[1300..1400] {
            s.increment("b", k, 1).unwrap();
        }
        for (k, v) in &pairs[1400..1500] {
            assert!(s.compare_and_swap("b", k, None, v).unwrap());
        }
        s.set_many("b", &pairs[1500..]).unwrap();
        s.set("other", "k00000a", b"x").unwrap();
        s.set("b2", "k00000a", b"x").unwrap();

        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = s.list_keys("b", cursor.as_deref()).unwrap();
            if let Some(c) = &page.cursor {
                assert_eq!(Some(c), page.keys.last(), "the cursor is the page's last key");
            }
            cursor = page.cursor.clone();
            pages.push(page.keys);
            if cursor.is_none() {
                break;
            }
            assert!(pages.len() < 10, "paging does not end");
        }
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![1000, 1000, 500]);
        let all: Vec<String> = pages.concat();
        let expected: Vec<String> = (0..2500).map(|i| format!("k{i:05}")).collect();
        assert_eq!(all, expected, "ascending across pages, no duplicates, none missing");
        assert_eq!(s.all_keys("b").unwrap(), expected);

        // A page after a cursor whose key (and the keys after it) were deleted meanwhile starts
        // after the cursor all the same; keys added after it meanwhile are on it.
        let first = s.list_keys("b", None).unwrap();
        let cursor = first.cursor.unwrap();
        assert_eq!(cursor, "k00999");
        s.delete_many("b", &["k00999".into(), "k01000".into(), "k01001".into()]).unwrap();
        s.set("b", "k00999a", b"new").unwrap();
        let next = s.list_keys("b", Some(&cursor)).unwrap();
        assert_eq!(&next.keys[..3], ["k00999a", "k01002", "k01003"]);
        assert_eq!(next.keys.len(), 1000);
        // A cursor that was never a key.
        let page = s.list_keys("b", Some("k02499-")).unwrap();
        assert_eq!(page, Page { keys: vec![], cursor: None });
        let page = s.list_keys("b", Some("k02498z")).unwrap();
        assert_eq!(page, Page { keys: vec!["k02499".into()], cursor: None });

        // Byte order, as Rust orders strings, beyond ASCII digits.
        let odd = ["z", "a b", "ä", "Z", "{tag}", "a", "ключ", "a:b", "~", "日本"];
        for k in odd {
            s.set("u", k, b"x").unwrap();
        }
        let mut sorted: Vec<String> = odd.iter().map(|k| k.to_string()).collect();
        sorted.sort();
        assert_eq!(s.all_keys("u").unwrap(), sorted);
    }

    pub fn batches(s: impl KvUnderTest) {
        // Empty batches are fine.
        s.set_many("b", &[]).unwrap();
        s.delete_many("b", &[]).unwrap();
        assert_eq!(s.get_many("b", &[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
        s.increment("b", "counter", 2).unwrap();
        s.set_many(
            "b",
            &[
                ("x".into(), b"1".to_vec()),
                ("y".into(), b"2".to_vec()),
                ("x".into(), b"last".to_vec()),
                ("counter".into(), b"a value now".to_vec()),
            ],
        )
        .unwrap();
        let keys: Vec<String> = ["x", "missing", "y", "counter", "x"].map(String::from).to_vec();
        assert_eq!(
            s.get_many("b", &keys).unwrap(),
            vec![
                Some(b"last".to_vec()),
                None,
                Some(b"2".to_vec()),
                Some(b"a value now".to_vec()),
                Some(b"last".to_vec())
            ],
            "in the order asked, the last of a key's pairs standing"
        );
        assert_eq!(s.increment("b", "counter", 1), Err(Failure::NotACounter));
        s.increment("b", "n", 9).unwrap();
        assert_eq!(s.get_many("b", &["n".into()]).unwrap(), vec![Some(9i64.to_le_bytes().to_vec())]);
        assert_eq!(s.get_many("other", &keys).unwrap(), vec![None; 5], "buckets are separate");
        s.delete_many("b", &["x".into(), "missing".into(), "n".into()]).unwrap();
        assert_eq!(
            s.get_many("b", &["x".into(), "y".into(), "n".into()]).unwrap(),
            vec![None, Some(b"2".to_vec()), None]
        );
        assert!(!s.exists("b", "x").unwrap() && !s.exists("b", "n").unwrap());
        assert_eq!(s.all_keys("b").unwrap(), vec!["counter".to_owned(), "y".to_owned()]);
    }

    /// For backends whose `get_many` reads at one instant: a reader never sees half of a
    /// `set_many` or `delete_many`.
    pub fn batches_are_seen_whole(s: impl KvUnderTest) {
        let s = Arc::new(s);
        let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let writer = {
            let (s, keys) = (s.clone(), keys.clone());
            std::thread::spawn(move || {
                for i in 0..300u32 {
                    if i % 3 == 2 {
                        s.delete_many("b", &keys).unwrap();
                    } else {
                        let pairs: Vec<(String, Vec<u8>)> =
                            keys.iter().map(|k| (k.clone(), i.to_le_bytes().to_vec())).collect();
                        s.set_many("b", &pairs).unwrap();
                    }
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() {
            let values = s.get_many("b", &keys).unwrap();
            assert!(values.windows(2).all(|w| w[0] == w[1]), "a torn batch: {values:?}");
            reads += 1;
        }
        writer.join().unwrap();
        eprintln!("{reads} reads");
    }

    pub fn large_values_round_trip(s: impl KvUnderTest) {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut big = || -> Vec<u8> {
            (0..5 << 20)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect()
        };
        let (one, two) = (big(), big());
        s.set("b", "big", &one).unwrap();
        assert!(s.get("b", "big").unwrap() == Some(one.clone()), "5 MiB round-trip");
        let (value, version) = s.get_versioned("b", "big").unwrap();
        assert!(value == Some(one.clone()));
        assert!(s.compare_and_swap("b", "big", version, &two).unwrap());
        assert!(s.get_many("b", &["big".into()]).unwrap() == vec![Some(two.clone())]);
        s.set_many("b", &[("big2".into(), one.clone())]).unwrap();
        assert!(s.get("b", "big2").unwrap() == Some(one));
    }
}

/// A `#[test]` for each test of the suite, on stores made by `$make`.
macro_rules! conformance {
    ($make:expr) => {
        #[test]
        fn set_get_delete_exists() {
            crate::suite::set_get_delete_exists($make)
        }
        #[test]
        fn buckets_are_separate() {
            crate::suite::buckets_are_separate($make)
        }
        #[test]
        fn counters_and_values_do_not_mix() {
            crate::suite::counters_and_values_do_not_mix($make)
        }
        #[test]
        fn every_write_gives_a_fresh_version() {
            crate::suite::every_write_gives_a_fresh_version($make)
        }
        #[test]
        fn compare_and_swap_is_exact() {
            crate::suite::compare_and_swap_is_exact($make)
        }
        #[test]
        fn concurrent_swaps_lose_no_update() {
            crate::suite::concurrent_swaps_lose_no_update($make)
        }
        #[test]
        fn concurrent_swaps_have_one_winner_per_round() {
            crate::suite::concurrent_swaps_have_one_winner_per_round($make)
        }
        #[test]
        fn concurrent_increments_are_exact() {
            crate::suite::concurrent_increments_are_exact($make)
        }
        #[test]
        fn list_keys_pages_in_ascending_order() {
            crate::suite::list_keys_pages_in_ascending_order($make)
        }
        #[test]
        fn batches() {
            crate::suite::batches($make)
        }
        #[test]
        fn large_values_round_trip() {
            crate::suite::large_values_round_trip($make)
        }
    };
}

/// [`KvUnderTest`] for a wrapper `$ty` (with a `store` field) of a store with buckets and
/// keyvalue-sqlite's method names, in a module where `Error` is that store's error type (with
/// `NotACounter` and `Overflow`).
macro_rules! bucketed_store_under_test {
    ($ty:ty) => {
        fn failure(e: Error) -> Failure {
            match e {
                Error::NotACounter(_) => Failure::NotACounter,
                Error::Overflow(_) => Failure::Overflow,
                other => Failure::Other(other.to_string()),
            }
        }

        impl KvUnderTest for $ty {
            fn get(&self, bucket: &str, key: &str) -> R<Option<Vec<u8>>> {
                self.store.get(bucket, key).map_err(failure)
            }
            fn get_versioned(&self, bucket: &str, key: &str) -> R<(Option<Vec<u8>>, Option<i64>)> {
                self.store.get_versioned(bucket, key).map(|v| (v.value, v.version)).map_err(failure)
            }
            fn set(&self, bucket: &str, key: &str, value: &[u8]) -> R<()> {
                self.store.set(bucket, key, value).map_err(failure)
            }
            fn delete(&self, bucket: &str, key: &str) -> R<()> {
                self.store.delete(bucket, key).map_err(failure)
            }
            fn exists(&self, bucket: &str, key: &str) -> R<bool> {
                self.store.exists(bucket, key).map_err(failure)
            }
            fn increment(&self, bucket: &str, key: &str, delta: i64) -> R<i64> {
                self.store.increment(bucket, key, delta).map_err(failure)
            }
            fn compare_and_swap(&self, bucket: &str, key: &str, expected: Option<i64>, value: &[u8]) -> R<bool> {
                self.store.compare_and_swap(bucket, key, expected, value).map_err(failure)
            }
            fn list_keys(&self, bucket: &str, cursor: Option<&str>) -> R<Page> {
                self.store.list_keys(bucket, cursor).map(|p| Page { keys: p.keys, cursor: p.cursor }).map_err(failure)
            }
            fn all_keys(&self, bucket: &str) -> R<Vec<String>> {
                self.store.all_keys(bucket).map_err(failure)
            }
            fn get_many(&self, bucket: &str, keys: &[String]) -> R<Vec<Option<Vec<u8>>>> {
                self.store.get_many(bucket, keys).map_err(failure)
            }
            fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> R<()> {
                self.store.set_many(bucket, pairs).map_err(failure)
            }
            fn delete_many(&self, bucket: &str, keys: &[String]) -> R<()> {
                self.store.delete_many(bucket, keys).map_err(failure)
            }
        }
    };
}

mod sqlite {
    use super::*;
    use keyvalue_sqlite::{Error, Store, Synchronous};

    /// A database file in a temporary directory. `synchronous=NORMAL`: the semantics tested are
    /// the same, with less waiting for fsyncs.
    struct Sqlite {
        store: Store,
        _dir: tempfile::TempDir,
    }

    impl Sqlite {
        fn new() -> Sqlite {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_with(dir.path().join("kv.sqlite3"), Synchronous::Normal).unwrap();
            Sqlite { store, _dir: dir }
        }
    }

    bucketed_store_under_test!(Sqlite);

    conformance!(Sqlite::new());
}

mod memory {
    use super::*;
    use keyvalue_memory::{Error, MemoryStore};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// A memory store per bucket (the memory store has one bucket; the host gives each named
    /// store its own), each large enough for the suite's 5 MiB values.
    #[derive(Default)]
    struct Memory {
        buckets: Mutex<HashMap<String, Arc<MemoryStore>>>,
    }

    impl Memory {
        fn bucket(&self, bucket: &str) -> Arc<MemoryStore> {
            let mut buckets = self.buckets.lock().unwrap();
            buckets.entry(bucket.to_owned()).or_insert_with(|| Arc::new(MemoryStore::new(256 << 20))).clone()
        }
    }

    fn failure(e: Error) -> Failure {
        match e {
            Error::NotACounter(_) => Failure::NotACounter,
            Error::Overflow(_) => Failure::Overflow,
            other => Failure::Other(other.to_string()),
        }
    }

    impl KvUnderTest for Memory {
        fn get(&self, bucket: &str, key: &str) -> R<Option<Vec<u8>>> {
            Ok(self.bucket(bucket).get(key))
        }
        fn get_versioned(&self, bucket: &str, key: &str) -> R<(Option<Vec<u8>>, Option<i64>)> {
            let v = self.bucket(bucket).get_versioned(key);
            Ok((v.value, v.version))
        }
        fn set(&self, bucket: &str, key: &str, value: &[u8]) -> R<()> {
            self.bucket(bucket).set(key, value).map_err(failure)
        }
        fn delete(&self, bucket: &str, key: &str) -> R<()> {
            self.bucket(bucket).delete(key);
            Ok(())
        }
        fn exists(&self, bucket: &str, key: &str) -> R<bool> {
            Ok(self.bucket(bucket).exists(key))
        }
        fn increment(&self, bucket: &str, key: &str, delta: i64) -> R<i64> {
            self.bucket(bucket).increment(key, delta).map_err(failure)
        }
        fn compare_and_swap(&self, bucket: &str, key: &str, expected: Option<i64>, value: &[u8]) -> R<bool> {
            self.bucket(bucket).compare_and_swap(key, expected, value).map_err(failure)
        }
        fn list_keys(&self, bucket: &str, cursor: Option<&str>) -> R<Page> {
            let p = self.bucket(bucket).list_keys(cursor);
            Ok(Page { keys: p.keys, cursor: p.cursor })
        }
        fn all_keys(&self, bucket: &str) -> R<Vec<String>> {
            Ok(keyvalue_types::all_keys(|cursor| Ok::<_, ()>(self.bucket(bucket).list_keys(cursor)))
                .expect("infallible"))
        }
        fn get_many(&self, bucket: &str, keys: &[String]) -> R<Vec<Option<Vec<u8>>>> {
            Ok(self.bucket(bucket).get_many(keys))
        }
        fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> R<()> {
            self.bucket(bucket).set_many(pairs).map_err(failure)
        }
        fn delete_many(&self, bucket: &str, keys: &[String]) -> R<()> {
            self.bucket(bucket).delete_many(keys);
            Ok(())
        }
    }

    conformance!(Memory::default());
}

mod redis {
    use super::*;
    use jobqueue::testing::RedisServer as Server;
    use keyvalue_redis::{Error, Store};
    use std::time::Instant;

    const PREFIX: &str = "blocklist-edge-test";

    /// A store on a `redis-server` of the test's own (killed when dropped).
    struct Redis {
        store: Store,
        server: Server,
    }

    impl Redis {
        fn new() -> Redis {
            Redis::on(Server::new())
        }

        fn on(server: Server) -> Redis {
            Redis { store: Store::open(&server.url(), PREFIX).unwrap(), server }
        }
    }

    bucketed_store_under_test!(Redis);

    conformance!(Redis::new());

    /// Redis reads a batch at one instant (`MULTI`) and writes it in one script. The test is
    /// not the other backends': `keyvalue-sqlite`'s `get_many` reads key by key, outside one
    /// read transaction, and the memory store's batches are atomic per key only, so a reader
    /// of either can see half of a batch (run against them, this test fails).
    ///
    /// It catches a `set_many` or `delete_many` that is not one script; it cannot catch a
    /// `get_many` without `MULTI`, because Redis happens to run one client's pipelined commands
    /// back to back.
    #[test]
    fn batches_are_seen_whole() {
        crate::suite::batches_are_seen_whole(Redis::new())
    }

    /// A plain connection to the test's server, to look at what the store wrote.
    fn raw(server: &Server) -> ::redis::Connection {
        ::redis::Client::open(server.url()).unwrap().get_connection().unwrap()
    }

    #[test]
    fn the_key_layout_is_as_documented() {
        let r = Redis::new();
        r.store.set("b:x", "k:1", b"value").unwrap();
        r.store.increment("b:x", "n", 42).unwrap();
        let mut c = raw(&r.server);
        let mut keys: Vec<String> = ::redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                "blocklist-edge-test:kv:3:b:x:i",
                "blocklist-edge-test:kv:3:b:x:k:k:1",
                "blocklist-edge-test:kv:3:b:x:k:n",
            ]
        );
        let entry: Vec<Vec<u8>> = ::redis::cmd("HMGET")
            .arg("blocklist-edge-test:kv:3:b:x:k:n")
            .arg("kind")
            .arg("value")
            .query(&mut c)
            .unwrap();
        assert_eq!(entry, [b"c".to_vec(), b"42".to_vec()]);
        let version: String =
            ::redis::cmd("HGET").arg("blocklist-edge-test:kv:3:b:x:k:k:1").arg("version").query(&mut c).unwrap();
        assert_eq!(Some(version.parse::<i64>().unwrap()), r.store.get_versioned("b:x", "k:1").unwrap().version);
        let index: Vec<(String, f64)> = ::redis::cmd("ZRANGE")
            .arg("blocklist-edge-test:kv:3:b:x:i")
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query(&mut c)
            .unwrap();
        assert_eq!(index, [("k:1".to_owned(), 0.0), ("n".to_owned(), 0.0)]);
        // Deleting the last key leaves nothing behind.
        r.store.delete_many("b:x", &["k:1".into(), "n".into()]).unwrap();
        let keys: Vec<String> = ::redis::cmd("KEYS").arg("*").query(&mut c).unwrap();
        assert!(keys.is_empty(), "{keys:?}");
    }

    #[test]
    fn prefixes_keep_stores_apart() {
        let server = Server::new();
        let a = Store::open(&server.url(), "a").unwrap();
        let b = Store::open(&server.url(), "b").unwrap();
        a.set("bucket", "k", b"from a").unwrap();
        assert_eq!(b.get("bucket", "k").unwrap(), None);
        assert!(b.compare_and_swap("bucket", "k", None, b"from b").unwrap());
        b.increment("bucket", "n", 1).unwrap();
        assert_eq!(a.get("bucket", "k").unwrap().as_deref(), Some(&b"from a"[..]));
        assert_eq!(a.all_keys("bucket").unwrap(), ["k"]);
        assert_eq!(b.all_keys("bucket").unwrap(), ["k", "n"]);
        assert_eq!(a.prefix(), "a");
    }

    #[test]
    fn open_checks_the_url_but_does_not_connect() {
        assert!(matches!(Store::open("not a url", PREFIX), Err(Error::Redis(_))));
        // Nothing listens on port 1: opening succeeds, operations fail fast with `Error::Redis`.
        let s = Store::open("redis://127.0.0.1:1", PREFIX).unwrap();
        let start = Instant::now();
        assert!(matches!(s.set("b", "k", b"v"), Err(Error::Redis(_))));
        assert!(matches!(s.get("b", "k"), Err(Error::Redis(_))));
        assert!(matches!(s.ping(), Err(Error::Redis(_))));
        assert!(start.elapsed() < Store::TIMEOUT * 2);
    }

    /// Something else wrote a plain string where an entry belongs: operations on that key fail
    /// with `Error::Redis`, and the store keeps working.
    #[test]
    fn a_foreign_key_is_an_error_not_a_crash() {
        let r = Redis::new();
        let mut c = raw(&r.server);
        let _: () = ::redis::cmd("SET").arg("blocklist-edge-test:kv:1:b:k:bad").arg("x").query(&mut c).unwrap();
        assert!(matches!(r.store.get("b", "bad"), Err(Error::Redis(_))));
        assert!(matches!(r.store.increment("b", "bad", 1), Err(Error::Redis(_))));
        assert!(matches!(r.store.compare_and_swap("b", "bad", Some(1), b"x"), Err(Error::Redis(_))));
        r.store.set("b", "good", b"fine").unwrap();
        assert_eq!(r.store.get("b", "good").unwrap().as_deref(), Some(&b"fine"[..]));
    }

    /// The server crashes and comes back empty (it keeps nothing on disk): operations fail
    /// without hanging while it is down, and the same store reconnects (and reloads its scripts)
    /// once it is back.
    #[test]
    fn the_store_reconnects_after_a_restart_of_a_server_that_keeps_nothing() {
        let mut r = Redis::new();
        r.store.set("b", "k", b"before").unwrap();
        assert_eq!(r.store.increment("b", "n", 3).unwrap(), 3);

        r.server.kill();
        let start = Instant::now();
        assert!(matches!(r.store.get("b", "k"), Err(Error::Redis(_))), "the old connection is dead");
        assert!(matches!(r.store.increment("b", "n", 1), Err(Error::Redis(_))), "the server is down");
        assert!(start.elapsed() < Store::TIMEOUT * 2);

        r.server.restart();
        assert_eq!(r.store.get("b", "k").unwrap(), None, "the server lost its data");
        assert_eq!(r.store.all_keys("b").unwrap(), Vec::<String>::new());
        assert_eq!(r.store.increment("b", "n", 1).unwrap(), 1, "scripts are loaded again");
        assert!(r.store.compare_and_swap("b", "k", None, b"after").unwrap());
        assert_eq!(r.store.get("b", "k").unwrap().as_deref(), Some(&b"after"[..]));
    }

    /// Messages reach every listener of their name under the same prefix, in order, and no
    /// other; a listener learns that its connection was lost (the server restarted), and
    /// messages published meanwhile are missed, which is why `listen` returns.
    #[test]
    fn messages_reach_every_listener_and_a_lost_connection_ends_the_listen() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::mpsc;
        let mut r = Redis::new();
        let store = Arc::new(Store::open(&r.server.url(), PREFIX).unwrap());
        let other_prefix = Store::open(&r.server.url(), "another-app").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<String, String>>();
        let mut listeners = Vec::new();
        for n in 0..2 {
            let (store, stop, tx) = (store.clone(), stop.clone(), tx.clone());
            listeners.push(std::thread::spawn(move || {
                let tx2 = tx.clone();
                let ended = store.listen(
                    "purge",
                    &|| !stop.load(Ordering::Relaxed),
                    &mut || tx.send(Ok(format!("{n} subscribed"))).unwrap(),
                    &mut |m| tx2.send(Ok(format!("{n} {}", String::from_utf8_lossy(m)))).unwrap(),
                );
                tx2.send(Err(format!("{n} ended: {ended:?}"))).unwrap();
            }));
        }
        let mut got: Vec<String> = (0..2).map(|_| rx.recv().unwrap().unwrap()).collect();
        got.sort();
        assert_eq!(got, ["0 subscribed", "1 subscribed"]);
        assert_eq!(other_prefix.publish("purge", b"not ours").unwrap(), 0);
        assert_eq!(r.store.publish("other-name", b"not ours").unwrap(), 0);
        for m in ["a", "b", "c"] {
            assert_eq!(store.publish("purge", m.as_bytes()).unwrap(), 2, "both listeners receive it");
        }
        let mut got: Vec<String> = (0..6).map(|_| rx.recv().unwrap().unwrap()).collect();
        let per_listener = |n: &str| got.iter().filter(|m| m.starts_with(n)).cloned().collect::<Vec<_>>();
        assert_eq!(per_listener("0 "), ["0 a", "0 b", "0 c"], "in order");
        assert_eq!(per_listener("1 "), ["1 a", "1 b", "1 c"]);
        got.clear();

        r.server.restart();
        let mut ended: Vec<String> =
            (0..2).map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap().unwrap_err()).collect();
        ended.sort();
        assert!(
            ended[0].starts_with("0 ended: Err(Redis(") && ended[1].starts_with("1 ended: Err(Redis("),
            "{ended:?}"
        );
        for l in listeners {
            l.join().unwrap();
        }

        // Told to stop, a listener ends with Ok within about a second. (The store's first
        // operation after the restart finds its idle connection dead, an error: the next one connects.)
        let (store2, stop2) = (store.clone(), stop.clone());
        let listener = std::thread::spawn(move || {
            store2.listen("purge", &|| !stop2.load(Ordering::Relaxed), &mut || {}, &mut |_| {})
        });
        while store.publish("purge", b"x").unwrap_or(0) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        assert!(listener.join().unwrap().is_ok());
    }

    /// A durable server (every write synced to its append-only file) crashes and comes back:
    /// values, counters, versions and the index are all there, and the store reconnects.
    #[test]
    fn data_and_versions_survive_a_restart_of_a_durable_server() {
        let mut r = Redis::on(Server::durable());
        r.store.set("b", "k", b"durable").unwrap();
        r.store.increment("b", "n", 7).unwrap();
        let pairs: Vec<(String, Vec<u8>)> = (0..1500).map(|i| (format!("p{i:04}"), vec![2])).collect();
        r.store.set_many("list", &pairs).unwrap();
        let version = r.store.get_versioned("b", "k").unwrap().version;

        r.server.kill();
        assert!(matches!(r.store.get("b", "k"), Err(Error::Redis(_))));
        r.server.restart();

        assert_eq!(r.store.get("b", "k").unwrap().as_deref(), Some(&b"durable"[..]));
        assert_eq!(r.store.increment("b", "n", 0).unwrap(), 7);
        assert_eq!(r.store.all_keys("list").unwrap().len(), 1500);
        assert!(r.store.compare_and_swap("b", "k", version, b"swapped after the restart").unwrap());
        assert_eq!(r.store.increment("b", "n", 1).unwrap(), 8);
    }
}
