//! The HTTP API: authentication, rate limiting through the imported `blocklist:ratelimit/ratelimit`,
//! and the routes. Documented in `openapi.yaml` at the repository root.

use crate::blocklist::compiler::compiler;
use crate::blocklist::ratelimit::ratelimit;
use crate::http::{ChunkedBody, ReadError, Request, Response};
use crate::{conditional, subscriptions};
use edge_store::StoreError;
use edge_store::jobs::{self, JobSettings};
use edge_store::kv::{Kv, Update};
use edge_store::ledger::{JobRecord, JobStatus};
use edge_store::model::*;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An error answered to the client as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), headers: Vec::new() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "not_found", message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "unavailable", message)
    }
    fn unauthorized(message: &str) -> ApiError {
        let mut e = ApiError::new(401, "unauthorized", message);
        e.headers.push(("www-authenticate".into(), "Bearer".into()));
        e
    }

    pub fn into_response(self) -> Response {
        let mut r = Response::json(self.status, &json!({"error": {"code": self.code, "message": self.message}}));
        r.headers.extend(self.headers);
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if e.transient { ApiError::unavailable(e.message) } else { ApiError::internal(e.message) }
    }
}

pub(crate) type Result<T> = std::result::Result<T, ApiError>;

/// Settings read from the host's configuration (`wasi:config/store`; Spin variables).
pub struct Settings {
    pub admin_token_sha256: Option<String>,
    pub rate_limit: u32,
    pub rate_window_secs: u64,
    /// Failed authentications one client address may make per rate-limit window (0: no limit).
    pub auth_failure_limit: u32,
    pub max_body_bytes: usize,
    pub max_lists_per_user: usize,
    pub dedupe_secs: u64,
    pub cache_ttl_secs: u64,
    pub max_preview_bytes: usize,
    pub jobs: JobSettings,
    /// Publish a sweep request from the request path at most this often (0: never; for hosts
    /// with no timer, such as Spin).
    pub request_sweep_secs: u64,
    /// Fetches one subscription may make per rate-limit window (0: no limit).
    pub subscription_rate_limit: u32,
    /// Subscription fetches one client address may make per rate-limit window (0: no limit).
    pub subscription_address_limit: u32,
    /// `Cache-Control: max-age` of subscription answers, in seconds.
    pub subscription_max_age_secs: u64,
    /// The `Expires` subscription files announce (how often blockers should refetch), in hours.
    pub subscription_expires_hours: u32,
    /// The service's public URL (`https://lists.example.com`), for the subscription URLs the
    /// API shows; empty: made from the request's `Host`.
    pub public_base_url: String,
}

impl Settings {
    pub fn load() -> Result<Settings> {
        let values = edge_store::config::Values::load()?;
        let admin: String = values.get("admin_token_sha256", String::new())?;
        let admin = admin.trim().to_ascii_lowercase();
        if !admin.is_empty() && (admin.len() != 64 || !admin.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(ApiError::internal("configuration value \"admin_token_sha256\" is not a SHA-256 hex digest"));
        }
        Ok(Settings {
            admin_token_sha256: (!admin.is_empty()).then_some(admin),
            rate_limit: values.get("rate_limit_requests", 100)?,
            rate_window_secs: values.get("rate_limit_window_secs", 60)?,
            auth_failure_limit: values.get("auth_failure_limit", 30)?,
            max_body_bytes: values.get("max_body_bytes", 4 * 1024 * 1024)?,
            max_lists_per_user: values.get("max_lists_per_user", 1000)?,
            dedupe_secs: values.get("compile_dedupe_secs", 60)?,
            cache_ttl_secs: values.get("cache_ttl_secs", 300)?,
            max_preview_bytes: values.get("max_preview_bytes", 1024 * 1024)?,
            jobs: JobSettings::load(&values)?,
            request_sweep_secs: values.get("request_sweep_secs", 0)?,
            subscription_rate_limit: values.get("subscription_rate_limit", 600)?,
            subscription_address_limit: values.get("subscription_address_limit", 300)?,
            subscription_max_age_secs: values.get("subscription_max_age_secs", 3600)?,
            subscription_expires_hours: edge_store::renditions::expires_hours(&values)?,
            public_base_url: values.get("public_base_url", String::new())?,
        })
    }
}

/// A user, as authenticated by a token: its id.
pub(crate) struct User {
    pub(crate) id: String,
}

/// Who is calling.
enum Caller {
    Admin,
    User(User),
}

impl Caller {
    fn rate_key(&self) -> String {
        match self {
            Caller::Admin => "admin".into(),
            Caller::User(u) => format!("user:{}", u.id),
        }
    }
    fn user(&self) -> Result<&User> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Admin => {
                Err(ApiError::new(403, "forbidden", "the admin token manages users; use a user's token for lists"))
            }
        }
    }
    fn require_admin(&self) -> Result<()> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(_) => Err(ApiError::new(403, "forbidden", "this endpoint needs the admin token")),
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The token of an `Authorization` header value (`Bearer <token>`, the scheme in any case, the
/// token trimmed and not empty).
pub(crate) fn bearer_token(value: Option<&str>) -> Result<&str> {
    let Some(value) = value else {
        return Err(ApiError::unauthorized("missing bearer token: send `Authorization: Bearer <token>`"));
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::unauthorized("malformed Authorization header: expected `Bearer <token>`")),
    }
}

