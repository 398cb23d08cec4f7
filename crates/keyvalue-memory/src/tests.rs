use super::*;
use std::sync::Arc;

#[test]
fn values_and_counters() {
    let s = MemoryStore::new(1 << 20);
    assert_eq!(s.get("a"), None);
    s.set("a", b"x").unwrap();
    assert_eq!(s.get("a"), Some(b"x".to_vec()));
    assert!(s.exists("a"));
    assert_eq!(s.increment("a", 1), Err(Error::NotACounter("a".into())));
    assert_eq!(s.increment("n", 0).unwrap(), 0);
    assert!(!s.exists("n"), "reading a counter creates nothing");
    assert_eq!(s.increment("n", 5).unwrap(), 5);
    assert_eq!(s.increment("n", -2).unwrap(), 3);
    assert_eq!(s.get("n"), Some(3i64.to_le_bytes().to_vec()));
    assert_eq!(s.increment("n", i64::MAX), Err(Error::Overflow("n".into())));
    s.set("n", b"v").unwrap();
    assert_eq!(s.get("n"), Some(b"v".to_vec()));
    s.delete("n");
    s.delete("never");
    assert!(!s.exists("n"));
}

#[test]
fn compare_and_swap_is_exact() {
    let s = MemoryStore::new(1 << 20);
    let absent = s.get_versioned("k");
    assert_eq!(absent.version, None);
    assert!(s.compare_and_swap("k", None, b"1").unwrap());
    assert!(!s.compare_and_swap("k", None, b"2").unwrap(), "no longer absent");
    let read = s.get_versioned("k");
    assert_eq!(read.value, Some(b"1".to_vec()));
    s.set("k", b"1").unwrap(); // same bytes, new version
    assert!(!s.compare_and_swap("k", read.version, b"3").unwrap());
    let read = s.get_versioned("k");
    assert!(s.compare_and_swap("k", read.version, b"3").unwrap());
    assert_eq!(s.get("k"), Some(b"3".to_vec()));
}

#[test]
fn concurrent_increments_lose_nothing() {
    let s = Arc::new(MemoryStore::new(1 << 20));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..1000).for_each(|_| {
                    s.increment("c", 1).unwrap();
                })
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(s.increment("c", 0).unwrap(), 8000);
}

#[test]
fn evicts_least_recently_used_within_budget() {
    let budget = 16 * 4096;
    let s = MemoryStore::new(budget);
    for i in 0..2000 {
        s.set(&format!("key-{i}"), &[0u8; 200]).unwrap();
        // Keep key-0 in use: it must survive the evictions.
        assert!(s.get("key-0").is_some(), "key-0 evicted at {i}");
    }
    let u = s.usage();
    assert!(u.bytes <= budget, "{u:?}");
    assert!(u.evictions > 0);
    assert_eq!(u.entries as u64 + u.evictions, 2000);
    assert!(s.get("key-1999").is_some(), "the newest entry is kept");
    assert!(s.get("key-1").is_none(), "an old unused entry is evicted");
}

#[test]
fn an_entry_over_the_per_entry_limit_is_refused() {
    let s = MemoryStore::new(16 * 1024);
    let big = vec![0u8; 2000];
    match s.set("big", &big) {
        Err(Error::TooLarge { limit, .. }) => assert_eq!(limit, s.max_entry_bytes()),
        other => panic!("{other:?}"),
    }
    assert!(!s.exists("big"));
}

#[test]
fn list_keys_pages_in_order() {
    let s = MemoryStore::new(64 << 20);
    for i in 0..2500 {
        s.set(&format!("k{i:05}"), b"").unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.list_keys(cursor.as_deref());
        seen.extend(page.keys);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..2500).map(|i| format!("k{i:05}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn clear_deletes_every_key_and_frees_the_budget() {
    let s = MemoryStore::new(1 << 20);
    for i in 0..100 {
        s.set(&format!("k{i}"), &[0; 100]).unwrap();
    }
    assert!(s.usage().entries == 100 && s.usage().bytes > 10_000);
    s.clear();
    assert_eq!((s.usage().entries, s.usage().bytes), (0, 0));
    assert!(s.get("k1").is_none() && s.list_keys(None).keys.is_empty());
    s.set("after", b"x").unwrap();
    assert_eq!(s.get("after"), Some(b"x".to_vec()));
}
