//! The gateway component: the HTTP front of blocklist-edge.
//!
//! Every request is authenticated (admin token or a user's bearer token), counted against the
//! caller's rate limit through the imported `blocklist:ratelimit/ratelimit` interface, and routed.
//! All state is in `wasi:keyvalue` stores (`lists`, `cache`); configuration comes from
//! `wasi:config/store` (Spin variables, or the blocklist-edge host's flags).

// The imports shared with the other components are bound once, in edge-store.
edge_store::generate_component_bindings!("gateway");

mod api;
/// Conditional requests, HTTP dates, gzip negotiation, Basic credentials.
pub(crate) use http_semantics as conditional;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod subscriptions;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = match api::Settings::load() {
            Ok(settings) => {
                let head = http::read_head(&request);
                let max = settings.max_body_bytes;
                api::handle(&settings, head, move |req| http::read_body(request, req, max))
            }
            Err(e) => e.into_response(),
        };
        http::write(out, response);
    }
}

// Exported only for wasm: natively (where the unit tests run) the WIT export names are not
// valid symbol names for the linker.
#[cfg(target_arch = "wasm32")]
export!(Component);