fn authenticate(req: &Request, settings: &Settings, lists: &Kv) -> Result<Caller> {
    let token = bearer_token(req.header("authorization"))?;
    let hash = sha256_hex(token.as_bytes());
    if let Some(admin) = &settings.admin_token_sha256
        && bool::from(hash.as_bytes().ct_eq(admin.as_bytes()))
    {
        return Ok(Caller::Admin);
    }
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Err(ApiError::unauthorized("invalid token"));
    }
    let Some(record) = lists.get_json::<TokenRecord>(&token_key(&hash))? else {
        return Err(ApiError::unauthorized("invalid token"));
    };
    if !bool::from(record.sha256.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(ApiError::unauthorized("invalid token"));
    }
    // The user record itself is read only where it is shown (`/v1/me`): one read less per
    // request. (Users are never deleted; deleting one must delete its tokens.)
    Ok(Caller::User(User { id: record.user_id }))
}

/// Rate-limit headers for a decision.
fn rate_headers(d: &ratelimit::Decision) -> Vec<(String, String)> {
    vec![
        ("ratelimit-limit".into(), d.limit.to_string()),
        ("ratelimit-remaining".into(), d.remaining.to_string()),
        ("ratelimit-reset".into(), d.reset_ms.div_ceil(1000).to_string()),
    ]
}

/// Counts a request under `key` against `limit` requests per rate-limit window.
pub(crate) fn check_limit(key: &str, limit: u32, settings: &Settings) -> Result<ratelimit::Decision> {
    let policy = ratelimit::Policy { limit, window_ms: settings.rate_window_secs.saturating_mul(1000) };
    ratelimit::check(key, policy).map_err(|e| match e {
        ratelimit::Error::InvalidPolicy(m) => ApiError::internal(format!("rate-limit configuration: {m}")),
        ratelimit::Error::Store(m) => ApiError::unavailable(format!("rate limiter: {m}")),
    })
}

/// The 429 for a refused decision `d`, with `Retry-After`; `message` is given the seconds to
/// wait.
pub(crate) fn refused(d: &ratelimit::Decision, code: &'static str, message: impl FnOnce(u64) -> String) -> ApiError {
    let secs = d.retry_after_ms.div_ceil(1000).max(1);
    let mut e = ApiError::new(429, code, message(secs));
    e.headers.push(("retry-after".into(), secs.to_string()));
    e
}

fn rate_limit(caller: &Caller, settings: &Settings) -> Result<ratelimit::Decision> {
    let d = check_limit(&caller.rate_key(), settings.rate_limit, settings)?;
    if !d.allowed {
        let mut e = refused(&d, "rate_limited", |secs| {
            format!(
                "rate limit of {} requests per {} s exceeded; retry in {secs} s",
                settings.rate_limit, settings.rate_window_secs
            )
        });
        e.headers.extend(rate_headers(&d));
        return Err(e);
    }
    Ok(d)
}

/// The header carrying the client's address (`ip:port`), as Spin sets it on incoming requests;
/// the blocklist-edge host sets it too, replacing any value the client sent.
pub(crate) const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// The answer to a request whose authentication failed (`error`, a 401): the failure counts
/// against its client address's budget of failures (`auth_failure_limit` per rate-limit
/// window), and past that budget the answer is 429 with `Retry-After`, so that guessing tokens
/// or flooding with bad ones is slowed down per address. Requests without an address (a host
/// that does not set the header) are not counted.
pub(crate) fn refuse_unauthenticated(req: &Request, settings: &Settings, error: ApiError) -> ApiError {
    let Some(addr) = req.header(CLIENT_ADDR_HEADER).and_then(client_ip) else { return error };
    if settings.auth_failure_limit == 0 {
        return error;
    }
    match check_limit(&format!("auth-failures:{addr}"), settings.auth_failure_limit, settings) {
        Ok(d) if !d.allowed => refused(&d, "too_many_auth_failures", |secs| {
            format!(
                "more than {} failed authentications from this address in {} s; retry in {secs} s",
                settings.auth_failure_limit, settings.rate_window_secs
            )
        }),
        // Within the budget, or the limiter is unavailable: the 401 stands.
        _ => error,
    }
}

/// The IP address in a `spin-client-addr` value (`1.2.3.4:5678` or `[::1]:5678`).
pub(crate) fn client_ip(value: &str) -> Option<&str> {
    let ip = match value.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => value.rsplit_once(':').map_or(value, |(ip, _)| ip),
    };
    (!ip.is_empty() && ip.len() <= 64 && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':'))
        .then_some(ip)
}

