//! The gateway component: the HTTP front of blocklist-edge.
//!
//! Every request is authenticated (admin token or a user's bearer token), counted against the
//! caller's rate limit through the imported `blocklist:ratelimit/ratelimit` interface, and routed.
//! All state is in `wasi:keyvalue` stores (`lists`, `cache`); configuration comes from
//! `wasi:config/store` (Spin variables, or the blocklist-edge host's flags).

// Natively (unit tests, fuzz targets) the entry point is compiled out, and with it the use of
// much of the code.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

// The imports shared with the other components are bound once, in edge-store.
edge_store::generate_component_bindings!("gateway");

mod api;
/// Conditional requests, HTTP dates, gzip negotiation, Basic credentials.
pub(crate) use http_semantics as conditional;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod subscriptions;

/// The component's entry point: `wasi:http/incoming-handler`, exported by spin-sdk.
/// Only for wasm: natively (where the unit tests and fuzz targets run) the export names are not
/// valid symbol names for the linker.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    let settings = match api::Settings::load() {
        Ok(settings) => settings,
        Err(e) => return http::write(out, e.into_response()).await,
    };
    let mut req = http::read_head(&request);
    let response = match api::admit(&settings, &req) {
        api::Admission::Answered(response) => response,
        api::Admission::Admitted(admitted) => {
            let read = http::read_body(request, &mut req, settings.max_body_bytes).await;
            api::answer(&settings, &req, admitted, read).await
        }
    };
    http::write(out, response).await;
    // Where jobs run through HTTP (`job_runner = http`): the runner, if this request queued work
    // or won the request-path sweep; after the response, so that the caller does not wait.
    api::after_response(&settings).await;
}
