//! The compile component: the compile-job consumer.
//!
//! Each message on the job channel names a job of the ledger (`edge_store::jobs`). For a
//! `compile` message the component:
//!
//! 1. claims the job by compare-and-swap on its ledger entry, with a lease — a duplicate or late
//!    message finds it running, done or dead and does nothing;
//! 2. compiles the list through the imported `blocklist:compiler/compiler` (URL sources are fetched
//!    there, through `wasi:http`);
//! 3. stores the artifact under its content hash, in chunks, then swaps the list's
//!    `compiled/{id}` pointer to it (never to an older revision's) — readers see the old
//!    artifact or the new one, never a half-written one;
//! 4. invalidates the list's cache entry, marks the job done (or failed with its next attempt
//!    time, or dead) and POSTs a signed event to the list's webhook.
//!
//! A failed attempt returns an error, so that the blocklist-edge host retries the message with
//! backoff (under Spin, where the Redis trigger only logs it, the sweeper retries the job).
//! A `sweep` message runs the sweeper.

// The imports shared with the other components are bound once, in edge-store.
edge_store::generate_component_bindings!("compile-component");

mod consume;
mod webhook;

use exports::fermyon::spin::inbound_redis::Guest;
use fermyon::spin::redis_types::Error;

struct Component;

impl Guest for Component {
    fn handle_message(message: Vec<u8>) -> Result<(), Error> {
        match consume::handle(&message) {
            Ok(()) => Ok(()),
            Err(e) => {
                // The reason is in the job's ledger entry too; the trigger's error carries none.
                eprintln!("compile: {e}");
                Err(Error::Error)
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
export!(Component);
