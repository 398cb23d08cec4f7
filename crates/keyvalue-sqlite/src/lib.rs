//! An embedded key-value store on SQLite: named buckets, values, counters and compare-and-swap.
//!
//! This is the backend behind the host's `wasi:keyvalue@0.2.0-draft2`. It keeps the semantics
//! the components rely on, including where Spin 4.0.2's backends fall short:
//!
//! - **Counters and values never mix.** A key holds either a value (bytes) or a counter (an
//!   `i64`). [`Store::increment`] on a key that holds a value is an error
//!   ([`Error::NotACounter`]), never a crash; [`Store::set`] on a counter turns it into a value.
//!   [`Store::get`] of a counter returns its 8-byte little-endian encoding, as Spin's SQLite
//!   backend does.
//! - **Compare-and-swap is exact.** Every write gives the key a fresh random 64-bit version;
//!   [`Store::compare_and_swap`] succeeds only if the version is still the one read, and a swap
//!   on a key read as absent succeeds only if it is still absent.
//! - **Increments and swaps are transactional**, also across processes sharing the file.
//!
//! Writes in one process go through one connection behind a mutex (SQLite allows one writer at a
//! time anyway, and an in-process mutex wakes waiters at once, unlike SQLite's busy back-off);
//! reads use a small pool of connections and run in parallel (WAL mode). Checkpoints run on a
//! thread of the store's own, so no write waits for the database file's fsync.

#![forbid(unsafe_code)]

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `increment` on a key that holds a value, not a counter.
    #[error("key {0:?} holds a value, not a counter")]
    NotACounter(String),
    /// `increment` would overflow an `i64`.
    #[error("incrementing key {0:?} would overflow")]
    Overflow(String),
    /// SQLite failed (I/O, a locked database past the busy timeout, corruption).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The store's checkpoint thread could not be started.
    #[error("starting the checkpoint thread: {0}")]
    Thread(std::io::Error),
}

/// A value and the version it was read at, for [`Store::compare_and_swap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The value (a counter reads as its 8-byte little-endian encoding); `None` if absent.
    pub value: Option<Vec<u8>>,
    /// The version of that value; `None` if absent.
    pub version: Option<i64>,
}

/// One page of [`Store::list_keys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys in ascending order.
    pub keys: Vec<String>,
    /// Pass this back to get the next page; `None` on the last page.
    pub cursor: Option<String>,
}

/// An embedded key-value database file holding any number of buckets.
pub struct Store {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    versions: VersionSource,
    /// Dropped with the store, which ends the checkpoint thread.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

/// How often the checkpoint thread moves the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A write-ahead log larger than this is restarted (see [`checkpoint_until_dropped`]).
const WAL_RESTART_BYTES: u64 = 4 * 1024 * 1024;

fn wal_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until the store is dropped, then once more.
///
/// A passive checkpoint never blocks readers or the writer, but under a steady stream of
/// writes it never catches up with the end of the log, and SQLite restarts the log from its
/// beginning only once it has: the file would grow without bound (and a connection opened on a
/// huge log must read all of it). So when the log passes [`WAL_RESTART_BYTES`], right after a
/// passive checkpoint (which did the bulk of the copying and the database file's fsync without
/// blocking anyone), the frames written meanwhile are checkpointed while holding the writer:
/// the log is then wholly in the database, and the next write restarts it from its beginning
/// (truncated to that size by `journal_size_limit`). Writes pause for that short second
/// checkpoint only; a `TRUNCATE` checkpoint under the writer, as before, paused them for the
/// whole copy (60-100 ms on the project's VM, measured).
fn checkpoint_until_dropped(
    conn: Connection,
    writer: &Mutex<Connection>,
    wal: &Path,
    stopped: std::sync::mpsc::Receiver<()>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        let last = matches!(stopped.recv_timeout(CHECKPOINT_EVERY), Err(RecvTimeoutError::Disconnected));
        // A failed checkpoint is retried at the next tick; the WAL keeps every write meanwhile.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        if std::fs::metadata(wal).is_ok_and(|m| m.len() > WAL_RESTART_BYTES) {
            let w = writer.lock().unwrap_or_else(|e| e.into_inner());
            let _ = w.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        if last {
            return;
        }
    }
}

