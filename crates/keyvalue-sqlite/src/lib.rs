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
//! Writes in one process go to one writer thread ([`writer`]), which commits the writes waiting
//! together (group commit): one transaction, each write in a savepoint of its own, one commit and
//! one fsync for all of them, and each write answered only once that commit has returned. SQLite
//! allows one writer at a time anyway; this way concurrent writers share its commits instead of
//! queueing for one each. Every write method has a blocking form and an `_async` one (a future
//! that waits without holding a thread, for async hosts). Reads use a small pool of connections
//! and run in parallel (WAL mode); they block, so async callers run them on a blocking pool.
//! Checkpoints run on a thread of the store's own, so no write waits for the database file's
//! fsync.
//!
//! **Durability** is chosen when the store is opened ([`Synchronous`]): with
//! [`Synchronous::Full`] (what [`Store::open`] uses) a write that returned has reached the disk
//! and survives a power cut; with [`Synchronous::Normal`] it survives a crash of the process but
//! the last commits may be lost with the machine.
//!
//! [`file`] works on database files as files: an integrity check bounded in time, a consistent
//! copy of a live database, a look at one key without opening a store.

#![forbid(unsafe_code)]

mod checkpoint;
pub mod file;
mod rows;
#[cfg(test)]
mod tests;
mod writer;

use checkpoint::{checkpoint_until_dropped, wal_path};
pub use keyvalue_types::{KeyPage, LIST_PAGE, Versioned};
use rows::{SCHEMA, connect, counter, get_row, upgrade_table};
use rusqlite::{Connection, params};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use writer::{Counts, Done, Op, Reply, Request};

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
    /// The transaction that held this write could not begin or commit (the error is that of
    /// the batch's first write, [`Error::Sqlite`]); the write was not made.
    #[error("sqlite: the commit of a batch of writes failed: {0}")]
    Commit(String),
    /// The store's writer thread has ended (it panicked, or the store is being dropped).
    #[error("the store's writer thread has stopped")]
    WriterGone,
    /// A thread of the store's (checkpoints, a check's timer) could not be started.
    #[error("starting a thread: {0}")]
    Thread(std::io::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// When a commit is on the disk: SQLite's `synchronous` setting of every connection of a store
/// (in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=FULL`: each commit syncs the write-ahead log before it returns, so a write
    /// that returned survives a crash of the operating system or a power cut.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the log is synced only at checkpoints. A write that returned
    /// survives a crash of the process; the last commits before a crash of the operating system
    /// or a power cut may be lost (the database stays consistent). Faster.
    Normal,
}

impl Synchronous {
    /// The value of SQLite's `synchronous` pragma.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// An embedded key-value database file holding any number of buckets.
pub struct Store {
    path: PathBuf,
    synchronous: Synchronous,
    /// The writing connection: the writer thread's, and the checkpoint thread's for the short
    /// locked part of a log restart. (Kept here for tests, which hold it to make writes queue.)
    #[cfg_attr(not(test), allow(dead_code))]
    writer: Arc<Mutex<Connection>>,
    /// Where writes go: the writer thread (see [`writer`]). Dropped first, which ends it.
    requests: Option<std::sync::mpsc::Sender<Request>>,
    writer_thread: Option<std::thread::JoinHandle<()>>,
    counts: Arc<Counts>,
    readers: Mutex<Vec<Connection>>,
    /// Dropped with the store, which ends the checkpoint thread (joined by `drop`).
    checkpoints: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

impl Store {
    /// Opens (creating if needed) the database file at `path`, with [`Synchronous::Full`].
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        Store::open_with(path, Synchronous::Full)
    }

