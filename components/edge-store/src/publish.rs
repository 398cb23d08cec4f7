//! Publishing compiled lists ([`blocklist_model::publish`] applied to `compiled/{list}` by
//! compare-and-swap): installing a new version, holding a candidate back, publishing or
//! discarding it, and rolling back to a kept version. Every change deletes the chunks of the
//! artifacts the record no longer keeps, after the record is written.
//!
//! Callers forget the list's cached copies afterwards ([`crate::caches::forget_list`]).

use crate::StoreError;
use crate::kv::{JsonUpdate, Kv};
use crate::model::*;
use blocklist_model::publish::{Guard, HeldCandidate, PublishedVersion, StoredArtifact, VersionCause, push_version};

/// How versions are kept and guarded, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct PublishSettings {
    /// Versions kept per list (`versions_kept`).
    pub versions_kept: u32,
    /// The guard of a list that sets none (`publish_guard_*`).
    pub guard: Guard,
}

impl PublishSettings {
    /// Reads `versions_kept` and `publish_guard_*`.
    pub fn load(values: &crate::config::Values) -> Result<PublishSettings, StoreError> {
        use blocklist_model::publish::{DEFAULT_MAX_SHRINK_PERCENT, DEFAULT_VERSIONS_KEPT, MAX_VERSIONS_KEPT};
        use blocklist_model::variables as v;
        Ok(PublishSettings {
            versions_kept: values.get(v::VERSIONS_KEPT, DEFAULT_VERSIONS_KEPT)?.clamp(1, MAX_VERSIONS_KEPT),
            guard: Guard {
                max_shrink_percent: values
                    .get(v::PUBLISH_GUARD_MAX_SHRINK_PERCENT, DEFAULT_MAX_SHRINK_PERCENT)?
                    .min(100),
                min_rules: values.get(v::PUBLISH_GUARD_MIN_RULES, 0u32)?,
            },
        })
    }

    /// The guard of `list`: its own, or the configured default.
    pub fn guard_of(&self, list: &ListRecord) -> Guard {
        list.publish_guard.unwrap_or(self.guard)
    }
}

/// An artifact to make current.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub artifact: StoredArtifact,
    pub cause: VersionCause,
    pub job_id: Option<String>,
    pub list_revision: u64,
    pub inputs_sha256: Option<String>,
    /// For a rollback: the version restored.
    pub restores: Option<u64>,
}

/// What [`install`] did.
#[derive(Clone, Debug)]
pub enum Installed {
    /// It is the current artifact now.
    Published(CompiledMeta),
    /// The current artifact has the same content: it stays (same bytes, entity tag, version and
    /// `Last-Modified`), marked as made from the candidate's revision and inputs.
    Unchanged(CompiledMeta),
    /// A newer revision's artifact is current: the candidate is not wanted.
    Superseded,
}

/// The first version of an artifact published before versions were kept.
fn seed_version(meta: &CompiledMeta) -> PublishedVersion {
    PublishedVersion {
        version: meta.version,
        artifact: stored(meta),
        cause: VersionCause::Manual,
        published_at_ms: meta.modified_at_ms,
        job_id: meta.job_id.clone(),
        list_revision: meta.list_revision,
        restores: None,
    }
}

/// The current artifact of `meta`.
pub fn stored(meta: &CompiledMeta) -> StoredArtifact {
    StoredArtifact {
        etag: meta.etag.clone(),
        length: meta.length,
        chunks: meta.chunks,
        rules: meta.rules,
        content_sha256: meta.content_sha256.clone().unwrap_or_default(),
    }
}

/// The published versions of `meta`, newest first (the current first).
pub fn versions(meta: &CompiledMeta) -> Vec<PublishedVersion> {
    if meta.versions.is_empty() { vec![seed_version(meta)] } else { meta.versions.clone() }
}

/// `cur` with `c` current (a new version).
fn with_current(cur: Option<&CompiledMeta>, c: &Candidate, keep: u32, now_ms: u64) -> CompiledMeta {
    let version = CompiledMeta::next_version(cur, now_ms);
    let mut history = cur.map(versions).unwrap_or_default();
    push_version(
        &mut history,
        PublishedVersion {
            version,
            artifact: c.artifact.clone(),
            cause: c.cause,
            published_at_ms: now_ms,
            job_id: c.job_id.clone(),
            list_revision: c.list_revision,
            restores: c.restores,
        },
        keep,
    );
    // A held candidate of an older (or the same) revision is outdated by a new version.
    let held = cur
        .and_then(|m| m.held.clone())
        .filter(|h| c.cause != VersionCause::Approval && h.list_revision > c.list_revision);
    CompiledMeta {
        etag: c.artifact.etag.clone(),
        length: c.artifact.length,
        chunks: c.artifact.chunks,
        compiled_at: rfc3339(now_ms),
        rules: c.artifact.rules,
        list_revision: c.list_revision.max(cur.map_or(0, |m| m.list_revision)),
        job_id: c.job_id.clone(),
        previous: cur.map(|m| ChunkedArtifact { etag: m.etag.clone(), chunks: m.chunks }),
        content_sha256: Some(c.artifact.content_sha256.clone()),
        modified_at_ms: now_ms,
        version,
        versions: history,
        held,
        inputs_sha256: c.inputs_sha256.clone(),
    }
}

