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
