//! The HTTP API: authentication, rate limiting through the imported `blocklist:ratelimit/ratelimit`,
//! and the routes (this module: the router and request helpers; one submodule per resource).
//! Documented in `openapi.yaml` at the repository root.

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

mod auth;
mod compile_jobs;
mod compiled;
mod errors;
mod lists;
mod preview;
mod settings;
mod users;

pub(crate) use auth::*;
pub(crate) use compile_jobs::*;
pub(crate) use compiled::*;
pub(crate) use errors::*;
pub(crate) use lists::*;
pub(crate) use preview::*;
pub(crate) use settings::*;
pub(crate) use users::*;

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
