//! Serving a subscription: `GET`/`HEAD /s/…` by token — the token's lookup (cached on the
//! node), the per-subscription and per-address limits, the edge cache's headers, and the file
//! in the subscription's format with its validators, `304`s and gzip.

use super::*;

/// How long a node trusts its cached copy of a subscription token: the longest a revoked token
/// keeps working on another node.
pub const TOKEN_CACHE_MS: u64 = edge_store::caches::REVALIDATE_MS;

/// A value in the node-local cache with an expiry: a format byte (1), `expires_at_ms` (u64 LE),
/// then the value.
fn cache_encode(expires_at_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + value.len());
    out.push(1);
    out.extend_from_slice(&expires_at_ms.to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn cache_decode(bytes: &[u8], now: u64) -> Option<&[u8]> {
    let (&format, rest) = bytes.split_first()?;
    let expires = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    (format == 1 && expires > now).then(|| &rest[8..])
}

/// A record this node cached at `key`, if it has one that has not expired at `now`.
fn cached<T: serde::de::DeserializeOwned>(cache: Option<&Kv>, key: &str, now: u64) -> Option<T> {
    let bytes = cache?.get(key).ok().flatten()?;
    serde_json::from_slice(cache_decode(&bytes, now)?).ok()
}

/// Caches `value` at `key` on this node until `expires_at_ms`, unless `still_current` finds
/// that what it was made from changed meanwhile ([`edge_store::caches::fill`]).
fn cache_record<T: serde::Serialize>(
    cache: Option<&Kv>,
    key: &str,
    expires_at_ms: u64,
    value: &T,
    still_current: impl FnOnce() -> bool,
) {
    if let (Some(cache), Ok(bytes)) = (cache, serde_json::to_vec(value)) {
        edge_store::caches::fill(cache, key, &cache_encode(expires_at_ms, &bytes), still_current);
    }
}

/// Where the token of a subscription fetch is: the path (`/s/{token}[/{file}]`), else HTTP
/// Basic credentials (the password, or the user name, that has a token's shape).
enum TokenIn<'a> {
    Path(&'a str),
    /// `/s/{token}/lookup/{name}`: a lookup, if the subscription allows them.
    Lookup(&'a str, &'a str),
    Basic(String),
    /// Neither: the client is asked for Basic credentials.
    Missing,
    /// Not a subscription path at all.
    NotFound,
}

fn locate_token(req: &Request) -> TokenIn<'_> {
    let rest = req.path.strip_prefix("/s").unwrap_or("");
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    match segments.as_slice() {
        [token] | [token, _] if token.starts_with(SUBSCRIPTION_TOKEN_PREFIX) => TokenIn::Path(token),
        [token, "lookup", name] if token.starts_with(SUBSCRIPTION_TOKEN_PREFIX) => TokenIn::Lookup(token, name),
        [] | [_] => match req.header("authorization").and_then(conditional::basic_credentials) {
            Some((_, password)) if password.starts_with(SUBSCRIPTION_TOKEN_PREFIX) => TokenIn::Basic(password),
            Some((user, _)) if user.starts_with(SUBSCRIPTION_TOKEN_PREFIX) => TokenIn::Basic(user),
            _ => TokenIn::Missing,
        },
        _ => TokenIn::NotFound,
    }
}

/// Whether `path` is a subscription URL (`/s` and below).
pub(crate) fn is_subscription_path(path: &str) -> bool {
    path == "/s" || path.starts_with("/s/")
}

/// A 404 that says nothing about why.
fn not_found() -> ApiError {
    ApiError::not_found("not found")
}

/// Answers a subscription fetch (`GET`/`HEAD /s/…`); no API token, limits of its own.
pub(crate) fn serve(req: &Request, settings: &Settings, lists: &Kv) -> Response {
    match fetch(req, settings, lists) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
    .with_header("x-content-type-options", "nosniff")
}

