//! The store's writer thread: every write of a [`crate::Store`] is a request to it, and it
//! commits concurrent writes together (group commit).
//!
//! The thread takes the first request waiting, then every request that arrived meanwhile (up
//! to [`MAX_BATCH`] or [`MAX_BATCH_BYTES`]), and runs them in one `IMMEDIATE` transaction, each
//! inside a savepoint of its own: a write that fails (a counter that would overflow, an
//! increment on a value, an SQLite error) rolls back its savepoint only, and the others stand.
//! One commit (and with `synchronous=FULL` one fsync of the log) then covers the whole batch,
//! and only after it has returned is each request answered: a write is acknowledged once the
//! commit that contains it is on the disk, as before, but writers arriving during an fsync share
//! the next one instead of queueing for one each. The requests of a batch are applied in the
//! order they arrived, each seeing the ones before it, so compare-and-swap, increments and
//! batch writes keep their exact meaning: it is as if they had committed one after the other.
//!
//! Requests are answered on a channel the caller chose: blocking ([`Reply::Blocking`], the
//! store's synchronous methods) or a future ([`Reply::Async`], its `_async` methods), so that
//! async callers wait without holding a thread.

use crate::Error;
use crate::rows::{counter, put_row};
use rusqlite::{Connection, TransactionBehavior, params};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

/// Writes committed together at most.
pub(crate) const MAX_BATCH: usize = 256;

/// Bytes of keys and values committed together at most (a batch stops growing past it), so
/// that large values do not make one commit, and the writers waiting on it, arbitrarily long.
pub(crate) const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// One write, with everything it needs (owned: it crosses to the writer thread).
pub(crate) enum Op {
    Set { bucket: String, key: String, value: Vec<u8>, version: i64 },
    Delete { bucket: String, key: String },
    Increment { bucket: String, key: String, delta: i64, version: i64 },
    CompareAndSwap { bucket: String, key: String, expected: Option<i64>, value: Vec<u8>, version: i64 },
    SetMany { bucket: String, pairs: Vec<(String, Vec<u8>)>, versions: Vec<i64> },
    DeleteMany { bucket: String, keys: Vec<String> },
}

/// What a write returns.
#[derive(Debug)]
pub(crate) enum Done {
    Unit,
    Counter(i64),
    Swapped(bool),
}

impl Op {
    /// Bytes of keys and values, roughly (for [`MAX_BATCH_BYTES`]).
    fn size(&self) -> usize {
        match self {
            Op::Set { key, value, .. } | Op::CompareAndSwap { key, value, .. } => key.len() + value.len(),
            Op::Delete { key, .. } | Op::Increment { key, .. } => key.len(),
            Op::SetMany { pairs, .. } => pairs.iter().map(|(k, v)| k.len() + v.len()).sum(),
            Op::DeleteMany { keys, .. } => keys.iter().map(String::len).sum(),
        }
    }

    /// Applies the write in `tx` (a savepoint of the batch's transaction).
    fn apply(&self, tx: &Connection) -> Result<Done, Error> {
        match self {
            Op::Set { bucket, key, value, version } => {
                put_row(tx, bucket, key, value, *version)?;
                Ok(Done::Unit)
            }
            Op::Delete { bucket, key } => {
                tx.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?.execute(params![bucket, key])?;
                Ok(Done::Unit)
            }
            Op::Increment { bucket, key, delta, version } => {
                let current = counter(tx, bucket, key)?;
                let next = current.checked_add(*delta).ok_or_else(|| Error::Overflow(key.to_owned()))?;
                tx.prepare_cached(
                    "INSERT INTO kv (bucket, key, value, counter, version) VALUES (?1, ?2, NULL, ?3, ?4)
                     ON CONFLICT (bucket, key) DO UPDATE SET counter = ?3, version = ?4",
                )?
                .execute(params![bucket, key, next, version])?;
                Ok(Done::Counter(next))
            }
            Op::CompareAndSwap { bucket, key, expected, value, version } => {
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
                Ok(Done::Swapped(changed == 1))
            }
            Op::SetMany { bucket, pairs, versions } => {
                for ((k, v), version) in pairs.iter().zip(versions) {
                    put_row(tx, bucket, k, v, *version)?;
                }
                Ok(Done::Unit)
            }
            Op::DeleteMany { bucket, keys } => {
                let mut stmt = tx.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")?;
                for k in keys {
                    stmt.execute(params![bucket, k])?;
                }
                Ok(Done::Unit)
            }
        }
    }
}

