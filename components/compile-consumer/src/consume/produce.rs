//! One attempt's product: the list's inputs gathered, compiled unless they are the published
//! list's, stored, then published or (under the publish guard) held.

use super::*;

/// What an attempt did with the list.
pub(super) enum Outcome {
    /// A new version is current.
    Published(CompiledMeta),
    /// The published list stays: its inputs did not change, nothing was compiled (`meta`: the
    /// current artifact).
    Unchanged(CompiledMeta),
    /// Compiled, with the published content: the current artifact stays (same bytes, entity
    /// tag and `Last-Modified`), and the job is `done`.
    Kept(CompiledMeta),
    /// A newer revision's artifact was current already.
    Superseded(Artifact),
    /// The guard held the result back.
    Held { artifact: Artifact, message: String },
    /// The inputs are those of the compile held already.
    StillHeld { artifact: Artifact, message: String },
}

pub(super) fn artifact_of(meta: &CompiledMeta) -> Artifact {
    Artifact { etag: meta.etag.clone(), length: meta.length, rules: meta.rules }
}

/// Gathers the inputs, compiles unless they are the published list's, stores the result and
/// publishes it or (under the guard) holds it.
pub(super) fn produce(
    lists: &Kv,
    list: &ListRecord,
    job: &JobRecord,
    guarded: Option<&CompiledMeta>,
    publishing: &PublishSettings,
) -> Result<Outcome, AttemptError> {
    let inputs = crate::inputs::gather(lists, list, guarded.is_some())?;
    let inputs_sha256 = inputs.sha256.clone();
    let same_inputs = guarded.is_some_and(|m| inputs_sha256.is_some() && m.inputs_sha256 == inputs_sha256);
    // The sources that failed, compiled from their last copies (only under the guard).
    let failed = (!inputs.failed.is_empty()).then(|| {
        let each: Vec<String> = inputs.failed.iter().map(|f| format!("{} ({})", f.url, f.error)).collect();
        format!("a source failed: {}", each.join("; "))
    });
    if same_inputs && failed.is_none() {
        return Ok(Outcome::Unchanged(guarded.cloned().expect("guarded")));
    }
    if let Some(held) =
        guarded.and_then(|m| m.held.as_ref()).filter(|h| h.inputs_sha256.is_some() && h.inputs_sha256 == inputs_sha256)
    {
        // Made from the same inputs as the compile held already: held still, without compiling
        // it again or announcing it again.
        let artifact = held.artifact.as_ref().map_or_else(
            || artifact_of(guarded.expect("guarded")),
            |a| Artifact { etag: a.etag.clone(), length: a.length, rules: a.rules },
        );
        let message = format!("still held ({}) as job {}: {}", reason_name(held.reason), held.job_id, held.message);
        return Ok(Outcome::StillHeld { artifact, message });
    }
    let cause = VersionCause::of_job(job.cause);
    let hold = |reason: HoldReason,
                message: String,
                artifact: Option<StoredArtifact>|
     -> Result<Outcome, AttemptError> {
        let published = guarded.expect("only a guarded compile is held");
        let held = HeldCandidate {
            job_id: job.id.clone(),
            reason,
            message: message.clone(),
            held_at_ms: now_ms(),
            list_revision: list.revision,
            cause,
            artifact: artifact.clone(),
            inputs_sha256: inputs_sha256.clone(),
        };
        match edge_store::publish::hold(lists, &list.id, held).map_err(store("holding the compiled list"))? {
            // The published list is gone (the list is being deleted): nothing to guard.
            Err(()) => return Ok(Outcome::Superseded(artifact_of(published))),
            Ok(Some(replaced)) => decide(lists, &replaced.job_id, "replaced by a newer held compile"),
            Ok(None) => {}
        }
        let artifact = artifact
            .map_or_else(|| artifact_of(published), |a| Artifact { etag: a.etag, length: a.length, rules: a.rules });
        Ok(Outcome::Held { artifact, message: format!("held ({}): {message}", reason_name(reason)) })
    };
    if let Some(message) = failed.clone().filter(|_| same_inputs) {
        // Only stale copies of failing sources: the published list is what they would give.
        return hold(HoldReason::SourceFailed, message, None);
    }
    let config = inputs.config.clone();
    let files = inputs.files(lists)?;
    let compiled = compiler::compile(&config, &files, &now_rfc3339()).map_err(AttemptError::Compile)?;
    drop(files);
    let body = compiled.text.into_bytes();
    let artifact = StoredArtifact {
        etag: hex::encode(Sha256::digest(&body)),
        length: body.len() as u64,
        chunks: 0,
        rules: compiled.rules,
        content_sha256: content_sha256(&body),
    };
    if let Some(published) = guarded {
        let same_content = published.content_sha256.as_deref() == Some(artifact.content_sha256.as_str());
        let verdict = if let Some(message) = failed {
            Some((HoldReason::SourceFailed, message))
        } else if same_content {
            None
        } else {
            publishing.guard_of(list).check(published.rules, artifact.rules)
        };
        if let Some((reason, message)) = verdict {
            let candidate = if same_content {
                None
            } else {
                let chunks = lists
                    .put_chunks(&compiled_prefix(&list.id, &artifact.etag), &body)
                    .map_err(store("storing the held list"))?;
                store_lookup_index(lists, &list.id, &artifact.etag, &body)?;
                Some(StoredArtifact { chunks, ..artifact })
            };
            return hold(reason, message, candidate);
        }
    }
    let stored = match guarded.filter(|m| m.content_sha256.as_deref() == Some(artifact.content_sha256.as_str())) {
        // Same content as the published list: no chunks to write, it stays.
        Some(m) => edge_store::publish::stored(m),
        None => {
            let chunks = lists
                .put_chunks(&compiled_prefix(&list.id, &artifact.etag), &body)
                .map_err(store("storing the artifact"))?;
            store_lookup_index(lists, &list.id, &artifact.etag, &body)?;
            StoredArtifact { chunks, ..artifact }
        }
    };
    drop(body);
    let candidate = Candidate {
        artifact: stored.clone(),
        cause,
        job_id: Some(job.id.clone()),
        list_revision: list.revision,
        inputs_sha256,
        restores: None,
    };
    Ok(
        match edge_store::publish::install(lists, &list.id, &candidate, publishing.versions_kept)
            .map_err(store("installing the artifact"))?
        {
            Installed::Published(m) => Outcome::Published(m),
            Installed::Unchanged(m) => Outcome::Kept(m),
            Installed::Superseded => {
                Outcome::Superseded(Artifact { etag: stored.etag, length: stored.length, rules: stored.rules })
            }
        },
    )
}

fn reason_name(r: HoldReason) -> &'static str {
    match r {
        HoldReason::SourceFailed => "source-failed",
        HoldReason::Shrank => "shrank",
        HoldReason::TooFewRules => "too-few-rules",
    }
}

/// Stores the lookup index of an artifact with it, so that lookups on a list of any size read
/// a few shards and never build the index inside a request (`edge_store::lookup_index`).
fn store_lookup_index(lists: &Kv, list_id: &str, etag: &str, body: &[u8]) -> Result<(), AttemptError> {
    edge_store::lookup_index::store(lists, list_id, etag, &String::from_utf8_lossy(body))
        .map_err(store("storing the lookup index"))
}
