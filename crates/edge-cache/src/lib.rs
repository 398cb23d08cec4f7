//! A response cache in front of the components, as an edge platform's cache sits in front of
//! its compute (Fastly's in front of Compute, Cloudflare's in front of Workers).
//!
//! What it keeps: the `200` answers to `GET` requests without `Authorization` that the
//! component marked cacheable — `Cache-Control` with a lifetime (`s-maxage` or `max-age`) and
//! neither `private`, `no-store` nor `no-cache`, no `Set-Cookie`, no `Vary: *` — for that
//! lifetime at most (or the one `Surrogate-Control: max-age` gives this cache alone), keyed by the request's host and path with query, and per variant by the
//! request headers the answer's `Vary` names (`Accept-Encoding` by whether it accepts gzip, so
//! the gzip and identity answers are the two variants a subscription has).
//!
//! What it answers: `GET` and `HEAD`, with `304` when the request's `If-None-Match` (or, without
//! it, `If-Modified-Since`) matches the copy's validators ([`Stored::answer`]), an `Age`, and
//! `X-Cache: HIT`.
//!
//! How it stays exact:
//! - answers are tagged by the component with `Surrogate-Key` (space-separated keys) and
//!   [`EdgeCache::purge`] removes every answer tagged with a key;
//! - an answer produced while a purge ran is not stored: [`EdgeCache::generation`] is taken
//!   before the component is asked, and [`EdgeCache::insert`] refuses the copy if any purge
//!   happened since (the answer may have been made from the data the purge was about);
//! - the memory is bounded ([`EdgeCache::new`]): least recently used resources go first, and a
//!   single answer may take an eighth of it at most.
//!
//! How limits stay enforced: a component lists the rate-limit budgets its answer's fetches
//! count against in the header `Edge-Rate-Limit` ([`Budget`]); the host charges every answer
//! from the cache to them, on the same counters the component's limiter uses. Both headers are
//! between the component and the host: the cache strips them, and `Surrogate-Control`, from what
//! it sends.

#![forbid(unsafe_code)]

use bytes::Bytes;
use hashlink::LruCache;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The response header that tags an answer for [`EdgeCache::purge`]: space-separated keys.
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");

/// The response header that sets the copy's lifetime in this cache only (`max-age=N`, or
/// `no-store`), as Fastly's and the Edge Architecture's `Surrogate-Control`; it takes
/// precedence over `Cache-Control`, which stays what clients see.
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");

/// The response header that lists the rate-limit budgets answers from the cache are charged
/// to ([`Budget::parse_header`]).
pub const EDGE_RATE_LIMIT: HeaderName = HeaderName::from_static("edge-rate-limit");

/// The response header that says where an answer came from: `HIT` (the cache) or `MISS` (the
/// component, for a request the cache could have answered).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// In a [`Budget`]'s key, stands for the IP address of the client being answered.
pub const CLIENT_IP: &str = "{client-ip}";

/// Variants one URL may have (one per combination of the `Vary`-selected request headers);
/// past it the oldest goes.
const MAX_VARIANTS: usize = 8;

/// What a stored answer costs beyond its key, headers and body (the structures around it).
const ENTRY_OVERHEAD: usize = 256;

/// The key under which a request may be answered from the cache — its host and its path with
/// query — or `None` when it may not: methods other than `GET` and `HEAD`, and any request with
/// `Authorization` (its answer belongs to whoever sent the credentials; such requests are never
/// answered from, nor stored in, the cache).
pub fn request_key(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if (method != Method::GET && method != Method::HEAD) || headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or_else(|| uri.host()).unwrap_or("");
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut key = String::with_capacity(host.len() + path.len());
    key.extend(host.chars().map(|c| c.to_ascii_lowercase()));
    key.push_str(path);
    Some(key)
}

/// A rate-limit budget that fetches of an answer count against: at most `limit` per `window_ms`
/// under `key`, on the counters of the component's own limiter (`blocklist:ratelimit`, whose
/// keys these are). `of` names what is limited, for the message of a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The limiter key; [`CLIENT_IP`] in it stands for the client's address.
    pub key: String,
    pub limit: u32,
    pub window_ms: u64,
    /// What the budget limits (`this subscription`, `this address`).
    pub of: String,
}