fn fetch(req: &Request, settings: &Settings, lists: &Kv) -> Result<Response> {
    let head = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(api::method_not_allowed("GET, HEAD")),
    };
    let (token, basic) = match locate_token(req) {
        TokenIn::Path(t) => (t.to_owned(), false),
        TokenIn::Lookup(t, name) => return lookup(req, settings, lists, t, name),
        TokenIn::Basic(t) => (t, true),
        TokenIn::Missing => {
            let mut e = ApiError::new(401, "unauthorized", "send the subscription token as HTTP Basic credentials");
            e.headers.push(("www-authenticate".into(), "Basic realm=\"blocklist-edge\", charset=\"UTF-8\"".into()));
            return Err(e);
        }
        TokenIn::NotFound => return Err(not_found()),
    };
    // This node's cache, opened once for the request.
    let node = Kv::open(STORE_CACHE).ok();
    let now = now_ms();
    let sub = opened(req, settings, lists, node.as_ref(), &token, now)?;
    let format = Format::parse(&sub.format).ok_or_else(not_found)?;
    let meta = rendition(settings, lists, node.as_ref(), now, &sub, format)?;
    respond(req, settings, node.as_ref(), &sub, format, Fetch { head, basic }, &meta)
}

/// `GET /s/{token}/lookup/{name}[?type=…]`: the lookup `GET /v1/lists/{id}/lookup` answers,
/// through a subscription token whose subscription allows lookups (403 otherwise), counted
/// against the subscription's budgets like its fetches.
fn lookup(req: &Request, settings: &Settings, lists: &Kv, token: &str, name: &str) -> Result<Response> {
    if req.method != "GET" {
        return Err(api::method_not_allowed("GET"));
    }
    let node = Kv::open(STORE_CACHE).ok();
    let sub = opened(req, settings, lists, node.as_ref(), token, now_ms())?;
    if !sub.lookup {
        return Err(ApiError::new(
            403,
            "lookup_not_allowed",
            "this subscription does not answer lookups; its owner can create one with \"lookup\": true",
        ));
    }
    if req.query.split('&').any(|p| p == "name" || p.starts_with("name=")) {
        return Err(ApiError::bad_request("the name is in the path: /s/{token}/lookup/{name}[?type=…]"));
    }
    let query = if req.query.is_empty() { format!("name={name}") } else { format!("name={name}&{}", req.query) };
    let (name, qtype) = api::parse_lookup_query(&query)?;
    api::look_up(lists, &sub.list_id, &name, qtype.as_deref())
}

/// The subscription `token` opens, once its fetch is within the subscription's rate limits; a
/// token that opens none is a bare 404, counted against the address's budget of failed
/// authentications.
fn opened(
    req: &Request,
    settings: &Settings,
    lists: &Kv,
    node: Option<&Kv>,
    token: &str,
    now: u64,
) -> Result<SubscriptionToken> {
    let found = if is_token_shaped(token) { lookup_token(lists, node, token, now)? } else { None };
    let Some(sub) = found else {
        return Err(api::refuse_unauthenticated(req, settings, not_found()));
    };
    limit(req, settings, &sub)?;
    Ok(sub)
}

/// The subscription a token opens, from this node's cache or the store.
fn lookup_token(lists: &Kv, node: Option<&Kv>, token: &str, now: u64) -> Result<Option<SubscriptionToken>> {
    let key = subscription_token_key(&api::sha256_hex(token.as_bytes()));
    if let Some(hit) = cached(node, &key, now) {
        return Ok(Some(hit));
    }
    let Some(sub) = lists.get_json::<SubscriptionToken>(&key)? else { return Ok(None) };
    // Not kept if the subscription was revoked or rotated while it was read.
    cache_record(node, &key, now + TOKEN_CACHE_MS, &sub, || lists.get(&key).ok().flatten().is_some());
    Ok(Some(sub))
}

/// In an `Edge-Rate-Limit` budget, stands for the address of the client the host's edge cache
/// answers (see the `edge-cache` crate).
const CLIENT_IP_PLACEHOLDER: &str = "{client-ip}";

/// The budgets a fetch of `sub` by the client at `address` counts against: (limiter key,
/// limit, what it limits). Limits of 0 are none.
fn budgets(settings: &Settings, sub: &SubscriptionToken, address: Option<&str>) -> Vec<(String, u32, &'static str)> {
    let mut budgets = Vec::with_capacity(2);
    if settings.subscription_rate_limit > 0 {
        budgets.push((format!("sub:{}", sub.subscription_id), settings.subscription_rate_limit, "this subscription"));
    }
    if let (Some(address), limit @ 1..) = (address, settings.subscription_address_limit) {
        budgets.push((format!("sub-addr:{address}"), limit, "this address"));
    }
    budgets
}

