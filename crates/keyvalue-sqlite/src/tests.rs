use super::*;
use std::sync::Arc;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("kv.sqlite3")).unwrap();
    (dir, s)
}

#[test]
fn set_get_delete_exists() {
    let (_d, s) = store();
    assert_eq!(s.get("b", "k").unwrap(), None);
    s.set("b", "k", b"v1").unwrap();
    assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"v1"[..]));
    assert!(s.exists("b", "k").unwrap());
    assert!(!s.exists("other", "k").unwrap(), "buckets are separate");
    s.delete("b", "k").unwrap();
    assert!(!s.exists("b", "k").unwrap());
    s.delete("b", "k").unwrap();
}

#[test]
fn counters_and_values_do_not_mix() {
    let (_d, s) = store();
    assert_eq!(s.increment("b", "n", 5).unwrap(), 5);
    assert_eq!(s.increment("b", "n", -2).unwrap(), 3);
    assert_eq!(s.increment("b", "n", 0).unwrap(), 3);
    assert_eq!(s.get("b", "n").unwrap(), Some(3i64.to_le_bytes().to_vec()));
    s.set("b", "v", b"text").unwrap();
    assert!(matches!(s.increment("b", "v", 1), Err(Error::NotACounter(_))));
    // The store keeps working after the refused increment.
    assert_eq!(s.get("b", "v").unwrap().as_deref(), Some(&b"text"[..]));
    assert_eq!(s.increment("b", "n", 1).unwrap(), 4);
    s.set("b", "n", b"now a value").unwrap();
    assert!(matches!(s.increment("b", "n", 1), Err(Error::NotACounter(_))));
    s.set("b", "max", b"").unwrap();
    s.delete("b", "max").unwrap();
    s.increment("b", "max", i64::MAX).unwrap();
    assert!(matches!(s.increment("b", "max", 1), Err(Error::Overflow(_))));
}

#[test]
fn cas_succeeds_once_per_version() {
    let (_d, s) = store();
    let absent = s.get_versioned("b", "k").unwrap();
    assert_eq!(absent.version, None);
    assert!(s.compare_and_swap("b", "k", None, b"one").unwrap());
    assert!(!s.compare_and_swap("b", "k", None, b"two").unwrap(), "no longer absent");
    let v1 = s.get_versioned("b", "k").unwrap();
    assert_eq!(v1.value.as_deref(), Some(&b"one"[..]));
    assert!(s.compare_and_swap("b", "k", v1.version, b"three").unwrap());
    assert!(!s.compare_and_swap("b", "k", v1.version, b"four").unwrap(), "stale version");
    // ABA: same bytes written again still get a new version.
    let v3 = s.get_versioned("b", "k").unwrap();
    s.set("b", "k", b"three").unwrap();
    assert!(!s.compare_and_swap("b", "k", v3.version, b"five").unwrap());
    assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"three"[..]));
}

#[test]
fn cas_under_contention_loses_no_update() {
    let (_d, s) = store();
    let s = Arc::new(s);
    let threads = 8;
    let per_thread = 50;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut failures = 0u32;
                for _ in 0..per_thread {
                    loop {
                        let cur = s.get_versioned("b", "ctr").unwrap();
                        let n: u64 =
                            cur.value.as_deref().map(|v| std::str::from_utf8(v).unwrap().parse().unwrap()).unwrap_or(0);
                        if s.compare_and_swap("b", "ctr", cur.version, (n + 1).to_string().as_bytes()).unwrap() {
                            break;
                        }
                        failures += 1;
                    }
                }
                failures
            })
        })
        .collect();
    let failures: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let total = s.get("b", "ctr").unwrap().unwrap();
    assert_eq!(std::str::from_utf8(&total).unwrap(), (threads * per_thread).to_string());
    eprintln!("{failures} CAS conflicts retried");
}

