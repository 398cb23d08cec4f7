//! Where components may send HTTP requests (`wasi:http/outgoing-handler`).
//!
//! Two checks, both on every request:
//! - the host must be in `--allowed-outbound-hosts` (none by default; `*` allows every host),
//!   like Spin's `allowed_outbound_hosts`;
//! - the address actually connected to must be on the public internet: a host whose name (or
//!   IP literal) resolves to a loopback, private, link-local, unspecified, carrier-grade NAT,
//!   multicast, broadcast, documentation or otherwise reserved address ([`addresses`]) is
//!   refused, unless the operator named that host explicitly in `--allowed-outbound-hosts` (an
//!   exact `host` or `host:port` entry; `*` does not count).
//!
//! The name is resolved once, the addresses are checked, and the connection is made to a
//! checked address ([`send`] then speaks TLS and HTTP over it): a DNS answer that changes
//! between the check and the connection (DNS rebinding) cannot slip an internal address in.

pub mod addresses;
mod send;

use addresses::restricted_range;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls::pki_types::ServerName;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// The outbound policy: an allow-list of `host` or `host:port` entries (`*`: every host), and
/// whether addresses off the public internet may be reached without being named.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    allowed: Arc<Vec<String>>,
    /// Every address may be reached, internal ones included: for `blocklist-edge compile`,
    /// whose user is the operator.
    every_address: bool,
}

impl Outbound {
    /// Parses a comma-separated list (`--allowed-outbound-hosts`).
    pub fn new(list: &str) -> Outbound {
        let allowed = list.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        Outbound { allowed: Arc::new(allowed), every_address: false }
    }

    /// Every host and every address, internal ones included: for the `compile` command, run by
    /// the operator on their own machine.
    pub fn unrestricted() -> Outbound {
        Outbound { allowed: Arc::new(vec!["*".into()]), every_address: true }
    }

    /// Whether a request to `host` on `port` may go out: an entry names it, or is `*`.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|a| a == "*") || self.names(host, port)
    }

    /// Whether an entry names `host` exactly, as `host` or `host:port`: what lets a request
    /// reach an internal address.
    pub fn names(&self, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let with_port = format!("{host}:{port}");
        self.allowed.iter().any(|a| *a == host || *a == with_port)
    }

    /// Sends `request` if the policy allows it, to an address that passed the check.
    async fn send(
        self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, send::ConnectionTask), Error> {
        let timeouts = send::Timeouts::of(options);
        let started = Instant::now();
        match self.connect(request.uri(), timeouts.connect).await {
            Ok((tcp, server_name)) => {
                let connect_left = timeouts.connect.saturating_sub(started.elapsed());
                send::send_over(tcp, server_name, request, timeouts, connect_left).await
            }
            Err(e) => {
                // The guest writes the request's body while it waits for the answer: let it
                // finish before answering, or it may see its body's stream closed ("connection
                // reset") rather than why the request failed.
                send::discard_body(request.into_body(), send::BODY_WAIT).await;
                Err(e)
            }
        }
    }

    /// A connection to an address of `uri`'s host that the policy allows, and the name TLS
    /// verifies for `https`.
    async fn connect(
        &self,
        uri: &http::Uri,
        timeout: Duration,
    ) -> Result<(tokio::net::TcpStream, Option<ServerName<'static>>), Error> {
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        if !self.allows(&host, port) {
            tracing::warn!(%host, port, "outbound request denied: the host is not in --allowed-outbound-hosts");
            return Err(Error::HttpRequestDenied);
        }
        let connect = async {
            let addresses = resolve(&host, port).await?;
            let permitted = self.permitted(&host, port, &addresses)?;
            connect_to_first(&permitted).await
        };
        let tcp = tokio::time::timeout(timeout, connect).await.map_err(|_| Error::ConnectionTimeout)??;
        let server_name = match tls {
            true => Some(server_name(&host)?),
            false => None,
        };
        Ok((tcp, server_name))
    }

    /// The addresses of `host` this request may connect to: all of them if an entry names the
    /// host (or the policy is unrestricted), else the public ones; none is an error.
    fn permitted(&self, host: &str, port: u16, addresses: &[SocketAddr]) -> Result<Vec<SocketAddr>, Error> {
        if self.every_address || self.names(host, port) {
            return Ok(addresses.to_vec());
        }
        let (permitted, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
            addresses.iter().partition(|a| restricted_range(a.ip()).is_none());
        if !refused.is_empty() {
            let refused: Vec<String> = refused
                .iter()
                .map(|a| format!("{} ({})", a.ip(), restricted_range(a.ip()).map_or("", |r| r.describe())))
                .collect();
            let refused = refused.join(", ");
            if permitted.is_empty() {
                tracing::warn!(
                    %host, port, addresses = %refused,
                    "outbound request refused: the host resolves to addresses off the public internet; \
                     name the host in --allowed-outbound-hosts (host or host:port, not *) to allow it"
                );
                return Err(Error::DestinationIpProhibited);
            }
            tracing::warn!(%host, port, addresses = %refused, "outbound request: skipping addresses off the public internet");
        }
        Ok(permitted)
    }
}

