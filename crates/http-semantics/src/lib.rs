//! The HTTP semantics blocklist consumers rely on, as plain functions: HTTP dates
//! (`Last-Modified`, `If-Modified-Since`), entity-tag matching (`If-None-Match`), content
//! negotiation of gzip (`Accept-Encoding`) and HTTP Basic credentials. The gateway component
//! answers with them; the host's edge cache answers from its copies with the same rules.

use std::time::{Duration, UNIX_EPOCH};

/// Whether an `If-None-Match` header value matches any of `etags` (quoted entity tags; weak
/// comparison, RFC 9110 13.1.2: a `W/` prefix is ignored).
pub fn if_none_match(header: &str, etags: &[&str]) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || etags.contains(&t.trim_start_matches("W/")))
}

/// Whether an `If-Match` header value admits the current representation, whose entity tag is
/// `etag` (quoted): `*`, or the tag among the listed ones by strong comparison (RFC 9110
/// 13.1.1: a weak tag never matches).
pub fn if_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t == etag)
}

/// `ms` since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP
/// sends.
pub fn http_date(ms: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms))
}

/// Seconds since the epoch of an HTTP date in any of the three forms a recipient must accept
/// (RFC 9110 5.6.7): IMF-fixdate, RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
/// (`Sun Nov  6 08:49:37 1994`). `None` for anything else: an invalid date is ignored, as the
/// RFC says.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(value.trim()).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Whether a representation last modified at `modified_ms` is unmodified since an
/// `If-Modified-Since` value (HTTP dates have whole seconds).
pub fn not_modified_since(if_modified_since: &str, modified_ms: u64) -> bool {
    parse_http_date(if_modified_since).is_some_and(|since| modified_ms / 1000 <= since)
}

/// Whether an `Accept-Encoding` header value accepts gzip (`gzip`, `x-gzip` or `*` with a
/// q-value above 0; an explicit `gzip;q=0` refuses it even when `*` is accepted).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(header) = header else { return false };
    let mut star = false;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            star = q > 0.0;
        }
    }
    star
}

/// The user name and password of an `Authorization: Basic …` value, if it is one.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(value.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 (with or without padding); `None` if it is not.
fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in input.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_strong() {
        assert!(if_match("\"r3\"", "\"r3\""));
        assert!(if_match("\"r1\", \"r3\"", "\"r3\""));
        assert!(if_match("*", "\"r3\""));
        assert!(!if_match("W/\"r3\"", "\"r3\""), "a weak tag never matches");
        assert!(!if_match("\"r2\"", "\"r3\""));
    }

    #[test]
    fn http_dates_round_trip() {
        // RFC 9110's example.
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(951_782_400_999), "Tue, 29 Feb 2000 00:00:00 GMT");
        for ms in [0, 1_000, 951_782_400_000, 1_796_083_199_000, 4_102_444_800_000] {
            assert_eq!(parse_http_date(&http_date(ms)), Some(ms / 1000), "{}", http_date(ms));
        }
        for bad in ["", "yesterday", "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov"] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn modified_since_compares_whole_seconds() {
        let lm = 784_111_777_500;
        assert!(not_modified_since("Sun, 06 Nov 1994 08:49:37 GMT", lm));
        assert!(not_modified_since("Sun, 06 Nov 1994 08:49:38 GMT", lm));
        assert!(!not_modified_since("Sun, 06 Nov 1994 08:49:36 GMT", lm));
        assert!(!not_modified_since("garbage", lm));
    }

    #[test]
    fn etags_match_weakly() {
        let tags = ["\"abc\"", "\"abc-gzip\""];
        assert!(if_none_match("\"abc\"", &tags));
        assert!(if_none_match("W/\"abc-gzip\"", &tags));
        assert!(if_none_match("\"x\", \"abc\"", &tags));
        assert!(if_none_match("*", &tags));
        assert!(!if_none_match("\"abd\"", &tags));
        assert!(!if_none_match("abc", &tags));
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8, *;q=0.1")));
        assert!(accepts_gzip(Some("*")));
        assert!(accepts_gzip(Some("x-gzip")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("*, gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(Some("")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn basic_credentials_decode() {
        // "user:bls_x" and "Aladdin:open sesame" (RFC 7617's example).
        assert_eq!(basic_credentials("Basic dXNlcjpibHNfeA=="), Some(("user".into(), "bls_x".into())));
        assert_eq!(
            basic_credentials("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some(("Aladdin".into(), "open sesame".into()))
        );
        assert_eq!(basic_credentials("Bearer dXNlcjpibHNfeA=="), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
        assert_eq!(basic_credentials("Basic dXNlcg=="), None, "no colon");
    }
}
