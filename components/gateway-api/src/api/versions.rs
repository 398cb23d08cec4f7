//! A list's published versions, the diff between two of them, rollback, and the compile the
//! publish guard held (`/v1/lists/{id}/versions…`, `/v1/lists/{id}/diff`, `/v1/lists/{id}/held…`).
//! The rules are `blocklist_model::publish`'s; the writes are `edge_store::publish`'s.

use super::*;
use blocklist_model::publish::{PublishedVersion, StoredArtifact, diff_rules};
use edge_store::publish::PublishRefused;

/// Lines a diff page holds unless `limit` says otherwise, and at most.
const DIFF_PAGE: usize = 1000;
const MAX_DIFF_PAGE: usize = 10_000;

/// The list's compiled record, or the 404 that says it has none.
pub(crate) fn compiled_meta(lists: &Kv, id: &str) -> Result<CompiledMeta> {
    lists.get_json(&compiled_key(id))?.ok_or_else(|| {
        ApiError::new(
            404,
            "not_compiled",
            format!("list {id} has no compiled version yet: POST /v1/lists/{id}/compile"),
        )
    })
}

/// `GET /v1/lists/{id}/versions`: the kept versions, newest first, and the held compile.
pub(crate) fn list_versions(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let meta = compiled_meta(lists, id)?;
    let kept = edge_store::publish::versions(&meta);
    let versions = kept.iter().map(|v| VersionView::of(v, meta.version)).collect();
    let held = meta.held.as_ref().map(HeldView::of);
    Ok(Response::json(200, &VersionsPage { list_id: id, current: meta.version, versions, held }))
}

/// Which side of a diff: a kept version, the current one, or the held candidate.
fn pick<'m>(
    meta: &'m CompiledMeta,
    kept: &'m [PublishedVersion],
    spec: &str,
) -> Result<(DiffSide<'m>, StoredArtifact)> {
    match spec {
        "current" => {
            let v = &kept[0];
            Ok((DiffSide::Version(VersionView::of(v, meta.version)), v.artifact.clone()))
        }
        "held" => {
            let held = meta
                .held
                .as_ref()
                .ok_or_else(|| ApiError::new(404, "nothing_held", "no compile of this list is held".to_owned()))?;
            let artifact = held.artifact.clone().ok_or_else(|| {
                ApiError::new(
                    409,
                    "no_candidate",
                    format!("the held compile has no list to compare ({})", held.message),
                )
            })?;
            Ok((DiffSide::Held(HeldSide { held: HeldView::of(held) }), artifact))
        }
        n => {
            let n: u64 = n.parse().map_err(|_| {
                ApiError::bad_request(format!("{n:?} is not a version: give a version number, `current` or `held`"))
            })?;
            let v = kept.iter().find(|v| v.version == n).ok_or_else(|| {
                ApiError::new(404, "no_such_version", format!("version {n} is not among the list's kept versions"))
            })?;
            Ok((DiffSide::Version(VersionView::of(v, meta.version)), v.artifact.clone()))
        }
    }
}

/// What a diff's query asks for: `from` and `to` as given, a page of `limit` lines from `cursor`.
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    limit: usize,
    cursor: usize,
}

/// Parses a diff's query (`from`, `to`, `limit` from 1 to [`MAX_DIFF_PAGE`], `cursor`); a 400
/// naming anything else.
pub(crate) fn parse_diff_query(query: &str) -> Result<DiffQuery> {
    let mut q = DiffQuery { from: None, to: None, limit: DIFF_PAGE, cursor: 0 };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |what: &str| {
            v.parse::<usize>().map_err(|_| ApiError::bad_request(format!("`{what}` must be a whole number, not {v:?}")))
        };
        match k {
            "from" => q.from = Some(v.to_owned()),
            "to" => q.to = Some(v.to_owned()),
            "limit" => q.limit = number("limit")?,
            "cursor" => q.cursor = number("cursor")?,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown query parameter {k:?}; use from, to, limit and cursor"
                )));
            }
        }
    }
    if q.limit == 0 || q.limit > MAX_DIFF_PAGE {
        return Err(ApiError::bad_request(format!("`limit` must be between 1 and {MAX_DIFF_PAGE}")));
    }
    Ok(q)
}

