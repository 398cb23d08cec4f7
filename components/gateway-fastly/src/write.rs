//! Writing the API's [`Response`] with Fastly's `http-resp` and `http-body`.

use crate::fastly::compute::http_body::{self, Body};
use crate::fastly::compute::http_resp::{self, Response as FastlyResponse};
use crate::fastly::compute::http_types::FramingHeadersMode;
use crate::fastly::compute::types::Error;
use gateway_api::Response;

/// Sends `response` downstream: a body in memory at once, a chunked one streamed chunk by
/// chunk from key-value.
pub fn send(response: Response) {
    let (head, response) = match head(&response) {
        Ok(head) => (head, response),
        // Our own header values; one that Fastly refuses is a bug, answered as one.
        Err(e) => {
            let response = Response::error(500, "internal", format!("bad response header: {e:?}"));
            match head(&response) {
                Ok(head) => (head, response),
                Err(_) => return,
            }
        }
    };
    let Ok(body) = http_body::new() else { return };
    let Some(chunked) = response.chunked else {
        if write_all(&body, &response.body).is_ok() {
            let _ = http_resp::send_downstream(head, body);
        }
        return;
    };
    if http_resp::send_downstream_streaming(head, &body).is_err() || write_all(&body, &response.body).is_err() {
        return;
    }
    for i in 0..chunked.count {
        // A chunk gone (replaced while streaming): the body stops short of its length, and
        // dropping it unclosed tells the client the response is incomplete.
        let Some(chunk) = chunked.chunk(i) else { return };
        if write_all(&body, &chunk).is_err() {
            return;
        }
    }
    let _ = http_body::close(body);
}

/// The status and headers. Our `content-length` (set on every body we know the length of, and
/// on `HEAD` answers) is kept as it is, not recomputed by Fastly.
fn head(response: &Response) -> Result<FastlyResponse, Error> {
    let head = FastlyResponse::new()?;
    head.set_status(response.status)?;
    for (name, value) in &response.headers {
        head.append_header(name, value.as_bytes())?;
    }
    if response.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
        head.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders)?;
    }
    Ok(head)
}

fn write_all(body: &Body, mut bytes: &[u8]) -> Result<(), Error> {
    while !bytes.is_empty() {
        let n = http_body::write(body, bytes)? as usize;
        if n == 0 {
            return Err(Error::GenericError);
        }
        bytes = &bytes[n.min(bytes.len())..];
    }
    Ok(())
}