impl Budget {
    /// The budgets an `Edge-Rate-Limit` value lists, comma-separated, each
    /// `key;limit=N;window-ms=N[;of="text"]` (keys and texts without commas, semicolons or
    /// quotes). Items that do not parse are skipped.
    pub fn parse_header(value: &str) -> Vec<Budget> {
        value
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';').map(str::trim);
                let key = parts.next().filter(|k| !k.is_empty())?.to_owned();
                let (mut limit, mut window_ms, mut of) = (None, None, String::from("this client"));
                for param in parts {
                    match param.split_once('=')? {
                        ("limit", v) => limit = v.parse().ok(),
                        ("window-ms", v) => window_ms = v.parse().ok(),
                        ("of", v) => of = v.trim_matches('"').to_owned(),
                        _ => {}
                    }
                }
                Some(Budget { key, limit: limit?, window_ms: window_ms?, of })
            })
            .collect()
    }

    /// The limiter key for a fetch by the client at `client_ip`.
    pub fn key_for(&self, client_ip: &str) -> String {
        self.key.replace(CLIENT_IP, client_ip)
    }
}

/// Why, and for how long, an answer may be stored: what [`admit`] found in its head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// How long the copy may answer (`Surrogate-Control`'s `max-age`, else `s-maxage`, else
    /// `max-age`).
    pub lifetime: Duration,
    /// The request headers that select the variant (`Vary`), lowercase.
    pub vary: Vec<HeaderName>,
    /// Its `Surrogate-Key`s.
    pub surrogate_keys: Vec<String>,
    /// Its `Edge-Rate-Limit` budgets.
    pub budgets: Vec<Budget>,
}

/// The items of a comma-separated list header, over all its lines (not trimmed).
fn list_items<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
}

/// Whether an answer with this status and these headers may be stored, and how.
pub fn admit(status: StatusCode, headers: &HeaderMap) -> Option<Admission> {
    if status != StatusCode::OK || headers.contains_key(header::SET_COOKIE) {
        return None;
    }
    // `public` alone gives no lifetime: an answer must state one (`max-age` or `s-maxage`).
    let mut lifetime = None;
    let mut shared_lifetime = None;
    for directive in list_items(headers, &header::CACHE_CONTROL) {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        let seconds = || value.and_then(|v| v.parse::<u64>().ok()).map(Duration::from_secs);
        match name.to_ascii_lowercase().as_str() {
            "private" | "no-store" | "no-cache" => return None,
            "max-age" => lifetime = seconds(),
            "s-maxage" => shared_lifetime = seconds(),
            _ => {}
        }
    }
    let mut edge_lifetime = None;
    for directive in list_items(headers, &SURROGATE_CONTROL) {
        match directive.trim().split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("max-age") => {
                edge_lifetime = value.trim().trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
            }
            None if directive.trim().eq_ignore_ascii_case("no-store") => return None,
            _ => {}
        }
    }
    let lifetime = edge_lifetime.or(shared_lifetime).or(lifetime).filter(|l| !l.is_zero())?;
    let mut vary = Vec::new();
    for name in list_items(headers, &header::VARY) {
        let name = name.trim();
        if name == "*" {
            return None;
        }
        if !name.is_empty() {
            vary.push(HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()?);
        }
    }
    let surrogate_keys = headers
        .get_all(SURROGATE_KEY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(str::split_whitespace)
        .map(str::to_owned)
        .collect();
    let budgets = headers
        .get_all(EDGE_RATE_LIMIT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Budget::parse_header)
        .collect();
    Some(Admission { lifetime, vary, surrogate_keys, budgets })
}

