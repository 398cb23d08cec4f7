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

mod fetch;
pub(crate) use fetch::{is_subscription_path, serve};

/// The body of `POST /v1/lists/{id}/subscriptions`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSubscription {
    pub(crate) name: String,
    pub(crate) format: String,
    /// Whether the token also answers lookups of names (`/s/{token}/lookup/{name}`).
    #[serde(default)]
    pub(crate) lookup: bool,
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
        lookup: input.lookup,
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
        lookup: record.lookup,
    }
}

/// The answer that shows a token, once: the subscription, the token, its path and URL.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WithToken<'a> {
    subscription: View<'a>,
    token: &'a str,
    path: String,
    url: Option<String>,
    /// With `lookup`: where a name is looked up (append the name).
    #[serde(skip_serializing_if = "Option::is_none")]
    lookup_path: Option<String>,
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
    let lookup_path = record.lookup.then(|| format!("/s/{token}/lookup/"));
    WithToken { subscription: view, token, path, url, lookup_path }
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
    /// Whether its token also answers lookups.
    lookup: bool,
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
        lookup: record.lookup,
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
    let expires_hours = list.expires_hours(settings.subscription_expires_hours);
    Wanted { list_id: &list.id, format, title: &list.name, expires_hours }
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
/// [`fetch::TOKEN_CACHE_MS`]).
fn revoke_token(lists: &Kv, id: &str, hash: &str) -> Result<()> {
    lists.delete(&subscription_token_key(hash))?;
    edge_store::caches::forget_subscription(id, hash);
    Ok(())
}
