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

/// A response: status, content type, body.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status, content_type: "text/plain", body: body.into() }
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

/// A list server whose content the test sets: every path answers it (`200`, `text/plain`).
pub struct Upstream {
    pub server: Server,
    content: Arc<Mutex<String>>,
}

impl Upstream {
    /// Serves `content` until [`Upstream::set`] changes it.
    pub fn start(content: &str) -> Upstream {
        let content = Arc::new(Mutex::new(content.to_owned()));
        let c = content.clone();
        let server = Server::start(move |_| Reply::text(200, c.lock().unwrap().clone()));
        Upstream { server, content }
    }

    /// What every request gets from now on.
    pub fn set(&self, content: &str) {
        *self.content.lock().unwrap() = content.to_owned();
    }

    /// `ip:port`, for a host's `--allowed-outbound-hosts`.
    pub fn addr(&self) -> &str {
        &self.server.addr
    }
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
    write!(
        out,
        "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
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
