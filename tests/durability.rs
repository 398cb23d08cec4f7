//! Start-up that notices and backups that restore (issue 15, part 11): the real binary refuses a
//! data directory whose store is missing, empty, damaged or lost its write-ahead log, naming the
//! file and what is wrong; `--reinitialize` and `--accept-data-loss` start anyway; a backup taken
//! while a host serves restores into a new directory that serves the same data.

mod common;

use common::{Host, sha256_hex};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `blocklist-edge` with `args` to its end.
fn cli(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"));
    c.args(args).env("BLOCKLIST_EDGE_LOG", "warn");
    for p in paths {
        c.arg(p);
    }
    c.output().expect("running blocklist-edge")
}

/// `blocklist-edge backup --data-dir DIR --output OUT`.
fn backup(dir: &Path, out: &Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"));
    c.arg("backup").arg("--data-dir").arg(dir).arg("--output").arg(out);
    c.output().expect("running blocklist-edge backup")
}

/// `blocklist-edge restore --input BACKUP --data-dir DIR` and `extra`.
fn restore(input: &Path, dir: &Path, extra: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"));
    c.arg("restore").arg("--input").arg(input).arg("--data-dir").arg(dir).args(extra);
    c.output().expect("running blocklist-edge restore")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The service id `service.json` of `dir` records.
fn service_id(dir: &Path) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("service.json")).unwrap()).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{v}");
    id
}

/// A directory with a service in it (a user and 40 lists), the host stopped with SIGKILL and
/// both databases then opened and closed by this process (so that every write is in the
/// database files themselves and their write-ahead logs are gone: damage done to a file is not
/// masked by a newer copy of its pages in a log). Returns (the directory, a token).
fn stopped_service() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let token = {
        let h = Host::start_in(dir.path(), &[]);
        let (_, token) = h.create_user("owner");
        for i in 0..40 {
            // Rules of a few KiB each: the database spans many pages.
            let rules: String = (0..200).map(|n| format!("||host-{i}-{n}.example^\n")).collect();
            h.create_list(&token, &format!("list-{i}"), &rules);
        }
        h.kill();
        token
    };
    drop(common::data_store(dir.path()));
    drop(jobqueue::SqliteQueue::open(dir.path().join("queue.sqlite3")).unwrap());
    for db in ["data.sqlite3", "queue.sqlite3"] {
        let wal = dir.path().join(format!("{db}-wal"));
        assert!(!wal.exists(), "the last connection closed moves the log into {db}");
    }
    (dir, token)
}

/// Asserts that `up` on `dir` with `args` exits non-zero without serving, and returns what it
/// printed.
fn refused(dir: &Path, args: &[&str]) -> String {
    let (status, output) = common::failed_start(dir, args);
    assert!(!status.success(), "{status}: {output}");
    assert!(output.contains("refusing to start"), "the message says the host does not start: {output}");
    assert!(!output.contains("panicked"), "{output}");
    output
}

/// The user's lists answer 200 again, with `token`.
fn serves(h: &Host, token: &str, lists: usize) {
    let r = h.get("/v1/lists", token).send().unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["lists"].as_array().unwrap().len(), lists, "{v}");
}

#[test]
fn a_fresh_directory_is_initialised_and_recognised_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("not-yet-there");
    let token = {
        let h = Host::start_in(&data, &[]);
        let (_, token) = h.create_user("first");
        h.kill();
        token
    };
    let id = service_id(&data);
    let h = Host::start_in(&data, &[]);
    serves(&h, &token, 0);
    h.kill();
    assert_eq!(service_id(&data), id, "the same service");
    // A lost service.json is written again from the record in data.sqlite3.
    std::fs::remove_file(data.join("service.json")).unwrap();
    let h = Host::start_in(&data, &[]);
    serves(&h, &token, 0);
    h.kill();
    assert_eq!(service_id(&data), id);
    // A directory made before the record existed (no service.json, no record): adopted, its
    // data served, a service id recorded.
    std::fs::remove_file(data.join("service.json")).unwrap();
    {
        let store = common::data_store(&data);
        assert!(store.get("blocklist-edge:service", "service").unwrap().is_some(), "the record is where it is said");
        store.delete("blocklist-edge:service", "service").unwrap();
    }
    let h = Host::start_in(&data, &[]);
    serves(&h, &token, 0);
    assert_ne!(service_id(&data), id, "recorded anew");
}

