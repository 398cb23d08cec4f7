//! `blocklist-edge backup` and `restore`: a consistent copy of a data directory, taken while a
//! host serves from it, and putting one in place in a directory no host serves from.
//!
//! A backup is a directory: `data.sqlite3` and (with the embedded queue) `queue.sqlite3`, each a
//! snapshot of one read transaction (SQLite's `VACUUM INTO`: writers are not blocked), the
//! directory's `service.json`, and `backup.json` listing them with their sizes and SHA-256. It
//! is written under a temporary name and renamed when complete and checked, so a directory of
//! that name is always a whole backup. The two databases are snapshots of two moments: the
//! ledger in `data.sqlite3` is the jobs' source of truth, and the sweeper publishes again any
//! unfinished job the queue's snapshot lacks.

use crate::datadir::{self, DATA, MARKER, QUEUE, Service};
use anyhow::{Context, Result, bail};
use keyvalue_sqlite::file::{Check, quick_check, snapshot};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::TryLockError;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The manifest of a backup.
const MANIFEST: &str = "backup.json";

/// How long the check of a backup's databases may take.
const CHECK_WITHIN: Duration = Duration::from_secs(3600);

/// What `backup.json` says.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    format: u32,
    service: Service,
    taken_at: String,
    files: Vec<BackupFile>,
}

/// One file of a backup.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupFile {
    name: String,
    bytes: u64,
    sha256: String,
}

/// The SHA-256 of the file at `path`, and its size.
fn digest(path: &Path) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut h = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok((hex::encode(h.finalize()), bytes))
}

/// Checks that the database `db` is intact and holds the record of `service`.
fn check_copy(db: &Path, service: &Service, what: &str) -> Result<()> {
    match quick_check(db, CHECK_WITHIN).with_context(|| format!("checking {}", db.display()))? {
        Check::Intact => {}
        Check::Damaged(problems) => bail!("{what} fails SQLite's integrity check: {}", problems.join("; ")),
        Check::Unfinished => bail!("{what}: the integrity check did not finish within {CHECK_WITHIN:?}"),
    }
    if db.file_name().is_some_and(|n| n == DATA) {
        match datadir::stored_service(db)? {
            Some(Ok(s)) if s.id == service.id => {}
            Some(Ok(s)) => bail!("{what} holds the service {}, not {}", s.id, service.id),
            Some(Err(why)) => bail!("{what} holds a damaged record of its service ({why})"),
            None => bail!("{what} does not hold the record of the service {}", service.id),
        }
    }
    Ok(())
}

/// Removes a partly written backup unless it was completed.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Writes a backup of the data directory `dir` (which a host may be serving from) to the new
/// directory `output`.
pub fn backup(dir: &Path, output: &Path) -> Result<()> {
    let service = match datadir::read_marker(dir)? {
        Some(Ok(s)) => s,
        Some(Err(why)) => bail!("{} cannot be read ({why})", dir.join(MARKER).display()),
        None => bail!("{} holds no service ({MARKER} is missing): nothing to back up", dir.display()),
    };
    let data = dir.join(DATA);
    if !std::fs::metadata(&data).is_ok_and(|m| m.len() > 0) {
        bail!("{} is missing or empty: nothing to back up (start the host to see what is wrong)", data.display());
    }
    if output.exists() {
        bail!("{} already exists: a backup goes to a new directory", output.display());
    }
    let name = output.file_name().with_context(|| format!("{} names no directory", output.display()))?;
    let tmp = output.with_file_name(format!(".{}.partial-{:08x}", name.to_string_lossy(), fastrand::u32(..)));
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut partial = Partial(Some(tmp.clone()));

    let mut files = Vec::new();
    let queue = dir.join(QUEUE);
    let queue_present = std::fs::metadata(&queue).is_ok_and(|m| m.len() > 0);
    for (db, present) in [(&data, true), (&queue, queue_present)] {
        if !present {
            continue;
        }
        let file_name = db.file_name().expect("a file name").to_string_lossy().into_owned();
        let copy = tmp.join(&file_name);
        snapshot(db, &copy).with_context(|| format!("copying {}", db.display()))?;
        check_copy(&copy, &service, &format!("the copy of {}", db.display()))?;
        let (sha256, bytes) = digest(&copy)?;
        files.push(BackupFile { name: file_name, bytes, sha256 });
    }
    datadir::write_atomically(&tmp.join(MARKER), &service.to_json())?;
    let manifest = Manifest { format: 1, service: service.clone(), taken_at: datadir::now_rfc3339(), files };
    let mut json = serde_json::to_vec_pretty(&manifest)?;
    json.push(b'\n');
    datadir::write_atomically(&tmp.join(MANIFEST), &json)?;
    std::fs::rename(&tmp, output).with_context(|| format!("renaming {} to {}", tmp.display(), output.display()))?;
    partial.0 = None;
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    datadir::sync_dir(parent).with_context(|| format!("syncing {}", parent.display()))?;
    let sizes: Vec<String> = manifest.files.iter().map(|f| format!("{} {} bytes", f.name, f.bytes)).collect();
    println!(
        "backed up the service {} from {} to {} ({})",
        service.id,
        dir.display(),
        output.display(),
        sizes.join(", ")
    );
    Ok(())
}

