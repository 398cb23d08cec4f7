//! The data directory: what it holds, the checks `up` makes before serving from it, and the
//! files and locks that backups and restores share with it.
//!
//! - `service.json` records that the directory holds a service: an id and the time it was
//!   created. The same record is kept in `data.sqlite3` (bucket [`SERVICE_BUCKET`], which no
//!   component can open), so that a database other than the one the service wrote — emptied,
//!   replaced, or one whose write-ahead log was lost before its first checkpoint — is told
//!   apart from the service's own.
//! - `host.lock`: every host serving from the directory holds a shared lock on it (released by
//!   the kernel when the process ends, however it ends); a restore holds it exclusively, and so
//!   does a starting host while it checks the directory, if no other host is serving from it.
//!
//! `up` refuses to start, naming the file and what is wrong, when the record exists but
//! `data.sqlite3` is missing, empty, damaged (SQLite's `quick_check`, bounded in time), not the
//! recorded service's, or lost its write-ahead log after a process stopped without closing it
//! (its index, `-shm`, is left alone: SQLite removes both when it closes a database). A fresh
//! directory is initialised; one from before this record existed is adopted.

use anyhow::{Context, Result, bail};
use keyvalue_sqlite::file::{Check, Lookup, quick_check, read_value};
use keyvalue_sqlite::{Store, Synchronous};
use serde::{Deserialize, Serialize};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod startup;
pub use startup::{StartOptions, open_for_up};

/// The key-value database: users, tokens, lists, the job ledger, artifacts.
pub const DATA: &str = "data.sqlite3";
/// The embedded job queue's database.
pub const QUEUE: &str = "queue.sqlite3";
/// The record that the directory holds a service.
pub const MARKER: &str = "service.json";
/// The file hosts lock (shared) while they serve, and restores (exclusive) while they copy.
pub const LOCK: &str = "host.lock";
/// The bucket of `data.sqlite3` holding the service's record (key [`SERVICE_KEY`]).
pub const SERVICE_BUCKET: &str = "blocklist-edge:service";
/// The key of the service's record in [`SERVICE_BUCKET`].
pub const SERVICE_KEY: &str = "service";

/// What `service.json` (and the record in `data.sqlite3`) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Version of this record's format.
    pub format: u32,
    /// The service's id: 32 hex digits, drawn when the directory was initialised.
    pub id: String,
    /// When the directory was initialised (RFC 3339).
    pub created_at: String,
}

impl Service {
    fn new() -> Service {
        Service { format: 1, id: format!("{:032x}", fastrand::u128(..)), created_at: now_rfc3339() }
    }

    /// The record as stored (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a Service serializes");
        v.push(b'\n');
        v
    }
}

/// Now, as RFC 3339 to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `path` with `suffix` appended to its file name (`data.sqlite3` → `data.sqlite3-wal`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A database file and its write-ahead log and index, those of them that exist.
pub fn database_files(db: &Path) -> Vec<PathBuf> {
    [db.to_path_buf(), with_suffix(db, "-wal"), with_suffix(db, "-shm")].into_iter().filter(|p| p.exists()).collect()
}

/// The size of the file at `path`, or `None` if there is none.
fn file_len(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// `service.json` of `dir`: `None` if absent, `Some(Err(why))` if unreadable.
pub fn read_marker(dir: &Path) -> Result<Option<Result<Service, String>>> {
    let path = dir.join(MARKER);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(|e| e.to_string()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file, synced, renamed over it,
/// and the directory synced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = with_suffix(path, &format!(".tmp-{:08x}", fastrand::u32(..)));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        std::io::Write::write_all(&mut f, bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path.parent().unwrap_or(Path::new(".")))
    };
    write().with_context(|| format!("writing {}", path.display())).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Syncs a directory, so that the names created or renamed in it are on the disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Opens (creating it) the lock file of `dir`.
pub fn lock_file(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// Moves `files` (those that exist) into a new directory `set-aside-<time>` of `dir`, and
/// returns it.
pub fn set_aside(dir: &Path, files: &[PathBuf]) -> Result<PathBuf> {
    let stamp = now_rfc3339().replace(':', "-");
    let mut aside = dir.join(format!("set-aside-{stamp}"));
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = dir.join(format!("set-aside-{stamp}-{n}"));
    }
    std::fs::create_dir(&aside).with_context(|| format!("creating {}", aside.display()))?;
    for f in files.iter().filter(|f| f.exists()) {
        let to = aside.join(f.file_name().expect("a file name"));
        std::fs::rename(f, &to).with_context(|| format!("moving {} to {}", f.display(), to.display()))?;
    }
    sync_dir(&aside).and_then(|()| sync_dir(dir)).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(aside)
}

/// The record of the service in the store at `db`, read without opening the store.
pub fn stored_service(db: &Path) -> Result<Option<Result<Service, String>>> {
    Ok(match read_value(db, SERVICE_BUCKET, SERVICE_KEY).with_context(|| format!("reading {}", db.display()))? {
        Lookup::Value(v) => Some(serde_json::from_slice(&v).map_err(|e| e.to_string())),
        Lookup::Absent | Lookup::NotAStore => None,
    })
}