#[test]
fn a_deleted_store_is_refused_and_reinitialize_starts_a_new_service() {
    let (dir, token) = stopped_service();
    let id = service_id(dir.path());
    std::fs::remove_file(dir.path().join("data.sqlite3")).unwrap();
    let out = refused(dir.path(), &[]);
    assert!(out.contains("data.sqlite3 is missing"), "{out}");
    assert!(out.contains(&id), "the message names the service recorded: {out}");
    assert!(out.contains("blocklist-edge restore") && out.contains("--reinitialize"), "the ways on: {out}");
    // Refused again: the refusal changed nothing.
    refused(dir.path(), &[]);

    let h = Host::start_in(dir.path(), &["--reinitialize"]);
    let r = h.get("/v1/lists", &token).send().unwrap();
    assert_eq!(r.status(), 401, "a new, empty service: the old token is unknown");
    h.create_user("new");
    h.kill();
    assert_ne!(service_id(dir.path()), id, "a new service id");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("set-aside-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let old: Value = serde_json::from_slice(&std::fs::read(aside[0].join("service.json")).unwrap()).unwrap();
    assert_eq!(old["id"], id.as_str(), "the old files were moved aside, not deleted");
}

#[test]
fn an_empty_store_is_refused() {
    let (dir, token) = stopped_service();
    std::fs::File::create(dir.path().join("data.sqlite3")).unwrap(); // truncated to 0 bytes
    let out = refused(dir.path(), &[]);
    assert!(out.contains("data.sqlite3 is empty (0 bytes)"), "{out}");
    assert!(out.contains("--reinitialize"), "{out}");
    let h = Host::start_in(dir.path(), &["--reinitialize"]);
    assert_eq!(h.get("/v1/lists", &token).send().unwrap().status(), 401);
}

#[test]
fn a_damaged_store_is_refused() {
    let (dir, token) = stopped_service();
    let path = dir.path().join("data.sqlite3");
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages >= 20, "{pages} pages");
    // Garbage over the start of a few pages in the middle of the file.
    for page in pages / 2..pages / 2 + 4 {
        bytes[page * 4096..page * 4096 + 100].fill(0xA5);
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = refused(dir.path(), &[]);
    assert!(out.contains("data.sqlite3 is damaged"), "{out}");
    assert!(out.contains("integrity check"), "{out}");
    let h = Host::start_in(dir.path(), &["--reinitialize"]);
    assert_eq!(h.get("/v1/lists", &token).send().unwrap().status(), 401);
}

#[test]
fn a_write_ahead_log_deleted_after_a_crash_is_refused_unless_the_loss_is_accepted() {
    let (dir, token) = stopped_service();
    // A host started and killed: its log is left, with nothing in it a checkpoint could have
    // been copying at the kill (no request, no sweep), so the file itself is intact.
    Host::start_in(dir.path(), &["--sweep-interval-ms", "3600000"]).kill();
    let wal = dir.path().join("data.sqlite3-wal");
    assert!(wal.exists() && dir.path().join("data.sqlite3-shm").exists(), "a killed host leaves its log");
    std::fs::remove_file(&wal).unwrap();
    let out = refused(dir.path(), &[]);
    assert!(out.contains("lost its write-ahead log"), "{out}");
    assert!(out.contains("data.sqlite3-wal"), "{out}");
    assert!(out.contains("--accept-data-loss"), "{out}");
    let h = Host::start_in(dir.path(), &["--accept-data-loss"]);
    // What was in data.sqlite3 itself is served: the user and the 40 lists closed into it.
    let v: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    assert!(v["lists"].as_array().unwrap().len() >= 40, "{v}");
}

#[test]
fn a_damaged_queue_is_refused_and_reinitialize_replaces_only_the_queue() {
    let (dir, token) = stopped_service();
    let queue = dir.path().join("queue.sqlite3");
    let len = std::fs::metadata(&queue).unwrap().len() as usize;
    assert!(len >= 4096, "{len}");
    std::fs::write(&queue, vec![0x5A; len]).unwrap();
    let out = refused(dir.path(), &[]);
    assert!(out.contains("queue.sqlite3 is damaged"), "{out}");
    assert!(out.contains("sweeper"), "{out}");
    let h = Host::start_in(dir.path(), &["--reinitialize"]);
    serves(&h, &token, 40);
}

#[test]
fn a_backup_taken_while_serving_restores_into_a_new_directory() {
    let dirs = tempfile::tempdir().unwrap();
    let (a, b, c) = (dirs.path().join("a"), dirs.path().join("backup"), dirs.path().join("c"));
    let h = Arc::new(Host::start_in(&a, &["--rate-limit", "100000"]));
    let (_, token) = h.create_user("alice");
    let ids: Vec<String> =
        (0..3).map(|i| h.create_list(&token, &format!("ads-{i}"), &format!("||ads-{i}.example^\n"))).collect();
    let job = h.request_compile(&token, &ids[0]);
    h.wait_job(&token, &job, "done");
    let compiled = h.get(&format!("/v1/lists/{}/compiled", ids[0]), &token).send().unwrap();
    assert_eq!(compiled.status(), 200);
    let etag = compiled.headers()["etag"].to_str().unwrap().to_owned();
    let body = compiled.bytes().unwrap();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&body)));

    // Writes go on while the backup is taken.
    let (stop, created) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let writer = {
        let (h, token, stop, created) = (h.clone(), token.clone(), stop.clone(), created.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) || created.load(Ordering::Relaxed) < 5 {
                let n = created.load(Ordering::Relaxed);
                h.create_list(&token, &format!("live-{n}"), "||live.example^\n");
                created.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    while created.load(Ordering::Relaxed) < 2 {
        std::thread::yield_now();
    }
    let out = backup(&a, &b);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("backed up the service"), "{}", text(&out));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let created = created.load(Ordering::Relaxed);
    assert!(b.join("backup.json").exists() && b.join("data.sqlite3").exists() && b.join("queue.sqlite3").exists());

    // Never into the directory of a running host, not even with --force.
    let out = restore(&b, &a, &["--force"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("a host is serving from"), "{}", text(&out));
    // A second backup to the same place is refused.
    let out = backup(&a, &b);
    assert!(!out.status.success() && text(&out).contains("already exists"), "{}", text(&out));
    let id = service_id(&a);
    Arc::into_inner(h).expect("the writer is done").kill();

    let out = restore(&b, &c, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(service_id(&c), id, "the same service");
    // Not over a service without --force.
    let out = restore(&b, &c, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already holds the service") && text(&out).contains("--force"), "{}", text(&out));

    let h = Host::start_in(&c, &[]);
    let v: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    let lists = v["lists"].as_array().unwrap();
    // The lists made before the backup, and those made during it up to its snapshot; each whole.
    assert!(lists.len() >= 3 + 2 && lists.len() <= 3 + created, "{} lists of {}", lists.len(), 3 + created);
    for l in lists {
        let r = h.get(&format!("/v1/lists/{}", l["id"].as_str().unwrap()), &token).send().unwrap();
        assert_eq!(r.status(), 200, "every list the index names is there");
    }
    let first: Value = h.get(&format!("/v1/lists/{}", ids[1]), &token).send().unwrap().json().unwrap();
    assert_eq!(first["rules"], "||ads-1.example^\n");
    let again = h.get(&format!("/v1/lists/{}/compiled", ids[0]), &token).send().unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(again.bytes().unwrap(), body);

    // --force sets the restored directory's files aside and restores again (no host running).
    drop(h);
    let out = restore(&b, &c, &["--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("set-aside-"), "{}", text(&out));
}

#[test]
fn a_damaged_backup_is_not_restored() {
    let (dir, _) = stopped_service();
    let dirs = tempfile::tempdir().unwrap();
    let b = dirs.path().join("backup");
    let out = backup(dir.path(), &b);
    assert!(out.status.success(), "{}", text(&out));
    let data = b.join("data.sqlite3");
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&data, &bytes).unwrap();
    let target = dirs.path().join("target");
    let out = restore(&b, &target, &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("is not the file that was backed up"), "{}", text(&out));
    assert!(!target.join("data.sqlite3").exists());
    // Not a backup at all.
    let out = restore(dir.path(), &target, &[]);
    assert!(!out.status.success() && text(&out).contains("is not a blocklist-edge backup"), "{}", text(&out));
    let out = cli(&["backup", "--output"], &[&dirs.path().join("x"), Path::new("--data-dir"), &target]);
    assert!(!out.status.success() && text(&out).contains("holds no service"), "{}", text(&out));
}
