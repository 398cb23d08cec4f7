//! The storage adapter for Fastly Compute: exports `wasi:keyvalue/{store,atomics,batch}` on
//! Fastly's KV stores and `wasi:config/store` on a Fastly config store, so that components
//! written against the standard interfaces (the gateway, the limiter) run on Fastly once
//! composed with it (`composition/gateway-fastly.wac`).
//!
//! - A bucket is the KV store of the same name (`lists`, `cache`, `default`).
//! - Compare-and-swap is the KV store's generation match: [`atomics::Cas`] remembers the
//!   generation it read, and the swap inserts only if the entry still has it (or, for an entry
//!   that was absent, only if it is still absent: insert mode `add`).
//! - An increment is a compare-and-swap loop on a counter kept as decimal text.
//! - Batches run as concurrent requests (Fastly's `*-async` calls), awaited together.
//! - Values are limited by Fastly (25 MB); the components already store large values in chunks
//!   of 512 KiB (edge-store's `put_chunks`). A key Fastly would refuse is refused here, naming
//!   the rule.
//! - Configuration is read from the config store named [`CONFIG_STORE`]. A config store cannot
//!   be listed, so `get-all` answers an error; readers then read each key with `get`.
//!
//! Fastly's KV stores are eventually consistent across POPs: a compare-and-swap is exact within
//! one POP's view, not across the world (README, "On Fastly Compute").

wit_bindgen::generate!({
    world: "fastly-storage",
    path: "../../wit",
    generate_all,
});

mod config;
mod keys;
mod kv;

struct Component;

export!(Component);