#[test]
fn increment_under_contention_is_exact_across_stores() {
    // Two Store handles on one file behave like two processes.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    let a = Arc::new(Store::open(&path).unwrap());
    let b = Arc::new(Store::open(&path).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || (0..100).map(|_| s.increment("b", "n", 1).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut seen: Vec<i64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    seen.sort();
    assert_eq!(seen, (1..=800).collect::<Vec<_>>(), "every increment returned a distinct value");
}

#[test]
fn list_keys_pages_in_order() {
    let (_d, s) = store();
    let pairs: Vec<(String, Vec<u8>)> = (0..2500).map(|i| (format!("k{i:05}"), vec![1])).collect();
    s.set_many("b", &pairs).unwrap();
    s.set("other", "zzz", b"x").unwrap();
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_keys("b", cursor.as_deref()).unwrap();
        all.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all.len(), 2500);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    let keys: Vec<String> = vec!["k00001".into(), "missing".into()];
    assert_eq!(s.get_many("b", &keys).unwrap(), vec![Some(vec![1]), None]);
    s.delete_many("b", &keys).unwrap();
    assert!(!s.exists("b", "k00001").unwrap());
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    {
        let s = Store::open(&path).unwrap();
        s.set("b", "k", b"durable").unwrap();
        s.increment("b", "n", 7).unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.get("b", "k").unwrap().as_deref(), Some(&b"durable"[..]));
    assert_eq!(s.increment("b", "n", 0).unwrap(), 7);
}

/// `PRAGMA synchronous` as a connection reports it: 2 is FULL, 1 is NORMAL.
fn synchronous_of(c: &Connection) -> i64 {
    c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
}

#[test]
fn every_connection_commits_with_the_synchronous_setting_chosen() {
    for (setting, pragma) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_with(dir.path().join("kv.sqlite3"), setting).unwrap();
        assert_eq!(s.synchronous(), setting);
        s.set("b", "k", b"v").unwrap();
        assert_eq!(synchronous_of(&s.writer.lock().unwrap()), pragma, "the writer, {setting:?}");
        let journal: String = s.writer.lock().unwrap().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(journal, "wal");
        // A reader from the pool (one was made and kept by `get`).
        s.get("b", "k").unwrap();
        assert_eq!(s.read(|c| Ok(synchronous_of(c))).unwrap(), pragma, "a reader, {setting:?}");
    }
    // `open` is the durable setting.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path().join("kv.sqlite3")).unwrap();
    assert_eq!(synchronous_of(&s.writer.lock().unwrap()), 2);
}

#[test]
fn quick_check_finds_an_intact_file_and_a_damaged_one() {
    use file::{Check, quick_check};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    {
        let s = Store::open(&path).unwrap();
        // Enough rows for several pages of the table's b-tree.
        let pairs: Vec<(String, Vec<u8>)> = (0..3000).map(|i| (format!("key-{i:05}"), vec![7; 100])).collect();
        s.set_many("b", &pairs).unwrap();
    }
    let within = std::time::Duration::from_secs(30);
    assert_eq!(quick_check(&path, within).unwrap(), Check::Intact);
    // Damage pages in the middle of the file: garbage over the start of three pages.
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 10, "{pages} pages");
    for page in pages / 2..pages / 2 + 3 {
        bytes[page * 4096..page * 4096 + 64].fill(0xA5);
    }
    std::fs::write(&path, &bytes).unwrap();
    match quick_check(&path, within).unwrap() {
        Check::Damaged(problems) => assert!(!problems.is_empty()),
        other => panic!("a damaged file checked as {other:?}"),
    }
    // Not a database at all.
    let junk = dir.path().join("junk.sqlite3");
    std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
    assert!(matches!(quick_check(&junk, within).unwrap(), Check::Damaged(_)));
    // Missing: an error, and nothing is created.
    let missing = dir.path().join("missing.sqlite3");
    assert!(quick_check(&missing, within).is_err());
    assert!(!missing.exists());
}

#[test]
fn a_snapshot_of_a_store_in_use_is_consistent_and_readable_without_opening_it() {
    use file::{Lookup, read_value, snapshot};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    let s = Arc::new(Store::open(&path).unwrap());
    s.set("b", "before", b"1").unwrap();
    s.increment("b", "n", 3).unwrap();
    // A writer keeps committing pairs (a, b) with equal values while the snapshot is taken.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, stop) = (s.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let v = i.to_string().into_bytes();
                s.set_many("b", &[("a".into(), v.clone()), ("b".into(), v)]).unwrap();
            }
        })
    };
    let out = dir.path().join("copy.sqlite3");
    snapshot(&path, &out).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(read_value(&out, "b", "before").unwrap(), Lookup::Value(b"1".to_vec()));
    assert_eq!(read_value(&out, "b", "n").unwrap(), Lookup::Value(3i64.to_le_bytes().to_vec()));
    assert_eq!(read_value(&out, "b", "absent").unwrap(), Lookup::Absent);
    let copy = Store::open(&out).unwrap();
    assert_eq!(copy.get("b", "a").unwrap(), copy.get("b", "b").unwrap(), "one transaction's state, never half");
    // A database without the store's table.
    let other = dir.path().join("other.sqlite3");
    Connection::open(&other).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    assert_eq!(read_value(&other, "b", "k").unwrap(), Lookup::NotAStore);
    // The copy is not overwritten.
    assert!(snapshot(&path, &out).is_err());
}

