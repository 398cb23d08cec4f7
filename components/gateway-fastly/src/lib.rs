//! The gateway for Fastly Compute: the HTTP API of blocklist-edge (crate `gateway-api`, the
//! same code the `wasi:http` gateway runs) behind `fastly:compute/http-incoming`, Fastly's entry
//! point. Only this shell differs: it reads Fastly's request into a [`gateway_api::Request`]
//! and writes the [`gateway_api::Response`] out with Fastly's `http-resp` and `http-body`.
//!
//! The API's imports (key-value, configuration, the limiter, the compiler, the job channel,
//! the edge cache's purge) are satisfied by components composed around this one
//! (`composition/gateway-fastly.wac`): the storage adapter (`fastly-storage`), the ratelimit
//! component, `edge-cache-none` and `fastly-unavailable`.
//!
//! The gateway is read-only here ([`PLATFORM`]): Fastly offers no Redis and no `wasi:http`, so
//! no compile runs at this edge. Lists are changed and compiled on a blocklist-edge host or on
//! Spin, and their store is copied into Fastly's KV stores (README, "On Fastly Compute").

wit_bindgen::generate!({
    world: "gateway-fastly",
    path: "../../wit",
    generate_all,
});

mod read;
mod write;

use exports::fastly::compute::http_incoming::Guest;
use fastly::compute::http_body::Body;
use fastly::compute::http_req::Request as FastlyRequest;
use gateway_api::{Admission, Platform, Response, Settings};

/// Fastly Compute: read-only, no compiler, no outbound calls to a job runner.
pub const PLATFORM: Platform = Platform { name: "Fastly Compute", writable: false, compiler: false, call_runner: None };

struct Component;

impl Guest for Component {
    fn handle(request: FastlyRequest, body: Body) -> Result<(), ()> {
        let response = answer(&request, body);
        write::send(response);
        Ok(())
    }
}

/// The API's answer to `request`.
fn answer(request: &FastlyRequest, body: Body) -> Response {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => return e.into_response(),
    };
    let mut req = match read::head(request) {
        Ok(req) => req,
        Err(e) => return e,
    };
    match gateway_api::admit(&settings, &req) {
        Admission::Answered(response) => response,
        Admission::Admitted(admitted) => {
            let read = read::body(body, &mut req, settings.max_body_bytes);
            run_to_end(gateway_api::answer(&PLATFORM, &settings, &req, admitted, read))
        }
    }
}

/// Runs `future` to its end. With no job-runner call on this platform (the one await in the
/// API), nothing in it waits: it is ready at the first poll.
fn run_to_end(future: impl std::future::Future<Output = Response>) -> Response {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(response) => response,
        std::task::Poll::Pending => {
            Response::error(500, "internal", "the API waited on something Fastly Compute cannot provide")
        }
    }
}

export!(Component);
