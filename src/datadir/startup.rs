//! The checks `up` makes before serving from a data directory (see the parent module's
//! documentation): lock, inspect `data.sqlite3`, `service.json` and `queue.sqlite3`, then open
//! the store, initialise a fresh directory, or refuse naming the file and the ways on.

use super::*;

/// How `up` treats the data directory.
pub struct StartOptions {
    /// How the stores commit.
    pub synchronous: Synchronous,
    /// Start a new, empty service (or queue) in place of a missing or damaged one, its files
    /// set aside.
    pub reinitialize: bool,
    /// Serve `data.sqlite3` as it is when its write-ahead log was lost.
    pub accept_data_loss: bool,
    /// The embedded queue (`queue.sqlite3`) is in use, so check it too.
    pub embedded_queue: bool,
    /// The integrity check's time bound per database; zero: no check.
    pub check_within: Duration,
}

/// A data directory `up` serves from: the store, open, and the shared lock that tells restores
/// a host is serving from it (held until this is dropped, or the process ends).
pub struct DataDir {
    /// The key-value database.
    pub store: Arc<Store>,
    /// The service the directory holds.
    pub service: Service,
    _lock: File,
}

/// What is wrong with a data directory, and the ways on.
struct Problem {
    file: PathBuf,
    what: String,
    /// Set the queue aside, not the whole service.
    queue_only: bool,
    /// `--accept-data-loss` applies.
    log_lost: bool,
}

/// What the inspection of `data.sqlite3` and `service.json` found.
enum Found {
    /// Nothing yet: a new service.
    Fresh,
    /// Marker and database agree.
    Healthy(Service),
    /// No marker, but the database holds the record: the marker is written again.
    Unmarked(Service),
    /// A database from before the record existed: recorded now.
    Unrecorded,
}

/// Checks the data directory `dir` and opens its store (see the module's documentation):
/// refuses, with a message naming the file and the ways on, a directory whose service is
/// missing or damaged.
pub fn open_for_up(dir: &Path, opts: &StartOptions) -> Result<DataDir> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (lock, alone) = lock_for_up(dir)?;
    let data = dir.join(DATA);
    let mut healthy = true;
    let found = match inspect_data(dir, alone, opts)? {
        Ok(found) => found,
        Err(problem) => {
            healthy = false;
            reinitialize_or_refuse(dir, problem, alone, opts)?.unwrap_or(Found::Fresh)
        }
    };
    if opts.embedded_queue
        && let Some(problem) = inspect_queue(dir, alone, opts)?
    {
        healthy = false;
        reinitialize_or_refuse(dir, problem, alone, opts)?;
    }
    if healthy && opts.reinitialize {
        tracing::info!("--reinitialize: {} is healthy, nothing to reinitialize", dir.display());
    }
    let store =
        Arc::new(Store::open_with(&data, opts.synchronous).with_context(|| format!("opening {}", data.display()))?);
    let record = |s: &Service| -> Result<()> {
        store.set(SERVICE_BUCKET, SERVICE_KEY, &s.to_json()).with_context(|| format!("writing {}", data.display()))
    };
    let service = match found {
        Found::Healthy(s) => s,
        Found::Fresh => {
            // The record first: a crash before the marker leaves a directory that is adopted.
            let s = Service::new();
            record(&s)?;
            write_atomically(&dir.join(MARKER), &s.to_json())?;
            tracing::info!(service = %s.id, dir = %dir.display(), "initialised a new data directory");
            s
        }
        Found::Unmarked(s) => {
            write_atomically(&dir.join(MARKER), &s.to_json())?;
            tracing::warn!(service = %s.id, "{MARKER} was missing: written again from the record in {DATA}");
            s
        }
        Found::Unrecorded => {
            let s = Service::new();
            record(&s)?;
            write_atomically(&dir.join(MARKER), &s.to_json())?;
            tracing::info!(service = %s.id, "recorded the service of a data directory made by an earlier version");
            s
        }
    };
    if alone {
        // Other hosts may now start too. On Linux this converts the flock (never blocks).
        lock.lock_shared().with_context(|| format!("locking {}", dir.join(LOCK).display()))?;
    }
    Ok(DataDir { store, service, _lock: lock })
}