/// Runs `future` to its end on this thread (the store's futures need no runtime).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[test]
fn concurrent_compare_and_swaps_have_exactly_one_winner_per_round() {
    let (_d, s) = store();
    let s = Arc::new(s);
    let threads = 16;
    s.set("b", "k", b"start").unwrap();
    let (commits_before, _) = s.commits();
    for round in 0..20 {
        let read = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (s, read) = (s.clone(), read.clone());
                std::thread::spawn(move || {
                    let seen = s.get_versioned("b", "k").unwrap();
                    // Everyone has read the same version before anyone swaps.
                    read.wait();
                    let mine = format!("{round}:{t}");
                    // Half of them through the future, half blocking: one writer thread for both.
                    let swapped = if t % 2 == 0 {
                        s.compare_and_swap("b", "k", seen.version, mine.as_bytes()).unwrap()
                    } else {
                        block_on(s.compare_and_swap_async("b", "k", seen.version, mine.clone().into_bytes())).unwrap()
                    };
                    swapped.then_some(mine)
                })
            })
            .collect();
        let winners: Vec<String> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(s.get("b", "k").unwrap().unwrap(), winners[0].as_bytes(), "round {round}");
    }
    let (commits, writes) = s.commits();
    eprintln!("{} swaps in {} commits", writes - 1, commits - commits_before);
}