/// Answers one request: `req` holds its head; `read_body` reads its body, which happens only
/// once the caller is authenticated and within its rate limit (no work, not even reading a
/// body, for a caller who may not send one).
pub fn handle(
    settings: &Settings,
    mut req: Request,
    read_body: impl FnOnce(&mut Request) -> Option<ReadError>,
) -> Response {
    // The sweeper's clock on hosts with no timer (Spin): any request drives it, a liveness
    // probe on /healthz included. It never fails the request.
    let lists = Kv::open(STORE_LISTS);
    if let (true, Ok(lists)) = (settings.request_sweep_secs > 0, &lists) {
        let interval = settings.request_sweep_secs.saturating_mul(1000);
        if let Err(e) = jobs::request_sweep(lists, &settings.jobs, interval, now_ms()) {
            eprintln!("requesting a sweep of the job ledger: {e}");
        }
    }
    if req.path == "/healthz" || req.path == "/v1/health" {
        return match req.method.as_str() {
            "GET" | "HEAD" => Response::json(200, &json!({"status": "ok"})),
            _ => method_not_allowed("GET").into_response(),
        };
    }
    let lists = match lists {
        Ok(kv) => kv,
        Err(e) => return ApiError::from(e).into_response(),
    };
    // Subscription URLs carry their own token and limits; no API token, no API budget.
    if crate::subscriptions::is_subscription_path(&req.path) {
        return crate::subscriptions::serve(&req, settings, &lists);
    }
    let caller = match authenticate(&req, settings, &lists) {
        Ok(c) => c,
        Err(e) => return refuse_unauthenticated(&req, settings, e).into_response(),
    };
    let decision = match rate_limit(&caller, settings) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let mut response = match read_body(&mut req) {
        Some(ReadError::TooLarge(max)) => {
            ApiError::new(413, "payload_too_large", format!("request body exceeds the limit of {max} bytes"))
                .into_response()
        }
        Some(ReadError::Stream(m)) => {
            ApiError::bad_request(format!("could not read the request body: {m}")).into_response()
        }
        None => match route(&req, &caller, settings, &lists) {
            Ok(r) => r,
            Err(e) => e.into_response(),
        },
    };
    response.headers.extend(rate_headers(&decision));
    response
}

pub(crate) fn method_not_allowed(allow: &str) -> ApiError {
    let mut e = ApiError::new(405, "method_not_allowed", format!("method not allowed here; allowed: {allow}"));
    e.headers.push(("allow".into(), allow.into()));
    e
}

fn route(req: &Request, caller: &Caller, settings: &Settings, lists: &Kv) -> Result<Response> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let m = req.method.as_str();
    match segments.as_slice() {
        ["v1", "me"] => match m {
            "GET" => me(caller, lists),
            _ => Err(method_not_allowed("GET")),
        },
        ["v1", "users"] => match m {
            "POST" => create_user(req, caller, lists),
            _ => Err(method_not_allowed("POST")),
        },
        ["v1", "users", id, "tokens"] => match m {
            "POST" => issue_token(caller, lists, &parse_id(id, USER_ID_PREFIX, "user")?),
            _ => Err(method_not_allowed("POST")),
        },
        ["v1", "lists"] => match m {
            "GET" => list_lists(caller.user()?, lists),
            "POST" => create_list(req, caller.user()?, settings, lists),
            _ => Err(method_not_allowed("GET, POST")),
        },
        ["v1", "lists", id] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            let user = caller.user()?;
            match m {
                "GET" => get_list(user, lists, &id),
                "PUT" => update_list(req, user, lists, &id),
                "DELETE" => delete_list(user, lists, &id),
                _ => Err(method_not_allowed("GET, PUT, DELETE")),
            }
        }
        ["v1", "lists", id, "compile"] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            match m {
                "POST" => request_compile(caller.user()?, settings, lists, &id),
                _ => Err(method_not_allowed("POST")),
            }
        }
        ["v1", "lists", id, "compiled"] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            match m {
                "GET" | "HEAD" => get_compiled(req, caller.user()?, settings, lists, &id),
                _ => Err(method_not_allowed("GET, HEAD")),
            }
        }
        ["v1", "lists", id, "subscriptions"] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            let user = caller.user()?;
            match m {
                "GET" => subscriptions::list(user, settings, lists, &id),
                "POST" => subscriptions::create(req, user, settings, lists, &id),
                _ => Err(method_not_allowed("GET, POST")),
            }
        }
        ["v1", "lists", id, "subscriptions", sid] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            let sid = parse_id(sid, SUBSCRIPTION_ID_PREFIX, "subscription")?;
            let user = caller.user()?;
            match m {
                "GET" => subscriptions::get(user, settings, lists, &id, &sid),
                "DELETE" => subscriptions::delete(user, lists, &id, &sid),
                _ => Err(method_not_allowed("GET, DELETE")),
            }
        }
        ["v1", "lists", id, "subscriptions", sid, "rotate"] => {
            let id = parse_id(id, LIST_ID_PREFIX, "list")?;
            let sid = parse_id(sid, SUBSCRIPTION_ID_PREFIX, "subscription")?;
            match m {
                "POST" => subscriptions::rotate(req, caller.user()?, settings, lists, &id, &sid),
                _ => Err(method_not_allowed("POST")),
            }
        }
        ["v1", "preview"] => match m {
            "POST" => preview(req, caller.user()?, settings),
            _ => Err(method_not_allowed("POST")),
        },
        ["v1", "jobs"] => match m {
            "GET" => list_jobs(req, caller.user()?, lists),
            _ => Err(method_not_allowed("GET")),
        },
        ["v1", "jobs", id] => {
            let id = parse_id(id, JOB_ID_PREFIX, "job")?;
            match m {
                "GET" => get_job(caller.user()?, lists, &id),
                _ => Err(method_not_allowed("GET")),
            }
        }
        ["v1", "jobs", id, "replay"] => {
            let id = parse_id(id, JOB_ID_PREFIX, "job")?;
            match m {
                "POST" => replay_job(caller.user()?, settings, lists, &id),
                _ => Err(method_not_allowed("POST")),
            }
        }
        _ => Err(ApiError::not_found(format!("no route for {} {}", req.method, req.path))),
    }
}

