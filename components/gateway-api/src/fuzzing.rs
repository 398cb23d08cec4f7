//! A native entry point for fuzzing the gateway's request parsing: the `gateway_request` target
//! of `fuzz/` at the repository root. Not part of the component's interface.
//!
//! [`parse_request`] takes a request through the pure steps it meets on its way in (path and
//! query split, header lookup, path ids, the JSON body and its checks, the configuration check,
//! `If-None-Match`, the bearer token, the client address, the dead-letter, diff, lookup and
//! runner queries, error responses) and checks what each step promises. Which steps a request
//! reaches is decided by the gateway's own route table (`api::Route::resolve`); the handlers
//! themselves need the `wasi:keyvalue` import (natively a stub), so they are not run.

use crate::api::{self, ApiError, ListInput, NewUser, PreviewInput};
use crate::conditional;
use crate::http::Request;
use crate::subscriptions::{self, NewSubscription};
use edge_store::model::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, is_valid_id};
use serde_json::Value;

/// What the pure steps made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `/healthz` or `/v1/health`: answered before authentication.
    Health,
    /// Refused before any store access: the status and the error code.
    Refused(u16, &'static str),
    /// Through every step that needs no store.
    Passed,
    /// No such route (404 once authenticated).
    NoRoute,
}

type Result<T> = std::result::Result<T, ApiError>;

/// Takes a request (`path_with_query` as `wasi:http` gives it) through the gateway's pure
/// parsing steps; panics if a step breaks its promise.
pub fn parse_request(method: &str, path_with_query: &str, headers: &[(String, Vec<u8>)], body: &[u8]) -> Outcome {
    // As the shells make it from what their platform gives.
    let mut req = Request::new(method.to_owned(), path_with_query, headers.to_vec());
    req.body = body.to_vec();
    check_header_lookup(&req);
    if req.path == "/healthz" || req.path == "/v1/health" {
        return Outcome::Health;
    }
    check_bearer(req.header("authorization"));
    if let Some(addr) = req.header("spin-client-addr") {
        check_client_ip(addr);
    }
    match steps(&req) {
        Ok(true) => Outcome::Passed,
        Ok(false) => Outcome::NoRoute,
        Err(e) => {
            let outcome = Outcome::Refused(e.status, e.code);
            check_error_response(e);
            outcome
        }
    }
}

/// The real route table (`api::Route::resolve`), then the steps each route takes before it
/// needs a store; `Ok(false)` for no route.
fn steps(req: &Request) -> Result<bool> {
    use api::Route::*;
    if subscriptions::is_subscription_path(&req.path) {
        if let Some(h) = req.header("authorization") {
            check_basic(h);
        }
        check_conditional(req);
        return Ok(true);
    }
    let route = match resolve(req) {
        Ok(route) => route,
        Err(e) if e.status == 404 => return Ok(false),
        Err(e) => return Err(e),
    };
    match route {
        CreateUser => {
            let input: NewUser = json_body(req)?;
            name(&input.name)?;
        }
        CreateList | UpdateList { .. } => list(req)?,
        GetCompiled { .. } => check_conditional(req),
        CreateSubscription { .. } => {
            let input: NewSubscription = json_body(req)?;
            name(&input.name)?;
            subscriptions::parse_format(&input.format)?;
        }
        Preview => {
            let input: PreviewInput = json_body(req)?;
            check_config(&input.config)?;
        }
        ListJobs => {
            dead_list_query(&req.query)?;
        }
        DiffVersions { .. } => {
            api::parse_diff_query(&req.query)?;
        }
        LookupName { .. } => {
            let (name, qtype) = api::parse_lookup_query(&req.query)?;
            if let Some(t) = qtype {
                assert!(!t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric()), "query type {t:?} passed");
            }
            // What the index is asked for: a name it cannot hold is a 400, never a panic.
            if let Ok(normal) = dns_filter::normalize_name(&name) {
                assert!(!normal.is_empty() && normal.is_ascii(), "{name:?} normalised to {normal:?}");
            }
        }
        ExplainName { .. } => {
            api::parse_explain_query(&req.query)?;
        }
        RunJobs => {
            if let Some(max) = api::parse_max(&req.query)? {
                assert!((1..=blocklist_model::runner::RUN_MAX).contains(&max), "max {max} passed");
            }
        }
        _ => {}
    }
    Ok(true)
}