/// The one table: values and counters of every bucket.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    bucket  TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    value   BLOB,
    counter INTEGER,
    version INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
";

/// Keys per page of [`Store::list_keys`].
pub const LIST_PAGE: usize = 1000;

impl Store {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        let path = path.as_ref().to_path_buf();
        let writer = connect(&path)?;
        writer.execute_batch(SCHEMA)?;
        // Checkpoints (which fsync the database file) run on a thread of their own, never on a
        // write: a slow disk then delays the thread, not the requests waiting for the writer.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = connect(&path)?;
        let writer = Arc::new(Mutex::new(writer));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (w, wal) = (writer.clone(), wal_path(&path));
        std::thread::Builder::new()
            .name("kv-checkpoint".into())
            .spawn(move || checkpoint_until_dropped(checkpointer, &w, &wal, stopped))
            .map_err(Error::Thread)?;
        Ok(Store { path, writer, readers: Mutex::new(Vec::new()), versions: VersionSource::new(), _checkpoints: stop })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, Error>) -> Result<R, Error> {
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => connect(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 16 {
            pool.push(conn);
        }
        result
    }

    fn write<R>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, Error>) -> Result<R, Error> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = f(&tx)?;
        tx.commit()?;
        Ok(r)
    }

    /// The value at `key`, or `None`.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_versioned(bucket, key)?.value)
    }

    /// The value at `key` with its version, for a later [`Store::compare_and_swap`].
    pub fn get_versioned(&self, bucket: &str, key: &str) -> Result<Versioned, Error> {
        self.read(|c| get_row(c, bucket, key))
    }

    /// Sets `key` to `value` (replacing a value or a counter).
    pub fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        let version = self.versions.next();
        self.write(|tx| {
            put_row(tx, bucket, key, value, version)?;
            Ok(())
        })
    }

    /// Deletes `key`; deleting an absent key is not an error.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.write(|tx| {
            tx.execute("DELETE FROM kv WHERE bucket = ?1 AND key = ?2", params![bucket, key])?;
            Ok(())
        })
    }

    /// Whether `key` exists.
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool, Error> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM kv WHERE bucket = ?1 AND key = ?2")?.exists(params![bucket, key])?)
        })
    }

    /// Up to [`LIST_PAGE`] keys after `cursor` (the previous page's cursor), in key order.
    pub fn list_keys(&self, bucket: &str, cursor: Option<&str>) -> Result<KeyPage, Error> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key FROM kv WHERE bucket = ?1 AND key > ?2 ORDER BY key LIMIT ?3")?;
            let keys = stmt
                .query_map(params![bucket, cursor.unwrap_or(""), LIST_PAGE as i64 + 1], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            let mut keys = keys;
            let cursor = if keys.len() > LIST_PAGE {
                keys.truncate(LIST_PAGE);
                keys.last().cloned()
            } else {
                None
            };
            Ok(KeyPage { keys, cursor })
        })
    }

    /// Adds `delta` to the counter at `key` (an absent key counts from 0) and returns the new
    /// value. `delta = 0` reads a counter.
    pub fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, Error> {
        if delta == 0 {
            // Reading a counter creates nothing: no write transaction needed.
            return self.read(|c| counter(c, bucket, key));
        }
        let version = self.versions.next();
        self.write(|tx| {
            let current = counter(tx, bucket, key)?;
            let next = current.checked_add(delta).ok_or_else(|| Error::Overflow(key.to_owned()))?;
            tx.prepare_cached(
                "INSERT INTO kv (bucket, key, value, counter, version) VALUES (?1, ?2, NULL, ?3, ?4)
                 ON CONFLICT (bucket, key) DO UPDATE SET counter = ?3, version = ?4",
            )?
            .execute(params![bucket, key, next, version])?;
            Ok(next)
        })
    }

    /// Sets `key` to `value` if its version is still `expected` (`None`: if it is still
    /// absent). Returns whether the swap happened.
    pub fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<i64>,
        value: &[u8],
    ) -> Result<bool, Error> {
        let version = self.versions.next();
        self.write(|tx| {
            let changed = match expected {
                Some(v) => tx
                    .prepare_cached(
                        "UPDATE kv SET value = ?3, counter = NULL, version = ?4
                         WHERE bucket = ?1 AND key = ?2 AND version = ?5",
                    )?
                    .execute(params![bucket, key, value, version, v])?,
                None => tx
                    .prepare_cached(
                        "INSERT INTO kv (bucket, key, value, counter, version) VALUES (?1, ?2, ?3, NULL, ?4)
                         ON CONFLICT (bucket, key) DO NOTHING",
                    )?
                    .execute(params![bucket, key, value, version])?,
            };
            Ok(changed == 1)
        })
    }

    /// The values of `keys`, in order.
    pub fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.read(|c| keys.iter().map(|k| Ok(get_row(c, bucket, k)?.value)).collect())
    }

    /// Sets every pair, in one transaction.
    pub fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        let versions: Vec<i64> = pairs.iter().map(|_| self.versions.next()).collect();
        self.write(|tx| {
            for ((k, v), version) in pairs.iter().zip(versions) {
                put_row(tx, bucket, k, v, version)?;
            }
            Ok(())
        })
    }

    /// Deletes every key, in one transaction.
    pub fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<(), Error> {
        self.write(|tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?;
            for k in keys {
                stmt.execute(params![bucket, k])?;
            }
            Ok(())
        })
    }
}