/// Checks a path id's shape; ids never reach a key unchecked.
pub(crate) fn parse_id(raw: &str, prefix: &str, what: &str) -> Result<String> {
    if is_valid_id(raw, prefix) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::bad_request(format!(
            "{raw:?} is not a valid {what} id (expected {prefix} and {ID_HEX_LEN} lowercase hex digits)"
        )))
    }
}

/// Parses a JSON body after checking its content type.
pub(crate) fn json_body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T> {
    let ct = req.header("content-type").unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            format!("expected content-type application/json, got {:?}", if ct.is_empty() { "(none)" } else { ct }),
        ));
    }
    if std::str::from_utf8(&req.body).is_err() {
        return Err(ApiError::bad_request("request body is not valid UTF-8"));
    }
    serde_json::from_slice(&req.body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn me(caller: &Caller, lists: &Kv) -> Result<Response> {
    match caller {
        Caller::Admin => Ok(Response::json(200, &json!({"role": "admin"}))),
        Caller::User(u) => match lists.get_json::<UserRecord>(&user_key(&u.id))? {
            Some(user) => Ok(Response::json(200, &json!({"role": "user", "user": user}))),
            None => Err(ApiError::unauthorized("invalid token")),
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    pub(crate) name: String,
}

fn new_token(lists: &Kv, user_id: &str) -> Result<String> {
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)));
    let sha256 = sha256_hex(token.as_bytes());
    lists.put_json(
        &token_key(&sha256),
        &TokenRecord { user_id: user_id.to_owned(), sha256: sha256.clone(), created_at: now_rfc3339() },
    )?;
    Ok(token)
}

fn create_user(req: &Request, caller: &Caller, lists: &Kv) -> Result<Response> {
    caller.require_admin()?;
    let input: NewUser = json_body(req)?;
    let name = validate_name(&input.name)?;
    let user = UserRecord { id: new_id(USER_ID_PREFIX), name, created_at: now_rfc3339() };
    lists.put_json(&user_key(&user.id), &user)?;
    let token = new_token(lists, &user.id)?;
    Ok(Response::json(201, &json!({"user": user, "token": token}))
        .with_header("location", format!("/v1/users/{}", user.id)))
}

fn issue_token(caller: &Caller, lists: &Kv, user_id: &str) -> Result<Response> {
    caller.require_admin()?;
    if lists.get_json::<UserRecord>(&user_key(user_id))?.is_none() {
        return Err(ApiError::not_found(format!("user {user_id} not found")));
    }
    let token = new_token(lists, user_id)?;
    Ok(Response::json(201, &json!({"userId": user_id, "token": token})))
}

/// A name as given (at most [`MAX_NAME_CHARS`], no control characters anywhere, not blank),
/// trimmed of surrounding whitespace: what `openapi.yaml`'s `Name` schema says.
pub(crate) fn validate_name(name: &str) -> Result<String> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!("name is longer than {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must not contain control characters"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    Ok(name.to_owned())
}

/// The body of `POST /v1/lists` and `PUT /v1/lists/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListInput {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    /// Where finished compile jobs are POSTed (http or https).
    #[serde(default, rename = "webhookUrl")]
    webhook_url: Option<String>,
}

/// Longest webhook URL accepted.
const MAX_WEBHOOK_URL: usize = 2048;

/// A checked [`ListInput`].
pub(crate) struct ListContent {
    webhook_url: Option<String>,
    name: String,
    description: Option<String>,
    source: ListSource,
    rules: Option<String>,
}

