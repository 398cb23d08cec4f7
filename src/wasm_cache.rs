// Kept over wasmtime's `cache` feature, which decompresses and copies entries this maps: warm `up` was ~1.7x slower.
//! An on-disk cache of compiled components, so that start-up does not run Cranelift again for
//! the same component, engine and wasmtime version.
//!
//! The cache directory is `BLOCKLIST_EDGE_CACHE_DIR`, else `$XDG_CACHE_HOME/blocklist-edge/wasm`,
//! else `$HOME/.cache/blocklist-edge/wasm`; `BLOCKLIST_EDGE_CACHE_DIR=off` disables it. Entries are
//! named by the SHA-256 of the component and the engine's compatibility hash. Loading an entry
//! runs its machine code: the directory must be writable by the user running the host only.

use anyhow::Result;
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
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
            Ok(c) => return Ok(c),
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
    }
    Ok(component)
}
