//! Database files as files, without opening a [`Store`](crate::Store): an integrity check
//! bounded in time, a consistent copy of a database in use, and a look at one key.
//!
//! None of these creates a database: a missing file is an error. [`quick_check`] and
//! [`snapshot`] work on any SQLite database file (the host uses them on its job queue's file
//! too); [`read_value`] on a store's.

use crate::Error;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

/// Problems [`quick_check`] reports at most; more are not listed.
const MAX_REPORTED: u32 = 20;

/// What [`quick_check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// SQLite's `quick_check` answered `ok`.
    Intact,
    /// The file is damaged or is not a database: what SQLite said, one problem per entry.
    Damaged(Vec<String>),
    /// The check ran out of time before it finished; it found nothing wrong until then.
    Unfinished,
}

/// Opens the existing database at `path` for reading and writing (reading a database in WAL
/// mode may need to recover its log); never creates one.
fn open_existing(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let c = Connection::open_with_flags(path, flags)?;
    c.busy_timeout(Duration::from_secs(10))?;
    Ok(c)
}

/// Whether SQLite's error says the file is damaged or not a database.
fn damage(e: &rusqlite::Error) -> Option<String> {
    match e {
        rusqlite::Error::SqliteFailure(f, message)
            if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) =>
        {
            Some(message.clone().unwrap_or_else(|| f.to_string()))
        }
        _ => None,
    }
}

/// Runs SQLite's `PRAGMA quick_check` on the database at `path`, for at most `within`: every
/// page of every table and index is read and its structure checked (not that indexes match
/// their tables, which `integrity_check` adds at a much higher cost). Its time grows with the
/// file's size; past `within` it is interrupted and answers [`Check::Unfinished`].
pub fn quick_check(path: &Path, within: Duration) -> Result<Check, Error> {
    let conn = match open_existing(path) {
        Ok(c) => c,
        Err(Error::Sqlite(e)) => return damage(&e).map(|m| Check::Damaged(vec![m])).ok_or(Error::Sqlite(e)),
        Err(e) => return Err(e),
    };
    let interrupt = conn.get_interrupt_handle();
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    let timer = std::thread::Builder::new()
        .name("kv-quick-check".into())
        .spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(within) {
                interrupt.interrupt();
            }
        })
        .map_err(Error::Thread)?;
    let result = (|| -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(&format!("PRAGMA quick_check({MAX_REPORTED})"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    })();
    drop(finished);
    let _ = timer.join();
    match result {
        Ok(lines) if lines == ["ok"] => Ok(Check::Intact),
        // One problem per entry: SQLite puts several in one row, after a line naming the schema.
        Ok(rows) => Ok(Check::Damaged(
            rows.iter()
                .flat_map(|r| r.lines())
                .filter(|l| !l.is_empty() && !l.starts_with("*** in database"))
                .map(str::to_owned)
                .collect(),
        )),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::OperationInterrupted => Ok(Check::Unfinished),
        Err(e) => damage(&e).map(|m| Check::Damaged(vec![m])).ok_or(Error::Sqlite(e)),
    }
}

/// Writes a consistent copy of the database at `path` (which may be in use, by other
/// processes too) to the new file `out`, and syncs it to the disk.
///
/// The copy is one read transaction (`VACUUM INTO`): it holds every write committed before
/// it began and none after, and writers are not blocked meanwhile. It is compact (no free
/// pages) and not in WAL mode; a [`Store`](crate::Store) opening it switches it back. `out`
/// must not exist (or be empty).
pub fn snapshot(path: &Path, out: &Path) -> Result<(), Error> {
    let conn = open_existing(path)?;
    let target = out.to_str().ok_or_else(|| Error::Io {
        path: out.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", params![target])?;
    drop(conn);
    // SQLite does not sync what VACUUM INTO writes.
    let io = |source| Error::Io { path: out.to_path_buf(), source };
    std::fs::File::open(out).and_then(|f| f.sync_all()).map_err(io)?;
    Ok(())
}

/// What [`read_value`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The database has no key-value table: it is empty, or not a store's.
    NotAStore,
    /// The store has no such key.
    Absent,
    /// The key's value (a counter reads as its 8-byte little-endian encoding).
    Value(Vec<u8>),
}

/// The value at `key` of `bucket` in the store whose database is `path`, read without opening
/// the store (nothing is created or written, not even the table).
pub fn read_value(path: &Path, bucket: &str, key: &str) -> Result<Lookup, Error> {
    let conn = open_existing(path)?;
    let has_table = conn.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'kv'")?.exists([])?;
    if !has_table {
        return Ok(Lookup::NotAStore);
    }
    let row = conn
        .query_row("SELECT value, counter FROM kv WHERE bucket = ?1 AND key = ?2", params![bucket, key], |r| {
            Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    Ok(match row {
        None => Lookup::Absent,
        Some((_, Some(n))) => Lookup::Value(n.to_le_bytes().to_vec()),
        Some((value, None)) => Lookup::Value(value.unwrap_or_default()),
    })
}
