//! Reading Fastly's request: the head into a [`Request`], the body (capped) once the caller is
//! admitted.

use crate::fastly::compute::http_body::{self, Body};
use crate::fastly::compute::http_downstream;
use crate::fastly::compute::http_req::Request as FastlyRequest;
use crate::fastly::compute::types::{Error, IpAddress};
use gateway_api::{BodyCollector, ReadError, Request, Response};

/// The header the API reads the client's address from (as Spin sets it). A client's own is
/// dropped: only the platform's word counts.
const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// The first buffer size tried for a method, URI, or header names and values.
const FIRST_LEN: u64 = 8 * 1024;

/// How much of the body one read asks for.
const READ_CHUNK: u32 = 64 * 1024;

/// Calls `read` with a buffer of [`FIRST_LEN`], and once more at the length Fastly asks for.
fn sized<T>(mut read: impl FnMut(u64) -> Result<T, Error>) -> Result<T, Error> {
    match read(FIRST_LEN) {
        Err(Error::BufferLen(len)) => read(len),
        other => other,
    }
}

fn bad_request(what: &str, e: Error) -> Response {
    Response::error(400, "bad_request", format!("could not read the request's {what}: {e:?}"))
}

/// The method, path, query and headers of `request`.
pub fn head(request: &FastlyRequest) -> Result<Request, Response> {
    let method = sized(|n| request.get_method(n)).map_err(|e| bad_request("method", e))?;
    let uri = sized(|n| request.get_uri(n)).map_err(|e| bad_request("URI", e))?;
    // Fastly gives the absolute URL (`http://host/path?query`); the API wants the path.
    let after_scheme = uri.split_once("://").map_or(uri.as_str(), |(_, rest)| rest);
    let target = match after_scheme.find('/') {
        Some(i) if uri.contains("://") => &after_scheme[i..],
        Some(_) => uri.as_str(),
        None => "/",
    };
    let mut headers = Vec::new();
    for name in header_names(request).map_err(|e| bad_request("header names", e))? {
        if name.eq_ignore_ascii_case(CLIENT_ADDR_HEADER) {
            continue;
        }
        let mut cursor = 0;
        loop {
            let (values, next) =
                sized(|n| request.get_header_values(&name, n, cursor)).map_err(|e| bad_request("headers", e))?;
            for value in nul_separated(&values) {
                headers.push((name.clone(), value.to_vec()));
            }
            match next {
                Some(n) => cursor = n,
                None => break,
            }
        }
    }
    if let Some(ip) = http_downstream::downstream_client_ip_addr(request) {
        headers.push((CLIENT_ADDR_HEADER.into(), client_addr(&ip).into_bytes()));
    }
    Ok(Request::new(method, target, headers))
}

/// Every header name of `request`.
fn header_names(request: &FastlyRequest) -> Result<Vec<String>, Error> {
    let mut names = Vec::new();
    let mut cursor = 0;
    loop {
        let (chunk, next) = sized(|n| request.get_header_names(n, cursor))?;
        names.extend(chunk.split('\0').filter(|n| !n.is_empty()).map(str::to_owned));
        match next {
            Some(n) => cursor = n,
            None => return Ok(names),
        }
    }
}

/// The values in a list where each is followed by a NUL byte.
fn nul_separated(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Nothing is no value; a lone NUL is one empty value.
    let values = (!bytes.is_empty()).then(|| bytes.strip_suffix(b"\0").unwrap_or(bytes));
    values.into_iter().flat_map(|v| v.split(|b| *b == 0))
}

/// An address as `spin-client-addr` carries it (`ip:port`; Fastly gives no port: 0).
fn client_addr(ip: &IpAddress) -> String {
    match ip {
        IpAddress::Ipv4((a, b, c, d)) => format!("{a}.{b}.{c}.{d}:0"),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            format!("[{}]:0", std::net::Ipv6Addr::new(*a, *b, *c, *d, *e, *f, *g, *h))
        }
    }
}

/// Reads `body` into `req.body`, refusing bodies over `max_body` bytes.
pub fn body(body: Body, req: &mut Request, max_body: usize) -> Option<ReadError> {
    let mut collected = match BodyCollector::start(req, max_body) {
        Ok(c) => c,
        Err(e) => return Some(e),
    };
    loop {
        match http_body::read(&body, READ_CHUNK) {
            Ok(chunk) if chunk.is_empty() => break,
            Ok(chunk) => {
                if let Err(e) = collected.push(&chunk) {
                    return Some(e);
                }
            }
            Err(e) => return Some(ReadError::Stream(format!("{e:?}"))),
        }
    }
    req.body = collected.finish();
    None
}

#[cfg(test)]
mod tests {
    use super::nul_separated;

    #[test]
    fn nul_separated_values() {
        let v: Vec<&[u8]> = nul_separated(b"a\0bc\0").collect();
        assert_eq!(v, [&b"a"[..], b"bc"]);
        assert_eq!(nul_separated(b"").count(), 0);
        let v: Vec<&[u8]> = nul_separated(b"\0").collect();
        assert_eq!(v, [&b""[..]]);
    }
}
