//! HTTP/1.1 over raw sockets whose receive buffer the test chooses: clients that stop reading,
//! and clients that read slowly, as a host sees them.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::time::{Duration, Instant};

/// Connects to `addr` (IPv4) with a receive buffer of `rcvbuf` bytes. It is set before
/// connecting, so the window the client advertises starts that small and the kernel's receive
/// buffer autotuning is off for the socket (Linux doubles the value for its bookkeeping): a
/// client that does not read stops the server's writes after a few KiB in flight, and one
/// that reads slowly is read-limited rather than absorbing the response into kernel buffers.
pub fn connect_with_rcvbuf(addr: &str, rcvbuf: usize) -> TcpStream {
    let addr: SocketAddr = addr.parse().expect("an ip:port address");
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only: {addr}") };
    let size = libc::c_int::try_from(rcvbuf).expect("a buffer size that fits an int");
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: a fresh socket, an option value and an address that outlive the calls; the
    // descriptor is owned by the returned stream (or closed on failure).
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let stream = TcpStream::from_raw_fd(fd);
        let set = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        assert_eq!(set, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
        let connected =
            libc::connect(fd, (&raw const sin).cast(), std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t);
        assert_eq!(connected, 0, "connect {addr}: {}", std::io::Error::last_os_error());
        stream
    }
}

/// Sends `GET path` (HTTP/1.1, the connection closed after the response) with a bearer token.
pub fn send_get(stream: &mut TcpStream, path: &str, token: &str) {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
}

/// The status of the response arriving on `stream`, read without consuming anything (the
/// socket's receive buffer stays as full as the host made it). Waits up to 30 s.
pub fn peek_status(stream: &TcpStream) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 12];
    loop {
        let n = stream.peek(&mut buf).expect("the response head");
        assert!(n > 0, "the connection closed before a response");
        if n == buf.len() {
            let line = std::str::from_utf8(&buf).expect("a status line");
            return line["HTTP/1.1 ".len()..].parse().unwrap_or_else(|_| panic!("status line {line:?}"));
        }
        assert!(Instant::now() < deadline, "no whole status line within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A response head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The `content-length`.
    pub fn content_length(&self) -> usize {
        self.header("content-length").expect("a content-length").parse().unwrap()
    }
}

/// Reads a response head from `stream`; returns it and the body bytes that came with it.
pub fn read_head(stream: &mut TcpStream) -> (Head, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the connection closed inside the response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (Head { status, headers }, buf[end + 4..].to_vec())
}

/// Reads until `body` holds `length` bytes, at most `step` bytes per read and one read every
/// `pause`.
pub fn read_body_slowly(
    stream: &mut TcpStream,
    mut body: Vec<u8>,
    length: usize,
    step: usize,
    pause: Duration,
) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut chunk = vec![0u8; step];
    while body.len() < length {
        std::thread::sleep(pause);
        let want = step.min(length - body.len());
        let n = stream.read(&mut chunk[..want]).unwrap();
        assert!(n > 0, "the body ended at {} of {length} bytes", body.len());
        body.extend_from_slice(&chunk[..n]);
    }
    body
}

/// Reads what is left on `stream` until the peer closes it; `Err` if it stays open for
/// `within`. A reset counts as closed.
pub fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            Err(format!("still open after {within:?} ({} bytes read)", out.len()))
        }
        Err(_) => Ok(out),
    }
}
