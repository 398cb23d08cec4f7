//! The tests' HTTP/1.1 server: list sources and webhook receivers that the host reaches over
//! loopback. Each connection is answered once and closed; or, [`Server::silent`], never.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// A request as the handler sees it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A response: status, content type, more headers, body.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, content_type: "text/plain", headers: Vec::new(), body: body.into() }
    }

    /// The reply with header `name: value` added.
    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// A running server; it stops with the test process.
pub struct Server {
    pub addr: String,
}

impl Server {
    /// Serves `handler` on a free loopback port, one thread per connection.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::accept(move |stream| {
            let _ = serve(stream, &handler);
        })
    }

    /// A server that accepts connections and never answers: each is held open, silent.
    pub fn silent() -> Server {
        let held = Mutex::new(Vec::new());
        Server::accept(move |stream| held.lock().unwrap().push(stream))
    }

    /// Listens on a free loopback port and hands each connection to `connection`, on a thread
    /// of its own.
    fn accept(connection: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let connection = Arc::new(connection);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let connection = connection.clone();
                std::thread::spawn(move || connection(stream));
            }
        });
        Server { addr }
    }

    /// `http://{addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `localhost:{port}`: the server by name, as webhook URLs must name it (the API refuses
    /// IP addresses), and as `--allowed-outbound-hosts` must name it to let the host reach it
    /// (`localhost` resolves to loopback, which `*` does not open).
    pub fn named_addr(&self) -> String {
        let port = self.addr.rsplit_once(':').expect("addr is ip:port").1;
        format!("localhost:{port}")
    }

    /// `http://localhost:{port}{path}`.
    pub fn named_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.named_addr())
    }
}

/// What an [`Upstream`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamMode {
    /// `200` with the content, an `ETag` (its hash) and a `Last-Modified` (when it was set);
    /// `304` to a request whose `If-None-Match` names the current `ETag`.
    Serve,
    /// This status, always.
    Fail(u16),
    /// Nothing for this long, then `Serve`'s answer (a stall past the fetch's timeout).
    Stall(std::time::Duration),
}

/// One request an [`Upstream`] answered: its validators and the status it got.
#[derive(Clone, Debug)]
pub struct UpstreamHit {
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub status: u16,
}

struct UpstreamState {
    content: String,
    modified: std::time::SystemTime,
    mode: UpstreamMode,
    hits: Vec<UpstreamHit>,
}

/// A list server whose content and behaviour the test sets: every path answers it
/// (`text/plain`), with validators, conditionally (see [`UpstreamMode::Serve`]).
pub struct Upstream {
    pub server: Server,
    state: Arc<Mutex<UpstreamState>>,
}

/// The entity tag of `content`, as the upstream sends it.
pub fn upstream_etag(content: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    content.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

impl Upstream {
    /// Serves `content` until [`Upstream::set`] changes it.
    pub fn start(content: &str) -> Upstream {
        let state = Arc::new(Mutex::new(UpstreamState {
            content: content.to_owned(),
            modified: std::time::SystemTime::now(),
            mode: UpstreamMode::Serve,
            hits: Vec::new(),
        }));
        let s = state.clone();
        let server = Server::start(move |req| {
            let stall = match &s.lock().unwrap().mode {
                UpstreamMode::Stall(d) => Some(*d),
                _ => None,
            };
            if let Some(d) = stall {
                std::thread::sleep(d);
            }
            let mut st = s.lock().unwrap();
            let etag = upstream_etag(&st.content);
            let reply = match st.mode {
                UpstreamMode::Fail(status) => Reply::text(status, "upstream failure"),
                _ if req.headers.get("if-none-match") == Some(&etag) => Reply::text(304, ""),
                _ => Reply::text(200, st.content.clone())
                    .with_header("etag", &etag)
                    .with_header("last-modified", &httpdate(st.modified)),
            };
            st.hits.push(UpstreamHit {
                if_none_match: req.headers.get("if-none-match").cloned(),
                if_modified_since: req.headers.get("if-modified-since").cloned(),
                status: reply.status,
            });
            reply
        });
        Upstream { server, state }
    }

    /// What every request gets from now on (and `Serve` again).
    pub fn set(&self, content: &str) {
        let mut st = self.state.lock().unwrap();
        st.content = content.to_owned();
        st.modified = std::time::SystemTime::now();
        st.mode = UpstreamMode::Serve;
    }

    /// How the next requests are answered.
    pub fn mode(&self, mode: UpstreamMode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Every request answered so far.
    pub fn hits(&self) -> Vec<UpstreamHit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// `ip:port`, for a host's `--allowed-outbound-hosts`.
    pub fn addr(&self) -> &str {
        &self.server.addr
    }
}

/// `t` as an HTTP date (`Tue, 01 Dec 2026 10:00:00 GMT`).
fn httpdate(t: std::time::SystemTime) -> String {
    http_semantics::http_date(t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn serve(stream: TcpStream, handler: &dyn Fn(&Request) -> Reply) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let chunked = headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let len: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };
    let reply = handler(&Request { method, path, headers, body });
    let mut out = stream;
    let extra: String = reply.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        out,
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    )?;
    out.write_all(&reply.body)?;
    out.flush()?;
    // A lingering close, as real servers do: closing a socket with unread input resets the
    // connection, and the client may then lose the answer it has not read yet.
    out.shutdown(std::net::Shutdown::Write)?;
    out.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    Ok(())
}

/// Reads a `Transfer-Encoding: chunked` body up to and including its last chunk and trailers.
fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = size.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size, 16)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("chunk size {size:?}: {e}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}
