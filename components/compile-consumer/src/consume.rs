//! One message: claim, compile, store, finish, notify.

use crate::blocklist::compiler::compiler;
use edge_store::StoreError;
use edge_store::job_ledger::{self, JobSettings, Message};
use edge_store::kv::{JsonUpdate, Kv};
use edge_store::ledger::{Artifact, Claim, JobRecord, JobStatus, Skip};
use edge_store::model::*;
use sha2::{Digest, Sha256};

/// Why a message failed, for the trigger to retry it (logged; the ledger has the job's side).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The platform failed outside an attempt: configuration, the store, the ledger, a sweep.
    #[error("{context}: {source}")]
    Platform { context: String, source: StoreError },
    /// The attempt failed; the ledger records it as a failed attempt (retried or dead).
    #[error("job {job_id}: {reason}")]
    Attempt { job_id: String, reason: AttemptError },
}

/// Why an attempt to compile a list failed; its text is what the ledger and the API show.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// The store failed while reading or writing what the attempt needs.
    #[error("{context}: {source}")]
    Store { context: String, source: StoreError },
    /// The list's rules text is not where its record says.
    #[error("the rules of list {list_id} revision {revision} are missing")]
    RulesMissing { list_id: String, revision: u64 },
    /// The list's rules text does not match its recorded SHA-256.
    #[error("the rules of list {list_id} revision {revision} do not match their recorded SHA-256")]
    RulesHashMismatch { list_id: String, revision: u64 },
    /// The list's rules text is not UTF-8.
    #[error("the rules of list {0} are not UTF-8")]
    RulesNotUtf8(String),
    /// The compiler refused the list (`blocklist:compiler/compiler`'s error).
    #[error("{}", compile_error_text(.0))]
    Compile(compiler::CompileError),
}

fn compile_error_text(e: &compiler::CompileError) -> String {
    match e {
        compiler::CompileError::InvalidConfiguration(m) => format!("invalid configuration: {m}"),
        compiler::CompileError::Source(m) => format!("source failed: {m}"),
        compiler::CompileError::Pattern(m) => format!("invalid pattern: {m}"),
    }
}

/// `Error::Platform` with its context.
fn platform(context: impl Into<String>) -> impl FnOnce(StoreError) -> Error {
    let context = context.into();
    move |source| Error::Platform { context, source }
}

/// `AttemptError::Store` with its context.
fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> AttemptError {
    let context = context.into();
    move |source| AttemptError::Store { context, source }
}

/// Transformations applied to a list given as rules text (a configuration list names its own).
pub const RULES_TRANSFORMATIONS: &[&str] = &["TrimLines", "RemoveEmptyLines", "Deduplicate", "InsertFinalNewLine"];

/// The location a rules list's text is given to the compiler under.
const RULES_LOCATION: &str = "rules.txt";

/// Handles one message from the job channel.
pub fn handle(payload: &[u8]) -> Result<(), Error> {
    let message: Message = match serde_json::from_slice(payload) {
        Ok(m) => m,
        Err(e) => {
            // Nothing to retry: the message names no job. Acknowledged, and logged.
            eprintln!(
                "compile: ignoring a message that is not a job message ({e}): {:?}",
                String::from_utf8_lossy(payload)
            );
            return Ok(());
        }
    };
    let values = edge_store::config::Values::load().map_err(platform("reading the configuration"))?;
    let settings = JobSettings::load(&values).map_err(platform("reading the job settings"))?;
    let expires_hours = edge_store::renditions::expires_hours(&values).map_err(platform("reading the settings"))?;
    let lists = Kv::open(STORE_LISTS).map_err(platform("opening the lists store"))?;
    match message {
        Message::Sweep => {
            let r = job_ledger::sweep(&lists, &settings, now_ms()).map_err(platform("sweep"))?;
            if r.requeued > 0 || r.deliveries > 0 {
                eprintln!(
                    "compile: sweep requeued {} jobs and {} webhook deliveries of {} jobs examined",
                    r.requeued, r.deliveries, r.examined
                );
            }
            let due =
                edge_store::schedule::run_due(&lists, &settings, now_ms()).map_err(platform("scheduled refreshes"))?;
            if !due.queued.is_empty() {
                eprintln!("compile: {} scheduled refreshes queued", due.queued.len());
            }
            let c = edge_store::retention::collect(&lists, &settings.retention, now_ms())
                .map_err(platform("collecting unreferenced keys"))?;
            if c.deleted > 0 {
                eprintln!("compile: retention deleted {} of {} keys examined", c.deleted, c.examined);
            }
            // The rate limiter's store, where this component is given it.
            if let Ok(counters) = Kv::open(STORE_RATE_LIMIT) {
                let c = edge_store::retention::collect_counters(&lists, &counters, now_ms())
                    .map_err(platform("collecting past rate-limit windows"))?;
                if c.deleted > 0 {
                    eprintln!("compile: retention deleted {} rate-limit counters of past windows", c.deleted);
                }
            }
            Ok(())
        }
        Message::Compile { job_id } => compile_job(&lists, &settings, expires_hours, &job_id),
        // A failed attempt is retried by the ledger (the sweeper publishes it when due), not by
        // failing the message.
        Message::Deliver { job_id } => crate::webhook::deliver(&lists, &settings, &job_id)
            .map_err(platform(format!("delivering the webhook event of job {job_id}"))),
    }
}

