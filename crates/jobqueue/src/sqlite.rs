use crate::{Dead, Depth, Error, Failed, Message, Policy, Queue};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// When a commit of the embedded backend is on the disk: the same setting as the key-value
/// store's (both databases of a data directory follow one `--sync`).
pub use keyvalue_sqlite::Synchronous;

/// The embedded backend: a SQLite database (any number of named queues). Every operation is one
/// transaction; several processes may share the file.
pub struct SqliteQueue {
    conn: Mutex<Connection>,
    leases: std::sync::atomic::AtomicI64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY,
    queue       TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    payload     BLOB    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    visible_at  INTEGER NOT NULL,
    lease       INTEGER,
    dead        INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    UNIQUE (queue, job_id)
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, dead, visible_at);
";

impl SqliteQueue {
    /// Opens (creating if needed) the queue database at `path`, with [`Synchronous::Full`].
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteQueue, Error> {
        SqliteQueue::open_with(path, Synchronous::Full)
    }

    /// Opens (creating if needed) the queue database at `path`, committing with `synchronous`.
    pub fn open_with(path: impl AsRef<Path>, synchronous: Synchronous) -> Result<SqliteQueue, Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous.pragma())?;
        conn.execute_batch(SCHEMA)?;
        // Lease tokens only need to differ between claims of one message: time-seeded is enough.
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as i64);
        Ok(SqliteQueue { conn: Mutex::new(conn), leases: std::sync::atomic::AtomicI64::new(seed) })
    }

    fn tx<R>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<R, Error>) -> Result<R, Error> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = f(&tx)?;
        tx.commit()?;
        Ok(r)
    }
}

impl Queue for SqliteQueue {
    fn enqueue(&self, queue: &str, job_id: &str, payload: &[u8], now_ms: u64) -> Result<bool, Error> {
        self.tx(|tx| {
            let n = tx.execute(
                "INSERT INTO messages (queue, job_id, payload, visible_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (queue, job_id) DO NOTHING",
                params![queue, job_id, payload, now_ms as i64],
            )?;
            Ok(n == 1)
        })
    }