/// `GET /v1/lists/{id}/diff?from=…&to=…&limit=…&cursor=…`: the rules `to` added and removed
/// relative to `from` (version numbers, `current` or `held`; by default the version before the
/// current and the current), counted, with a page of the lines (`-rule` removed, then `+rule`
/// added).
pub(crate) fn diff_versions(req: &Request, user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let DiffQuery { from, to, limit, cursor } = parse_diff_query(&req.query)?;
    let meta = compiled_meta(lists, id)?;
    let kept = edge_store::publish::versions(&meta);
    let from = match from {
        Some(f) => f,
        None => kept.get(1).map(|v| v.version.to_string()).ok_or_else(|| {
            ApiError::bad_request(
                "the list has one version: give `from` and `to` (version numbers, `current` or `held`)",
            )
        })?,
    };
    let to = to.unwrap_or_else(|| "current".to_owned());
    let (from_view, from_artifact) = pick(&meta, &kept, &from)?;
    let (to_view, to_artifact) = pick(&meta, &kept, &to)?;
    let read = |a: &StoredArtifact| -> Result<String> {
        let bytes = edge_store::publish::read(lists, id, a)?.ok_or_else(|| {
            ApiError::unavailable(format!("version {} of list {id} is being replaced; try again", a.etag))
        })?;
        String::from_utf8(bytes)
            .map_err(|_| ApiError::internal(format!("a compiled version of list {id} is not UTF-8")))
    };
    let (old, new) = (read(&from_artifact)?, read(&to_artifact)?);
    let diff = diff_rules(&old, &new);
    let total = diff.removed.len() + diff.added.len();
    let lines: Vec<String> = diff
        .removed
        .iter()
        .map(|r| format!("-{r}"))
        .chain(diff.added.iter().map(|r| format!("+{r}")))
        .skip(cursor)
        .take(limit)
        .collect();
    let next = cursor.saturating_add(lines.len());
    let next_cursor = (next < total).then(|| next.to_string());
    let (removed, added) = (diff.removed.len(), diff.added.len());
    Ok(Response::json(200, &DiffPage { list_id: id, from: from_view, to: to_view, removed, added, lines, next_cursor }))
}

/// The API error of a refused publish.
fn refused(id: &str, r: PublishRefused) -> ApiError {
    let message = format!("list {id}: {r}");
    match r {
        PublishRefused::NotCompiled => ApiError::new(404, "not_compiled", message),
        PublishRefused::NothingHeld => ApiError::new(404, "nothing_held", message),
        PublishRefused::NoSuchVersion(_) => ApiError::new(404, "no_such_version", message),
        PublishRefused::NoCandidate { .. } => ApiError::new(409, "no_candidate", message),
        PublishRefused::AlreadyCurrent(_) => ApiError::new(409, "already_current", message),
    }
}

/// What follows a new current version: the node's cached copies go, subscription files are made.
fn published(settings: &Settings, lists: &Kv, list: &ListRecord, meta: &CompiledMeta) {
    edge_store::caches::forget_list(&list.id);
    edge_store::renditions::prepare_current(lists, list, meta, settings.subscription_expires_hours);
}

/// `POST /v1/lists/{id}/versions/{version}/rollback`: publishes a kept version again, as a new
/// version (subscribers see a new `ETag`, `Last-Modified` and `Version`).
pub(crate) fn rollback(user: &User, settings: &Settings, lists: &Kv, id: &str, version: u64) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    let meta = edge_store::publish::rollback(lists, id, version, settings.publishing.versions_kept)?
        .map_err(|r| refused(id, r))?;
    published(settings, lists, &list, &meta);
    let current = &edge_store::publish::versions(&meta)[0];
    Ok(Response::json(200, &VersionView::of(current, meta.version)))
}

/// `GET /v1/lists/{id}/held`: the compile the publish guard held, if any.
pub(crate) fn get_held(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let meta = compiled_meta(lists, id)?;
    let held = meta.held.as_ref().ok_or_else(|| refused(id, PublishRefused::NothingHeld))?;
    Ok(Response::json(200, &HeldView::of(held)))
}

/// Records its owner's decision on the held job (best effort: the job may be gone with
/// retention; the list's versions say what was published).
fn decide_job(lists: &Kv, job_id: &str, published: Option<edge_store::ledger::Artifact>) {
    let outcome = job_ledger::update(lists, job_id, |j| j.decided(now_ms(), published.clone()));
    if let Err(e) = outcome {
        eprintln!("gateway: recording the decision on held job {job_id}: {e}");
    }
}

/// `POST /v1/lists/{id}/held/publish`: publishes the held candidate (a new version).
pub(crate) fn publish_held(user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    let (held, meta) =
        edge_store::publish::publish_held(lists, id, settings.publishing.versions_kept)?.map_err(|r| refused(id, r))?;
    published(settings, lists, &list, &meta);
    let artifact = edge_store::ledger::Artifact { etag: meta.etag.clone(), length: meta.length, rules: meta.rules };
    decide_job(lists, &held.job_id, Some(artifact));
    let current = &edge_store::publish::versions(&meta)[0];
    Ok(Response::json(200, &VersionView::of(current, meta.version)))
}

/// `POST /v1/lists/{id}/held/discard`: drops the held candidate; the published list stays.
pub(crate) fn discard_held(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let held = edge_store::publish::discard_held(lists, id)?.map_err(|r| refused(id, r))?;
    decide_job(lists, &held.job_id, None);
    Ok(Response::json(200, &Discarded { discarded: HeldView::of(&held) }))
}