/// Locks `dir` for `up`: exclusively if no host serves from it (the answer's `true`), else
/// shared. Waits up to a minute for a restore, or another host's start-up check, to finish.
fn lock_for_up(dir: &Path) -> Result<(File, bool)> {
    let lock = lock_file(dir)?;
    let path = dir.join(LOCK);
    match lock.try_lock() {
        Ok(()) => return Ok((lock, true)),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lock.try_lock_shared() {
            Ok(()) => return Ok((lock, false)),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(TryLockError::WouldBlock) => bail!(
                "{} has been locked for a minute by another process (a restore, or a host checking the directory): \
                 not starting",
                path.display()
            ),
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
    }
}

/// Checks `service.json` and `data.sqlite3`.
fn inspect_data(dir: &Path, alone: bool, opts: &StartOptions) -> Result<Result<Found, Problem>> {
    let data = dir.join(DATA);
    let problem =
        |what: String, log_lost: bool| Ok(Err(Problem { file: data.clone(), what, queue_only: false, log_lost }));
    let service = match read_marker(dir)? {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(why)) => {
            return Ok(Err(Problem {
                file: dir.join(MARKER),
                what: format!(
                    "cannot be read ({why}). If {DATA} is intact, delete {MARKER}: the host writes it again from the \
                     record in {DATA}"
                ),
                queue_only: false,
                log_lost: false,
            }));
        }
    };
    let recorded = |s: &Option<Service>| match s {
        Some(s) => format!(
            ", though {MARKER} records that this directory holds the service {} (created {})",
            s.id, s.created_at
        ),
        None => String::new(),
    };
    match file_len(&data)? {
        None if service.is_none() && !dir.join(QUEUE).exists() => return Ok(Ok(Found::Fresh)),
        None if service.is_none() => {
            return problem(format!("is missing, though {QUEUE} is there: this directory held a service"), false);
        }
        None => return problem(format!("is missing{}", recorded(&service)), false),
        Some(0) => return problem(format!("is empty (0 bytes){}", recorded(&service)), false),
        Some(_) => {}
    }
    let (wal, shm) = (with_suffix(&data, "-wal"), with_suffix(&data, "-shm"));
    if alone && wal.exists() {
        tracing::info!(
            "the last process using {} did not close it (a crash, or kill -9): SQLite recovers its committed writes from the write-ahead log",
            data.display()
        );
    }
    if alone && shm.exists() && !wal.exists() {
        if !opts.accept_data_loss {
            return problem(
                format!(
                    "has lost its write-ahead log: {} is gone while its index {} is still there, so the last process \
                     using it stopped without closing it and the log was deleted afterwards. The writes committed \
                     since its last checkpoint are lost, and if a checkpoint was running the file may hold part of it",
                    wal.display(),
                    shm.display()
                ),
                true,
            );
        }
        tracing::warn!(
            "{} lost its write-ahead log: serving it without the writes that were only there (--accept-data-loss)",
            data.display()
        );
        std::fs::remove_file(&shm).with_context(|| format!("removing {}", shm.display()))?;
    }
    if let Some(problems) = check(&data, opts.check_within)? {
        return problem(format!("is damaged: SQLite's integrity check says: {}", problems.join("; ")), false);
    }
    let stored = stored_service(&data)?;
    Ok(match (service, stored) {
        (Some(s), Some(Ok(r))) if r.id == s.id => Ok(Found::Healthy(s)),
        (Some(s), Some(Ok(r))) => {
            return problem(
                format!("holds the service {} (created {}){}", r.id, r.created_at, recorded(&Some(s))),
                false,
            );
        }
        (_, Some(Err(why))) => return problem(format!("holds a damaged record of its service ({why})"), false),
        (Some(s), None) => {
            return problem(
                format!(
                    "does not hold its service's record{}: the database was replaced or emptied, or lost its \
                     write-ahead log",
                    recorded(&Some(s))
                ),
                false,
            );
        }
        (None, Some(Ok(r))) => Ok(Found::Unmarked(r)),
        (None, None) => match read_value(&data, SERVICE_BUCKET, SERVICE_KEY)? {
            Lookup::NotAStore => {
                return problem("is not a blocklist-edge database (it has no key-value table)".into(), false);
            }
            _ => Ok(Found::Unrecorded),
        },
    })
}

