//! Bench-only HTTP component: answers every request `200 hello`, and nothing else. It is the
//! floor the benchmark (`cargo bench --bench http`) measures `wasmtime serve` with.

wit_bindgen::generate!({
    world: "http-handler",
    path: "../../../wit",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Component;

impl Guest for Component {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let headers = Fields::from_list(&[("content-type".into(), b"text/plain".to_vec())]).unwrap();
        let resp = OutgoingResponse::new(headers);
        let body = resp.body().unwrap();
        ResponseOutparam::set(out, Ok(resp));
        let stream = body.write().unwrap();
        stream.blocking_write_and_flush(b"hello\n").unwrap();
        drop(stream);
        OutgoingBody::finish(body, None).unwrap();
    }
}

#[cfg(target_arch = "wasm32")]
export!(Component);
