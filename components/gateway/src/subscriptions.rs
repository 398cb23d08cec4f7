//! Subscriptions: the URLs that DNS resolvers and ad blockers fetch a list from, in their own
//! format, without an API token.
//!
//! The owner of a list creates subscriptions on it (`/v1/lists/{id}/subscriptions`), each with
//! a name, a format and a secret token shown once (only its hash is kept, like a user's). The
//! token opens `GET`/`HEAD /s/{token}` (and `/s/{token}/{file name}`), or `/s/{file name}` with
//! the token as HTTP Basic credentials. The answer is the compiled list in the subscription's
//! format ([`edge_store::renditions`]), `text/plain`, never HTML and never a redirect, with a
//! strong `ETag`, `Last-Modified`, `304`s, `HEAD` and gzip. An unknown or revoked token is a
//! bare `404`. Fetches are limited per subscription and per client address, apart from the
//! owner's API budget.

use crate::api::{self, ApiError, Result, Settings, User};
use crate::conditional;
use crate::http::{ChunkedBody, Request, Response};
use edge_store::kv::Kv;
use edge_store::model::*;
use edge_store::renditions::{self, Wanted};
use list_formats::Format;
use serde::{Deserialize, Serialize};

/// The body of `POST /v1/lists/{id}/subscriptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSubscription {
    pub(crate) name: String,
    pub(crate) format: String,
}

/// The format named `raw`, or a 400 that lists the formats.
pub(crate) fn parse_format(raw: &str) -> Result<Format> {
    Format::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        ApiError::bad_request(format!("unknown format {raw:?}; formats: {}", names.join(", ")))
    })
}

/// A fresh subscription token and its hash.
fn new_token() -> (String, String) {
    let token =
        format!("{SUBSCRIPTION_TOKEN_PREFIX}{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)));
    let hash = api::sha256_hex(token.as_bytes());
    (token, hash)
}

/// Whether `token` has the shape of a subscription token (so that nothing else reaches a key).
fn is_token_shaped(token: &str) -> bool {
    token
        .strip_prefix(SUBSCRIPTION_TOKEN_PREFIX)
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The file name a subscription's URL ends with: its name in lowercase letters, digits and
/// dashes, and the format's suffix (`pi-hole.txt`, `home-router.conf`).
pub(crate) fn file_name(name: &str, format: Format) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { format.name() } else { &slug[..slug.len().min(60)] };
    format!("{}.{}", slug.trim_end_matches('-'), format.file_name_suffix())
}

/// The subscription URL's path for `token`.
fn subscription_path(token: &str, name: &str, format: Format) -> String {
    format!("/s/{token}/{}", file_name(name, format))
}

/// The absolute URL of `path`: on `public_base_url` if configured, else on the request's host.
fn absolute_url(req: &Request, settings: &Settings, path: &str) -> Option<String> {
    let base = settings.public_base_url.trim_end_matches('/');
    if !base.is_empty() {
        return Some(format!("{base}{path}"));
    }
    let host = req.header("host").filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))?;
    Some(format!("http://{host}{path}"))
}

fn owned_subscription(user: &User, lists: &Kv, list_id: &str, id: &str) -> Result<SubscriptionRecord> {
    match lists.get_json::<SubscriptionRecord>(&subscription_key(id))? {
        Some(s) if s.owner == user.id && s.list_id == list_id => Ok(s),
        _ => Err(ApiError::not_found(format!("subscription {id} not found"))),
    }
}

/// `POST /v1/lists/{id}/subscriptions`.
pub(crate) fn create(req: &Request, user: &User, settings: &Settings, lists: &Kv, list_id: &str) -> Result<Response> {
    let list = api::owned_list(user, lists, list_id)?;
    let input: NewSubscription = api::json_body(req)?;
    let name = api::validate_name(&input.name)?;
    let format = parse_format(&input.format)?;
    let id = new_id(SUBSCRIPTION_ID_PREFIX);
    // Reserve the id in the list's index first, with the quota check, so that a subscription
    // never exists that its list does not name (and a list delete does not miss).
    if !lists.add_to_index(&list_subscriptions_key(list_id), &id, MAX_SUBSCRIPTIONS_PER_LIST)? {
        return Err(ApiError::new(
            409,
            "too_many_subscriptions",
            format!("list {list_id} has {MAX_SUBSCRIPTIONS_PER_LIST} subscriptions already; delete one first"),
        ));
    }
    let (token, hash) = new_token();
    let record = SubscriptionRecord {
        id: id.clone(),
        list_id: list.id.clone(),
        owner: user.id.clone(),
        name,
        format: format.name().to_owned(),
        token_sha256: hash.clone(),
        created_at: now_rfc3339(),
        rotated_at: None,
    };
    lists.put_json(&subscription_key(&id), &record)?;
    lists.put_json(&subscription_token_key(&hash), &token_of(&record))?;
    let compiled = lists.get_json::<CompiledMeta>(&compiled_key(list_id))?;
    let body = with_token(req, settings, view(settings, lists, &list, compiled.as_ref(), &record)?, &record, &token);
    Ok(Response::json(201, &body).with_header("location", format!("/v1/lists/{list_id}/subscriptions/{id}")))
}