/// Reads and checks the backup `input`: its manifest, every file's size and SHA-256, the
/// databases' integrity and the service's record.
fn verified(input: &Path) -> Result<Manifest> {
    let path = input.join(MANIFEST);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("{} is not a blocklist-edge backup: reading {}", input.display(), path.display()))?;
    let manifest: Manifest =
        serde_json::from_slice(&bytes).with_context(|| format!("{} cannot be read", path.display()))?;
    match datadir::read_marker(input)? {
        Some(Ok(s)) if s == manifest.service => {}
        _ => bail!("{} does not hold the service its {MANIFEST} names", input.join(MARKER).display()),
    }
    if !manifest.files.iter().any(|f| f.name == DATA) {
        bail!("{} lists no {DATA}", path.display());
    }
    for f in &manifest.files {
        if f.name != DATA && f.name != QUEUE {
            bail!("{} lists an unknown file {:?}", path.display(), f.name);
        }
        let file = input.join(&f.name);
        let (sha256, bytes) = digest(&file)?;
        if (sha256.as_str(), bytes) != (f.sha256.as_str(), f.bytes) {
            bail!(
                "{} is not the file that was backed up: {bytes} bytes, SHA-256 {sha256}; {MANIFEST} says {} bytes, {}",
                file.display(),
                f.bytes,
                f.sha256
            );
        }
        check_copy(&file, &manifest.service, &file.display().to_string())?;
    }
    Ok(manifest)
}

/// Puts the backup `input` in place in the data directory `dir`. Refuses while a host serves
/// from `dir`, and when `dir` holds a service already unless `force` (its files are then set
/// aside, not deleted).
pub fn restore(input: &Path, dir: &Path, force: bool) -> Result<()> {
    let manifest = verified(input)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let lock = datadir::lock_file(dir)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => bail!(
            "a host is serving from {} (it holds {}): stop it first; a restore never replaces the files of a \
             running service",
            dir.display(),
            dir.join(datadir::LOCK).display()
        ),
        Err(TryLockError::Error(e)) => return Err(e).context(format!("locking {}", dir.join(datadir::LOCK).display())),
    }
    let mut present = Vec::new();
    if dir.join(MARKER).exists() {
        present.push(dir.join(MARKER));
    }
    present.extend(datadir::database_files(&dir.join(DATA)));
    present.extend(datadir::database_files(&dir.join(QUEUE)));
    if !present.is_empty() {
        let names: Vec<String> = present.iter().map(|p| p.display().to_string()).collect();
        if !force {
            let held = match datadir::read_marker(dir)? {
                Some(Ok(s)) => format!("the service {} (created {})", s.id, s.created_at),
                _ => "a service's files".to_owned(),
            };
            bail!(
                "{} already holds {held}: {}.\nRestore into an empty directory, or pass --force to move these files \
                 to {}/set-aside-<time>/ and restore in their place",
                dir.display(),
                names.join(", "),
                dir.display()
            );
        }
        let aside = datadir::set_aside(dir, &present)?;
        println!("moved {} to {}", names.join(", "), aside.display());
    }
    for f in &manifest.files {
        let (from, to) = (input.join(&f.name), dir.join(&f.name));
        let tmp = datadir::with_suffix(&to, ".restoring");
        let copy = || -> std::io::Result<()> {
            std::fs::copy(&from, &tmp)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &to)
        };
        copy().with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    // The marker last: a restore stopped before it leaves a database that `up` adopts.
    datadir::write_atomically(&dir.join(MARKER), &manifest.service.to_json())?;
    println!(
        "restored the service {} (backed up at {}) into {}",
        manifest.service.id,
        manifest.taken_at,
        dir.display()
    );
    Ok(())
}