fn compile_job(lists: &Kv, settings: &JobSettings, expires_hours: u32, job_id: &str) -> Result<(), Error> {
    let token = hex::encode(edge_store::wasi::random::random::get_random_bytes(16));
    let now = now_ms();
    let mut skipped = None;
    // Read only if the claim finds the last attempt's lease run out (the job dies now, and its
    // event is written with it).
    let mut list_if_dead: Option<Option<ListRecord>> = None;
    let written = job_ledger::update(lists, job_id, |j| match j.claim(now, &token, &settings.policy) {
        Claim::Claimed(next) => Some(next),
        Claim::Expired(next) => {
            let list = list_if_dead.get_or_insert_with(|| live_list(lists, &j.list_id).ok().flatten());
            Some(with_outbox(next, list.as_ref(), settings))
        }
        Claim::Skip(why) => {
            skipped = Some(why);
            None
        }
    })
    .map_err(platform(format!("claiming job {job_id}")))?;
    let job = match (written, skipped) {
        (Some(job), _) => job,
        (None, Some(Skip::Final(_))) => return Ok(()),
        (None, Some(Skip::NotDue { at_ms })) => {
            eprintln!("compile: job {job_id} is not due before {}; this delivery does nothing", rfc3339(at_ms));
            return Ok(());
        }
        (None, Some(Skip::Leased { until_ms })) => {
            eprintln!("compile: job {job_id} is being compiled elsewhere (lease until {})", rfc3339(until_ms));
            return Ok(());
        }
        (None, None) => {
            eprintln!("compile: job {job_id} is not in the ledger; message dropped");
            return Ok(());
        }
    };
    if job.status == JobStatus::Dead {
        // Its last attempt's lease ran out: dead without another attempt.
        finish(lists, settings, &job);
        return Ok(());
    }

    let list = match live_list(lists, &job.list_id) {
        Ok(Some(list)) if list.owner == job.user_id => list,
        Ok(_) => {
            let why = format!("list {} was deleted", job.list_id);
            // A deleted list's webhook is not called: no event is written.
            if let Some(dead) = settle(lists, job_id, |j| j.abandon(&token, now_ms(), &why))? {
                finish(lists, settings, &dead);
            }
            return Ok(());
        }
        Err(e) => {
            let why = AttemptError::Store { context: format!("reading list {}", job.list_id), source: e };
            return fail(lists, settings, job_id, &token, None, why);
        }
    };

    match compile_list(lists, &list) {
        Ok(compiled) => {
            let artifact = match store_artifact(lists, &list, job_id, compiled) {
                Ok(a) => a,
                Err(e) => return fail(lists, settings, job_id, &token, Some(&list), e),
            };
            // This node's copies go now, the edge cache's answers with them; other nodes'
            // expire with their TTL.
            edge_store::caches::forget_list(&list.id);
            prepare_subscriptions(lists, &list, &artifact, expires_hours);
            let succeed = |j: &JobRecord| {
                j.succeed(&token, now_ms(), artifact.clone()).map(|next| with_outbox(next, Some(&list), settings))
            };
            match settle(lists, job_id, succeed)? {
                Some(done) => finish(lists, settings, &done),
                None => eprintln!("compile: job {job_id} lost its lease while compiling; its artifact is stored"),
            }
            Ok(())
        }
        Err(e) => fail(lists, settings, job_id, &token, Some(&list), e),
    }
}

