//! The gateway component: the HTTP front of blocklist-edge.
//!
//! Every request is authenticated (admin token or a user's bearer token), counted against the
//! caller's rate limit through the imported `blocklist:edge/ratelimit` interface, and routed.
//! All state is in `wasi:keyvalue` stores (`lists`, `cache`); configuration comes from
//! `wasi:config/store` (Spin variables, or the blocklist-edge host's flags).

wit_bindgen::generate!({
    world: "gateway",
    path: "../../wit",
    // The imports shared with the other components are bound once, in edge-store.
    with: {
        "wasi:keyvalue/store@0.2.0-draft2": edge_store::wasi::keyvalue::store,
        "wasi:keyvalue/atomics@0.2.0-draft2": edge_store::wasi::keyvalue::atomics,
        "wasi:keyvalue/batch@0.2.0-draft2": edge_store::wasi::keyvalue::batch,
        "wasi:config/store@0.2.0-draft-2024-09-27": edge_store::wasi::config::store,
        "wasi:clocks/wall-clock@0.2.6": edge_store::wasi::clocks::wall_clock,
        "wasi:random/random@0.2.6": edge_store::wasi::random::random,
        "fermyon:spin/redis@2.0.0": edge_store::fermyon::spin2_0_0::redis,
    },
    generate_all,
});

mod api;
mod http;

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let response = match api::Settings::load() {
            Ok(settings) => {
                let read = http::read(request, settings.max_body_bytes);
                api::handle(&settings, read)
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