/// Where a write's outcome goes.
pub(crate) enum Reply {
    /// To a thread blocked on the receiving end.
    Blocking(std::sync::mpsc::SyncSender<Result<Done, Error>>),
    /// To a future.
    Async(tokio::sync::oneshot::Sender<Result<Done, Error>>),
}

impl Reply {
    fn send(self, outcome: Result<Done, Error>) {
        // A caller that went away (a dropped future) needs no answer; its write stands.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(outcome);
            }
            Reply::Async(tx) => {
                let _ = tx.send(outcome);
            }
        }
    }
}

/// A write and where its outcome goes.
pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: Reply,
}

/// Counts of the writer's work, for tests and measurements.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    /// Transactions committed (or attempted).
    pub(crate) commits: AtomicU64,
    /// Writes answered.
    pub(crate) writes: AtomicU64,
}

/// The writer thread's loop: until every sender is gone, commits the waiting requests in
/// batches on `writer` (shared with the checkpoint thread, which holds it for the short locked
/// part of a log restart).
pub(crate) fn write_until_closed(writer: Arc<Mutex<Connection>>, requests: Receiver<Request>, counts: Arc<Counts>) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = requests.recv() {
        let mut bytes = first.op.size();
        batch.push(first);
        let mut conn = writer.lock().unwrap_or_else(|e| e.into_inner());
        // Requests that arrived while the previous commit ran, or while the lock was taken,
        // join this commit.
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match requests.try_recv() {
                Ok(r) => {
                    bytes += r.op.size();
                    batch.push(r);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let outcomes = commit(&mut conn, &batch);
        drop(conn);
        counts.commits.fetch_add(1, Ordering::Relaxed);
        counts.writes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (request, outcome) in batch.drain(..).zip(outcomes) {
            request.reply.send(outcome);
        }
    }
}

/// Runs `batch` in one transaction, each write in a savepoint; the outcome of each, all of them
/// errors if the transaction could not begin or commit (then none was written).
fn commit(conn: &mut Connection, batch: &[Request]) -> Vec<Result<Done, Error>> {
    let failed_all = |e: rusqlite::Error| {
        let message = e.to_string();
        let mut outcomes = Vec::with_capacity(batch.len());
        outcomes.push(Err(Error::Sqlite(e)));
        outcomes.extend((1..batch.len()).map(|_| Err(Error::Commit(message.clone()))));
        outcomes
    };
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return failed_all(e),
    };
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        let mut sp = match tx.savepoint() {
            Ok(sp) => sp,
            // Not even a savepoint: the transaction is in no state to go on with.
            Err(e) => return failed_all(e),
        };
        match request.op.apply(&sp) {
            // RELEASE: the write is part of the transaction.
            Ok(done) => match sp.commit() {
                Ok(()) => outcomes.push(Ok(done)),
                Err(e) => return failed_all(e),
            },
            // ROLLBACK TO (then RELEASE, when `sp` drops): as if the write had not been tried.
            // Should that fail, part of the write could be left in the transaction: none of
            // the batch is committed then (the transaction rolls back as it drops).
            Err(e) => match sp.rollback() {
                Ok(()) => outcomes.push(Err(e)),
                Err(rollback) => return failed_all(rollback),
            },
        }
    }
    match tx.commit() {
        Ok(()) => outcomes,
        Err(e) => failed_all(e),
    }
}
