//! The blocklist-edge data model, free of any WebAssembly bindings, shared by the components
//! (through `edge-store`, which adds key-value access) and the host:
//!
//! - [`keys`]: the stores, the key layout, ids and limits;
//! - [`records`]: the records kept in key-value;
//! - [`ledger`]: the compile-job ledger's state machine (claim with a lease, retry with
//!   backoff, dead-letter, replay, sweep);
//! - [`publish`]: versions, the publish guard, held candidates and diffs;
//! - [`retention`]: how long finished jobs are kept, and what the collector may delete;
//! - [`runner`]: the HTTP job runner's route (Spin without a Redis trigger);
//! - [`schedule`]: when lists with a refresh interval are compiled next;
//! - [`sources`]: the URL sources of a list: last copies, validators and health;
//! - [`time`]: timestamps as RFC 3339;
//! - [`variables`]: the names of the configuration variables.

#![forbid(unsafe_code)]

pub mod keys;
pub mod ledger;
pub mod publish;
pub mod records;
pub mod retention;
pub mod runner;
pub mod schedule;
pub mod sources;
pub mod time;
pub mod variables;
