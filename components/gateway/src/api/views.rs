//! The API's response bodies, as types: what `openapi.yaml` describes, field by field
//! (camelCase on the wire). Records the API shows as stored (`UserRecord`, a list's summary)
//! come from edge-store.

use super::*;
use serde::Serialize;

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

/// A published version: an entry of `GET /v1/lists/{id}/versions`, a side of a diff, and the
/// answer of a rollback or of publishing the held compile.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionView<'a> {
    pub version: u64,
    pub current: bool,
    pub etag: &'a str,
    pub rules: u32,
    pub bytes: u64,
    pub cause: blocklist_model::publish::VersionCause,
    pub published_at: String,
    pub job_id: Option<&'a str>,
    pub list_revision: u64,
    pub restores: Option<u64>,
}

impl<'a> VersionView<'a> {
    /// Version `v` of a list whose current version is `current`.
    pub fn of(v: &'a blocklist_model::publish::PublishedVersion, current: u64) -> VersionView<'a> {
        VersionView {
            version: v.version,
            current: v.version == current,
            etag: &v.artifact.etag,
            rules: v.artifact.rules,
            bytes: v.artifact.length,
            cause: v.cause,
            published_at: rfc3339(v.published_at_ms),
            job_id: v.job_id.as_deref(),
            list_revision: v.list_revision,
            restores: v.restores,
        }
    }
}

/// A compile the publish guard held (`GET /v1/lists/{id}/held`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeldView<'a> {
    pub job_id: &'a str,
    pub reason: blocklist_model::publish::HoldReason,
    pub message: &'a str,
    pub held_at: String,
    pub list_revision: u64,
    pub cause: blocklist_model::publish::VersionCause,
    pub candidate: Option<CandidateView<'a>>,
}

/// The list a held compile would publish.
#[derive(Serialize)]
pub(crate) struct CandidateView<'a> {
    pub etag: &'a str,
    pub rules: u32,
    pub bytes: u64,
}

impl<'a> HeldView<'a> {
    /// The held compile `h`.
    pub fn of(h: &'a blocklist_model::publish::HeldCandidate) -> HeldView<'a> {
        HeldView {
            job_id: &h.job_id,
            reason: h.reason,
            message: &h.message,
            held_at: rfc3339(h.held_at_ms),
            list_revision: h.list_revision,
            cause: h.cause,
            candidate: h.artifact.as_ref().map(|a| CandidateView { etag: &a.etag, rules: a.rules, bytes: a.length }),
        }
    }
}

/// `GET /v1/lists/{id}/versions`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VersionsPage<'a> {
    pub list_id: &'a str,
    pub current: u64,
    pub versions: Vec<VersionView<'a>>,
    pub held: Option<HeldView<'a>>,
}

/// `{"held": …}`: the held compile, as one side of a diff.
#[derive(Serialize)]
pub(crate) struct HeldSide<'a> {
    pub held: HeldView<'a>,
}

/// `POST /v1/lists/{id}/held/discard`.
#[derive(Serialize)]
pub(crate) struct Discarded<'a> {
    pub discarded: HeldView<'a>,
}

/// A side of a diff: a version, or the held compile.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum DiffSide<'a> {
    Version(VersionView<'a>),
    Held(HeldSide<'a>),
}

/// `GET /v1/lists/{id}/diff`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DiffPage<'a> {
    pub list_id: &'a str,
    pub from: DiffSide<'a>,
    pub to: DiffSide<'a>,
    pub removed: usize,
    pub added: usize,
    pub lines: Vec<String>,
    pub next_cursor: Option<String>,
}

/// `GET /v1/lists/{id}/lookup`: the lookup, with the published version it was answered from.
#[derive(Serialize)]
pub(crate) struct LookupView<'a> {
    #[serde(flatten)]
    pub found: &'a dns_filter::Lookup,
    pub list: &'a str,
    pub version: u64,
    pub etag: &'a str,
}

/// A list as `GET /v1/lists` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListSummary<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    /// `rules` or `config`.
    pub kind: &'static str,
    pub revision: u64,
    pub rules_bytes: u64,
    pub refresh_interval_secs: Option<u64>,
    pub publish_guard: Option<&'a blocklist_model::publish::Guard>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    /// A configuration list's configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<&'a serde_json::Value>,
}

impl<'a> ListSummary<'a> {
    /// List `list`'s summary.
    pub fn of(list: &'a ListRecord) -> ListSummary<'a> {
        let (kind, config) = match &list.source {
            ListSource::Rules => ("rules", None),
            ListSource::Config { config } => ("config", Some(config)),
        };
        ListSummary {
            id: &list.id,
            name: &list.name,
            description: list.description.as_deref(),
            kind,
            revision: list.revision,
            rules_bytes: list.rules_bytes,
            refresh_interval_secs: list.refresh_interval_secs,
            publish_guard: list.publish_guard.as_ref(),
            created_at: &list.created_at,
            updated_at: &list.updated_at,
            config,
        }
    }
}

/// `GET /v1/lists`.
#[derive(Serialize)]
pub(crate) struct ListsPage<'a> {
    pub lists: Vec<ListSummary<'a>>,
}

