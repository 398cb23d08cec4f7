//! The gateway's request handling: the HTTP API of blocklist-edge, independent of the HTTP
//! interface it is reached through.
//!
//! Every request is authenticated (admin token or a user's bearer token), counted against the
//! caller's rate limit through the imported `blocklist:ratelimit/ratelimit` interface, and routed.
//! All state is in `wasi:keyvalue` stores (`lists`, `cache`); configuration comes from
//! `wasi:config/store` (Spin variables, the blocklist-edge host's flags, or a Fastly config
//! store through the storage adapter).
//!
//! A shell turns its platform's request into a [`Request`], calls [`admit`] on the head, reads
//! the body only for an admitted caller, calls [`answer`], and writes the [`Response`] out:
//!
//! - `components/gateway`: `wasi:http/incoming-handler` (Spin, the blocklist-edge host, wac);
//! - `components/gateway-fastly`: `fastly:compute/http-incoming` (Fastly Compute, Viceroy).
//!
//! What differs between platforms beyond that is declared by the shell in a [`Platform`].

// Natively (unit tests, fuzz targets) nothing calls the entry points.
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

pub use api::{Admission, Admitted, Platform, RunnerCall, Settings, admit, after_response, answer};
pub use http::{BodyCollector, ChunkedBody, ReadError, Request, Response, internal_error};
