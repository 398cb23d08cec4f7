//! Checkpoints of the write-ahead log, on a thread of the store's own.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How often the checkpoint thread moves the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A write-ahead log larger than this is restarted (see [`checkpoint_until_dropped`]).
pub(crate) const WAL_RESTART_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn wal_path(db: &Path) -> PathBuf {
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
pub(crate) fn checkpoint_until_dropped(
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