    fn claim(&self, queue: &str, now_ms: u64, lease_ms: u64) -> Result<Option<Message>, Error> {
        let lease = self.leases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx(|tx| {
            let row = tx
                .query_row(
                    "SELECT id, job_id, payload, attempts FROM messages
                     WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT 1",
                    params![queue, now_ms as i64],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?, r.get::<_, u32>(3)?)),
                )
                .optional()?;
            let Some((id, job_id, payload, attempts)) = row else { return Ok(None) };
            tx.execute(
                "UPDATE messages SET attempts = attempts + 1, visible_at = ?2, lease = ?3 WHERE id = ?1",
                params![id, now_ms.saturating_add(lease_ms) as i64, lease],
            )?;
            Ok(Some(Message { queue: queue.to_owned(), job_id, payload, attempts: attempts + 1, lease }))
        })
    }

    fn extend(&self, msg: &Message, now_ms: u64, lease_ms: u64) -> Result<bool, Error> {
        self.tx(|tx| {
            Ok(tx.execute(
                "UPDATE messages SET visible_at = ?4 WHERE queue = ?1 AND job_id = ?2 AND lease = ?3 AND dead = 0",
                params![msg.queue, msg.job_id, msg.lease, now_ms.saturating_add(lease_ms) as i64],
            )? == 1)
        })
    }

    fn ack(&self, msg: &Message) -> Result<bool, Error> {
        self.tx(|tx| {
            Ok(tx.execute(
                "DELETE FROM messages WHERE queue = ?1 AND job_id = ?2 AND lease = ?3",
                params![msg.queue, msg.job_id, msg.lease],
            )? == 1)
        })
    }

    fn fail(&self, msg: &Message, error: &str, now_ms: u64, policy: &Policy) -> Result<Failed, Error> {
        self.tx(|tx| {
            let row: Option<(i64, u32)> = tx
                .query_row(
                    "SELECT id, attempts FROM messages WHERE queue = ?1 AND job_id = ?2 AND lease = ?3",
                    params![msg.queue, msg.job_id, msg.lease],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((id, attempts)) = row else { return Ok(Failed::LeaseLost) };
            if attempts >= policy.max_attempts {
                tx.execute(
                    "UPDATE messages SET dead = 1, lease = NULL, last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?;
                return Ok(Failed::Dead);
            }
            let at = now_ms.saturating_add(policy.backoff_ms(attempts));
            tx.execute(
                "UPDATE messages SET visible_at = ?2, lease = NULL, last_error = ?3 WHERE id = ?1",
                params![id, at as i64, error],
            )?;
            Ok(Failed::RetryAt(at))
        })
    }

    fn dead(&self, queue: &str) -> Result<Vec<Dead>, Error> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut stmt = conn.prepare_cached(
            "SELECT job_id, attempts, last_error FROM messages WHERE queue = ?1 AND dead = 1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![queue], |r| {
            Ok(Dead { job_id: r.get(0)?, attempts: r.get(1)?, last_error: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn prune_dead(&self, queue: &str, keep: usize) -> Result<u64, Error> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.tx(|tx| {
            Ok(tx.execute(
                "DELETE FROM messages WHERE queue = ?1 AND dead = 1 AND id NOT IN
                     (SELECT id FROM messages WHERE queue = ?1 AND dead = 1 ORDER BY id DESC LIMIT ?2)",
                params![queue, keep],
            )? as u64)
        })
    }

    fn replay(&self, queue: &str, job_id: &str, now_ms: u64) -> Result<bool, Error> {
        self.tx(|tx| {
            Ok(tx.execute(
                "UPDATE messages SET dead = 0, attempts = 0, visible_at = ?3, lease = NULL WHERE queue = ?1 AND job_id = ?2 AND dead = 1",
                params![queue, job_id, now_ms as i64],
            )? == 1)
        })
    }

    fn depth(&self, queue: &str, now_ms: u64) -> Result<Depth, Error> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let q = |sql: &str| -> Result<u64, Error> {
            Ok(conn.query_row(sql, params![queue, now_ms as i64], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(Depth {
            ready: q("SELECT count(*) FROM messages WHERE queue = ?1 AND dead = 0 AND visible_at <= ?2")?,
            delayed: q(
                "SELECT count(*) FROM messages WHERE queue = ?1 AND dead = 0 AND visible_at > ?2 AND lease IS NULL",
            )?,
            leased: q(
                "SELECT count(*) FROM messages WHERE queue = ?1 AND dead = 0 AND visible_at > ?2 AND lease IS NOT NULL",
            )?,
            dead: conn.query_row(
                "SELECT count(*) FROM messages WHERE queue = ?1 AND dead = 1",
                params![queue],
                |r| r.get::<_, i64>(0),
            )? as u64,
        })
    }
}

// Its behaviour is tested, like every backend's, in tests/queue_conformance.rs.

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_commits_with_the_synchronous_setting_chosen() {
        let dir = tempfile::tempdir().unwrap();
        // `PRAGMA synchronous` answers 2 for FULL, 1 for NORMAL.
        for (name, setting, pragma) in [("full", Synchronous::Full, 2), ("normal", Synchronous::Normal, 1)] {
            let q = SqliteQueue::open_with(dir.path().join(format!("{name}.sqlite3")), setting).unwrap();
            q.enqueue("q", "job", b"payload", 1).unwrap();
            let conn = q.conn.lock().unwrap();
            let got: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            assert_eq!(got, pragma, "{setting:?}");
            let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
            assert_eq!(journal, "wal");
        }
        let q = SqliteQueue::open(dir.path().join("default.sqlite3")).unwrap();
        let got: i64 = q.conn.lock().unwrap().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!(got, 2, "open is durable");
    }
}
