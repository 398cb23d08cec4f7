//! The gateway component: the HTTP API of blocklist-edge (crate `gateway-api`) behind
//! `wasi:http/incoming-handler`, exported by spin-sdk. Spin, the blocklist-edge host and the
//! wac-composed artifact run this one; `components/gateway-fastly` is the same API behind
//! Fastly Compute's entry point.

#[cfg(target_arch = "wasm32")]
mod wasi_http;

/// The component's entry point. Only for wasm: natively the export names are not valid symbol
/// names for the linker.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    wasi_http::handle(request, out).await
}