/// Deletes the chunks `before` kept that `after` does not (and, with no `after`, all of them).
fn delete_dropped(lists: &Kv, list_id: &str, before: &[ChunkedArtifact], after: Option<&CompiledMeta>) {
    for gone in before.iter().filter(|a| !after.is_some_and(|m| m.keeps(&a.etag))) {
        // What is left is the retention collector's.
        let _ = lists.delete_chunks(&compiled_prefix(list_id, &gone.etag), gone.chunks);
        let _ = crate::lookup_index::delete(lists, list_id, &gone.etag);
    }
}

/// Makes `candidate` (stored in chunks already) the current artifact of `list_id`, unless a
/// newer revision's is current, or the current has the same content.
pub fn install(lists: &Kv, list_id: &str, candidate: &Candidate, keep: u32) -> Result<Installed, StoreError> {
    let key = compiled_key(list_id);
    let mut before = Vec::new();
    let outcome = lists.update_json(&key, |cur: Option<CompiledMeta>| {
        before = cur.as_ref().map(CompiledMeta::artifact_chunks).unwrap_or_default();
        if let Some(m) = &cur {
            if m.list_revision > candidate.list_revision && candidate.cause != VersionCause::Rollback {
                return JsonUpdate::Keep(Installed::Superseded);
            }
            let same = m.etag == candidate.artifact.etag
                || m.content_sha256.as_deref() == Some(candidate.artifact.content_sha256.as_str());
            if same && candidate.cause != VersionCause::Rollback {
                let mut kept = m.clone();
                kept.list_revision = m.list_revision.max(candidate.list_revision);
                kept.inputs_sha256 = candidate.inputs_sha256.clone().or(kept.inputs_sha256);
                if candidate.cause == VersionCause::Approval {
                    kept.held = None;
                }
                return if kept.list_revision == m.list_revision
                    && kept.inputs_sha256 == m.inputs_sha256
                    && kept.held == m.held
                {
                    JsonUpdate::Keep(Installed::Unchanged(kept))
                } else {
                    JsonUpdate::Write(kept.clone(), Installed::Unchanged(kept))
                };
            }
        }
        let next = with_current(cur.as_ref(), candidate, keep, now_ms());
        JsonUpdate::Write(next.clone(), Installed::Published(next))
    })?;
    let after = match &outcome {
        Installed::Published(m) | Installed::Unchanged(m) => Some(m),
        Installed::Superseded => None,
    };
    let mut dropped = before;
    if after.is_none_or(|m| !m.keeps(&candidate.artifact.etag)) {
        dropped.push(ChunkedArtifact { etag: candidate.artifact.etag.clone(), chunks: candidate.artifact.chunks });
    }
    match after {
        Some(m) => delete_dropped(lists, list_id, &dropped, Some(m)),
        // Superseded: only the candidate's own chunks, unless the current keeps the same etag.
        None => {
            let current: Option<CompiledMeta> = lists.get_json(&key)?;
            let own = [ChunkedArtifact { etag: candidate.artifact.etag.clone(), chunks: candidate.artifact.chunks }];
            delete_dropped(lists, list_id, &own, current.as_ref());
        }
    }
    Ok(outcome)
}

/// Keeps `held` as the list's held candidate while the current artifact stays; `Err(())` if the
/// list has no current artifact (nothing to guard: the caller publishes). `Ok` names the
/// candidate it replaced, if any.
pub fn hold(lists: &Kv, list_id: &str, held: HeldCandidate) -> Result<Result<Option<HeldCandidate>, ()>, StoreError> {
    let mut before = Vec::new();
    let mut after = None;
    let outcome = lists.update_json(&compiled_key(list_id), |cur: Option<CompiledMeta>| {
        let Some(mut m) = cur else { return JsonUpdate::Keep(Err(())) };
        before = m.artifact_chunks();
        let replaced = m.held.replace(held.clone()).filter(|r| r.job_id != held.job_id);
        after = Some(m.clone());
        JsonUpdate::Write(m, Ok(replaced))
    })?;
    if let Some(a) = held.artifact.as_ref().filter(|_| outcome.is_err()) {
        before.push(ChunkedArtifact { etag: a.etag.clone(), chunks: a.chunks });
    }
    delete_dropped(lists, list_id, &before, after.as_ref());
    Ok(outcome)
}

