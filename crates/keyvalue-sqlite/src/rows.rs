//! The table, the connections' settings, and reading and writing one row.

use crate::checkpoint::WAL_RESTART_BYTES;
use crate::{Error, Synchronous, Versioned};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::time::Duration;

/// The one table: values and counters of every bucket. A rowid table with its primary key as
/// a separate index: finding a key walks the index (keys only), then fetches one row. (It was a
/// `WITHOUT ROWID` table until 2026-12: there every row lives in the key's b-tree, and SQLite
/// compares a search key with a row that overflows its page by reading the whole row, so a read
/// of a small record copied the large values it passed on its way (chunks of compiled lists,
/// lookup indexes) — most of a request's time. [`upgrade_table`] converts such a table.)
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    bucket  TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    value   BLOB,
    counter INTEGER,
    version INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
";

/// Whether the `kv` table of `c`'s database is the old `WITHOUT ROWID` one.
fn is_without_rowid(c: &Connection) -> Result<bool, Error> {
    let sql: Option<String> = c
        .query_row("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'kv'", [], |r| r.get(0))
        .optional()?;
    Ok(sql.is_some_and(|s| s.to_ascii_uppercase().contains("WITHOUT ROWID")))
}

/// Converts an old `WITHOUT ROWID` `kv` table (see [`SCHEMA`]) into the current one, keeping
/// every row (values, counters, versions), in one write transaction: another process opening
/// the same file at the same time waits for it, then finds the table converted. Answers
/// whether it converted anything.
pub(crate) fn upgrade_table(c: &mut Connection) -> Result<bool, Error> {
    if !is_without_rowid(c)? {
        return Ok(false);
    }
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if !is_without_rowid(&tx)? {
        return Ok(false);
    }
    tx.execute_batch(&format!(
        "{}
         INSERT INTO kv_upgraded (bucket, key, value, counter, version)
             SELECT bucket, key, value, counter, version FROM kv ORDER BY bucket, key;
         DROP TABLE kv;
         ALTER TABLE kv_upgraded RENAME TO kv;",
        SCHEMA.replace("kv (", "kv_upgraded (")
    ))?;
    tx.commit()?;
    Ok(true)
}

/// A connection to the database at `path`, set up as every connection of the store is.
pub(crate) fn connect(path: &Path, synchronous: Synchronous) -> Result<Connection, Error> {
    let c = Connection::open(path)?;
    c.busy_timeout(Duration::from_secs(10))?;
    // WAL: readers never block the writer. `synchronous`: when a commit reaches the disk (see
    // [`Synchronous`]).
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", synchronous.pragma())?;
    // After a checkpoint resets the log, its file is truncated back to this size.
    c.pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES as i64)?;
    c.set_prepared_statement_cache_capacity(32);
    Ok(c)
}

/// The counter at `key` (0 if absent); an error if the key holds a value.
pub(crate) fn counter(c: &Connection, bucket: &str, key: &str) -> Result<i64, Error> {
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

/// The value (or counter) at `key`, with its version.
pub(crate) fn get_row(c: &Connection, bucket: &str, key: &str) -> Result<Versioned, Error> {
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

/// Sets `key` to `value` (replacing a value or a counter) at `version`.
pub(crate) fn put_row(tx: &Connection, bucket: &str, key: &str, value: &[u8], version: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO kv (bucket, key, value, counter, version) VALUES (?1, ?2, ?3, NULL, ?4)
         ON CONFLICT (bucket, key) DO UPDATE SET value = ?3, counter = NULL, version = ?4",
    )?
    .execute(params![bucket, key, value, version])?;
    Ok(())
}