    /// Opens (creating if needed) the database file at `path`; every connection of the store
    /// commits with `synchronous`.
    pub fn open_with(path: impl AsRef<Path>, synchronous: Synchronous) -> Result<Store, Error> {
        let path = path.as_ref().to_path_buf();
        let mut writer = connect(&path, synchronous)?;
        writer.execute_batch(SCHEMA)?;
        upgrade_table(&mut writer)?;
        // Checkpoints (which fsync the database file) run on a thread of their own, never on a
        // write: a slow disk then delays the thread, not the requests waiting for the writer.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = connect(&path, synchronous)?;
        let writer = Arc::new(Mutex::new(writer));
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (w, wal) = (writer.clone(), wal_path(&path));
        let thread = std::thread::Builder::new()
            .name("kv-checkpoint".into())
            .spawn(move || checkpoint_until_dropped(checkpointer, &w, &wal, stopped))
            .map_err(Error::Thread)?;
        let checkpoints = Some((stop, thread));
        let (requests, received) = std::sync::mpsc::channel::<Request>();
        let counts = Arc::new(Counts::default());
        let (w, c) = (writer.clone(), counts.clone());
        let writer_thread = std::thread::Builder::new()
            .name("kv-writer".into())
            .spawn(move || writer::write_until_closed(w, received, c))
            .map_err(Error::Thread)?;
        Ok(Store {
            path,
            synchronous,
            writer,
            requests: Some(requests),
            writer_thread: Some(writer_thread),
            counts,
            readers: Mutex::new(Vec::new()),
            checkpoints,
        })
    }

    /// Commits made by the writer thread so far, and the writes they held: their ratio is how
    /// many writes shared a commit, on average.
    pub fn commits(&self) -> (u64, u64) {
        (self.counts.commits.load(Ordering::Relaxed), self.counts.writes.load(Ordering::Relaxed))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability its connections commit with.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R, Error>) -> Result<R, Error> {
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => connect(&self.path, self.synchronous)?,
        };
        let result = f(&conn);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 16 {
            pool.push(conn);
        }
        result
    }

    fn send(&self, request: Request) -> Result<(), Error> {
        let requests = self.requests.as_ref().ok_or(Error::WriterGone)?;
        requests.send(request).map_err(|_| Error::WriterGone)
    }

    /// Has the writer thread make `op`, and waits (blocking) until the commit holding it
    /// returned.
    fn write(&self, op: Op) -> Result<Done, Error> {
        let (reply, outcome) = std::sync::mpsc::sync_channel(1);
        self.send(Request { op, reply: Reply::Blocking(reply) })?;
        outcome.recv().map_err(|_| Error::WriterGone)?
    }

