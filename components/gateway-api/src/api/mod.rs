//! The HTTP API: authentication, rate limiting through the imported `blocklist:ratelimit/ratelimit`,
//! and the routes (this module: the router and request helpers; one submodule per resource).
//! Documented in `openapi.yaml` at the repository root.

use crate::blocklist::compiler::compiler;
use crate::blocklist::ratelimit::ratelimit;
use crate::http::{ChunkedBody, ReadError, Request, Response};
use crate::{conditional, subscriptions};
use edge_store::StoreError;
use edge_store::job_ledger::{self, JobSettings};
use edge_store::kv::{JsonUpdate, Kv};
use edge_store::ledger::{JobCause, JobRecord, JobStatus};
use edge_store::model::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

mod auth;
mod compile_jobs;
mod compiled;
mod errors;
mod explain;
mod list_input;
mod lists;
mod lookup;
mod platform;
mod preview;
mod routes;
mod runner;
mod settings;
mod users;
mod versions;
mod views;

pub(crate) use auth::*;
pub(crate) use compile_jobs::*;
pub(crate) use compiled::*;
pub(crate) use errors::*;
pub(crate) use explain::*;
pub(crate) use list_input::*;
pub(crate) use lists::*;
pub(crate) use lookup::*;
pub use platform::*;
pub(crate) use preview::*;
pub use routes::Route;
pub use runner::after_response;
pub(crate) use runner::*;
pub use settings::Settings;
pub(crate) use users::*;
pub(crate) use versions::*;
pub(crate) use views::*;

/// What [`admit`] decided about a request, from its head alone.
pub enum Admission {
    /// Answered without a body: health, subscription fetches, refusals.
    Answered(Response),
    /// An authenticated caller within its rate limit: its body may be read.
    Admitted(Admitted),
}

/// A caller let in, and what answering it needs.
pub struct Admitted {
    caller: Caller,
    decision: ratelimit::Decision,
    lists: Kv,
}

/// Decides on a request from its head (`req.body` is not read yet): answers it if it needs no
/// body or may not send one (no work, not even reading a body, for such a caller), else admits
/// it for [`answer`].
pub fn admit(settings: &Settings, req: &Request) -> Admission {
    use Admission::Answered;
    // The sweeper's clock on hosts with no timer (Spin): any request drives it, a liveness
    // probe on /healthz included. It never fails the request.
    let lists = Kv::open(STORE_LISTS);
    if let (true, Ok(lists)) = (settings.request_sweep_secs > 0, &lists) {
        let interval = settings.request_sweep_secs.saturating_mul(1000);
        if let Err(e) = job_ledger::request_sweep(lists, &settings.jobs, interval, now_ms()) {
            eprintln!("requesting a sweep of the job ledger: {e}");
        }
    }
    if req.path == "/healthz" || req.path == "/v1/health" {
        return Answered(match req.method.as_str() {
            "GET" | "HEAD" => Response::json(200, &Health { status: "ok" }),
            _ => method_not_allowed("GET").into_response(),
        });
    }
    let lists = match lists {
        Ok(kv) => kv,
        Err(e) => return Answered(ApiError::from(e).into_response()),
    };
    // Subscription URLs carry their own token and limits; no API token, no API budget.
    if crate::subscriptions::is_subscription_path(&req.path) {
        return Answered(crate::subscriptions::serve(req, settings, &lists));
    }
    let caller = match authenticate(req, settings, &lists) {
        Ok(c) => c,
        Err(e) => return Answered(refuse_unauthenticated(req, settings, e).into_response()),
    };
    match rate_limit(&caller, settings) {
        Ok(decision) => Admission::Admitted(Admitted { caller, decision, lists }),
        Err(e) => Answered(e.into_response()),
    }
}

