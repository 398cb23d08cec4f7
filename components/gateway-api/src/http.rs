//! A request and a response as the API sees them, whatever HTTP interface carries them: the
//! shells read their platform's request into a [`Request`] (head first; the body, with a size
//! cap, only once the caller is admitted) and write a [`Response`] out, streaming a chunked body
//! from key-value one chunk at a time.

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
    /// A request without its body yet: `target` is the path with its query, if any.
    pub fn new(method: String, target: &str, headers: Vec<(String, Vec<u8>)>) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request { method, path: path.to_owned(), query: query.to_owned(), headers, body: Vec::new() }
    }

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

    /// An error in the API's shape (`{"error": {"code", "message"}}`), for the shells' own
    /// refusals (a request their platform could not read, say).
    pub fn error(status: u16, code: &'static str, message: impl Into<String>) -> Response {
        crate::api::ApiError::new(status, code, message).into_response()
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

/// Collects a request body up to a cap, for the shells: refuses by `content-length` up front,
/// or once a body of unannounced length grows past the cap.
pub struct BodyCollector {
    buf: Vec<u8>,
    max: usize,
}

impl BodyCollector {
    /// Starts collecting `req`'s body of at most `max` bytes, or refuses it by its
    /// `content-length`.
    pub fn start(req: &Request, max: usize) -> Result<BodyCollector, ReadError> {
        let declared = req.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(n) = declared
            && n > max as u64
        {
            return Err(ReadError::TooLarge(max));
        }
        Ok(BodyCollector { buf: Vec::with_capacity(declared.unwrap_or(0).min(max as u64) as usize), max })
    }

    /// Adds the next part of the body.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), ReadError> {
        if self.buf.len() + chunk.len() > self.max {
            return Err(ReadError::TooLarge(self.max));
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The body collected.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

impl ChunkedBody {
    /// Chunk `i` (of `0..count`); `None` if it is gone: the value was replaced while streaming,
    /// and the body must stop short of its `content-length`, so that the client sees an
    /// incomplete response rather than a wrong one.
    pub fn chunk(&self, i: u32) -> Option<Vec<u8>> {
        self.kv.get(&format!("{}/{i}", self.prefix)).ok().flatten()
    }
}

/// The body of a 500 for a bug of the gateway's own, in the API's error shape.
pub fn internal_error(message: &str) -> Vec<u8> {
    let body = crate::api::ErrorBody { error: crate::api::ErrorDetail { code: "internal", message } };
    // Two strings always serialize.
    serde_json::to_vec(&body).unwrap_or_else(|_| br#"{"error":{"code":"internal"}}"#.to_vec())
}