pub(crate) fn validate_list(input: ListInput) -> Result<ListContent> {
    let name = validate_name(&input.name)?;
    let description = match input.description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
            return Err(ApiError::bad_request(format!(
                "description is longer than {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        d => d,
    };
    let (source, rules) = match (input.rules, input.config) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either `rules` or `config`, not both")),
        (None, None) => {
            return Err(ApiError::bad_request(
                "give the list's `rules` (text) or a HostlistCompiler `config` (object)",
            ));
        }
        (Some(rules), None) => (ListSource::Rules, Some(rules)),
        (None, Some(config)) => {
            validate_config(&config)?;
            (ListSource::Config { config }, None)
        }
    };
    let webhook_url = input.webhook_url.map(|u| validate_webhook_url(&u)).transpose()?;
    Ok(ListContent { name, description, source, rules, webhook_url })
}

pub(crate) fn validate_webhook_url(raw: &str) -> Result<String> {
    let bad = |why: &str| ApiError::bad_request(format!("`webhookUrl` {why}"));
    if raw.len() > MAX_WEBHOOK_URL {
        return Err(bad(&format!("is longer than {MAX_WEBHOOK_URL} bytes")));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url.to_string())
}

/// A fresh webhook signing secret.
fn new_webhook_secret() -> String {
    format!("whsec_{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)))
}

/// Sources, exclusion sources or inclusion sources one configuration may name, in each list.
pub(crate) const MAX_CONFIG_SOURCES: usize = 100;

/// Checks a HostlistCompiler configuration as the compiler will (the `hostlist` crate's own
/// checks): a property that is unknown, of the wrong type or missing is malformed input (400,
/// as `openapi.yaml`'s `HostlistConfig` schema says); breaking a rule between properties (two
/// validation transformations, validation at both levels) is well-formed input that cannot be
/// processed (422).
pub(crate) fn validate_config(config: &serde_json::Value) -> Result<()> {
    let parsed = hostlist::config::Configuration::parse(config)
        .map_err(|e| ApiError::new(400, "invalid_configuration", format!("`config`: {}", e.0)))?;
    // Each source is a fetch: a configuration names at most MAX_CONFIG_SOURCES in each list.
    let too_many = |what: String, n: usize| {
        (n > MAX_CONFIG_SOURCES).then(|| {
            ApiError::new(
                400,
                "invalid_configuration",
                format!("`config`: {what} has {n} entries; at most {MAX_CONFIG_SOURCES} are allowed"),
            )
        })
    };
    let filter_lists = |at: &str, f: &hostlist::config::Filters| {
        [("exclusions_sources", f.exclusions_sources.len()), ("inclusions_sources", f.inclusions_sources.len())]
            .into_iter()
            .find_map(|(name, n)| too_many(format!("{at}{name}"), n))
    };
    if let Some(e) =
        too_many("sources".into(), parsed.sources.len()).or_else(|| filter_lists("", &parsed.filters)).or_else(|| {
            parsed.sources.iter().enumerate().find_map(|(i, s)| filter_lists(&format!("sources[{i}]."), &s.filters))
        })
    {
        return Err(e);
    }
    parsed.cross_check().map_err(|e| ApiError::new(422, "invalid_configuration", format!("`config`: {}", e.0)))
}

pub(crate) fn owned_list(user: &User, lists: &Kv, id: &str) -> Result<ListRecord> {
    match lists.get_json::<ListRecord>(&list_key(id))? {
        Some(list) if list.owner == user.id => Ok(list),
        // Another user's list is indistinguishable from a missing one.
        _ => Err(ApiError::not_found(format!("list {id} not found"))),
    }
}

fn list_lists(user: &User, lists: &Kv) -> Result<Response> {
    let ids: Vec<String> = lists.get_json(&user_lists_key(&user.id))?.unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(list) = lists.get_json::<ListRecord>(&list_key(&id))?
            && list.owner == user.id
        {
            out.push(list.summary());
        }
    }
    Ok(Response::json(200, &json!({"lists": out})))
}

/// Stores a list's rules text under a fresh revision; returns the record fields describing it.
fn store_rules(lists: &Kv, list_id: &str, revision: u64, rules: Option<&str>) -> Result<(u64, u32, Option<String>)> {
    match rules {
        None => Ok((0, 0, None)),
        Some(text) => {
            let chunks = lists.put_chunks(&rules_prefix(list_id, revision), text.as_bytes())?;
            Ok((text.len() as u64, chunks, Some(sha256_hex(text.as_bytes()))))
        }
    }
}

fn create_list(req: &Request, user: &User, settings: &Settings, lists: &Kv) -> Result<Response> {
    let content = validate_list(json_body(req)?)?;
    let id = new_id(LIST_ID_PREFIX);
    let index_key = user_lists_key(&user.id);
    // Reserve the id in the owner's index first (atomically, with the quota check), so a list
    // record never exists that its owner cannot list.
    let max = settings.max_lists_per_user;
    if !lists.add_to_index(&index_key, &id, max)? {
        return Err(ApiError::new(409, "quota_exceeded", format!("a user may own at most {max} lists")));
    }
    let now = now_rfc3339();
    let (rules_bytes, rules_chunks, rules_sha256) = store_rules(lists, &id, 1, content.rules.as_deref())?;
    let list = ListRecord {
        id: id.clone(),
        owner: user.id.clone(),
        name: content.name,
        description: content.description,
        source: content.source,
        revision: 1,
        rules_bytes,
        rules_chunks,
        rules_sha256,
        webhook: content.webhook_url.map(|url| Webhook { url, secret: new_webhook_secret() }),
        created_at: now.clone(),
        updated_at: now,
    };
    lists.put_json(&list_key(&id), &list)?;
    Ok(Response::json(201, &list.view(content.rules.as_deref())).with_header("location", format!("/v1/lists/{id}")))
}

fn read_rules(lists: &Kv, list: &ListRecord) -> Result<Option<String>> {
    if !matches!(list.source, ListSource::Rules) {
        return Ok(None);
    }
    let bytes = lists
        .get_chunks(&rules_prefix(&list.id, list.revision), list.rules_chunks, list.rules_bytes as usize)?
        .ok_or_else(|| ApiError::internal(format!("rules of list {} are missing", list.id)))?;
    String::from_utf8(bytes).map(Some).map_err(|_| ApiError::internal(format!("rules of list {} are corrupt", list.id)))
}

fn get_list(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    let rules = read_rules(lists, &list)?;
    Ok(Response::json(200, &list.view(rules.as_deref())))
}

fn update_list(req: &Request, user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let old = owned_list(user, lists, id)?;
    let content = validate_list(json_body(req)?)?;
    let revision = old.revision + 1;
    // New rules go under the new revision; the record flips to them; the old chunks go last.
    let (rules_bytes, rules_chunks, rules_sha256) = store_rules(lists, id, revision, content.rules.as_deref())?;
    let list = ListRecord {
        name: content.name,
        description: content.description,
        source: content.source,
        revision,
        rules_bytes,
        rules_chunks,
        rules_sha256,
        // A list keeps its signing secret while it has a webhook.
        webhook: content.webhook_url.map(|url| Webhook {
            url,
            secret: old.webhook.as_ref().map_or_else(new_webhook_secret, |w| w.secret.clone()),
        }),
        updated_at: now_rfc3339(),
        ..old.clone()
    };
    lists.put_json(&list_key(id), &list)?;
    // Subscription files carry the list's name: this node's copies are remade on next fetch.
    edge_store::caches::forget_list(id);
    if old.rules_chunks > 0 {
        lists.delete_chunks(&rules_prefix(id, old.revision), old.rules_chunks)?;
    }
    Ok(Response::json(200, &list.view(content.rules.as_deref())))
}

fn delete_list(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    lists.delete(&list_key(id))?;
    lists.remove_from_index(&user_lists_key(&user.id), id)?;
    if list.rules_chunks > 0 {
        lists.delete_chunks(&rules_prefix(id, list.revision), list.rules_chunks)?;
    }
    if let Some(meta) = lists.get_json::<CompiledMeta>(&compiled_key(id))? {
        lists.delete(&compiled_key(id))?;
        lists.delete_chunks(&compiled_prefix(id, &meta.etag), meta.chunks)?;
        if let Some(prev) = meta.previous.filter(|p| p.etag != meta.etag) {
            lists.delete_chunks(&compiled_prefix(id, &prev.etag), prev.chunks)?;
        }
    }
    subscriptions::delete_all_of_list(lists, id)?;
    // This node's copies go too (other nodes' expire with their TTL).
    edge_store::caches::forget_list(id);
    Ok(Response::empty(204))
}

fn request_compile(user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    let now = now_ms();
    let job_id = new_id(JOB_ID_PREFIX);
    let lock = CompileLock { job_id: job_id.clone(), at_ms: now, revision: list.revision };
    let lock_bytes = serde_json::to_vec(&lock).map_err(|e| ApiError::internal(e.to_string()))?;
    let window_ms = settings.dedupe_secs.saturating_mul(1000);
    // Compare-and-swap on the list's lock: exactly one request per window and revision wins.
    let existing = lists.update(&compile_lock_key(id), |cur| {
        if let Some(held) = cur.and_then(|b| serde_json::from_slice::<CompileLock>(b).ok()) {
            let fresh = now.saturating_sub(held.at_ms) < window_ms && held.at_ms <= now.saturating_add(window_ms);
            if fresh && held.revision == list.revision {
                return Update::Keep(Some(held.job_id));
            }
        }
        Update::Write(lock_bytes.clone(), None)
    })?;
    if let Some(queued) = existing {
        return Ok(Response::json(202, &json!({"status": "already_queued", "jobId": queued, "listId": id})));
    }
    let job = JobRecord::new(&job_id, &list.id, &user.id, list.revision, now, &settings.jobs.policy);
    if let Err(e) = jobs::create(lists, &job) {
        // Release the lock so that a retry is not answered `already_queued` for a lost job.
        let _ = lists.delete(&compile_lock_key(id));
        return Err(e.into());
    }
    // The ledger holds the job now: if the message is lost, the sweeper publishes it again.
    if let Err(e) = jobs::publish(&settings.jobs, &jobs::Message::Compile { job_id: job_id.clone() }) {
        eprintln!("job {job_id} is in the ledger but its message was not published ({e}); the sweeper will");
    }
    Ok(Response::json(202, &json!({"status": "queued", "jobId": job_id, "listId": id}))
        .with_header("location", format!("/v1/jobs/{job_id}")))
}

/// A job as the API shows it.
fn job_view(job: &JobRecord) -> serde_json::Value {
    let time = |ms: Option<u64>| ms.map(rfc3339);
    let history: Vec<serde_json::Value> = job
        .history
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "startedAt": rfc3339(a.started_at_ms),
                "endedAt": time(a.ended_at_ms),
                "error": a.error,
            })
        })
        .collect();
    json!({
        "id": job.id,
        "listId": job.list_id,
        "userId": job.user_id,
        "listRevision": job.list_revision,
        "status": job.status,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "lastError": job.last_error,
        "requestedAt": rfc3339(job.requested_at_ms),
        "updatedAt": rfc3339(job.updated_at_ms),
        "nextAttemptAt": time(job.next_attempt_at_ms),
        "leaseUntil": time(job.lease_until_ms),
        "history": history,
        "artifact": job.artifact,
        "replays": job.replays,
        "notification": job.notification.as_ref().map(|n| json!({
            "event": n.event,
            "at": rfc3339(n.at_ms),
            "status": n.status,
            "error": n.error,
        })),
    })
}

