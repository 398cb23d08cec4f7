//! The API's response bodies, as types: what `openapi.yaml` describes, field by field
//! (camelCase on the wire). Records the API shows as stored (`UserRecord`)
//! come from edge-store.

use super::*;
use serde::Serialize;

mod explain;
mod lists;
pub(crate) use explain::*;
pub(crate) use lists::*;

/// `GET /healthz`.
#[derive(Serialize)]
pub(crate) struct Health {
    pub status: &'static str,
}

/// Every error: `{"error": {"code", "message"}}`.
#[derive(Serialize)]
pub(crate) struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// An error's code and message.
#[derive(Serialize)]
pub(crate) struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

/// `GET /v1/me`: the caller's role, and the user record for a user.
#[derive(Serialize)]
pub(crate) struct Me {
    pub role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserRecord>,
}

/// `POST /v1/users`: the new user and its first token (shown once), with the token's id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreatedUser {
    pub user: UserRecord,
    pub token: String,
    pub token_id: String,
}

/// `POST /v1/users/{id}/tokens`: a new token (shown once), with its id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedToken<'a> {
    pub user_id: &'a str,
    pub token: String,
    pub id: String,
}

/// `GET /v1/me/tokens`.
#[derive(Serialize)]
pub(crate) struct TokensPage {
    pub tokens: Vec<TokenView>,
}

/// A token as its user sees it: its id, when it was issued, and whether it is the one the
/// request was made with.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenView {
    pub id: String,
    pub created_at: String,
    pub current: bool,
}

/// `POST /v1/lists/{id}/compile` (202): the job queued, or the one already queued for this
/// revision.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompileAccepted<'a> {
    /// `queued` or `already_queued`.
    pub status: &'static str,
    pub job_id: &'a str,
    pub list_id: &'a str,
}

/// A job as the API shows it (`GET /v1/jobs/{id}`, the dead-letter list).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobView<'a> {
    pub id: &'a str,
    pub list_id: &'a str,
    pub user_id: &'a str,
    pub list_revision: u64,
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<&'a str>,
    pub requested_at: String,
    pub updated_at: String,
    pub next_attempt_at: Option<String>,
    pub lease_until: Option<String>,
    pub history: Vec<AttemptView<'a>>,
    pub artifact: &'a Option<edge_store::ledger::Artifact>,
    pub replays: u32,
    pub notification: Option<NotificationView<'a>>,
    /// `manual` or `schedule`.
    pub cause: &'static str,
}

/// One attempt of a job.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttemptView<'a> {
    pub attempt: u32,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub error: Option<&'a str>,
}

/// A job's webhook event and where its delivery stands.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NotificationView<'a> {
    pub event: &'a str,
    /// The `X-Blocklist-Edge-Delivery` header of every attempt (absent from records written
    /// before deliveries were retried).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub delivery_id: &'a str,
    /// `pending`, `delivered` or `failed`.
    pub state: edge_store::ledger::DeliveryState,
    pub attempts: u32,
    pub max_attempts: u32,
    /// When the last attempt ended (before the first: when the event was written).
    pub at: String,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub next_attempt_at: Option<String>,
}

impl<'a> JobView<'a> {
    /// `job` as the API shows it: times in RFC 3339.
    pub fn of(job: &'a JobRecord) -> JobView<'a> {
        let time = |ms: Option<u64>| ms.map(rfc3339);
        JobView {
            id: &job.id,
            list_id: &job.list_id,
            user_id: &job.user_id,
            list_revision: job.list_revision,
            status: job.status,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            last_error: job.last_error.as_deref(),
            requested_at: rfc3339(job.requested_at_ms),
            updated_at: rfc3339(job.updated_at_ms),
            next_attempt_at: time(job.next_attempt_at_ms),
            lease_until: time(job.lease_until_ms),
            history: job
                .history
                .iter()
                .map(|a| AttemptView {
                    attempt: a.attempt,
                    started_at: rfc3339(a.started_at_ms),
                    ended_at: time(a.ended_at_ms),
                    error: a.error.as_deref(),
                })
                .collect(),
            artifact: &job.artifact,
            replays: job.replays,
            cause: job.cause.name(),
            notification: job.notification.as_ref().map(|n| NotificationView {
                event: &n.event,
                delivery_id: &n.delivery_id,
                state: n.state,
                attempts: n.attempts,
                max_attempts: n.max_attempts,
                at: rfc3339(n.at_ms),
                status: n.status,
                error: n.error.as_deref(),
                next_attempt_at: time(n.next_attempt_at_ms),
            }),
        }
    }
}

/// `GET /v1/jobs?status=dead`.
#[derive(Serialize)]
pub(crate) struct JobsPage<'a> {
    pub jobs: Vec<JobView<'a>>,
}

/// `POST /v1/admin/refresh`: what the schedule's run requested.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RefreshView<'a> {
    pub scheduled: u32,
    pub queued: &'a [String],
    pub already_queued: u32,
}
