//! The runner: runs the due jobs when called through HTTP, for platforms where no Redis trigger
//! delivers the job channel's messages (`job_runner = http`, `spin-http.toml`).
//!
//! `POST /internal/jobs/run?max=N` with `Authorization: Bearer {runner secret}` (the random
//! secret the gateway keeps in the `lists` store, `job_ledger::runner_secret`): the gateway
//! calls it after answering a request that queued work, every `request_sweep_secs` from its
//! request path, and for `POST /v1/admin/jobs/run` (the admin's route, for an external
//! scheduler). One call does what a sweep does (scheduled refreshes, retention), then runs up
//! to `max` due jobs and webhook deliveries, one after the other, through the same code as the
//! messages of the Redis trigger ([`crate::consume::Context::run`]): claims by compare-and-swap
//! with a lease, so concurrent calls and a Redis trigger never run one attempt twice.

use crate::consume::{Context, Error};
use edge_store::job_ledger::{self, Message};
use edge_store::model::now_ms;
use serde::Serialize;
use sha2::{Digest, Sha256};

use blocklist_model::runner::{RUN_DEFAULT_MAX, RUNNER_PATH, parse_run_max};

/// What one call did (the JSON answer).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// What was run, in order.
    pub ran: Vec<Ran>,
    /// What is due still (beyond `max`): for the next call.
    pub due: Vec<Due>,
    /// Jobs of scheduled refreshes this call requested (they are run like the others).
    pub refreshes_queued: Vec<String>,
}

/// One job or delivery run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ran {
    pub job_id: String,
    /// `compile` or `deliver`.
    pub kind: &'static str,
    /// The job's status afterwards (`done`, `failed`, `dead`, `held`, …; `running` if another
    /// runner holds it).
    pub status: Option<&'static str>,
    /// Why the attempt failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One job or delivery left for a later call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Due {
    pub job_id: String,
    pub kind: &'static str,
}

fn describe(m: &Message) -> Option<(&str, &'static str)> {
    match m {
        Message::Compile { job_id } => Some((job_id, "compile")),
        Message::Deliver { job_id } => Some((job_id, "deliver")),
        Message::Sweep => None,
    }
}

/// Runs the upkeep of a sweep and up to `max` due jobs and deliveries.
pub fn run(max: usize) -> Result<RunReport, Error> {
    let ctx = Context::load()?;
    let refreshes_queued = ctx.upkeep()?;
    let (_, found) = job_ledger::due(&ctx.lists, now_ms())
        .map_err(|source| Error::Platform { context: "finding the due jobs".into(), source })?;
    let mut report = RunReport { ran: Vec::new(), due: Vec::new(), refreshes_queued };
    for message in found {
        let Some((job_id, kind)) = describe(&message).map(|(id, k)| (id.to_owned(), k)) else { continue };
        if report.ran.len() >= max {
            report.due.push(Due { job_id, kind });
            continue;
        }
        let error = ctx.run(message).err().map(|e| e.to_string());
        let status = job_ledger::get(&ctx.lists, &job_id).ok().flatten().map(|j| j.status.name());
        if let Some(e) = &error {
            eprintln!("compile: runner: {e}");
        }
        report.ran.push(Ran { job_id, kind, status, error });
    }
    Ok(report)
}

/// Whether `authorization` (the header's value) is `Bearer {secret}`; compared as SHA-256
/// digests, in time independent of where they differ.
pub fn authorized(authorization: Option<&str>, secret: Option<&str>) -> bool {
    let (Some(header), Some(secret)) = (authorization, secret) else { return false };
    let Some(given) = header.strip_prefix("Bearer ") else { return false };
    let (a, b) = (Sha256::digest(given.trim().as_bytes()), Sha256::digest(secret.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An answer: status and JSON body.
pub type Answer = (u16, serde_json::Value);

fn error(status: u16, code: &str, message: impl Into<String>) -> Answer {
    (status, serde_json::json!({"error": {"code": code, "message": message.into()}}))
}

/// Answers one request to the runner.
pub fn serve(method: &str, path: &str, query: &str, authorization: Option<&str>) -> Answer {
    if path != RUNNER_PATH {
        return error(404, "not_found", format!("no route for {method} {path}"));
    }
    if method != "POST" {
        return error(405, "method_not_allowed", "method not allowed here; allowed: POST");
    }
    let secret = match edge_store::kv::Kv::open(edge_store::model::STORE_LISTS)
        .and_then(|lists| job_ledger::runner_secret(&lists, false))
    {
        Ok(s) => s,
        Err(e) => return error(503, "unavailable", format!("reading the runner secret: {e}")),
    };
    if !authorized(authorization, secret.as_deref()) {
        return error(401, "unauthorized", "the runner is called by the gateway (POST /v1/admin/jobs/run)");
    }
    let max = match parse_run_max(query) {
        Ok(m) => m.unwrap_or(RUN_DEFAULT_MAX),
        Err(m) => return error(400, "bad_request", m),
    };
    match run(max) {
        Ok(report) => match serde_json::to_value(&report) {
            Ok(v) => (200, v),
            Err(e) => error(500, "internal", format!("encoding the report: {e}")),
        },
        Err(e) => error(503, "unavailable", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization() {
        assert!(authorized(Some("Bearer s3cret"), Some("s3cret")));
        assert!(!authorized(Some("Bearer s3cre"), Some("s3cret")));
        assert!(!authorized(Some("s3cret"), Some("s3cret")));
        assert!(!authorized(None, Some("s3cret")));
        assert!(!authorized(Some("Bearer "), None), "no secret made yet: nobody gets in");
    }
}