/// Checks `queue.sqlite3`, if there is one: `Some` if it is damaged.
fn inspect_queue(dir: &Path, alone: bool, opts: &StartOptions) -> Result<Option<Problem>> {
    let queue = dir.join(QUEUE);
    if file_len(&queue)?.unwrap_or(0) == 0 {
        return Ok(None);
    }
    if alone && with_suffix(&queue, "-shm").exists() && !with_suffix(&queue, "-wal").exists() {
        tracing::warn!(
            "{} lost its write-ahead log: messages published since its last checkpoint are lost; the sweeper \
             publishes their jobs again from the ledger",
            queue.display()
        );
    }
    Ok(check(&queue, opts.check_within)?.map(|problems| Problem {
        file: queue.clone(),
        what: format!("is damaged: SQLite's integrity check says: {}", problems.join("; ")),
        queue_only: true,
        log_lost: false,
    }))
}

/// The integrity check of `db`, bounded by `within`: the problems found, if any.
fn check(db: &Path, within: Duration) -> Result<Option<Vec<String>>> {
    if within.is_zero() {
        return Ok(None);
    }
    let started = Instant::now();
    let result = quick_check(db, within).with_context(|| format!("checking {}", db.display()))?;
    let ms = started.elapsed().as_millis() as u64;
    match result {
        Check::Intact => {
            tracing::info!(file = %db.display(), ms, "integrity check passed");
            Ok(None)
        }
        Check::Unfinished => {
            tracing::warn!(file = %db.display(), ms, "integrity check stopped unfinished at its time bound (--integrity-check-secs); nothing wrong found until then");
            Ok(None)
        }
        Check::Damaged(problems) => Ok(Some(problems)),
    }
}

/// With `--reinitialize` (and no other host serving), sets the damaged files aside and answers
/// what to start with; else the refusal, as an error.
fn reinitialize_or_refuse(dir: &Path, p: Problem, alone: bool, opts: &StartOptions) -> Result<Option<Found>> {
    if opts.reinitialize && alone {
        let files: Vec<PathBuf> = if p.queue_only {
            database_files(&dir.join(QUEUE))
        } else {
            let mut f = vec![dir.join(MARKER)];
            f.extend(database_files(&dir.join(DATA)));
            f.extend(database_files(&dir.join(QUEUE)));
            f
        };
        let aside = set_aside(dir, &files)?;
        let names: Vec<String> =
            files.iter().filter_map(|f| Some(f.file_name()?.to_string_lossy().into_owned())).collect();
        tracing::warn!(
            "{} {}: --reinitialize moved {} to {} and starts with {}",
            p.file.display(),
            p.what,
            names.join(", "),
            aside.display(),
            if p.queue_only {
                "an empty job queue (the sweeper publishes the unfinished jobs again)"
            } else {
                "a new, empty service"
            }
        );
        return Ok(if p.queue_only { None } else { Some(Found::Fresh) });
    }
    if opts.reinitialize {
        bail!(
            "{} {}.\nOther hosts are serving from {} (they hold {LOCK}): stop them before --reinitialize.",
            p.file.display(),
            p.what,
            dir.display()
        );
    }
    let mut ways = Vec::new();
    if p.queue_only {
        ways.push(format!(
            "start with --reinitialize: {QUEUE} is moved to {}/set-aside-<time>/ and the host starts with an empty job \
             queue; the jobs are in the ledger ({DATA}) and the sweeper publishes the unfinished ones again",
            dir.display()
        ));
    } else {
        ways.push(format!(
            "restore a backup: blocklist-edge restore --input BACKUP --data-dir {} --force",
            dir.display()
        ));
        if p.log_lost {
            ways.push(format!("serve what {DATA} holds, without the lost writes: start with --accept-data-loss"));
        }
        ways.push(format!(
            "start a new, empty service here with --reinitialize (the files found are moved to {}/set-aside-<time>/, \
             not deleted)",
            dir.display()
        ));
    }
    bail!(
        "refusing to start: {} {}.\nTo go on, either\n{}",
        p.file.display(),
        p.what,
        ways.iter().map(|w| format!("  - {w}")).collect::<Vec<_>>().join("\n")
    )
}
