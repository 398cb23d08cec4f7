//! Test-only HTTP component: `GET /loop` spins forever (to test the host's CPU deadline),
//! `GET /grow` allocates without bound (to test the memory cap), anything else answers `200 ok`
//! and does nothing more (the hello-world floor of `cargo bench --bench http`).

wit_bindgen::generate!({
    world: "http-handler",
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        match request.path_with_query().as_deref() {
            Some("/loop") => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("/grow") => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            _ => {
                let resp = OutgoingResponse::new(Fields::new());
                resp.set_status_code(200).unwrap();
                let body = resp.body().unwrap();
                ResponseOutparam::set(out, Ok(resp));
                let stream = body.write().unwrap();
                stream.blocking_write_and_flush(b"ok\n").unwrap();
                drop(stream);
                OutgoingBody::finish(body, None).unwrap();
            }
        }
    }
}

export!(Component);