fn token_of(record: &SubscriptionRecord) -> SubscriptionToken {
    SubscriptionToken {
        subscription_id: record.id.clone(),
        list_id: record.list_id.clone(),
        owner: record.owner.clone(),
        format: record.format.clone(),
    }
}

/// The answer that shows a token, once: the subscription, the token, its path and URL.
#[derive(Serialize)]
struct WithToken<'a> {
    subscription: View<'a>,
    token: &'a str,
    path: String,
    url: Option<String>,
}

fn with_token<'a>(
    req: &Request,
    settings: &Settings,
    view: View<'a>,
    record: &SubscriptionRecord,
    token: &'a str,
) -> WithToken<'a> {
    let format = Format::parse(&record.format).unwrap_or(Format::Adblock);
    let path = subscription_path(token, &record.name, format);
    let url = absolute_url(req, settings, &path);
    WithToken { subscription: view, token, path, url }
}

/// A subscription as the API shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    id: &'a str,
    list_id: &'a str,
    name: &'a str,
    format: &'a str,
    format_description: &'static str,
    file_name: String,
    created_at: &'a str,
    rotated_at: &'a Option<String>,
    /// What its format makes of the list's current artifact; `null` before the first compile.
    published: Option<Published>,
}

/// A subscription's current file.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Published {
    etag: String,
    bytes: u64,
    gzip_bytes: u64,
    version: u64,
    last_modified: String,
    rules: u64,
    entries: u64,
    omitted: u64,
    omitted_sample: Vec<String>,
    narrowed: u64,
    widened: u64,
    unneeded: u64,
}

/// `GET /v1/lists/{id}/subscriptions`.
#[derive(Serialize)]
struct Page<'a> {
    subscriptions: Vec<View<'a>>,
}

/// A subscription to `list` as the API shows it, with what its format makes of the list's
/// current artifact `compiled` (made now if no fetch has made it yet).
fn view<'a>(
    settings: &Settings,
    lists: &Kv,
    list: &ListRecord,
    compiled: Option<&CompiledMeta>,
    record: &'a SubscriptionRecord,
) -> Result<View<'a>> {
    let format = Format::parse(&record.format).unwrap_or(Format::Adblock);
    let rendition =
        compiled.map(|compiled| renditions::current(lists, compiled, &wanted(list, format, settings))).transpose()?;
    Ok(View {
        id: &record.id,
        list_id: &record.list_id,
        name: &record.name,
        format: &record.format,
        format_description: format.describe(),
        file_name: file_name(&record.name, format),
        created_at: &record.created_at,
        rotated_at: &record.rotated_at,
        published: rendition.map(|r| Published {
            etag: format!("\"{}\"", r.etag),
            bytes: r.length,
            gzip_bytes: r.gzip_length,
            version: r.version,
            last_modified: rfc3339(r.last_modified_ms),
            rules: r.stats.rules,
            entries: r.stats.entries,
            omitted: r.stats.omitted,
            omitted_sample: r.stats.omitted_sample,
            narrowed: r.stats.narrowed,
            widened: r.stats.widened,
            unneeded: r.stats.unneeded,
        }),
    })
}

fn wanted<'a>(list: &'a ListRecord, format: Format, settings: &Settings) -> Wanted<'a> {
    Wanted { list_id: &list.id, format, title: &list.name, expires_hours: settings.subscription_expires_hours }
}

/// The caller's list and its current artifact, if compiled: what subscription views show.
fn published(user: &User, lists: &Kv, list_id: &str) -> Result<(ListRecord, Option<CompiledMeta>)> {
    let list = api::owned_list(user, lists, list_id)?;
    Ok((list, lists.get_json(&compiled_key(list_id))?))
}

/// `GET /v1/lists/{id}/subscriptions`.
pub(crate) fn list(user: &User, settings: &Settings, lists: &Kv, list_id: &str) -> Result<Response> {
    let (list, compiled) = published(user, lists, list_id)?;
    let ids: Vec<String> = lists.get_json(&list_subscriptions_key(list_id))?.unwrap_or_default();
    let mut records = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(record) = lists.get_json::<SubscriptionRecord>(&subscription_key(&id))?
            && record.owner == user.id
        {
            records.push(record);
        }
    }
    let subscriptions =
        records.iter().map(|r| view(settings, lists, &list, compiled.as_ref(), r)).collect::<Result<Vec<_>>>()?;
    Ok(Response::json(200, &Page { subscriptions }))
}

/// `GET /v1/lists/{id}/subscriptions/{sid}`.
pub(crate) fn get(user: &User, settings: &Settings, lists: &Kv, list_id: &str, id: &str) -> Result<Response> {
    let record = owned_subscription(user, lists, list_id, id)?;
    let (list, compiled) = published(user, lists, list_id)?;
    Ok(Response::json(200, &view(settings, lists, &list, compiled.as_ref(), &record)?))
}

