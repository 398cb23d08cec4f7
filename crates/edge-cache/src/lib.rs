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
#![warn(missing_docs)]

mod admission;
mod cache;
mod stored;
#[cfg(test)]
mod tests;

pub use admission::{Admission, Budget, admit, request_key, strip_internal};
pub use cache::{EdgeCache, Stats};
pub use stored::{Stored, not_modified, not_modified_headers};

use http::header::HeaderName;

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