fn owned_job(user: &User, lists: &Kv, id: &str) -> Result<JobRecord> {
    match jobs::get(lists, id)? {
        Some(job) if job.user_id == user.id => Ok(job),
        // Another user's job is indistinguishable from a missing one.
        _ => Err(ApiError::not_found(format!("job {id} not found"))),
    }
}

fn get_job(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    Ok(Response::json(200, &job_view(&owned_job(user, lists, id)?)))
}

/// `GET /v1/jobs?status=dead`: the caller's dead-letter list, oldest first.
/// Checks the query of `GET /v1/jobs`: `status=dead` (the dead-letter list), nothing else.
pub(crate) fn check_dead_list_query(query: &str) -> Result<()> {
    let mut status = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("status", v)) => status = Some(v),
            _ => return Err(ApiError::bad_request(format!("unknown query parameter {pair:?}; use status=dead"))),
        }
    }
    if status != Some("dead") {
        return Err(ApiError::bad_request("list jobs with `?status=dead` (the dead-letter list)"));
    }
    Ok(())
}

fn list_jobs(req: &Request, user: &User, lists: &Kv) -> Result<Response> {
    check_dead_list_query(&req.query)?;
    let mut out = Vec::new();
    for id in jobs::dead_ids(lists, &user.id)? {
        if let Some(job) = jobs::get(lists, &id)?
            && job.user_id == user.id
            && job.status == JobStatus::Dead
        {
            out.push(job_view(&job));
        }
    }
    Ok(Response::json(200, &json!({"jobs": out})))
}

