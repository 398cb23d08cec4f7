//! One stored answer: how it is kept, which requests it serves (its variant), and how it
//! answers them (`200`, `HEAD`, or `304` when the client's validators match).

use crate::{Admission, Budget, X_CACHE, strip_internal};
use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::time::Instant;

/// What a stored answer costs beyond its key, headers and body (the structures around it).
const ENTRY_OVERHEAD: usize = 256;

/// Whether a request with `request` headers is answered `304` by a representation with these
/// validators: `If-None-Match` decides when present (weak comparison), else `If-Modified-Since`
/// against `Last-Modified` (RFC 9110 13.2.2).
pub fn not_modified(request: &HeaderMap, etag: Option<&str>, last_modified_secs: Option<u64>) -> bool {
    if let Some(inm) = request.get(header::IF_NONE_MATCH) {
        let (Ok(inm), Some(etag)) = (inm.to_str(), etag) else { return false };
        return http_semantics::if_none_match(inm, &[etag.trim_start_matches("W/")]);
    }
    match (request.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()), last_modified_secs) {
        (Some(ims), Some(lm)) => http_semantics::not_modified_since(ims, lm.saturating_mul(1000)),
        _ => false,
    }
}

/// The `304` for an answer with these headers: the same headers but the body's
/// (`Content-Length`, `Content-Type`, `Content-Encoding`).
pub fn not_modified_headers(mut headers: HeaderMap) -> HeaderMap {
    for name in [header::CONTENT_LENGTH, header::CONTENT_TYPE, header::CONTENT_ENCODING] {
        headers.remove(name);
    }
    headers
}

/// One stored answer.
#[derive(Debug)]
pub struct Stored {
    /// Its headers as sent (without [`strip_internal`]'s), `Content-Length` included.
    headers: HeaderMap,
    pub(crate) body: Bytes,
    etag: Option<String>,
    last_modified_secs: Option<u64>,
    stored_at: Instant,
    expires_at: Instant,
    budgets: Vec<Budget>,
    pub(crate) surrogate_keys: Vec<String>,
    /// The variant's selecting values (see [`variant_of`]).
    pub(crate) variant: Vec<Option<String>>,
    pub(crate) vary: Vec<HeaderName>,
}

impl Stored {
    /// A copy of the answer with `headers` and `body`, admitted by `admission`, for the request
    /// with `request` headers (which select its variant), made at `now`.
    pub fn new(admission: Admission, mut headers: HeaderMap, body: Bytes, request: &HeaderMap, now: Instant) -> Stored {
        strip_internal(&mut headers);
        headers.remove(header::AGE);
        headers.remove(header::DATE);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        let etag = headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let last_modified_secs =
            headers.get(header::LAST_MODIFIED).and_then(|v| v.to_str().ok()).and_then(http_semantics::parse_http_date);
        Stored {
            variant: variant_of(&admission.vary, request),
            headers,
            body,
            etag,
            last_modified_secs,
            stored_at: now,
            expires_at: now + admission.lifetime,
            budgets: admission.budgets,
            surrogate_keys: admission.surrogate_keys,
            vary: admission.vary,
        }
    }

    /// The budgets a fetch of this answer is charged to.
    pub fn budgets(&self) -> &[Budget] {
        &self.budgets
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether it may still answer at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.expires_at
    }

    /// The answer to a request with `request` headers at `now`: `304` when the client's
    /// validators match, else `200` with the body (`head`: the headers only, `Content-Length`
    /// still the body's). `source` is the value of [`X_CACHE`].
    pub fn answer(&self, request: &HeaderMap, head: bool, now: Instant, source: &'static str) -> http::Response<Bytes> {
        let unmodified = not_modified(request, self.etag.as_deref(), self.last_modified_secs);
        let (status, mut headers, body) = if unmodified {
            (StatusCode::NOT_MODIFIED, not_modified_headers(self.headers.clone()), Bytes::new())
        } else {
            (StatusCode::OK, self.headers.clone(), if head { Bytes::new() } else { self.body.clone() })
        };
        headers.insert(header::AGE, HeaderValue::from(now.saturating_duration_since(self.stored_at).as_secs()));
        headers.insert(X_CACHE, HeaderValue::from_static(source));
        let mut response = http::Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }

    /// Whether a request with `request` headers selects this variant.
    pub(crate) fn selected_by(&self, request: &HeaderMap) -> bool {
        self.vary
            .iter()
            .zip(&self.variant)
            .all(|(name, want)| variant_value(name, request).as_deref() == want.as_deref())
    }

    /// Memory it takes, as the cache accounts it.
    pub(crate) fn cost(&self, key: &str) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 32).sum();
        let tags: usize = self.surrogate_keys.iter().map(String::len).sum::<usize>()
            + self.budgets.iter().map(|b| b.key.len() + b.of.len() + 32).sum::<usize>();
        ENTRY_OVERHEAD + key.len() + headers + tags + self.body.len()
    }
}

/// The value of request header `name` that selects a variant: `Accept-Encoding` as whether it
/// accepts gzip (the only coding the components make), any other header as its value (lines
/// joined). Borrowed in the common cases, so that a lookup allocates nothing.
fn variant_value<'a>(name: &HeaderName, request: &'a HeaderMap) -> Option<Cow<'a, str>> {
    if name == header::ACCEPT_ENCODING {
        let value = request.get(name).and_then(|v| v.to_str().ok());
        return Some(Cow::Borrowed(if http_semantics::accepts_gzip(value) { "gzip" } else { "identity" }));
    }
    let mut values = request.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?;
    match values.next() {
        None => Some(Cow::Borrowed(first)),
        Some(second) => {
            let rest: Vec<&str> = values.collect();
            Some(Cow::Owned([first, second].into_iter().chain(rest).collect::<Vec<_>>().join(", ")))
        }
    }
}

/// The values of the `vary` request headers that select a variant (see [`variant_value`]).
fn variant_of(vary: &[HeaderName], request: &HeaderMap) -> Vec<Option<String>> {
    vary.iter().map(|name| variant_value(name, request).map(Cow::into_owned)).collect()
}