/// Makes the subscription files of the new artifact now, off the request path (a failure only
/// leaves it to the first fetch).
fn prepare_subscriptions(lists: &Kv, list: &ListRecord, artifact: &Artifact, expires_hours: u32) {
    let made = match lists.get_json::<CompiledMeta>(&compiled_key(&list.id)) {
        Ok(Some(compiled)) if compiled.etag == artifact.etag => {
            edge_store::renditions::prepare_for_subscriptions(lists, list, &compiled, list.expires_hours(expires_hours))
        }
        // Replaced by a newer revision's meanwhile: that compile prepares its own.
        Ok(_) => Ok(0),
        Err(e) => Err(e),
    };
    if let Err(e) = made {
        eprintln!("compile: preparing the subscription files of list {}: {e}", list.id);
    }
}

/// Records a failed attempt (a retry, or death after the last) and fails the message.
fn fail(
    lists: &Kv,
    settings: &JobSettings,
    job_id: &str,
    token: &str,
    list: Option<&ListRecord>,
    reason: AttemptError,
) -> Result<(), Error> {
    let text = reason.to_string();
    let failed =
        |j: &JobRecord| j.fail(token, now_ms(), &text, &settings.policy).map(|next| with_outbox(next, list, settings));
    if let Some(job) = settle(lists, job_id, failed)?
        && job.status == JobStatus::Dead
    {
        finish(lists, settings, &job);
    }
    Err(Error::Attempt { job_id: job_id.to_owned(), reason })
}

/// Applies a ledger transition of the attempt, if it still holds the lease.
fn settle(
    lists: &Kv,
    job_id: &str,
    step: impl FnMut(&JobRecord) -> Option<JobRecord>,
) -> Result<Option<JobRecord>, Error> {
    job_ledger::update(lists, job_id, step).map_err(platform(format!("updating job {job_id}")))
}

/// `next` with its webhook event pending delivery, if it is final and `list` (the job's) has a
/// webhook: part of the same compare-and-swap as the final transition, so that a crash right
/// after it cannot lose the event (the sweeper delivers it).
fn with_outbox(next: JobRecord, list: Option<&ListRecord>, settings: &JobSettings) -> JobRecord {
    let has_webhook = list.is_some_and(|l| l.owner == next.user_id && l.webhook.is_some());
    if has_webhook && next.status.is_final() { next.with_delivery(now_ms(), &settings.delivery) } else { next }
}

/// Index upkeep and the first webhook delivery attempt for a job that has just finished.
fn finish(lists: &Kv, settings: &JobSettings, job: &JobRecord) {
    if let Err(e) = job_ledger::finished(lists, settings, job) {
        // The sweeper drops finished jobs from its index too.
        eprintln!("compile: indexing finished job {}: {e}", job.id);
    }
    if job.delivery_pending()
        && let Err(e) = crate::webhook::deliver(lists, settings, &job.id)
    {
        // Pending still: the sweeper publishes it again.
        eprintln!("compile: webhook for job {}: {e}", job.id);
    }
}