/// `api::Route::resolve`: a route's ids are well-formed; a refusal is 400 (an id), 404 or 405
/// (with the methods allowed).
fn resolve(req: &Request) -> Result<api::Route> {
    let r = api::Route::resolve(&req.method, &req.path);
    match &r {
        Ok(route) => {
            for (id, prefix) in route.ids() {
                assert!(is_valid_id(id, prefix), "route {route:?} with id {id:?}");
                assert!(req.path.split('/').any(|s| s == id), "{id:?} is not in {:?}", req.path);
            }
        }
        Err(e) => match e.status {
            // The message names a segment of the path as the malformed id.
            400 => assert!(
                req.path.split('/').any(|s| e.message.starts_with(&format!("{s:?} is not a valid "))),
                "{} for {:?}",
                e.message,
                req.path
            ),
            404 => {}
            405 => assert!(e.headers.iter().any(|(k, v)| k == "allow" && !v.is_empty()), "405 without allow"),
            s => panic!("route refused with {s}"),
        },
    }
    r
}

/// `api::bearer_token`: a token is the trimmed, non-empty rest of a `Bearer` header.
fn check_bearer(header: Option<&str>) {
    match api::bearer_token(header) {
        Ok(token) => {
            let value = header.expect("a token from no header");
            let (scheme, rest) = value.split_once(' ').expect("a token without a scheme");
            assert!(scheme.eq_ignore_ascii_case("bearer"), "scheme {scheme:?}");
            assert!(!token.is_empty() && token == rest.trim(), "token {token:?} of {value:?}");
        }
        Err(e) => assert_eq!((e.status, e.code), (401, "unauthorized")),
    }
}

/// `api::client_ip`: an address made of IP characters, taken from the header's text.
fn check_client_ip(value: &str) {
    if let Some(ip) = api::client_ip(value) {
        assert!(!ip.is_empty() && value.contains(ip), "{ip:?} from {value:?}");
        assert!(ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':'), "{ip:?}");
    }
}

/// `api::check_dead_list_query`: accepted only when every parameter is `status` and the last
/// one says `dead`.
fn dead_list_query(query: &str) -> Result<()> {
    let verdict = api::check_dead_list_query(query);
    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let expected = !pairs.is_empty()
        && pairs.iter().all(|p| p.split_once('=').is_some_and(|(k, _)| k == "status"))
        && pairs.last().and_then(|p| p.split_once('=')).is_some_and(|(_, v)| v == "dead");
    assert_eq!(verdict.is_ok(), expected, "query {query:?}");
    verdict
}

/// `Request::header`: the first value of the name, whatever its case, if it is UTF-8.
fn check_header_lookup(req: &Request) {
    for name in ["authorization", "content-type", "if-none-match", "content-length"] {
        let found = req.header(name);
        assert_eq!(found, req.header(&name.to_ascii_uppercase()), "header lookup depends on case");
        let first = req.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        assert_eq!(found, first.and_then(|(_, v)| std::str::from_utf8(v).ok()), "header {name}");
    }
}