/// Removes what a client must not see from an answer's headers: hop-by-hop headers and the ones
/// addressed to the cache ([`SURROGATE_KEY`], [`SURROGATE_CONTROL`], [`EDGE_RATE_LIMIT`]).
pub fn strip_internal(headers: &mut HeaderMap) {
    for name in [
        SURROGATE_KEY,
        SURROGATE_CONTROL,
        EDGE_RATE_LIMIT,
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
}

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
    body: Bytes,
    etag: Option<String>,
    last_modified_secs: Option<u64>,
    stored_at: Instant,
    expires_at: Instant,
    budgets: Vec<Budget>,
    surrogate_keys: Vec<String>,
    /// The variant's selecting values (see [`variant_of`]).
    variant: Vec<Option<String>>,
    vary: Vec<HeaderName>,
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
    fn selected_by(&self, request: &HeaderMap) -> bool {
        self.vary
            .iter()
            .zip(&self.variant)
            .all(|(name, want)| variant_value(name, request).as_deref() == want.as_deref())
    }

    /// Memory it takes, as the cache accounts it.
    fn cost(&self, key: &str) -> usize {
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

/// What one URL has in the cache: its variants, newest last.
struct Resource {
    variants: Vec<Arc<Stored>>,
    cost: usize,
}

impl Resource {
    fn surrogate_keys(&self) -> HashSet<&str> {
        self.variants.iter().flat_map(|v| v.surrogate_keys.iter().map(String::as_str)).collect()
    }
}

#[derive(Default)]
struct State {
    resources: LruCacheDefault,
    bytes: usize,
    /// Surrogate key → the URLs (resource keys) with an answer tagged with it.
    by_surrogate_key: HashMap<String, HashSet<String>>,
}

/// [`LruCache`] with a [`Default`].
struct LruCacheDefault(LruCache<String, Resource>);

impl Default for LruCacheDefault {
    fn default() -> Self {
        LruCacheDefault(LruCache::new_unbounded())
    }
}

impl State {
    /// Removes the resource at `key` and its tags; returns its variants' count.
    fn remove(&mut self, key: &str) -> usize {
        let Some(resource) = self.resources.0.remove(key) else { return 0 };
        self.untag(key, &resource);
        self.bytes -= resource.cost;
        resource.variants.len()
    }

    fn untag(&mut self, key: &str, resource: &Resource) {
        for tag in resource.surrogate_keys() {
            if let Some(keys) = self.by_surrogate_key.get_mut(tag) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_surrogate_key.remove(tag);
                }
            }
        }
    }
}

/// Counts since the start, and the cache's size now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests the cache had no fresh copy for, whose answer it could keep
    /// ([`EdgeCache::count_miss`]).
    pub misses: u64,
    /// Requests the cache had no copy for, whose answer it could not keep (not cacheable, or
    /// too large: [`EdgeCache::count_pass`]).
    pub passes: u64,
    /// Answers stored.
    pub stores: u64,
    /// Answers removed to make room.
    pub evictions: u64,
    /// Purges (calls of [`EdgeCache::purge`]).
    pub purges: u64,
    /// Answers removed by purges.
    pub purged: u64,
    /// Answers not stored because a purge ran while they were made.
    pub discarded: u64,
    /// Answers stored now (variants counted).
    pub entries: u64,
    /// Memory they take, as accounted.
    pub bytes: u64,
    /// The bound on it.
    pub max_bytes: u64,
}

/// The cache: bounded, shared by every request of the host.
pub struct EdgeCache {
    state: Mutex<State>,
    max_bytes: usize,
    max_entry_bytes: usize,
    /// Purges so far; changed only under the state's lock.
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    passes: AtomicU64,
    stores: AtomicU64,
    evictions: AtomicU64,
    purges: AtomicU64,
    purged: AtomicU64,
    discarded: AtomicU64,
}

impl EdgeCache {
    /// A cache that keeps at most `max_bytes` of answers (headers, bodies and keys counted);
    /// one answer may take an eighth of it.
    pub fn new(max_bytes: usize) -> EdgeCache {
        EdgeCache {
            state: Mutex::default(),
            max_bytes,
            max_entry_bytes: max_bytes / 8,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            purges: AtomicU64::new(0),
            purged: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        }
    }