/// Compiles the list's current revision.
fn compile_list(lists: &Kv, list: &ListRecord) -> Result<compiler::Compiled, AttemptError> {
    let (config, files) = match &list.source {
        ListSource::Config { config } => (config.to_string(), Vec::new()),
        ListSource::Rules => {
            let missing = || AttemptError::RulesMissing { list_id: list.id.clone(), revision: list.revision };
            let at = list.rules_chunks().ok_or_else(missing)?;
            let bytes = lists
                .get_chunks(&at.prefix, at.chunks, list.rules_bytes as usize)
                .map_err(store(format!("reading the rules of list {}", list.id)))?
                .ok_or_else(missing)?;
            if list.rules_sha256.as_ref().is_some_and(|h| *h != hex::encode(Sha256::digest(&bytes))) {
                return Err(AttemptError::RulesHashMismatch { list_id: list.id.clone(), revision: list.revision });
            }
            let content = String::from_utf8(bytes).map_err(|_| AttemptError::RulesNotUtf8(list.id.clone()))?;
            let config = serde_json::json!({
                "name": list.name,
                "sources": [{"name": list.name, "source": RULES_LOCATION, "type": "adblock"}],
                "transformations": RULES_TRANSFORMATIONS,
            });
            (config.to_string(), vec![compiler::SourceFile { location: RULES_LOCATION.into(), content }])
        }
    };
    compiler::compile(&config, &files, &now_rfc3339()).map_err(AttemptError::Compile)
}

/// Stores the artifact under its hash and points `compiled/{list}` at it, unless a newer
/// revision's artifact is already there. The artifact two versions back is deleted.
///
/// A compile whose content equals the current artifact's (only the `! Last modified:` line
/// differs) keeps the current artifact: the same bytes, entity tag, version and
/// `Last-Modified`, so that subscribers re-download nothing.
fn store_artifact(
    lists: &Kv,
    list: &ListRecord,
    job_id: &str,
    compiled: compiler::Compiled,
) -> Result<Artifact, AttemptError> {
    let body = compiled.text.into_bytes();
    let etag = hex::encode(Sha256::digest(&body));
    let content = content_sha256(&body);
    let key = compiled_key(&list.id);
    let current: Option<CompiledMeta> = lists.get_json(&key).map_err(store("reading the current artifact"))?;
    if let Some(kept) = current.as_ref().filter(|m| m.etag == etag || m.content_sha256.as_ref() == Some(&content)) {
        // Same content as the current artifact (a redelivery, or an unchanged list): it stays,
        // marked as compiled from this revision.
        let kept = Artifact { etag: kept.etag.clone(), length: kept.length, rules: kept.rules };
        lists
            .update_json(&key, |cur: Option<CompiledMeta>| {
                let Some(mut meta) = cur else {
                    return JsonUpdate::Keep(());
                };
                if meta.etag != kept.etag || meta.list_revision >= list.revision {
                    return JsonUpdate::Keep(());
                }
                meta.list_revision = list.revision;
                JsonUpdate::Write(meta, ())
            })
            .map_err(store("recording the unchanged artifact"))?;
        return Ok(kept);
    }
    let artifact = Artifact { etag: etag.clone(), length: body.len() as u64, rules: compiled.rules };
    let prefix = compiled_prefix(&list.id, &etag);
    let chunks = lists.put_chunks(&prefix, &body).map_err(store("storing the artifact"))?;
    drop(body);
    let mut superseded = None;
    let installed = lists
        .update_json(&key, |cur: Option<CompiledMeta>| {
            if let Some(c) = &cur {
                if c.etag == etag {
                    return JsonUpdate::Keep(true);
                }
                if c.list_revision > list.revision {
                    return JsonUpdate::Keep(false);
                }
            }
            superseded = cur.as_ref().and_then(|c| c.previous.clone());
            let now = now_ms();
            let meta = CompiledMeta {
                etag: etag.clone(),
                length: artifact.length,
                chunks,
                compiled_at: rfc3339(now),
                rules: artifact.rules,
                list_revision: list.revision,
                job_id: Some(job_id.to_owned()),
                content_sha256: Some(content.clone()),
                modified_at_ms: now,
                version: CompiledMeta::next_version(cur.as_ref(), now),
                previous: cur.map(|c| ChunkedArtifact { etag: c.etag, chunks: c.chunks }),
            };
            JsonUpdate::Write(meta, true)
        })
        .map_err(store("installing the artifact"))?;
    if !installed {
        // A newer revision was compiled meanwhile: this artifact is not wanted.
        let _ = lists.delete_chunks(&prefix, chunks);
    } else if let Some(old) = superseded.filter(|o| o.etag != etag) {
        let _ = lists.delete_chunks(&compiled_prefix(&list.id, &old.etag), old.chunks);
    }
    Ok(artifact)
}