/// Counts the fetch against its subscription's and its client address's budgets.
fn limit(req: &Request, settings: &Settings, sub: &SubscriptionToken) -> Result<()> {
    let address = req.header(api::CLIENT_ADDR_HEADER).and_then(api::client_ip);
    for (key, limit, whom) in budgets(settings, sub, address) {
        let d = api::check_limit(&key, limit, settings)?;
        if !d.allowed {
            return Err(api::refused(&d, "rate_limited", |secs| {
                format!("more than {limit} fetches from {whom} in {} s; retry in {secs} s", settings.rate_window_secs)
            }));
        }
    }
    Ok(())
}

/// The headers that let the host's edge cache keep a public answer and stay exact: its surrogate
/// keys (purged when the list is republished or the subscription revoked), its lifetime there
/// (`Surrogate-Control`: no longer than this node's cache of the rendition's record, whose
/// entry a request racing a compile can put back stale for that long), and the budgets its
/// fetches from the cache count against, on the same counters as [`limit`].
fn edge_cache_headers(settings: &Settings, sub: &SubscriptionToken) -> [(&'static str, String); 3] {
    let window_ms = settings.rate_window_secs.saturating_mul(1000);
    let budgets: Vec<String> = budgets(settings, sub, Some(CLIENT_IP_PLACEHOLDER))
        .into_iter()
        .map(|(key, limit, of)| format!("{key};limit={limit};window-ms={window_ms};of=\"{of}\""))
        .collect();
    [
        (
            "surrogate-key",
            format!(
                "{} {}",
                edge_store::caches::list_tag(&sub.list_id),
                edge_store::caches::subscription_tag(&sub.subscription_id)
            ),
        ),
        ("surrogate-control", format!("max-age={}", settings.cache_ttl_secs.min(settings.subscription_max_age_secs))),
        ("edge-rate-limit", budgets.join(", ")),
    ]
}

/// The current rendition for the subscription: from this node's cache (a small record, so
/// that a `304` reads nothing more), else from the store, made first if need be.
fn rendition(
    settings: &Settings,
    lists: &Kv,
    node: Option<&Kv>,
    now: u64,
    sub: &SubscriptionToken,
    format: Format,
) -> Result<RenditionMeta> {
    let key = rendition_key(&sub.list_id, format.name());
    if let Some(hit) = cached(node, &key, now) {
        return Ok(hit);
    }
    let compiled: CompiledMeta = lists
        .get_json(&compiled_key(&sub.list_id))?
        .ok_or_else(|| ApiError::new(404, "not_compiled", "this list has not been compiled yet; try again later"))?;
    let list = match live_list(lists, &sub.list_id)? {
        Some(l) if l.owner == sub.owner => l,
        _ => return Err(not_found()),
    };
    let meta = renditions::current(lists, &compiled, &wanted(&list, format, settings))?;
    // Not kept if a compile replaced the artifact, or an update renamed the list, meanwhile.
    // Trusted for a second at most: a compile on another node shows here within that.
    let trusted_ms = (settings.cache_ttl_secs * 1000).min(edge_store::caches::REVALIDATE_MS);
    cache_record(node, &key, now + trusted_ms, &meta, || {
        let artifact = lists.get_json::<CompiledMeta>(&compiled_key(&sub.list_id)).ok().flatten();
        let record = live_list(lists, &sub.list_id).ok().flatten();
        artifact.is_some_and(|a| a.etag == compiled.etag) && record.is_some_and(|l| l.revision == list.revision)
    });
    Ok(meta)
}

/// The body of a rendition (`gzip`: its compressed copy): small ones from this node's cache
/// (filled on a miss; keyed by the rendition's build, so never stale), large ones streamed
/// from the store a chunk at a time.
fn body(
    node: Option<&Kv>,
    sub: &SubscriptionToken,
    format: Format,
    meta: &RenditionMeta,
    gzip: bool,
    response: &mut Response,
) -> Result<()> {
    let lists = Kv::open(STORE_LISTS)?;
    let prefix = rendition_prefix(&sub.list_id, format.name(), &meta.build, gzip);
    let (length, chunks) = if gzip { (meta.gzip_length, meta.gzip_chunks) } else { (meta.length, meta.chunks) };
    if length as usize > MAX_CACHE_BODY {
        response.chunked = Some(ChunkedBody { kv: lists, prefix, count: chunks });
        return Ok(());
    }
    if let Some(hit) = node.and_then(|c| c.get(&prefix).ok().flatten()).filter(|b| b.len() as u64 == length) {
        response.body = hit;
        return Ok(());
    }
    let bytes = lists
        .get_chunks(&prefix, chunks, length as usize)?
        .filter(|b| b.len() as u64 == length)
        .ok_or_else(|| ApiError::unavailable("this list is being replaced; try again"))?;
    if let Some(node) = node {
        let _ = node.set(&prefix, &bytes);
    }
    response.body = bytes;
    Ok(())
}

/// How a subscription fetch asked.
#[derive(Clone, Copy)]
struct Fetch {
    /// `HEAD`: headers only.
    head: bool,
    /// The token came as HTTP Basic credentials.
    basic: bool,
}

/// The answer: 304 when the client has it, else the rendition (gzip when accepted), with the
/// headers subscribers rely on.
fn respond(
    req: &Request,
    settings: &Settings,
    node: Option<&Kv>,
    sub: &SubscriptionToken,
    format: Format,
    Fetch { head, basic }: Fetch,
    meta: &RenditionMeta,
) -> Result<Response> {
    let identity_tag = format!("\"{}\"", meta.etag);
    let gzip_tag = format!("\"{}-gzip\"", meta.etag);
    let gzip = conditional::accepts_gzip(req.header("accept-encoding")) && meta.gzip_length < meta.length;
    let etag = if gzip { &gzip_tag } else { &identity_tag };
    // Credentials in a header make the answer one user's (RFC 9111 3.5); a URL's secret does not.
    let visibility = if basic { "private" } else { "public" };
    let common = |mut r: Response| {
        if !basic {
            for (name, value) in edge_cache_headers(settings, sub) {
                if !value.is_empty() {
                    r = r.with_header(name, value);
                }
            }
        }
        r.with_header("etag", etag.clone())
            .with_header("last-modified", conditional::http_date(meta.last_modified_ms))
            .with_header("cache-control", format!("{visibility}, max-age={}", settings.subscription_max_age_secs))
            .with_header("vary", "accept-encoding")
            .with_header("x-blocklist-entries", meta.stats.entries.to_string())
            .with_header("x-blocklist-omitted", meta.stats.omitted.to_string())
            .with_header("x-blocklist-version", meta.version.to_string())
    };
    let unmodified = match req.header("if-none-match") {
        // If-None-Match decides when present (RFC 9110 13.2.2).
        Some(inm) => conditional::if_none_match(inm, &[&identity_tag, &gzip_tag]),
        None => req
            .header("if-modified-since")
            .is_some_and(|ims| conditional::not_modified_since(ims, meta.last_modified_ms)),
    };
    if unmodified {
        return Ok(common(Response::empty(304)));
    }
    let length = if gzip { meta.gzip_length } else { meta.length };
    let mut response = common(Response::empty(200))
        .with_header("content-type", "text/plain; charset=utf-8")
        .with_header("content-length", length.to_string());
    if gzip {
        response = response.with_header("content-encoding", "gzip");
    }
    if !head {
        body(node, sub, format, meta, gzip, &mut response)?;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(file_name("Pi-hole at home", Format::Hosts), "pi-hole-at-home.txt");
        assert_eq!(file_name("  ***  ", Format::Rpz), format!("rpz.{}", Format::Rpz.file_name_suffix()));
        assert_eq!(file_name("Ünïcödé list", Format::Domains), "n-c-d-list.txt");
    }

    #[test]
    fn cache_entries_expire() {
        let entry = cache_encode(10, b"v");
        assert_eq!(cache_decode(&entry, 9), Some(&b"v"[..]));
        assert_eq!(cache_decode(&entry, 10), None, "expired");
        assert_eq!(cache_decode(b"\x01short", 0), None);
        assert_eq!(cache_decode(b"", 0), None);
    }

    #[test]
    fn token_shape() {
        assert!(is_token_shaped(&format!("bls_{}", "a".repeat(64))));
        assert!(!is_token_shaped(&format!("bls_{}", "a".repeat(63))));
        assert!(!is_token_shaped(&format!("ble_{}", "a".repeat(64))));
        assert!(!is_token_shaped(&format!("bls_{}", "g".repeat(64))));
    }
}