/// Why a held candidate or a version cannot be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishRefused {
    /// The list has no compiled artifact.
    NotCompiled,
    /// No candidate is held.
    NothingHeld,
    /// The held refresh produced nothing to publish (`message`: why it was held).
    NoCandidate { message: String },
    /// No kept version has this number.
    NoSuchVersion(u64),
    /// That version is the current one.
    AlreadyCurrent(u64),
}

impl std::fmt::Display for PublishRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishRefused::NotCompiled => f.write_str("the list has not been compiled"),
            PublishRefused::NothingHeld => f.write_str("no compile of this list is held"),
            PublishRefused::NoCandidate { message } => {
                write!(f, "the held refresh has no list to publish (it was held because {message}); discard it instead")
            }
            PublishRefused::NoSuchVersion(v) => write!(f, "version {v} is not among the list's kept versions"),
            PublishRefused::AlreadyCurrent(v) => write!(f, "version {v} is the current version already"),
        }
    }
}

/// Publishes the held candidate of `list_id` (its owner approved it): a new version.
pub fn publish_held(
    lists: &Kv,
    list_id: &str,
    keep: u32,
) -> Result<Result<(HeldCandidate, CompiledMeta), PublishRefused>, StoreError> {
    let Some(meta) = lists.get_json::<CompiledMeta>(&compiled_key(list_id))? else {
        return Ok(Err(PublishRefused::NotCompiled));
    };
    let Some(held) = meta.held.clone() else { return Ok(Err(PublishRefused::NothingHeld)) };
    let Some(artifact) = held.artifact.clone() else {
        return Ok(Err(PublishRefused::NoCandidate { message: held.message }));
    };
    let candidate = Candidate {
        artifact,
        cause: VersionCause::Approval,
        job_id: Some(held.job_id.clone()),
        list_revision: held.list_revision,
        inputs_sha256: held.inputs_sha256.clone(),
        restores: None,
    };
    match install(lists, list_id, &candidate, keep)? {
        Installed::Published(m) | Installed::Unchanged(m) => Ok(Ok((held, m))),
        // The list changed since: the candidate is outdated, and was dropped with it.
        Installed::Superseded => Ok(Err(PublishRefused::NothingHeld)),
    }
}

/// Drops the held candidate of `list_id`; the candidate dropped.
pub fn discard_held(lists: &Kv, list_id: &str) -> Result<Result<HeldCandidate, PublishRefused>, StoreError> {
    let mut before = Vec::new();
    let mut after = None;
    let taken = lists.update_json(&compiled_key(list_id), |cur: Option<CompiledMeta>| {
        let Some(mut m) = cur else { return JsonUpdate::Keep(Err(PublishRefused::NotCompiled)) };
        before = m.artifact_chunks();
        let Some(held) = m.held.take() else { return JsonUpdate::Keep(Err(PublishRefused::NothingHeld)) };
        after = Some(m.clone());
        JsonUpdate::Write(m, Ok(held))
    })?;
    if taken.is_ok() {
        delete_dropped(lists, list_id, &before, after.as_ref());
    }
    Ok(taken)
}

/// Publishes kept version `version` of `list_id` again as a new version (a rollback).
pub fn rollback(
    lists: &Kv,
    list_id: &str,
    version: u64,
    keep: u32,
) -> Result<Result<CompiledMeta, PublishRefused>, StoreError> {
    let Some(meta) = lists.get_json::<CompiledMeta>(&compiled_key(list_id))? else {
        return Ok(Err(PublishRefused::NotCompiled));
    };
    let kept = versions(&meta);
    let Some(target) = kept.iter().find(|v| v.version == version) else {
        return Ok(Err(PublishRefused::NoSuchVersion(version)));
    };
    if meta.version == version {
        return Ok(Err(PublishRefused::AlreadyCurrent(version)));
    }
    let candidate = Candidate {
        artifact: target.artifact.clone(),
        cause: VersionCause::Rollback,
        job_id: target.job_id.clone(),
        list_revision: meta.list_revision,
        // The inputs of the artifact it replaces: a refresh that finds them unchanged leaves the
        // rollback in place; one that finds a source or the configuration changed compiles.
        inputs_sha256: meta.inputs_sha256.clone(),
        restores: Some(version),
    };
    match install(lists, list_id, &candidate, keep)? {
        Installed::Published(m) | Installed::Unchanged(m) => Ok(Ok(m)),
        Installed::Superseded => Ok(Err(PublishRefused::NoSuchVersion(version))),
    }
}

/// Reads the text of a kept artifact of `list_id`; `None` if its chunks are gone.
pub fn read(lists: &Kv, list_id: &str, artifact: &StoredArtifact) -> Result<Option<Vec<u8>>, StoreError> {
    lists.get_chunks(&compiled_prefix(list_id, &artifact.etag), artifact.chunks, artifact.length as usize)
}