    /// Has the writer thread make `op`; the future ends once the commit holding it returned. The
    /// write is submitted at once, not when the future is first polled; dropping the future
    /// does not take it back.
    fn write_async(&self, op: Op) -> impl Future<Output = Result<Done, Error>> + Send + 'static {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let sent = self.send(Request { op, reply: Reply::Async(reply) });
        async move {
            sent?;
            outcome.await.map_err(|_| Error::WriterGone)?
        }
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
        self.write(set_op(bucket, key, value.to_vec())).map(drop)
    }

    /// [`Store::set`], as a future.
    pub fn set_async(
        &self,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let done = self.write_async(set_op(bucket, key, value));
        async move { done.await.map(drop) }
    }

    /// Deletes `key`; deleting an absent key is not an error.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.write(delete_op(bucket, key)).map(drop)
    }

    /// [`Store::delete`], as a future.
    pub fn delete_async(&self, bucket: &str, key: &str) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let done = self.write_async(delete_op(bucket, key));
        async move { done.await.map(drop) }
    }

    /// Whether `key` exists.
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool, Error> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM kv WHERE bucket = ?1 AND key = ?2")?.exists(params![bucket, key])?)
        })
    }

    /// Every key of `bucket`, in key order, read a page ([`Store::list_keys`]) at a time (for
    /// tools and tests that look at a whole store).
    pub fn all_keys(&self, bucket: &str) -> Result<Vec<String>, Error> {
        keyvalue_types::all_keys(|cursor| self.list_keys(bucket, cursor))
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
        counter_of(self.write(increment_op(bucket, key, delta)))
    }

    /// [`Store::increment`] with `delta` ≠ 0, as a future (a read, `delta = 0`, goes through
    /// the writer too: call [`Store::increment`] on a blocking pool to read a counter).
    pub fn increment_async(
        &self,
        bucket: &str,
        key: &str,
        delta: i64,
    ) -> impl Future<Output = Result<i64, Error>> + Send + 'static {
        let done = self.write_async(increment_op(bucket, key, delta));
        async move { counter_of(done.await) }
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
        swapped_of(self.write(cas_op(bucket, key, expected, value.to_vec())))
    }

    /// [`Store::compare_and_swap`], as a future.
    pub fn compare_and_swap_async(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<i64>,
        value: Vec<u8>,
    ) -> impl Future<Output = Result<bool, Error>> + Send + 'static {
        let done = self.write_async(cas_op(bucket, key, expected, value));
        async move { swapped_of(done.await) }
    }

    /// The values of `keys`, in order.
    pub fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        self.read(|c| keys.iter().map(|k| Ok(get_row(c, bucket, k)?.value)).collect())
    }

    /// Sets every pair, in one transaction.
    pub fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        self.write(set_many_op(bucket, pairs.to_vec())).map(drop)
    }

    /// [`Store::set_many`], as a future.
    pub fn set_many_async(
        &self,
        bucket: &str,
        pairs: Vec<(String, Vec<u8>)>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let done = self.write_async(set_many_op(bucket, pairs));
        async move { done.await.map(drop) }
    }

    /// Deletes every key, in one transaction.
    pub fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<(), Error> {
        self.write(Op::DeleteMany { bucket: bucket.to_owned(), keys: keys.to_vec() }).map(drop)
    }

    /// [`Store::delete_many`], as a future.
    pub fn delete_many_async(
        &self,
        bucket: &str,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let done = self.write_async(Op::DeleteMany { bucket: bucket.to_owned(), keys });
        async move { done.await.map(drop) }
    }
}

fn set_op(bucket: &str, key: &str, value: Vec<u8>) -> Op {
    Op::Set { bucket: bucket.to_owned(), key: key.to_owned(), value, version: new_version() }
}

fn delete_op(bucket: &str, key: &str) -> Op {
    Op::Delete { bucket: bucket.to_owned(), key: key.to_owned() }
}

fn increment_op(bucket: &str, key: &str, delta: i64) -> Op {
    Op::Increment { bucket: bucket.to_owned(), key: key.to_owned(), delta, version: new_version() }
}

fn cas_op(bucket: &str, key: &str, expected: Option<i64>, value: Vec<u8>) -> Op {
    Op::CompareAndSwap { bucket: bucket.to_owned(), key: key.to_owned(), expected, value, version: new_version() }
}

fn set_many_op(bucket: &str, pairs: Vec<(String, Vec<u8>)>) -> Op {
    let versions = pairs.iter().map(|_| new_version()).collect();
    Op::SetMany { bucket: bucket.to_owned(), pairs, versions }
}

fn counter_of(done: Result<Done, Error>) -> Result<i64, Error> {
    match done? {
        Done::Counter(n) => Ok(n),
        other => unreachable!("an increment answered {other:?}"),
    }
}

fn swapped_of(done: Result<Done, Error>) -> Result<bool, Error> {
    match done? {
        Done::Swapped(s) => Ok(s),
        other => unreachable!("a compare-and-swap answered {other:?}"),
    }
}

/// A dropped store has closed its connections: the checkpoint thread has made its last
/// checkpoint and ended. (When they were the last connections to the file, SQLite has moved the
/// write-ahead log into the database and removed it.)
impl Drop for Store {
    fn drop(&mut self) {
        // The writer first: it answers what it was sent, then ends.
        drop(self.requests.take());
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
        if let Some((stop, thread)) = self.checkpoints.take() {
            drop(stop);
            let _ = thread.join();
        }
    }
}

/// A fresh compare-and-swap version: 64 random bits (fastrand's per-thread generator), so that
/// two processes sharing a file, or a key deleted and written again, practically never reuse one.
fn new_version() -> i64 {
    fastrand::i64(..)
}
