//! The wasi:http edge of the gateway: reads an incoming request into a [`Request`] (with a body
//! size cap) and writes a [`Response`] out.

use crate::wasi::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use crate::wasi::io::streams::StreamError;

/// A request as the router sees it.
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
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
}

impl Response {
    /// A JSON response.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// An empty response.
    pub fn empty(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
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

/// Reads `request`, refusing bodies over `max_body` bytes (by `content-length` up front, or
/// while reading a body of unannounced length).
pub fn read(request: IncomingRequest, max_body: usize) -> Result<Request, (Request, ReadError)> {
    let method = method_name(request.method());
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let path = path_with_query.split('?').next().unwrap_or("/").to_owned();
    let headers = request.headers().entries();
    let mut req = Request { method, path, headers, body: Vec::new() };

    let declared = req.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(n) = declared {
        if n > max_body as u64 {
            return Err((req, ReadError::TooLarge(max_body)));
        }
    }
    let Ok(body) = request.consume() else {
        return Ok(req);
    };
    let Ok(stream) = body.stream() else {
        return Ok(req);
    };
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if buf.len() + chunk.len() > max_body {
                    drop(stream);
                    return Err((req, ReadError::TooLarge(max_body)));
                }
                buf.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                drop(stream);
                return Err((req, ReadError::Stream(e.to_debug_string())));
            }
        }
    }
    drop(stream);
    req.body = buf;
    Ok(req)
}

/// Writes `response` to `out`.
pub fn write(out: ResponseOutparam, response: Response) {
    let headers: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let fields = match Fields::from_list(&headers) {
        Ok(f) => f,
        Err(e) => {
            ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some(format!("bad response header: {e:?}")))));
            return;
        }
    };
    let resp = OutgoingResponse::new(fields);
    let _ = resp.set_status_code(response.status);
    let Ok(body) = resp.body() else {
        ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some("response body taken twice".into()))));
        return;
    };
    ResponseOutparam::set(out, Ok(resp));
    if let Ok(stream) = body.write() {
        let mut rest: &[u8] = &response.body;
        while !rest.is_empty() {
            let n = match stream.check_write() {
                Ok(0) => {
                    stream.subscribe().block();
                    continue;
                }
                Ok(n) => (n as usize).min(rest.len()),
                Err(_) => return, // The client went away; nothing more to do.
            };
            if stream.write(&rest[..n]).is_err() {
                return;
            }
            rest = &rest[n..];
        }
        if stream.blocking_flush().is_err() {
            return;
        }
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}