/// `host`'s addresses: an IP literal as it is (an IPv6 one in brackets, as URIs write it), a
/// name through the system's resolver.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
    if let Some(ip) = ip_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await.map_err(Error::Connect)?.collect();
    if addresses.is_empty() {
        return Err(Error::DnsError { rcode: Some(format!("{host} has no address")), info_code: None });
    }
    Ok(addresses)
}

/// The IP address a URI's host spells, if it is an IP literal (`127.0.0.1`, `[::1]`).
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    bare.parse().ok()
}

/// Connects to the first of `addresses` that accepts, in order (as `TcpStream::connect` does
/// with the addresses of a name).
async fn connect_to_first(addresses: &[SocketAddr]) -> Result<tokio::net::TcpStream, Error> {
    let mut last_error = None;
    for address in addresses {
        match tokio::net::TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(Error::Connect(last_error.unwrap_or_else(|| std::io::Error::other("no address to connect to"))))
}

/// The name TLS verifies the server's certificate against: the host's name, or its IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    match ip_literal(host) {
        Some(ip) => Ok(ServerName::from(ip)),
        None => Ok(ServerName::try_from(host.to_owned())?),
    }
}

type Reply =
    Box<dyn std::future::Future<Output = Result<(http::Response<WasiBody>, send::ConnectionTask), Error>> + Send>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> Reply {
        _ = fut;
        Box::new(self.clone().send(request, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn allow_list() {
        let o = Outbound::new("lists.example.org, cdn.example.com:8443");
        assert!(o.allows("lists.example.org", 80));
        assert!(o.allows("LISTS.example.org", 443));
        assert!(o.allows("cdn.example.com", 8443));
        assert!(!o.allows("cdn.example.com", 443));
        assert!(!o.allows("evil.example", 80));
        assert!(!Outbound::default().allows("a", 80));
        assert!(Outbound::unrestricted().allows("a", 80));
    }

    #[test]
    fn only_exact_entries_name_a_host() {
        let o = Outbound::new("*, localhost:8080, metadata.internal");
        assert!(o.allows("anything.example", 80), "* allows every host");
        assert!(!o.names("anything.example", 80), "* names none");
        assert!(o.names("localhost", 8080));
        assert!(!o.names("localhost", 8081));
        assert!(o.names("Metadata.Internal", 80));
        assert!(!Outbound::new("*").names("localhost", 80));
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn internal_addresses_need_the_host_named() {
        let all = Outbound::new("*");
        let loopback = addrs(&["127.0.0.1:80", "[::1]:80"]);
        assert!(matches!(all.permitted("localhost", 80, &loopback), Err(Error::DestinationIpProhibited)));
        let metadata = addrs(&["169.254.169.254:80"]);
        assert!(matches!(all.permitted("169.254.169.254", 80, &metadata), Err(Error::DestinationIpProhibited)));
        // A name that answers public and internal addresses: only the public ones are tried.
        let mixed = addrs(&["10.0.0.1:443", "93.184.216.34:443"]);
        assert_eq!(all.permitted("example.com", 443, &mixed).unwrap(), addrs(&["93.184.216.34:443"]));
        // Named, exactly: every address.
        let named = Outbound::new("localhost:80");
        assert_eq!(named.permitted("localhost", 80, &loopback).unwrap(), loopback);
        assert!(matches!(named.permitted("localhost", 81, &loopback), Err(Error::DestinationIpProhibited)));
        assert_eq!(Outbound::new("localhost").permitted("localhost", 81, &loopback).unwrap(), loopback);
        assert_eq!(Outbound::unrestricted().permitted("localhost", 80, &loopback).unwrap(), loopback);
    }

    #[test]
    fn ip_literals_are_read_as_uris_write_them() {
        assert_eq!(ip_literal("127.0.0.1"), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("example.com"), None);
        assert!(matches!(server_name("[::1]").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("example.com").unwrap(), ServerName::DnsName(_)));
    }

    /// A request body the test writes into, as a guest writes into its outgoing body.
    struct GuestBody(tokio::sync::mpsc::Receiver<bytes::Bytes>);

    impl hyper::body::Body for GuestBody {
        type Data = bytes::Bytes;
        type Error = Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Error>>> {
            self.0.poll_recv(cx).map(|chunk| chunk.map(|c| Ok(hyper::body::Frame::data(c))))
        }
    }

    fn get_with_guest_body(url: &str) -> (http::Request<WasiBody>, tokio::sync::mpsc::Sender<bytes::Bytes>) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        (http::Request::get(url).body(GuestBody(rx).boxed_unsync()).unwrap(), tx)
    }

    /// The guest may still be writing (and finishing) a GET's empty body when the answer is
    /// known, refused or not: its body is not dropped under it (which it would see as
    /// "connection reset", in place of the answer).
    #[tokio::test]
    async fn the_guest_can_finish_its_body_whatever_the_answer() {
        let (request, body) = get_with_guest_body("http://localhost:9/x");
        let mut refused = tokio::spawn(Outbound::new("*").send(request, None));
        let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut refused).await;
        assert!(early.is_err(), "the refusal waits for the body's end");
        body.send(bytes::Bytes::new()).await.expect("the body is still read");
        drop(body);
        assert!(matches!(refused.await.unwrap(), Err(Error::DestinationIpProhibited)));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 1024];
            let _ = stream.read(&mut buf).await.unwrap();
            stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await.unwrap();
        });
        let (request, body) = get_with_guest_body(&format!("http://localhost:{port}/x"));
        let named = Outbound::new(&format!("localhost:{port}"));
        let (response, task) = named.send(request, None).await.unwrap();
        tokio::spawn(Box::into_pin(task));
        assert_eq!(response.status(), 204);
        server.await.unwrap();
        body.send(bytes::Bytes::new()).await.expect("the body is still read after the answer");
    }

    fn get(url: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::get(url).body(body).unwrap()
    }

    /// A server on loopback is reached through `localhost` only when the host is named; the
    /// refusal happens before any connection (the listener sees none).
    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_reached_only_when_named() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://localhost:{port}/x");
        let refused = Outbound::new("*").send(get(&url), None).await;
        assert!(matches!(refused, Err(Error::DestinationIpProhibited)), "{:?}", refused.err());
        let refused = Outbound::new("*").send(get(&format!("http://127.0.0.1:{port}/x")), None).await;
        assert!(matches!(refused, Err(Error::DestinationIpProhibited)), "{:?}", refused.err());
        let accepted = tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept()).await;
        assert!(accepted.is_err(), "no connection was made");

        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await.unwrap();
            String::from_utf8(head).unwrap()
        });
        let named = Outbound::new(&format!("localhost:{port}"));
        let (response, task) = named.send(get(&url), None).await.unwrap();
        tokio::spawn(Box::into_pin(task));
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"ok");
        let head = server.await.unwrap();
        assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
    }
}