/// An error answers `{"error": {"code", "message"}}` with its status.
fn check_error_response(e: ApiError) {
    let (status, code, message) = (e.status, e.code, e.message.clone());
    assert!((400..600).contains(&status), "status {status}");
    let r = e.into_response();
    assert_eq!(r.status, status);
    assert!(r.headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"));
    let v: Value = serde_json::from_slice(&r.body).expect("an error body is JSON");
    assert_eq!(v["error"]["code"], code);
    assert_eq!(v["error"]["message"], message.as_str());
}

fn json_body<T: for<'de> serde::Deserialize<'de>>(req: &Request) -> Result<T> {
    let r = api::json_body::<T>(req);
    let ct = req.header("content-type").unwrap_or("");
    let json = ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json");
    match &r {
        Ok(_) => {
            assert!(json, "a body accepted with content-type {ct:?}");
            assert!(std::str::from_utf8(&req.body).is_ok(), "a body accepted that is not UTF-8");
            assert!(serde_json::from_slice::<Value>(&req.body).is_ok(), "a body accepted that is not JSON");
        }
        Err(e) if !json => assert_eq!((e.status, e.code), (415, "unsupported_media_type")),
        Err(e) => assert_eq!(e.status, 400),
    }
    r
}

fn name(raw: &str) -> Result<String> {
    let r = api::validate_name(raw);
    match &r {
        Ok(n) => {
            assert_eq!(n, raw.trim());
            assert!(!n.is_empty());
            assert!(n.chars().count() <= MAX_NAME_CHARS);
            assert!(!n.chars().any(char::is_control), "name {n:?}");
            assert_eq!(api::validate_name(n).ok().as_ref(), Some(n), "validate_name is not idempotent");
        }
        Err(e) => assert_eq!(e.status, 400),
    }
    r
}

/// `api::validate_list` accepts exactly the bodies whose parts each pass their own check.
fn list(req: &Request) -> Result<()> {
    let input: ListInput = json_body(req)?;
    let v: Value = serde_json::from_slice(&req.body).expect("json_body read it");
    // `null` reads as absent.
    let field = |k: &str| v.get(k).filter(|x| !x.is_null());
    let given_name = field("name").and_then(Value::as_str).expect("a list body has a name");
    let description = field("description").and_then(Value::as_str);
    let webhook = field("webhookUrl").and_then(Value::as_str);
    let config = field("config");
    let refresh = field("refreshIntervalSecs").and_then(Value::as_u64).filter(|&s| s > 0);
    let r = api::validate_list(input, 300);
    let expected = name(given_name).is_ok()
        && description.is_none_or(|d| d.chars().count() <= MAX_DESCRIPTION_CHARS)
        && field("rules").is_some() != config.is_some()
        && config.is_none_or(|c| check_config(c).is_ok())
        && webhook.is_none_or(check_webhook_url)
        && refresh.is_none_or(|s| config.is_some() && (300..=30 * 86_400).contains(&s));
    assert_eq!(r.is_ok(), expected, "validate_list on {v}");
    if let Err(e) = &r {
        assert!(e.status == 400 || e.status == 422, "status {}", e.status);
    }
    r.map(|_| ())
}

fn check_webhook_url(raw: &str) -> bool {
    match api::validate_webhook_url(raw) {
        Ok(u) => {
            let p = url::Url::parse(&u).expect("an accepted webhook URL parses");
            assert!(matches!(p.scheme(), "http" | "https"));
            assert!(p.host_str().is_some_and(|h| !h.is_empty()));
            assert!(matches!(p.host(), Some(url::Host::Domain(_))), "webhook URL {raw:?}: an IP address as host");
            assert!(p.username().is_empty() && p.password().is_none());
            if u.len() <= 2048 {
                let again = api::validate_webhook_url(&u).ok();
                assert_eq!(again.as_ref(), Some(&u), "webhook URL {raw:?} is not stable");
            }
            true
        }
        Err(e) => {
            assert_eq!(e.status, 400);
            false
        }
    }
}

/// `api::validate_config` takes exactly what the compiler takes, within the gateway's limit on
/// source lists: a configuration that does not read, or names too many sources, is malformed
/// (400); one that breaks a rule between properties cannot be processed (422).
fn check_config(config: &Value) -> Result<()> {
    let r = api::validate_config(config);
    let parsed = hostlist_config::Configuration::parse(config);
    let whole = hostlist_config::Configuration::from_value(config);
    let too_many = parsed.as_ref().is_ok_and(|c| {
        let lists = |f: &hostlist_config::Filters| [f.exclusions_sources.len(), f.inclusions_sources.len()];
        std::iter::once(c.sources.len())
            .chain(lists(&c.filters))
            .chain(c.sources.iter().flat_map(|s| lists(&s.filters)))
            .any(|n| n > api::MAX_CONFIG_SOURCES)
    });
    match &r {
        Ok(()) => {
            assert!(whole.is_ok(), "the gateway takes a configuration the compiler refuses: {config}");
            assert!(!too_many, "the gateway takes a configuration over its source limit");
        }
        Err(e) => {
            assert_eq!(e.code, "invalid_configuration");
            assert!(whole.is_err() || too_many, "the gateway refuses a configuration the compiler takes: {config}");
            let status = if parsed.is_err() || too_many { 400 } else { 422 };
            assert_eq!(e.status, status, "status for {config}");
        }
    }
    r
}

/// The validators and negotiation a compiled list or a subscription fetch reads.
fn check_conditional(req: &Request) {
    if let Some(h) = req.header("if-none-match") {
        check_if_none_match(h);
    }
    if let Some(h) = req.header("if-modified-since") {
        // A date that parses prints back as the same second.
        if let Some(secs) = conditional::parse_http_date(h) {
            assert_eq!(conditional::parse_http_date(&conditional::http_date(secs * 1000)), Some(secs), "{h:?}");
        }
    }
    let _ = conditional::accepts_gzip(req.header("accept-encoding"));
}

fn check_if_none_match(header: &str) {
    let etag = "\"0123456789abcdef\"";
    let matched = conditional::if_none_match(header, &[etag]);
    let star = header.split(',').any(|t| t.trim() == "*");
    assert!(!star || matched, "`*` matches any entity tag");
    assert!(!matched || star || header.contains(etag), "{header:?} matched {etag}");
    assert!(conditional::if_none_match(&format!("{header}, {etag}"), &[etag]));
    assert!(conditional::if_none_match(&format!("{header},W/{etag}"), &[etag]));
}

/// Basic credentials that decode split at the first colon of what was encoded.
fn check_basic(header: &str) {
    if let Some((user, password)) = conditional::basic_credentials(header) {
        assert!(!user.contains(':'), "{header:?}");
        let _ = password;
    }
}
