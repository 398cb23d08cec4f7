//! Sending a request over a connection that is already open, to an address the policy checked:
//! TLS (rustls with the webpki roots) for `https`, then HTTP/1.1 with hyper, under the three
//! timeouts of `wasi:http`'s request options. What `wasmtime_wasi_http::default_send_request`
//! does after it has connected, without its connecting by name (which would resolve the name
//! again, after our check).

use bytes::Bytes;
use core::future::poll_fn;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, ready};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

/// What `wasi:http` waits when the guest sets no timeout (as `default_send_request`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The three timeouts of a request, defaults filled in.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Resolving, connecting, the TLS and HTTP handshakes.
    pub connect: Duration,
    /// From sending the request to the response's head.
    pub first_byte: Duration,
    /// Between two frames of the response body.
    pub between_bytes: Duration,
}

impl Timeouts {
    /// The guest's request options, or `wasi:http`'s defaults.
    pub fn of(options: Option<RequestOptions>) -> Timeouts {
        Timeouts {
            connect: options.and_then(|o| o.connect_timeout).unwrap_or(DEFAULT_TIMEOUT),
            first_byte: options.and_then(|o| o.first_byte_timeout).unwrap_or(DEFAULT_TIMEOUT),
            between_bytes: options.and_then(|o| o.between_bytes_timeout).unwrap_or(DEFAULT_TIMEOUT),
        }
    }
}

/// A byte stream HTTP can run over: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T> Stream for T where T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}

/// The future that drives the connection after the response head, as `wasi:http` wants it.
pub type ConnectionTask = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The TLS client configuration (the webpki roots), made once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
            Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth())
        })
        .clone()
}

/// Sends `request` over `tcp`, a connection to the request's host: with TLS for `server_name`
/// if `tls`. The connect timeout bounds the handshakes (the caller's connecting counts against
/// it too: `connect_left` is what remains of it).
pub async fn send_over(
    tcp: TcpStream,
    tls: Option<rustls::pki_types::ServerName<'static>>,
    mut request: Request<WasiBody>,
    timeouts: Timeouts,
    connect_left: Duration,
) -> Result<(Response<WasiBody>, ConnectionTask), Error> {
    let handshakes = async {
        let stream: Box<dyn Stream> = match tls {
            Some(server_name) => {
                let connector = tokio_rustls::TlsConnector::from(tls_config());
                Box::new(connector.connect(server_name, tcp).await.map_err(Error::Tls)?)
            }
            None => Box::new(tcp),
        };
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await.map_err(Error::from)
    };
    let (mut sender, conn) =
        tokio::time::timeout(connect_left, handshakes).await.map_err(|_| Error::ConnectionTimeout)??;

    // hyper sends no body with a GET, HEAD or CONNECT of unknown length, nor with a length of
    // 0, and drops it at once: the guest, still writing it (even empty) and finishing it, would
    // see its stream closed ("connection reset") and fail a request that succeeds. Such a body
    // is read to its end apart, and the request goes with an empty one.
    if sends_no_body(&request) {
        let (parts, body) = request.into_parts();
        tokio::spawn(discard_body(body, BODY_WAIT));
        let empty = http_body_util::Empty::new().map_err(|never| match never {}).boxed_unsync();
        request = Request::from_parts(parts, empty);
    }

    // The request line carries the path only: scheme and authority are for proxies.
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(request.uri().path_and_query().map_or("/", |p| p.as_str()))
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let send = async move {
        let response = tokio::time::timeout(timeouts.first_byte, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        // Tokio panics on an interval of zero: clamp it to a nanosecond.
        let between_bytes = timeouts.between_bytes.max(Duration::from_nanos(1));
        let mut timeout = tokio::time::interval(between_bytes);
        timeout.reset();
        Ok::<_, Error>(response.map(|incoming| IncomingBody { incoming, timeout }))
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Wait for the response head while driving the connection's I/O.
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(running) = conn.as_mut() else { return Poll::Pending };
            let finished = ready!(Pin::new(running).poll(cx));
            conn = None;
            match finished {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let task = async move {
        let Some(conn) = conn else { return Ok(()) };
        conn.await.map_err(|e| if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })
    };
    Ok((response.map(BodyExt::boxed_unsync), Box::new(task)))
}

/// Whether hyper will send `request` without its body (see `Client::set_length` in hyper's
/// HTTP/1 role): no `Transfer-Encoding`, and a `Content-Length` of 0 or, for GET, HEAD and
/// CONNECT, none.
fn sends_no_body(request: &Request<WasiBody>) -> bool {
    let headers = request.headers();
    if headers.contains_key(http::header::TRANSFER_ENCODING) {
        return false;
    }
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(length) => length.as_bytes() == b"0",
        None => matches!(*request.method(), http::Method::GET | http::Method::HEAD | http::Method::CONNECT),
    }
}

/// The longest a request's body that will not be sent is read, waiting for the guest to finish
/// writing it.
pub const BODY_WAIT: Duration = Duration::from_secs(10);

/// Reads `body` to its end (or its first error), for at most `within`, and drops it: the
/// request will not be sent, but its writer may finish.
pub async fn discard_body(mut body: WasiBody, within: Duration) {
    let _ = tokio::time::timeout(within, async { while let Some(Ok(_)) = body.frame().await {} }).await;
}

/// A response body that fails when no frame comes within the between-bytes timeout.
struct IncomingBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl Body for IncomingBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
