// Kept over wasmtime's `cache` feature, which decompresses and copies entries this maps: warm `up` was ~1.7x slower.
//! An on-disk cache of compiled components, so that start-up does not run Cranelift again for
//! the same component, engine and wasmtime version.
//!
//! The cache directory is `BLOCKLIST_EDGE_CACHE_DIR`, else `$XDG_CACHE_HOME/blocklist-edge/wasm`,
//! else `$HOME/.cache/blocklist-edge/wasm`; `BLOCKLIST_EDGE_CACHE_DIR=off` disables it. Entries are
//! named by the SHA-256 of the component and the engine's compatibility hash. Loading an entry
//! runs its machine code: the directory must be writable by the user running the host only.
//!
//! The cache keeps the current versions only: loading an entry marks it used (its modification
//! time), and storing a new one (a new component, engine or host version) deletes the entries
//! no process has used for [`UNUSED_FOR`].

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmtime::Engine;
use wasmtime::component::Component;

fn cache_dir() -> Option<PathBuf> {
    match std::env::var_os("BLOCKLIST_EDGE_CACHE_DIR") {
        Some(d) if d == "off" => None,
        Some(d) => Some(PathBuf::from(d)),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("blocklist-edge").join("wasm")),
    }
}

/// Compiles `bytes` for `engine`, or loads the machine code compiled for them before.
pub fn component(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    let Some(dir) = cache_dir() else {
        return Ok(Component::new(engine, bytes)?);
    };
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let mut key = Sha256::new();
    key.update(bytes);
    key.update(engine_hash.finish().to_le_bytes());
    key.update(env!("CARGO_PKG_VERSION").as_bytes());
    let path = dir.join(format!("{}.cwasm", hex::encode(key.finalize())));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` below, for this engine
        // configuration (the key covers it); the cache directory belongs to this user.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => {
                mark_used(&path);
                return Ok(c);
            }
            Err(e) => tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable cache entry"),
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Ok(serialized) = component.serialize() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let stored = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&tmp, serialized))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = stored {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!(error = %e, "could not cache the compiled component");
        }
        prune(&dir, SystemTime::now());
    }
    Ok(component)
}

/// Entries not used for this long are deleted when a new entry is stored.
pub const UNUSED_FOR: Duration = Duration::from_secs(3600);

/// Marks an entry used (its modification time), at most once a minute.
fn mark_used(path: &Path) {
    let now = SystemTime::now();
    let stale = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > Duration::from_secs(60));
    if stale && let Ok(file) = std::fs::File::options().append(true).open(path) {
        let _ = file.set_modified(now);
    }
}

/// Deletes the entries (and leftover temporary files) of `dir` unused since [`UNUSED_FOR`]
/// before `now`; returns how many.
fn prune(dir: &Path, now: SystemTime) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "cwasm" || e.starts_with("tmp"));
        let unused = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= UNUSED_FOR);
        if ours && unused && std::fs::remove_file(&path).is_ok() {
            deleted += 1;
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, dir = %dir.display(), "deleted compiled components no version in use needs");
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_entries_are_pruned_and_used_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = SystemTime::now() - UNUSED_FOR - Duration::from_secs(5);
        for name in ["old.cwasm", "old.tmp123", "used.cwasm", "new.cwasm", "other.txt"] {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            if name != "new.cwasm" {
                f.set_modified(old).unwrap();
            }
        }
        mark_used(&dir.path().join("used.cwasm"));
        assert_eq!(prune(dir.path(), SystemTime::now()), 2);
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["new.cwasm", "other.txt", "used.cwasm"]);
    }
}