/// A list as `GET /v1/lists/{id}` (and its create and update) shows it: the summary, its rules
/// text, its webhook, and what its compiles left.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListView<'a> {
    #[serde(flatten)]
    pub summary: ListSummary<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<&'a str>,
    /// When the list's next refresh is due (a list on the refresh schedule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_refresh_at: Option<String>,
    /// The health of a configuration list's URL sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<SourceView<'a>>>,
    /// The current published version, once compiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldView<'a>>,
}

/// A list's webhook; its signing secret only in the answer that made it.
#[derive(Serialize)]
pub(crate) struct WebhookView<'a> {
    pub url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<&'a str>,
}

/// A URL source's health, as `GET /v1/lists/{id}` shows it in `sources`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SourceView<'a> {
    pub url: &'a str,
    pub last_status: Option<u16>,
    pub last_error: Option<&'a str>,
    pub last_fetch_at: Option<String>,
    pub last_success_at: Option<String>,
    pub consecutive_failures: u32,
    pub bytes: Option<u64>,
    pub rules: Option<u64>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

impl<'a> SourceView<'a> {
    /// Source `s`'s health.
    pub fn of(s: &'a blocklist_model::sources::SourceState) -> SourceView<'a> {
        SourceView {
            url: &s.url,
            last_status: s.last_status,
            last_error: s.last_error.as_deref(),
            last_fetch_at: s.last_fetch_at_ms.map(rfc3339),
            last_success_at: s.last_success_at_ms.map(rfc3339),
            consecutive_failures: s.consecutive_failures,
            bytes: s.copy.as_ref().map(|c| c.bytes),
            rules: s.copy.as_ref().map(|_| s.rules),
            etag: s.etag.as_deref(),
            last_modified: s.last_modified.as_deref(),
        }
    }
}

/// `GET /v1/lists/{id}/explain`: the shape `blocklist-edge explain --json` prints, with the list.
#[derive(Serialize)]
pub(crate) struct ExplainView<'a> {
    pub list: &'a str,
    pub name: &'a str,
    /// As `dns_filter` words it (the command line's `--json` and `lookup` alike).
    pub verdict: dns_filter::Lookup,
    pub lines: Vec<TracedLineView<'a>>,
    pub hints: &'a [String],
}

/// A source line that mentions the name, and what the compile did with it.
#[derive(Serialize)]
pub(crate) struct TracedLineView<'a> {
    pub source: &'a str,
    pub line: u32,
    pub text: &'a str,
    pub steps: Vec<StepView<'a>>,
    pub output: &'a [String],
}

/// One step that removed or changed a traced line.
#[derive(Serialize)]
pub(crate) struct StepView<'a> {
    pub stage: &'a str,
    pub scope: &'static str,
    pub result: &'a [String],
    pub why: Option<&'a str>,
}

/// A matching line as `dns_filter` words it.
fn rule_match(m: &compiler::RuleMatch) -> dns_filter::Match {
    use compiler::RuleRole as R;
    use dns_filter::Role;
    let role = match m.role {
        R::Block => Role::Block,
        R::Exception => Role::Exception,
        R::ImportantBlock => Role::ImportantBlock,
        R::ImportantException => Role::ImportantException,
        R::Badfiltered => Role::Badfiltered,
        R::Badfilter => Role::Badfilter,
    };
    dns_filter::Match { text: m.text.clone(), line: m.line, role, hosts: m.hosts }
}

impl<'a> ExplainView<'a> {
    /// The compiler's explanation `e` of list `list`.
    pub fn of(list: &'a str, e: &'a compiler::Explanation) -> ExplainView<'a> {
        let lines = e
            .lines
            .iter()
            .map(|l| TracedLineView {
                source: &l.source,
                line: l.line,
                text: &l.text,
                steps: l
                    .steps
                    .iter()
                    .map(|s| StepView {
                        stage: &s.stage,
                        scope: match s.scope {
                            compiler::ExplainScope::Source => "source",
                            compiler::ExplainScope::List => "list",
                        },
                        result: &s.result,
                        why: s.why.as_deref(),
                    })
                    .collect(),
                output: &l.output,
            })
            .collect();
        ExplainView {
            list,
            name: &e.name,
            verdict: dns_filter::Lookup {
                name: e.name.clone(),
                qtype: None,
                blocked: e.blocked,
                decided_by: e.decided_by.as_ref().map(rule_match),
                matches: e.matches.iter().map(rule_match).collect(),
            },
            lines,
            hints: &e.hints,
        }
    }
}