/// Answers an admitted request once its body was read (`read`: why it could not be).
pub async fn answer(
    platform: &Platform,
    settings: &Settings,
    req: &Request,
    admitted: Admitted,
    read: Option<ReadError>,
) -> Response {
    let Admitted { caller, decision, lists } = admitted;
    let mut response = match read {
        Some(ReadError::TooLarge(max)) => {
            ApiError::new(413, "payload_too_large", format!("request body exceeds the limit of {max} bytes"))
                .into_response()
        }
        Some(ReadError::Stream(m)) => {
            ApiError::bad_request(format!("could not read the request body: {m}")).into_response()
        }
        None => {
            let answered = match Route::resolve(&req.method, &req.path).and_then(|r| platform.check(&r).map(|()| r)) {
                // The one route answered by another component (an outbound request).
                Ok(Route::RunJobs) => run_jobs(platform, req, &caller, settings, &lists).await,
                Ok(r) => route(r, req, &caller, settings, &lists),
                Err(e) => Err(e),
            };
            answered.unwrap_or_else(|e| e.into_response())
        }
    };
    response.headers.extend(rate_headers(&decision));
    response
}

pub(crate) fn method_not_allowed(allow: &str) -> ApiError {
    let mut e = ApiError::new(405, "method_not_allowed", format!("method not allowed here; allowed: {allow}"));
    e.headers.push(("allow".into(), allow.into()));
    e
}

/// Runs the handler of `route` (the one `req` reaches).
fn route(route: Route, req: &Request, caller: &Caller, settings: &Settings, lists: &Kv) -> Result<Response> {
    use Route::*;
    match route {
        Me => me(caller, lists),
        CreateUser => create_user(req, caller, lists),
        MyTokens => my_tokens(caller.user()?, lists),
        RevokeToken { token } => revoke_user_token(caller.user()?, lists, &token),
        DeleteUser { user } => delete_user(caller, lists, &user),
        IssueToken { user } => issue_token(caller, lists, &user),
        ListLists => list_lists(caller.user()?, lists),
        CreateList => create_list(req, caller.user()?, settings, lists),
        GetList { list } => get_list(caller.user()?, lists, &list),
        UpdateList { list } => update_list(req, caller.user()?, settings, lists, &list),
        DeleteList { list } => delete_list(req, caller.user()?, lists, &list),
        RequestCompile { list } => request_compile(caller.user()?, settings, lists, &list),
        GetCompiled { list } => get_compiled(req, caller.user()?, settings, lists, &list),
        ListSubscriptions { list } => subscriptions::list(caller.user()?, settings, lists, &list),
        CreateSubscription { list } => subscriptions::create(req, caller.user()?, settings, lists, &list),
        GetSubscription { list, subscription } => {
            subscriptions::get(caller.user()?, settings, lists, &list, &subscription)
        }
        DeleteSubscription { list, subscription } => subscriptions::delete(caller.user()?, lists, &list, &subscription),
        RotateSubscription { list, subscription } => {
            subscriptions::rotate(req, caller.user()?, settings, lists, &list, &subscription)
        }
        Preview => preview(req, caller.user()?, settings),
        ListJobs => list_jobs(req, caller.user()?, lists),
        GetJob { job } => get_job(caller.user()?, lists, &job),
        ReplayJob { job } => replay_job(caller.user()?, settings, lists, &job),
        RunRefreshes => run_refreshes(caller, settings, lists),
        RunJobs => Err(ApiError::internal("POST /v1/admin/jobs/run is answered by `answer`")),
        ListJobsOfList { list } => list_jobs_of_list(caller.user()?, lists, &list),
        ListVersions { list } => list_versions(caller.user()?, lists, &list),
        DiffVersions { list } => diff_versions(req, caller.user()?, lists, &list),
        LookupName { list } => lookup(req, caller.user()?, lists, &list),
        ExplainName { list } => explain(req, caller.user()?, lists, &list),
        Rollback { list, version } => rollback(caller.user()?, settings, lists, &list, version),
        GetHeld { list } => get_held(caller.user()?, lists, &list),
        PublishHeld { list } => publish_held(caller.user()?, settings, lists, &list),
        DiscardHeld { list } => discard_held(caller.user()?, lists, &list),
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
