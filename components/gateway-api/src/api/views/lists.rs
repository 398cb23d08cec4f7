//! The bodies of the list resources: a list, its versions, diff, held compile and lookups.

use super::*;

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
