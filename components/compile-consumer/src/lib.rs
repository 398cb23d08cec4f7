//! The compile component: the compile-job consumer.
//!
//! Each message on the job channel names a job of the ledger (`edge_store::job_ledger`). For a
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
//!
//! Where no Redis trigger runs (`job_runner = http`, `spin-http.toml`), the component is also an
//! HTTP component: its runner route (`runner`) runs the due jobs through the same code.

// Natively the entry point is compiled out, and with it the use of the code.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

// The imports shared with the other components are bound once, in edge-store.
edge_store::generate_component_bindings!("compile-consumer");

mod consume;
mod inputs;
mod runner;
mod webhook;

/// The component's entry point: `fermyon:spin/inbound-redis`, exported by spin-sdk
/// (`#[redis_component]`): an error makes the trigger's result `error`, which the
/// blocklist-edge host retries with backoff. Only for wasm: natively the export names are not
/// valid symbol names for the linker.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::redis_component]
fn on_message(message: bytes::Bytes) -> anyhow::Result<()> {
    // The reason is in the job's ledger entry too; the trigger's error carries none (spin-sdk
    // prints it).
    consume::handle(&message).map_err(|e| anyhow::anyhow!("compile: {e}"))
}

/// The second entry point: `wasi:http/incoming-handler`, exported by spin-sdk
/// (`#[http_component]`), for the runner route (`runner`), where jobs run through HTTP.
/// Hosts that deliver messages (Spin's Redis trigger, the blocklist-edge host) never call it.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn on_request(request: spin_sdk::http::Request) -> spin_sdk::http::Response {
    let authorization = request.header("authorization").and_then(|v| v.as_str());
    let method = match request.method() {
        spin_sdk::http::Method::Post => "POST",
        _ => "other",
    };
    let (status, body) = runner::serve(method, request.path(), request.query(), authorization);
    spin_sdk::http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