#[test]
fn a_write_that_fails_in_a_batch_leaves_the_others_committed() {
    let (_d, s) = store();
    let s = Arc::new(s);
    s.set("b", "text", b"not a counter").unwrap();
    s.increment("b", "big", i64::MAX).unwrap();
    let cas_target = s.get_versioned("b", "text").unwrap().version;
    let (commits_before, writes_before) = s.commits();
    // Holding the writing connection keeps the writer thread from committing: every write sent
    // meanwhile waits, and all of them go into one batch once it is let go.
    let held = s.writer.lock().unwrap();
    type Outcome = Result<String, Error>;
    let jobs: Vec<Box<dyn FnOnce(&Store) -> Outcome + Send>> = vec![
        Box::new(|s| s.set("b", "a", b"1").map(|()| "set a".into())),
        Box::new(|s| s.increment("b", "text", 1).map(|n| n.to_string())),
        Box::new(|s| {
            s.set_many("b", &[("m1".into(), b"x".to_vec()), ("m2".into(), b"y".to_vec())]).map(|()| "m".into())
        }),
        Box::new(|s| s.increment("b", "big", 1).map(|n| n.to_string())),
        Box::new(|s| s.increment("b", "n", 5).map(|n| n.to_string())),
        Box::new(move |s| {
            s.compare_and_swap("b", "text", Some(cas_target.unwrap() ^ 1), b"stale").map(|w| w.to_string())
        }),
        Box::new(|s| s.delete_many("b", &["gone".into()]).map(|()| "deleted".into())),
    ];
    let mut handles = Vec::new();
    for job in jobs {
        let s = s.clone();
        handles.push(std::thread::spawn(move || job(&s)));
        // In this order (each write is sent before the next thread starts; the delay is generous).
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    drop(held);
    let outcomes: Vec<Outcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let (commits, writes) = s.commits();
    assert_eq!((commits - commits_before, writes - writes_before), (1, 7), "one commit for the seven writes");
    assert_eq!(outcomes[0].as_deref().unwrap(), "set a");
    assert!(matches!(outcomes[1], Err(Error::NotACounter(_))), "{:?}", outcomes[1]);
    assert_eq!(outcomes[2].as_deref().unwrap(), "m");
    assert!(matches!(outcomes[3], Err(Error::Overflow(_))), "{:?}", outcomes[3]);
    assert_eq!(outcomes[4].as_deref().unwrap(), "5");
    assert_eq!(outcomes[5].as_deref().unwrap(), "false", "a stale version does not swap");
    assert_eq!(outcomes[6].as_deref().unwrap(), "deleted");
    // What succeeded is there, after a reopen too; what failed changed nothing.
    drop(outcomes);
    let path = s.path().to_owned();
    drop(Arc::into_inner(s).unwrap());
    let s = Store::open(&path).unwrap();
    assert_eq!(s.get("b", "a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(s.get_many("b", &["m1".into(), "m2".into()]).unwrap(), vec![Some(b"x".to_vec()), Some(b"y".to_vec())]);
    assert_eq!(s.get("b", "text").unwrap().as_deref(), Some(&b"not a counter"[..]));
    assert_eq!(s.increment("b", "big", 0).unwrap(), i64::MAX);
    assert_eq!(s.increment("b", "n", 0).unwrap(), 5);
}

#[test]
fn a_write_is_answered_only_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    let s = Arc::new(Store::open(&path).unwrap());
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (s, path) = (s.clone(), path.clone());
            std::thread::spawn(move || {
                // A connection of its own, outside the store: it sees only committed data.
                let outside = Connection::open(&path).unwrap();
                for i in 0..50 {
                    let key = format!("t{t}-{i}");
                    if i % 2 == 0 {
                        s.set("b", &key, b"v").unwrap();
                    } else {
                        block_on(s.set_async("b", &key, b"v".to_vec())).unwrap();
                    }
                    let n: i64 = outside
                        .query_row("SELECT count(*) FROM kv WHERE bucket = 'b' AND key = ?1", [&key], |r| r.get(0))
                        .unwrap();
                    assert_eq!(n, 1, "{key} was answered before its commit");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let (commits, writes) = s.commits();
    assert_eq!(writes, 400);
    eprintln!("400 writes from 8 threads in {commits} commits");
}

#[test]
fn async_writes_keep_the_semantics() {
    let (_d, s) = store();
    block_on(async {
        assert_eq!(s.increment_async("b", "n", 2).await.unwrap(), 2);
        s.set_async("b", "v", b"x".to_vec()).await.unwrap();
        assert!(matches!(s.increment_async("b", "v", 1).await, Err(Error::NotACounter(_))));
        assert!(s.compare_and_swap_async("b", "new", None, b"1".to_vec()).await.unwrap());
        assert!(!s.compare_and_swap_async("b", "new", None, b"2".to_vec()).await.unwrap());
        s.set_many_async("b", vec![("p".into(), b"1".to_vec()), ("q".into(), b"2".to_vec())]).await.unwrap();
        s.delete_many_async("b", vec!["p".into()]).await.unwrap();
        s.delete_async("b", "q").await.unwrap();
    });
    assert_eq!(s.increment("b", "n", 0).unwrap(), 2);
    assert_eq!(s.get("b", "new").unwrap().as_deref(), Some(&b"1"[..]));
    assert!(!s.exists("b", "p").unwrap() && !s.exists("b", "q").unwrap());
}

#[test]
fn a_table_of_the_old_layout_is_converted_keeping_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    let big = vec![7u8; 300_000];
    {
        // The layout of stores written before 2026-12.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE kv (bucket TEXT NOT NULL, key TEXT NOT NULL, value BLOB, counter INTEGER,
                 version INTEGER NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
             INSERT INTO kv VALUES ('b', 'small', x'01', NULL, 3), ('b', 'n', NULL, 41, 4);",
        )
        .unwrap();
        c.execute("INSERT INTO kv VALUES ('b', 'big', ?1, NULL, 5)", [&big]).unwrap();
    }
    let s = Store::open(&path).unwrap();
    let layout = |s: &Store| -> String {
        s.writer.lock().unwrap().query_row("SELECT sql FROM sqlite_schema WHERE name = 'kv'", [], |r| r.get(0)).unwrap()
    };
    assert!(!layout(&s).to_ascii_uppercase().contains("WITHOUT ROWID"), "{}", layout(&s));
    assert_eq!(s.get("b", "small").unwrap().as_deref(), Some(&[1u8][..]));
    assert_eq!(s.get("b", "big").unwrap().as_deref(), Some(&big[..]));
    assert_eq!(s.increment("b", "n", 1).unwrap(), 42);
    // Versions survive: a compare-and-swap against the version read before still succeeds.
    assert_eq!(s.get_versioned("b", "small").unwrap().version, Some(3));
    assert!(s.compare_and_swap("b", "small", Some(3), b"two").unwrap());
    assert!(!s.compare_and_swap("b", "small", Some(3), b"three").unwrap(), "the old version is spent");
    drop(s);
    // Opening it again changes nothing.
    let s = Store::open(&path).unwrap();
    assert_eq!(s.get("b", "small").unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(s.list_keys("b", None).unwrap().keys, ["big", "n", "small"]);
}
