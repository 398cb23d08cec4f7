//! What the blocklist-edge components share.
//!
//! - [`model`]: the records kept in key-value and their key layout (crate `blocklist-model`,
//!   free of bindings), with fresh ids and the time from the platform;
//! - [`kv`]: typed access to `wasi:keyvalue` buckets (JSON records, compare-and-swap updates,
//!   values in chunks);
//! - [`ledger`]: the compile-job ledger's state machine (crate `blocklist-model`: claim with a
//!   lease, retry with backoff, dead-letter, replay, sweep);
//! - [`job_ledger`]: the ledger in key-value, its indexes, and publishing job messages to the job
//!   channel (`fermyon:spin/redis` `publish`: Spin's outbound Redis, or the blocklist-edge host's
//!   queue, which implements the same interface);
//! - [`publish`]: versions of a compiled list, the publish guard's held candidate, rollback;
//! - [`renditions`]: a compiled list in a subscription format, made once per artifact and
//!   format and stored as is and gzip-compressed;
//! - [`retention`]: finished jobs kept per list, and the collector that deletes what nothing
//!   refers to any more;
//! - [`schedule`]: scheduled refreshes of lists (the `refresh-schedule/{h}` shards, and
//!   requesting the compiles that are due);
//! - [`config`]: settings from `wasi:config/store` (Spin variables, the host's flags);
//! - [`caches`]: what a node caches of the shared data (the node-local store, the host's edge
//!   cache) and forgetting it when the data changes.
//!
//! The WASI bindings are generated here once (world `edge-store` in `wit/`); the components map
//! their own worlds' matching imports onto them with wit-bindgen's `with`.

wit_bindgen::generate!({
    world: "edge-store",
    path: "../../wit",
    generate_all,
});

/// Generates a component's bindings for `world` (in `wit/`; the component's crate is at
/// `components/{name}`), binding the imports it shares with edge-store to edge-store's
/// bindings, so that both sides use one set of types.
#[macro_export]
macro_rules! generate_component_bindings {
    ($world:tt) => {
        wit_bindgen::generate!({
            world: $world,
            path: "../../wit",
            with: {
                "wasi:keyvalue/store@0.2.0-draft2": edge_store::wasi::keyvalue::store,
                "wasi:keyvalue/atomics@0.2.0-draft2": edge_store::wasi::keyvalue::atomics,
                "wasi:keyvalue/batch@0.2.0-draft2": edge_store::wasi::keyvalue::batch,
                "wasi:config/store@0.2.0-draft-2024-09-27": edge_store::wasi::config::store,
                "wasi:clocks/wall-clock@0.2.6": edge_store::wasi::clocks::wall_clock,
                "wasi:random/random@0.2.6": edge_store::wasi::random::random,
                "fermyon:spin/redis@2.0.0": edge_store::fermyon::spin2_0_0::redis,
                "blocklist:edge-cache/purge@0.1.0": edge_store::blocklist::edge_cache::purge,
            },
            generate_all,
        });
    };
}

pub mod caches;
pub mod config;
pub mod job_ledger;
pub mod kv;
pub mod lookup_index;
pub mod model;
/// The compile-job ledger's state machine (crate `blocklist-model`).
pub use blocklist_model::ledger;
pub mod publish;
pub mod renditions;
pub mod retention;
pub mod schedule;

/// A failure of the platform (key-value, configuration, the job channel), as components report
/// it: the HTTP gateway answers it as a 500 or 503 JSON error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    /// True for an outage worth retrying (503); false for a misconfiguration or corrupt data (500).
    pub transient: bool,
    pub message: String,
}

impl StoreError {
    /// A failure worth retrying.
    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError { transient: true, message: message.into() }
    }
    /// A misconfiguration or corrupt data.
    pub fn internal(message: impl Into<String>) -> StoreError {
        StoreError { transient: false, message: message.into() }
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}