    /// The largest body stored; a larger answer goes to the client from the component.
    pub fn max_entry_bytes(&self) -> usize {
        self.max_entry_bytes
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is completed
        // before anything that could panic); the cache goes on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fresh copy that answers a request with `request` headers for `key`, if there is one
    /// (counted as a hit). Without one, the caller counts a miss or a pass once it has the
    /// component's answer.
    pub fn lookup(&self, key: &str, request: &HeaderMap, now: Instant) -> Option<Arc<Stored>> {
        let found = {
            let mut state = self.state();
            let found = state
                .resources
                .0
                .get(key)
                .and_then(|resource| resource.variants.iter().find(|v| v.selected_by(request)).cloned());
            match found {
                Some(v) if !v.is_fresh(now) => {
                    state.remove(key);
                    None
                }
                other => other,
            }
        };
        if found.is_some() {
            self.hits.fetch_add(1, Relaxed);
        }
        found
    }

    /// Counts a request without a copy whose answer could be kept.
    pub fn count_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    /// Counts a request without a copy whose answer could not be kept.
    pub fn count_pass(&self) {
        self.passes.fetch_add(1, Relaxed);
    }

    /// The purge generation: take it before asking the component for an answer, and give it
    /// to [`EdgeCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Stores `stored` as the answer for `key`, unless a purge ran since `generation`, or it is
    /// larger than [`EdgeCache::max_entry_bytes`]. Returns whether it was stored.
    pub fn insert(&self, key: &str, generation: u64, stored: Arc<Stored>) -> bool {
        if stored.body.len() > self.max_entry_bytes {
            return false;
        }
        let mut state = self.state();
        if self.generation.load(Relaxed) != generation {
            self.discarded.fetch_add(1, Relaxed);
            return false;
        }
        let mut resource = match state.resources.0.remove(key) {
            Some(r) => {
                state.untag(key, &r);
                state.bytes -= r.cost;
                r
            }
            None => Resource { variants: Vec::new(), cost: 0 },
        };
        // Another `Vary` makes the old variants meaningless; the same variant is replaced.
        resource.variants.retain(|v| v.vary == stored.vary && v.variant != stored.variant);
        if resource.variants.len() >= MAX_VARIANTS {
            resource.variants.remove(0);
        }
        resource.variants.push(stored);
        resource.cost = resource.variants.iter().map(|v| v.cost(key)).sum();
        for tag in resource.surrogate_keys() {
            state.by_surrogate_key.entry(tag.to_owned()).or_default().insert(key.to_owned());
        }
        state.bytes += resource.cost;
        state.resources.0.insert(key.to_owned(), resource);
        self.stores.fetch_add(1, Relaxed);
        while state.bytes > self.max_bytes {
            let Some((old_key, old)) = state.resources.0.remove_lru() else { break };
            state.untag(&old_key, &old);
            state.bytes -= old.cost;
            self.evictions.fetch_add(old.variants.len() as u64, Relaxed);
        }
        true
    }

    /// Removes every answer tagged with surrogate key `tag`; answers being made meanwhile are
    /// not stored ([`EdgeCache::insert`]). Returns how many were removed.
    pub fn purge(&self, tag: &str) -> usize {
        let mut state = self.state();
        self.generation.fetch_add(1, Relaxed);
        let keys: Vec<String> =
            state.by_surrogate_key.get(tag).map(|k| k.iter().cloned().collect()).unwrap_or_default();
        let removed: usize = keys.iter().map(|k| state.remove(k)).sum();
        drop(state);
        self.purges.fetch_add(1, Relaxed);
        self.purged.fetch_add(removed as u64, Relaxed);
        removed
    }

    /// Counts and size.
    pub fn stats(&self) -> Stats {
        let (entries, bytes) = {
            let state = self.state();
            (state.resources.0.iter().map(|(_, r)| r.variants.len() as u64).sum(), state.bytes as u64)
        };
        Stats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            passes: self.passes.load(Relaxed),
            stores: self.stores.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            purges: self.purges.load(Relaxed),
            purged: self.purged.load(Relaxed),
            discarded: self.discarded.load(Relaxed),
            entries,
            bytes,
            max_bytes: self.max_bytes as u64,
        }
    }
}

#[cfg(test)]
mod tests;