fn connect(path: &Path) -> Result<Connection, Error> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    // WAL: readers never block the writer. synchronous=NORMAL: a committed write survives a
    // crash of the process (not necessarily a power cut), at a fraction of FULL's cost.
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint resets the log, its file is truncated back to this size.
    c.pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES as i64)?;
    c.set_prepared_statement_cache_capacity(32);
    Ok(c)
}

/// The counter at `key` (0 if absent); an error if the key holds a value.
fn counter(c: &Connection, bucket: &str, key: &str) -> Result<i64, Error> {
    let row: Option<Option<i64>> = c
        .prepare_cached("SELECT counter FROM kv WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![bucket, key], |r| r.get(0))
        .optional()?;
    match row {
        None => Ok(0),
        Some(Some(n)) => Ok(n),
        Some(None) => Err(Error::NotACounter(key.to_owned())),
    }
}

fn get_row(c: &Connection, bucket: &str, key: &str) -> Result<Versioned, Error> {
    let row = c
        .prepare_cached("SELECT value, counter, version FROM kv WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![bucket, key], |r| {
            Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()?;
    Ok(match row {
        None => Versioned { value: None, version: None },
        Some((value, counter, version)) => Versioned {
            value: Some(match counter {
                Some(n) => n.to_le_bytes().to_vec(),
                None => value.unwrap_or_default(),
            }),
            version: Some(version),
        },
    })
}

fn put_row(tx: &rusqlite::Transaction<'_>, bucket: &str, key: &str, value: &[u8], version: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO kv (bucket, key, value, counter, version) VALUES (?1, ?2, ?3, NULL, ?4)
         ON CONFLICT (bucket, key) DO UPDATE SET value = ?3, counter = NULL, version = ?4",
    )?
    .execute(params![bucket, key, value, version])?;
    Ok(())
}

/// Fresh 64-bit versions: a per-store random seed and a counter, mixed by SplitMix64, so two
/// processes sharing a file (or a key deleted and written again) practically never reuse one.
struct VersionSource {
    seed: u64,
    counter: AtomicU64,
}

impl VersionSource {
    fn new() -> Self {
        let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
        VersionSource { seed, counter: AtomicU64::new(0) }
    }

    fn next(&self) -> i64 {
        let mut z =
            self.seed.wrapping_add(self.counter.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as i64
    }
}

#[cfg(test)]
mod tests {
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
                            let n: u64 = cur
                                .value
                                .as_deref()
                                .map(|v| std::str::from_utf8(v).unwrap().parse().unwrap())
                                .unwrap_or(0);
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
}
