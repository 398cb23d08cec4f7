//! The dashboard component: serves the web UI's static files (`site/`, built into the component
//! by `build.rs`) under `/ui/`. The page talks only to the public API (`/v1/…`) with the
//! bearer token the user signs in with, kept in the browser's session storage: the component
//! holds no state and no privilege, and imports nothing but WASI.
//!
//! `index.html` is revalidated by its `ETag` on every load; the scripts and styles it refers to
//! have their content's hash in their names and are cached for a year. Every answer carries a
//! strict `Content-Security-Policy`: scripts, styles and requests from this origin only, no
//! inline script, no framing.

#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

mod site {
    /// One built-in file.
    pub struct File {
        /// The path it is served at.
        pub path: &'static str,
        pub content_type: &'static str,
        pub body: &'static [u8],
        /// The body gzipped, when that is smaller.
        pub gzip: Option<&'static [u8]>,
        /// Its entity tag (quoted): a hash of `body`.
        pub etag: &'static str,
        /// Whether its name holds its content's hash (cached for a year).
        pub immutable: bool,
    }

    include!(concat!(env!("OUT_DIR"), "/site.rs"));
}

/// Where the dashboard lives.
pub const ROOT: &str = "/ui/";

/// The policy every answer carries: this origin's scripts, styles, images and API only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// An answer to write.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn new(status: u16) -> Answer {
        let headers = vec![
            ("content-security-policy", CONTENT_SECURITY_POLICY.to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            ("referrer-policy", "no-referrer".to_owned()),
            ("x-frame-options", "DENY".to_owned()),
        ];
        Answer { status, headers, body: Vec::new() }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Answer {
        self.headers.push((name, value.into()));
        self
    }

    /// A JSON error, as the API answers them: `{"error": {"code", "message"}}`.
    fn error(status: u16, code: &str, message: &str) -> Answer {
        let mut a = Answer::new(status).header("content-type", "application/json");
        // A JSON string's contents: quotes, backslashes and control characters escaped.
        let quote = |s: &str| {
            s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
                match c {
                    '"' | '\\' => out.extend(['\\', c]),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
                out
            })
        };
        a.body = format!("{{\"error\":{{\"code\":\"{code}\",\"message\":\"{}\"}}}}", quote(message)).into_bytes();
        a
    }

    /// The value of header `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }
}

/// The request headers an answer depends on.
#[derive(Debug, Default)]
pub struct Conditions<'a> {
    pub if_none_match: Option<&'a str>,
    pub accept_encoding: Option<&'a str>,
}

/// The answer to `method` on `path` (without its query).
pub fn answer(method: &str, path: &str, conditions: &Conditions) -> Answer {
    if method != "GET" && method != "HEAD" {
        return Answer::error(405, "method_not_allowed", &format!("{method} is not allowed here; use GET"))
            .header("allow", "GET, HEAD");
    }
    if path == "/" || path == "/ui" {
        return Answer::new(302).header("location", ROOT).header("cache-control", "no-cache");
    }
    let Some(file) = site::FILES.iter().find(|f| f.path == path) else {
        return Answer::error(404, "not_found", &format!("no such page: {path} (the dashboard is at {ROOT})"));
    };
    let cache = if file.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut a = Answer::new(200).header("etag", file.etag).header("cache-control", cache);
    if file.gzip.is_some() {
        a = a.header("vary", "Accept-Encoding");
    }
    if conditions.if_none_match.is_some_and(|h| http_semantics::if_none_match(h, &[file.etag])) {
        a.status = 304;
        return a;
    }
    a = a.header("content-type", file.content_type);
    let body = match file.gzip {
        Some(gz) if http_semantics::accepts_gzip(conditions.accept_encoding) => {
            a = a.header("content-encoding", "gzip");
            gz
        }
        _ => file.body,
    };
    a = a.header("content-length", body.len().to_string());
    if method == "GET" {
        a.body = body.to_vec();
    }
    a
}

/// The component's entry point: `wasi:http/incoming-handler`, exported by spin-sdk.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
    let header = |name: &str| req.header(name).and_then(|v| v.as_str());
    let conditions = Conditions { if_none_match: header("if-none-match"), accept_encoding: header("accept-encoding") };
    let method = req.method().to_string();
    let a = answer(&method, req.path(), &conditions);
    let mut response = spin_sdk::http::Response::builder();
    response.status(a.status);
    for (name, value) in a.headers {
        response.header(name, value);
    }
    response.body(a.body).build()
}

#[cfg(test)]
mod tests;
