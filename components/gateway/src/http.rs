//! The wasi:http edge of the gateway, on spin-sdk's types: reads an incoming request into a
//! [`Request`] (head first; the body, with a size cap, only once the caller is admitted) and
//! writes a [`Response`] out, streaming a chunked body from key-value one chunk at a time.

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingResponse, ResponseOutparam};

/// A request as the router sees it.
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query (after `?`), undecoded; empty if none.
    pub query: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive) as text, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// A response to write.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body streamed from key-value chunks after `body`, one chunk in memory at a time.
    pub chunked: Option<ChunkedBody>,
}

/// A value stored in chunks ([`edge_store::kv::Kv::put_chunks`]), to be streamed.
pub struct ChunkedBody {
    pub kv: edge_store::kv::Kv,
    pub prefix: String,
    pub count: u32,
}

impl Response {
    /// A JSON response.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response {
        let (status, body) = match serde_json::to_vec(value) {
            Ok(body) => (status, body),
            Err(e) => (500, internal_error(&format!("encoding the response: {e}"))),
        };
        Response { status, headers: vec![("content-type".into(), "application/json".into())], body, chunked: None }
    }

    /// An empty response.
    pub fn empty(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new(), chunked: None }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Why a request could not be read.
pub enum ReadError {
    /// The body is larger than the cap (bytes).
    TooLarge(usize),
    /// The client's stream failed.
    Stream(String),
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
pub fn read_head(request: &IncomingRequest) -> Request {
    let method = method_name(request.method());
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (path_with_query, String::new()),
    };
    let mut headers = request.headers().entries();
    // wasi:http carries the request's host as its authority; keep it readable as `host`.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"))
        && let Some(authority) = request.authority()
    {
        headers.push(("host".into(), authority.into_bytes()));
    }
    Request { method, path, query, headers, body: Vec::new() }
}

/// Reads `request`'s body into `req.body`, refusing bodies over `max_body` bytes (by
/// `content-length` up front, or while reading a body of unannounced length).
pub async fn read_body(request: IncomingRequest, req: &mut Request, max_body: usize) -> Option<ReadError> {
    let declared = req.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared
        && n > max_body as u64
    {
        return Some(ReadError::TooLarge(max_body));
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(max_body as u64) as usize);
    let mut stream = std::pin::pin!(request.into_body_stream());
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) if buf.len() + chunk.len() > max_body => return Some(ReadError::TooLarge(max_body)),
            Ok(chunk) => buf.extend_from_slice(&chunk),
            Err(e) => return Some(ReadError::Stream(e.to_debug_string())),
        }
    }
    req.body = buf;
    None
}

/// Writes `response` to `out`.
pub async fn write(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let (status, fields, body, chunked) = match Fields::from_list(&headers) {
        Ok(fields) => (response.status, fields, response.body, response.chunked),
        // Our own header values; one that wasi:http refuses is a bug, answered as one.
        Err(e) => {
            let fields = Fields::from_list(&[("content-type".into(), b"application/json".to_vec())])
                .unwrap_or_else(|_| Fields::new());
            (500, fields, internal_error(&format!("bad response header: {e:?}")), None)
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
            match c.kv.get(&format!("{}/{i}", c.prefix)) {
                Ok(Some(chunk)) => {
                    if sink.send(chunk).await.is_err() {
                        return;
                    }
                }
                // Replaced while streaming: the body stops short of its content-length, so the
                // client sees an incomplete response rather than a wrong one.
                _ => return,
            }
        }
    }
    let _ = sink.close().await;
}

/// The body of a 500 for a bug of the gateway's own, in the API's error shape.
fn internal_error(message: &str) -> Vec<u8> {
    let body = crate::api::ErrorBody { error: crate::api::ErrorDetail { code: "internal", message } };
    // Two strings always serialize.
    serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":{"code":"internal"}}"#.to_vec())
}
