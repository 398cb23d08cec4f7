//! The edge cache in front of the components ([`edge_cache`]): a request it can answer is
//! answered from memory, without an instance; a miss asks the component for its whole,
//! unconditional answer, stores it if the component marked it cacheable, and answers the
//! client from it.

use super::{Failure, Server};
use bytes::{Bytes, BytesMut};
use edge_cache::{EdgeCache, Stored, X_CACHE};
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Full};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Where an answer came from, for the request's log line.
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome {
    /// The request was not one the cache answers.
    Bypass,
    Hit,
    /// Answered by the component; its answer kept.
    Miss,
    /// Answered by the component; its answer not kept (not cacheable, or too large).
    Pass,
    /// Answered from the cache's copy, but over a rate limit: 429.
    Refused,
}

impl Outcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Outcome::Bypass => "-",
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Pass => "pass",
            Outcome::Refused => "refused",
        }
    }
}

/// A response whose whole body is `bytes`.
fn full(response: http::Response<Bytes>) -> hyper::Response<HyperOutgoingBody> {
    response.map(|body| Full::new(body).map_err(|never| match never {}).boxed_unsync())
}

/// The request headers that make a request conditional; the cache answers them itself.
const CONDITIONS: [header::HeaderName; 2] = [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE];

impl Server {
    /// Answers `req`, which the cache may answer under `key`: from the cache, or from the
    /// component (storing its answer when it may).
    pub(super) async fn through_cache(
        &self,
        cache: &EdgeCache,
        key: String,
        mut req: hyper::Request<hyper::body::Incoming>,
        client_ip: IpAddr,
        started: Instant,
    ) -> (hyper::Response<HyperOutgoingBody>, Outcome) {
        let head = req.method() == http::Method::HEAD;
        if let Some(stored) = cache.lookup(&key, req.headers(), Instant::now()) {
            // The limiter's counters are in memory by default; in SQLite
            // (`--rate-limit-store data`) charging them waits on the writer: off the worker.
            let in_place = self.limit_counters.as_ref().is_none_or(|c| c.is_memory())
                || tokio::runtime::Handle::current().runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread;
            let refusal = if in_place {
                charge(self.limit_counters.as_ref(), &self.metrics, &stored, client_ip)
            } else {
                // On the blocking pool, not in place: many charges wait on their round trips
                // to a shared store (Redis) at once, not one per worker thread.
                let (counters, metrics, copy) = (self.limit_counters.clone(), self.metrics.clone(), stored.clone());
                match tokio::task::spawn_blocking(move || charge(counters.as_ref(), &metrics, &copy, client_ip)).await {
                    Ok(refusal) => refusal,
                    Err(_) => Some(super::json_response(503, "unavailable", "rate limiter unavailable; try again")),
                }
            };
            if let Some(refusal) = refusal {
                return (refusal, Outcome::Refused);
            }
            return (full(stored.answer(req.headers(), head, Instant::now(), "HIT")), Outcome::Hit);
        }
        // A miss: the component is asked for its whole answer (a GET, without the client's
        // conditions), so that the copy can answer every later request.
        let mut conditions = HeaderMap::new();
        for name in CONDITIONS {
            if let Some(v) = req.headers_mut().remove(&name) {
                conditions.insert(name, v);
            }
        }
        if head {
            *req.method_mut() = http::Method::GET;
        }
        let request_headers = req.headers().clone();
        let generation = cache.generation();
        let response = match self.run(req, started).await {
            Ok(r) => r,
            Err(failure) => {
                cache.count_pass();
                return (self.failure_response(failure), Outcome::Pass);
            }
        };
        let (mut parts, body) = response.into_parts();
        let length = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|l| *l <= cache.max_entry_bytes());
        if let (Some(admission), Some(length)) = (edge_cache::admit(parts.status, &parts.headers), length) {
            cache.count_miss();
            let body = match collect(body, length).await {
                Ok(b) => b,
                Err(why) => {
                    tracing::warn!(%key, %why, "a cacheable answer broke off");
                    let failure = Failure::Unavailable("the answer broke off; try again".into());
                    return (self.failure_response(failure), Outcome::Miss);
                }
            };
            let now = Instant::now();
            let stored = Arc::new(Stored::new(admission, parts.headers, body, &request_headers, now));
            cache.insert(&key, generation, stored.clone());
            return (full(stored.answer(&conditions, head, now, "MISS")), Outcome::Miss);
        }
        // Not stored (not cacheable, or too large): passed through, the client's conditions
        // answered on the component's validators.
        cache.count_pass();
        edge_cache::strip_internal(&mut parts.headers);
        parts.headers.insert(X_CACHE, HeaderValue::from_static("MISS"));
        if parts.status == http::StatusCode::OK {
            let etag = parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok());
            let last_modified = parts
                .headers
                .get(header::LAST_MODIFIED)
                .and_then(|v| v.to_str().ok())
                .and_then(http_semantics::parse_http_date);
            if edge_cache::not_modified(&conditions, etag, last_modified) {
                parts.status = http::StatusCode::NOT_MODIFIED;
                parts.headers = edge_cache::not_modified_headers(parts.headers);
                return (full(http::Response::from_parts(parts, Bytes::new())), Outcome::Pass);
            }
        }
        (hyper::Response::from_parts(parts, body), Outcome::Pass)
    }
}

/// The whole body of an answer whose `Content-Length` is `length`.
async fn collect(mut body: HyperOutgoingBody, length: usize) -> Result<Bytes, String> {
    let mut buf = BytesMut::with_capacity(length);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > length {
                return Err(format!("more than its Content-Length of {length} bytes"));
            }
            buf.extend_from_slice(&data);
        }
    }
    if buf.len() != length {
        return Err(format!("{} bytes of its Content-Length of {length}", buf.len()));
    }
    Ok(buf.freeze())
}

/// Charges an answer from the cache to the rate-limit budgets its component listed, on the
/// limiter's own counters; the refusal, a 429 (or 503, if the counters fail), when one is
/// spent.
fn charge(
    counters: Option<&crate::keyvalue::Bucket>,
    metrics: &crate::metrics::Metrics,
    stored: &Stored,
    client_ip: IpAddr,
) -> Option<hyper::Response<HyperOutgoingBody>> {
    let (budgets, Some(counters)) = (stored.budgets(), counters) else { return None };
    if budgets.is_empty() {
        return None;
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let ip = client_ip.to_string();
    for budget in budgets {
        let Ok(policy) = sliding_window::Policy::new(budget.limit, budget.window_ms) else { continue };
        let mut counters = counters;
        match sliding_window::check(&mut counters, &budget.key_for(&ip), &policy, now_ms) {
            Ok(d) if d.allowed => {}
            Ok(d) => {
                metrics.cache_refusals.fetch_add(1, Ordering::Relaxed);
                let secs = d.retry_after_ms.div_ceil(1000).max(1);
                let message = format!(
                    "more than {} fetches from {} in {} s; retry in {secs} s",
                    budget.limit,
                    budget.of,
                    budget.window_ms / 1000
                );
                let mut response = super::json_response(429, "rate_limited", &message);
                response.headers_mut().insert(header::RETRY_AFTER, secs.into());
                return Some(response);
            }
            Err(e) => {
                tracing::error!(error = %e, "the rate limiter's counters failed");
                return Some(super::json_response(503, "unavailable", "rate limiter unavailable; try again"));
            }
        }
    }
    None
}
