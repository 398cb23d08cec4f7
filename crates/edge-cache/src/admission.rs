//! What may be cached: the key a request is looked up by, and what an answer's head says about
//! storing it (its lifetime, variants, surrogate keys and rate-limit budgets).

use crate::{CLIENT_IP, EDGE_RATE_LIMIT, SURROGATE_CONTROL, SURROGATE_KEY};
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Uri};
use std::time::Duration;

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
    /// Fetches allowed per window.
    pub limit: u32,
    /// The window, in milliseconds.
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
