//! The wasi:http shell, on spin-sdk's types: reads an incoming request into a
//! [`gateway_api::Request`] (head first; the body, with a size cap, only once the caller is
//! admitted), writes the [`gateway_api::Response`] out, streaming a chunked body from key-value
//! one chunk at a time, and calls the job runner with a Spin self request.

use futures::{SinkExt, StreamExt};
use gateway_api::{Admission, BodyCollector, Platform, ReadError, Request, Response, Settings};
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};

/// Spin and the blocklist-edge host: everything works, and the job runner route is reached with
/// a Spin self request (a relative URL; `allowed_outbound_hosts = ["http://self"]`).
const PLATFORM: Platform = Platform {
    name: "wasi:http",
    writable: true,
    compiler: true,
    call_runner: Some(|uri, secret| Box::pin(call_runner(uri, secret))),
};

pub async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => return write(out, e.into_response()).await,
    };
    let mut req = read_head(&request);
    let response = match gateway_api::admit(&settings, &req) {
        Admission::Answered(response) => response,
        Admission::Admitted(admitted) => {
            let read = read_body(request, &mut req, settings.max_body_bytes).await;
            gateway_api::answer(&PLATFORM, &settings, &req, admitted, read).await
        }
    };
    write(out, response).await;
    // Where jobs run through HTTP (`job_runner = http`): the runner, if this request queued work
    // or won the request-path sweep; after the response, so that the caller does not wait.
    gateway_api::after_response(&PLATFORM, &settings).await;
}

/// POSTs to the application's own runner route.
async fn call_runner(uri: String, secret: String) -> Result<(u16, Vec<u8>), String> {
    let request = spin_sdk::http::Request::builder()
        .method(Method::Post)
        .uri(uri)
        .header("authorization", format!("Bearer {secret}"))
        .build();
    let response: spin_sdk::http::Response = spin_sdk::http::send(request).await.map_err(|e| e.to_string())?;
    Ok((*response.status(), response.into_body()))
}

fn method_name(m: Method) -> String {
    match m {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(s) => s,
    }
}

/// Reads `request`'s method, path and headers; the body is read later, by [`read_body`], once
/// the caller is known to be allowed to send one.
fn read_head(request: &IncomingRequest) -> Request {
    let method = method_name(request.method());
    let target = request.path_with_query().unwrap_or_else(|| "/".into());
    let mut headers = request.headers().entries();
    // wasi:http carries the request's host as its authority; keep it readable as `host`.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"))
        && let Some(authority) = request.authority()
    {
        headers.push(("host".into(), authority.into_bytes()));
    }
    Request::new(method, &target, headers)
}

/// Reads `request`'s body into `req.body`, refusing bodies over `max_body` bytes.
async fn read_body(request: IncomingRequest, req: &mut Request, max_body: usize) -> Option<ReadError> {
    let mut body = match BodyCollector::start(req, max_body) {
        Ok(body) => body,
        Err(e) => return Some(e),
    };
    let mut stream = std::pin::pin!(request.into_body_stream());
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if let Err(e) = body.push(&chunk) {
                    return Some(e);
                }
            }
            Err(e) => return Some(ReadError::Stream(e.to_debug_string())),
        }
    }
    req.body = body.finish();
    None
}

/// Writes `response` to `out`.
async fn write(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let (status, fields, body, chunked) = match Fields::from_list(&headers) {
        Ok(fields) => (response.status, fields, response.body, response.chunked),
        // Our own header values; one that wasi:http refuses is a bug, answered as one.
        Err(e) => {
            let fields = Fields::from_list(&[("content-type".into(), b"application/json".to_vec())])
                .unwrap_or_else(|_| Fields::new());
            (500, fields, gateway_api::internal_error(&format!("bad response header: {e:?}")), None)
        }
    };
    let resp = OutgoingResponse::new(fields);
    let _ = resp.set_status_code(status);
    let mut sink = std::pin::pin!(resp.take_body());
    out.set(resp);
    if !body.is_empty() && sink.send(body).await.is_err() {
        return;
    }
    if let Some(c) = chunked {
        for i in 0..c.count {
            // A chunk gone (replaced while streaming) ends the body short of its length.
            let Some(chunk) = c.chunk(i) else { return };
            if sink.send(chunk).await.is_err() {
                return;
            }
        }
    }
    let _ = sink.close().await;
}
