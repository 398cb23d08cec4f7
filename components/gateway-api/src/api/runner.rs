//! Running jobs through HTTP (`job_runner = http`), where no Redis trigger delivers the job
//! channel (a platform with HTTP triggers only; `spin-http.toml`). The compile consumer is
//! mounted on its runner route (`/internal/jobs/run`), which runs the due jobs when called with
//! the runner secret (random, kept in the `lists` store). The gateway calls it on the
//! application itself, through its shell's [`Platform::call_runner`] (the `wasi:http` shell: a
//! Spin self request, a relative URL; `allowed_outbound_hosts = ["http://self"]`):
//!
//! - after answering a request that queued work (a compile, a replay, a refresh) or that won
//!   the request-path sweep (every `request_sweep_secs`), so that jobs run with no outside
//!   actor ([`after_response`]);
//! - for `POST /v1/admin/jobs/run` (the admin token), the route an external scheduler calls
//!   ([`run_jobs`]).

use super::*;
use edge_store::job_ledger::Runner;

use blocklist_model::runner::{RUNNER_PATH, parse_run_max};

/// The `max` of `POST /v1/admin/jobs/run`'s query, if given (1 to `RUN_MAX`).
pub(crate) fn parse_max(query: &str) -> Result<Option<usize>> {
    parse_run_max(query).map_err(ApiError::bad_request)
}

/// `POST /v1/admin/jobs/run?max=N` (admin): runs up to N due jobs (the runner's default, 5,
/// without `max`) and answers what ran and what is due still (the runner's JSON).
pub(crate) async fn run_jobs(
    platform: &Platform,
    req: &Request,
    caller: &Caller,
    settings: &Settings,
    lists: &Kv,
) -> Result<Response> {
    caller.require_admin()?;
    let max = parse_max(&req.query)?;
    if settings.jobs.runner != Runner::Http {
        return Err(ApiError::new(
            409,
            "not_http_runner",
            "compile jobs run from the job channel here (job_runner = redis); POST /v1/admin/jobs/run is for job_runner = http",
        ));
    }
    // This call runs what this request may have asked for (a sweep it won).
    job_ledger::take_runner_wanted();
    let query = max.map(|n| format!("max={n}")).unwrap_or_default();
    let Some(call) = platform.call_runner else {
        return Err(ApiError::new(
            501,
            "no_outbound_requests",
            format!("{} makes no outbound requests here: the job runner cannot be called", platform.name),
        ));
    };
    let (status, body) = call_runner(call, lists, &query)
        .await
        .map_err(|e| ApiError::new(502, "runner_unavailable", format!("the job runner could not be called: {e}")))?;
    if status == 401 {
        return Err(ApiError::new(502, "runner_unavailable", "the job runner refused the gateway's runner secret"));
    }
    Ok(Response { status, headers: vec![("content-type".into(), "application/json".into())], body, chunked: None })
}

/// Calls the runner route through `call` with `query` (`max=N`, or empty), with the runner
/// secret (made now if there is none yet): its status and body.
async fn call_runner(call: RunnerCall, lists: &Kv, query: &str) -> std::result::Result<(u16, Vec<u8>), String> {
    let secret = job_ledger::runner_secret(lists, true).map_err(|e| e.to_string())?.unwrap_or_default();
    let uri = if query.is_empty() { RUNNER_PATH.to_owned() } else { format!("{RUNNER_PATH}?{query}") };
    call(uri, secret).await
}

/// After the response was sent: calls the runner if this request queued work or won the
/// request-path sweep, under `job_runner = http`. The answer is only logged; what it leaves due
/// is run by the next call.
pub async fn after_response(platform: &Platform, settings: &Settings) {
    if settings.jobs.runner != Runner::Http || !job_ledger::take_runner_wanted() {
        return;
    }
    let Some(call) = platform.call_runner else { return };
    let lists = match Kv::open(STORE_LISTS) {
        Ok(l) => l,
        Err(e) => return eprintln!("calling the job runner: {e}"),
    };
    match call_runner(call, &lists, "").await {
        Ok((200, _)) => {}
        Ok((status, body)) => eprintln!("the job runner answered {status}: {}", String::from_utf8_lossy(&body)),
        Err(e) => eprintln!("calling the job runner: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_max;

    #[test]
    fn max_is_1_to_100() {
        assert_eq!(parse_max("").unwrap(), None);
        assert_eq!(parse_max("max=7").unwrap(), Some(7));
        assert_eq!(parse_max("max=100").unwrap(), Some(100));
        for bad in ["max=0", "max=101", "max=", "max=-1", "n=3", "max"] {
            assert_eq!(parse_max(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