/// `POST /v1/jobs/{id}/replay`: a dead job back to the queue with fresh attempts.
fn replay_job(user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let job = owned_job(user, lists, id)?;
    if lists.get_json::<ListRecord>(&list_key(&job.list_id))?.is_none() {
        return Err(ApiError::new(409, "list_deleted", format!("list {} of job {id} was deleted", job.list_id)));
    }
    let now = now_ms();
    let Some(replayed) = jobs::update(lists, id, |j| j.replay(now, &settings.jobs.policy))? else {
        let status = jobs::get(lists, id)?.map_or(job.status, |j| j.status);
        return Err(ApiError::new(
            409,
            "not_dead",
            format!("job {id} is {}, not dead: only dead jobs are replayed", json!(status).as_str().unwrap_or("?")),
        ));
    };
    jobs::replayed(lists, &replayed)?;
    if let Err(e) = jobs::publish(&settings.jobs, &jobs::Message::Compile { job_id: id.to_owned() }) {
        eprintln!("replayed job {id} was not published ({e}); the sweeper will");
    }
    Ok(Response::json(202, &job_view(&replayed)).with_header("location", format!("/v1/jobs/{id}")))
}

/// The body of `POST /v1/preview`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewInput {
    /// A HostlistCompiler configuration.
    pub(crate) config: serde_json::Value,
    /// The content of sources named in `config`, by location.
    #[serde(default)]
    sources: std::collections::BTreeMap<String, String>,
}