/// `POST /v1/lists/{id}/subscriptions/{sid}/rotate`: a new token; the old one stops working.
pub(crate) fn rotate(
    req: &Request,
    user: &User,
    settings: &Settings,
    lists: &Kv,
    list_id: &str,
    id: &str,
) -> Result<Response> {
    let old = owned_subscription(user, lists, list_id, id)?;
    let (token, hash) = new_token();
    let record = SubscriptionRecord { token_sha256: hash.clone(), rotated_at: Some(now_rfc3339()), ..old.clone() };
    lists.put_json(&subscription_token_key(&hash), &token_of(&record))?;
    lists.put_json(&subscription_key(id), &record)?;
    revoke_token(lists, id, &old.token_sha256)?;
    let (list, compiled) = published(user, lists, list_id)?;
    let view = view(settings, lists, &list, compiled.as_ref(), &record)?;
    Ok(Response::json(200, &with_token(req, settings, view, &record, &token)))
}

/// `DELETE /v1/lists/{id}/subscriptions/{sid}`.
pub(crate) fn delete(user: &User, lists: &Kv, list_id: &str, id: &str) -> Result<Response> {
    let record = owned_subscription(user, lists, list_id, id)?;
    revoke_token(lists, id, &record.token_sha256)?;
    lists.delete(&subscription_key(id))?;
    lists.remove_from_index(&list_subscriptions_key(list_id), id)?;
    Ok(Response::empty(204))
}

/// Deletes every subscription of a list and its renditions (the list is being deleted).
pub(crate) fn delete_all_of_list(lists: &Kv, list_id: &str) -> Result<()> {
    let ids: Vec<String> = lists.get_json(&list_subscriptions_key(list_id))?.unwrap_or_default();
    for id in ids {
        if let Some(record) = lists.get_json::<SubscriptionRecord>(&subscription_key(&id))? {
            revoke_token(lists, &id, &record.token_sha256)?;
            lists.delete(&subscription_key(&id))?;
        }
    }
    lists.delete(&list_subscriptions_key(list_id))?;
    renditions::delete_all(lists, list_id)?;
    Ok(())
}

/// The token of subscription `id` stops working: its record goes, then this node's cached copy
/// and the answers the edge cache keeps for it (other nodes' copies expire within
/// [`TOKEN_CACHE_SECS`]).
fn revoke_token(lists: &Kv, id: &str, hash: &str) -> Result<()> {
    lists.delete(&subscription_token_key(hash))?;
    edge_store::caches::forget_subscription(id, hash);
    Ok(())
}

/// How long a node trusts its cached copy of a subscription token: the longest a revoked token
/// keeps working on another node.
pub const TOKEN_CACHE_SECS: u64 = 30;

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

/// Caches `value` at `key` on this node until `expires_at_ms` (best effort: the cache is an
/// optimisation).
fn cache_record<T: serde::Serialize>(cache: Option<&Kv>, key: &str, expires_at_ms: u64, value: &T) {
    if let (Some(cache), Ok(bytes)) = (cache, serde_json::to_vec(value)) {
        let _ = cache.set(key, &cache_encode(expires_at_ms, &bytes));
    }
}

/// Where the token of a subscription fetch is: the path (`/s/{token}[/{file}]`), else HTTP
/// Basic credentials (the password, or the user name, that has a token's shape).
enum TokenIn<'a> {
    Path(&'a str),
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
    let Some(sub) = (if is_token_shaped(&token) { lookup_token(lists, node.as_ref(), &token, now)? } else { None })
    else {
        // Failed lookups count against the address's budget of failed authentications.
        return Err(api::refuse_unauthenticated(req, settings, not_found()));
    };
    limit(req, settings, &sub)?;
    let format = Format::parse(&sub.format).ok_or_else(not_found)?;
    let meta = rendition(settings, lists, node.as_ref(), now, &sub, format)?;
    respond(req, settings, node.as_ref(), &sub, format, Fetch { head, basic }, &meta)
}

/// The subscription a token opens, from this node's cache or the store.
fn lookup_token(lists: &Kv, node: Option<&Kv>, token: &str, now: u64) -> Result<Option<SubscriptionToken>> {
    let key = subscription_token_key(&api::sha256_hex(token.as_bytes()));
    if let Some(hit) = cached(node, &key, now) {
        return Ok(Some(hit));
    }
    let Some(sub) = lists.get_json::<SubscriptionToken>(&key)? else { return Ok(None) };
    cache_record(node, &key, now + TOKEN_CACHE_SECS * 1000, &sub);
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
    let list = match lists.get_json::<ListRecord>(&list_key(&sub.list_id))? {
        Some(l) if l.owner == sub.owner => l,
        _ => return Err(not_found()),
    };
    let meta = renditions::current(lists, &compiled, &wanted(&list, format, settings))?;
    cache_record(node, &key, now + settings.cache_ttl_secs * 1000, &meta);
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