/// Compiles a configuration synchronously through the imported `blocklist:compiler/compiler` and
/// answers the list, if it is no larger than `max_preview_bytes`.
fn preview(req: &Request, _user: &User, settings: &Settings) -> Result<Response> {
    let input: PreviewInput = json_body(req)?;
    validate_config(&input.config)?;
    let files: Vec<compiler::SourceFile> =
        input.sources.into_iter().map(|(location, content)| compiler::SourceFile { location, content }).collect();
    let compiled = compiler::compile(&input.config.to_string(), &files, &now_rfc3339()).map_err(|e| match e {
        // Checked above already; the compiler's own check is the same.
        compiler::CompileError::InvalidConfiguration(m) => ApiError::new(422, "invalid_configuration", m),
        // A well-formed pattern string that is not a valid pattern.
        compiler::CompileError::Pattern(m) => ApiError::new(422, "invalid_pattern", m),
        compiler::CompileError::Source(m) => ApiError::new(422, "source_failed", m),
    })?;
    if compiled.text.len() > settings.max_preview_bytes {
        return Err(ApiError::new(
            413,
            "preview_too_large",
            format!(
                "the compiled list is {} bytes, over the preview limit of {} bytes: save it as a list and compile it",
                compiled.text.len(),
                settings.max_preview_bytes
            ),
        ));
    }
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: compiled.text.into_bytes(),
        chunked: None,
    }
    .with_header("x-rule-count", compiled.rules.to_string()))
}

fn get_compiled(req: &Request, user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let cache = Kv::open(STORE_CACHE)?;
    let now = now_ms();
    // A fresh entry of this user's serves without reading the list record; anything else goes
    // through the ownership check below.
    let cached = cache
        .get(&compiled_key(id))
        .ok()
        .flatten()
        .and_then(|b| CacheEntry::decode(&b))
        .filter(|e| e.expires_at_ms > now && e.owner == user.id);
    let (etag, last_modified_ms, body, chunked) = match cached {
        Some(entry) => (entry.etag, entry.last_modified_ms, entry.body, None),
        None => {
            owned_list(user, lists, id)?;
            let meta: CompiledMeta = lists.get_json(&compiled_key(id))?.ok_or_else(|| {
                ApiError::new(
                    404,
                    "not_compiled",
                    format!("list {id} has no compiled version yet: POST /v1/lists/{id}/compile"),
                )
            })?;
            if meta.length as usize > MAX_CACHE_BODY {
                // Too large for the cache: streamed from the store a chunk at a time.
                let prefix = compiled_prefix(id, &meta.etag);
                let body = ChunkedBody { kv: Kv::open(STORE_LISTS)?, prefix, count: meta.chunks };
                (meta.etag, meta.modified_at_ms, Vec::new(), Some((body, meta.length)))
            } else {
                let body = lists
                    .get_chunks(&compiled_prefix(id, &meta.etag), meta.chunks, meta.length as usize)?
                    .filter(|b| b.len() as u64 == meta.length)
                    .ok_or_else(|| ApiError::unavailable(format!("compiled list {id} is being replaced; try again")))?;
                let entry = CacheEntry {
                    expires_at_ms: now + settings.cache_ttl_secs * 1000,
                    last_modified_ms: meta.modified_at_ms,
                    owner: user.id.clone(),
                    etag: meta.etag,
                    body,
                };
                // The cache is an optimisation: failing to fill it must not fail the request.
                let _ = cache.set(&compiled_key(id), &entry.encode());
                (entry.etag, entry.last_modified_ms, entry.body, None)
            }
        }
    };
    let quoted = format!("\"{etag}\"");
    // Artifacts stored before their content time was recorded have no Last-Modified.
    let last_modified = (last_modified_ms > 0).then(|| conditional::http_date(last_modified_ms));
    let with_validators = |r: Response| {
        let r = r.with_header("etag", quoted.clone()).with_header("cache-control", "private, no-cache");
        match &last_modified {
            Some(lm) => r.with_header("last-modified", lm.clone()),
            None => r,
        }
    };
    let unmodified = match req.header("if-none-match") {
        Some(inm) => conditional::if_none_match(inm, &[&quoted]),
        None => {
            last_modified_ms > 0
                && req
                    .header("if-modified-since")
                    .is_some_and(|ims| conditional::not_modified_since(ims, last_modified_ms))
        }
    };
    if unmodified {
        return Ok(with_validators(Response::empty(304)));
    }
    let length = chunked.as_ref().map_or(body.len() as u64, |(_, len)| *len);
    let head = req.method == "HEAD";
    Ok(with_validators(Response {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: if head { Vec::new() } else { body },
        chunked: if head { None } else { chunked.map(|(c, _)| c) },
    })
    .with_header("content-length", length.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_ip_forms() {
        use super::client_ip;
        assert_eq!(client_ip("1.2.3.4:5678"), Some("1.2.3.4"));
        assert_eq!(client_ip("[::1]:80"), Some("::1"));
        assert_eq!(client_ip("[2001:db8::2]:443"), Some("2001:db8::2"));
        assert_eq!(client_ip("1.2.3.4"), Some("1.2.3.4"));
        assert_eq!(client_ip(""), None);
        assert_eq!(client_ip("evil key:1"), None);
        assert_eq!(client_ip("[::1"), None);
    }
}
