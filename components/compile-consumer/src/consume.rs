//! One message: claim, compile, store, finish, notify.

use crate::blocklist::compiler::compiler;
use blocklist_model::publish::{HeldCandidate, HoldReason, StoredArtifact, VersionCause};
use edge_store::StoreError;
use edge_store::job_ledger::{self, JobSettings, Message};
use edge_store::kv::Kv;
use edge_store::ledger::{Artifact, Claim, JobRecord, JobStatus, Skip};
use edge_store::model::*;
use edge_store::publish::{Candidate, Installed, PublishSettings};
use sha2::{Digest, Sha256};

mod produce;
use produce::{Outcome, artifact_of, produce};

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
pub(crate) fn store(context: impl Into<String>) -> impl FnOnce(StoreError) -> AttemptError {
    let context = context.into();
    move |source| AttemptError::Store { context, source }
}

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
    Context::load()?.run(message)
}

/// What handling messages needs: the settings and the `lists` store.
pub struct Context {
    pub values: edge_store::config::Values,
    pub settings: JobSettings,
    pub expires_hours: u32,
    pub lists: Kv,
}

impl Context {
    pub fn load() -> Result<Context, Error> {
        let values = edge_store::config::Values::load().map_err(platform("reading the configuration"))?;
        let settings = JobSettings::load(&values).map_err(platform("reading the job settings"))?;
        let expires_hours = edge_store::renditions::expires_hours(&values).map_err(platform("reading the settings"))?;
        let lists = Kv::open(STORE_LISTS).map_err(platform("opening the lists store"))?;
        Ok(Context { values, settings, expires_hours, lists })
    }

    /// Handles one message (from the job channel, or found due by the runner).
    pub fn run(&self, message: Message) -> Result<(), Error> {
        let (lists, settings) = (&self.lists, &self.settings);
        match message {
            Message::Sweep => {
                let r = job_ledger::sweep(lists, settings, now_ms()).map_err(platform("sweep"))?;
                if r.requeued > 0 || r.deliveries > 0 {
                    eprintln!(
                        "compile: sweep requeued {} jobs and {} webhook deliveries of {} jobs examined",
                        r.requeued, r.deliveries, r.examined
                    );
                }
                self.upkeep().map(|_| ())
            }
            Message::Compile { job_id } => {
                let publishing =
                    PublishSettings::load(&self.values).map_err(platform("reading the publish settings"))?;
                compile_job(lists, settings, &publishing, self.expires_hours, &job_id)
            }
            // A failed attempt is retried by the ledger (the sweeper publishes it when due), not by
            // failing the message.
            Message::Deliver { job_id } => crate::webhook::deliver(lists, settings, &job_id)
                .map_err(platform(format!("delivering the webhook event of job {job_id}"))),
        }
    }

    /// What a sweep does besides finding due jobs: requests the scheduled refreshes that are due
    /// and collects what nothing refers to any more. Returns the jobs of the refreshes queued.
    pub fn upkeep(&self) -> Result<Vec<String>, Error> {
        let (lists, settings) = (&self.lists, &self.settings);
        let due = edge_store::schedule::run_due(lists, settings, now_ms()).map_err(platform("scheduled refreshes"))?;
        if !due.queued.is_empty() {
            eprintln!("compile: {} scheduled refreshes queued", due.queued.len());
        }
        let c = edge_store::retention::collect(lists, &settings.retention, now_ms())
            .map_err(platform("collecting unreferenced keys"))?;
        if c.deleted > 0 {
            eprintln!("compile: retention deleted {} of {} keys examined", c.deleted, c.examined);
        }
        // The rate limiter's store, where this component is given it.
        if let Ok(counters) = Kv::open(STORE_RATE_LIMIT) {
            let c = edge_store::retention::collect_counters(lists, &counters, now_ms())
                .map_err(platform("collecting past rate-limit windows"))?;
            if c.deleted > 0 {
                eprintln!("compile: retention deleted {} rate-limit counters of past windows", c.deleted);
            }
        }
        Ok(due.queued)
    }
}

fn compile_job(
    lists: &Kv,
    settings: &JobSettings,
    publishing: &PublishSettings,
    expires_hours: u32,
    job_id: &str,
) -> Result<(), Error> {
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

    let published = match lists.get_json::<CompiledMeta>(&compiled_key(&list.id)) {
        Ok(p) => p,
        Err(e) => return fail(lists, settings, job_id, &token, Some(&list), store("reading the published list")(e)),
    };
    // The guard applies when the list itself is as the published artifact was made from: what
    // changed is upstream (a refresh), not its owner's edit.
    let guarded = published.as_ref().filter(|m| m.list_revision >= list.revision);
    let outcome = match produce(lists, &list, &job, guarded, publishing) {
        Ok(o) => o,
        Err(e) => return fail(lists, settings, job_id, &token, Some(&list), e),
    };
    // A job that ends `done` (its webhook event written in the same swap).
    let succeed = |artifact: Artifact| {
        settle(lists, job_id, |j| {
            j.succeed(&token, now_ms(), artifact.clone()).map(|next| with_outbox(next, Some(&list), settings))
        })
    };
    let settled = match outcome {
        Outcome::Published(meta) => {
            if let Some(outdated) = published.as_ref().and_then(|p| p.held.as_ref()).filter(|_| meta.held.is_none()) {
                decide(lists, &outdated.job_id, "outdated by a newer version");
            }
            // This node's copies go now, the edge cache's answers with them; other nodes see
            // the new version within `caches::REVALIDATE_MS`.
            edge_store::caches::forget_list(&list.id);
            edge_store::renditions::prepare_current(lists, &list, &meta, expires_hours);
            succeed(artifact_of(&meta))?
        }
        Outcome::Superseded(artifact) => succeed(artifact)?,
        Outcome::Kept(meta) => {
            drop_outdated_hold(lists, &list.id, guarded.and(meta.held.as_ref()));
            succeed(artifact_of(&meta))?
        }
        Outcome::Unchanged(meta) => {
            drop_outdated_hold(lists, &list.id, meta.held.as_ref());
            let artifact = artifact_of(&meta);
            settle(lists, job_id, |j| j.settle(&token, now_ms(), JobStatus::Unchanged, artifact.clone(), None))?
        }
        Outcome::Held { artifact, message } => settle(lists, job_id, |j| {
            j.settle(&token, now_ms(), JobStatus::Held, artifact.clone(), Some(&message))
                .map(|next| with_outbox(next, Some(&list), settings))
        })?,
        Outcome::StillHeld { artifact, message } => {
            settle(lists, job_id, |j| j.settle(&token, now_ms(), JobStatus::Held, artifact.clone(), Some(&message)))?
        }
    };
    match settled {
        Some(done) => finish(lists, settings, &done),
        None => eprintln!("compile: job {job_id} lost its lease while compiling; its outcome is stored"),
    }
    Ok(())
}

/// Discards the held compile of `list_id`, if there is one (`held`), and records it on its job:
/// the list's sources give the published list again, so the hold is outdated.
fn drop_outdated_hold(lists: &Kv, list_id: &str, held: Option<&HeldCandidate>) {
    if held.is_none() {
        return;
    }
    match edge_store::publish::discard_held(lists, list_id) {
        Ok(Ok(held)) => decide(lists, &held.job_id, "outdated: the sources are back to the published list's"),
        Ok(Err(_)) => {}
        Err(e) => eprintln!("compile: discarding the outdated held compile of list {list_id}: {e}"),
    }
}

/// Records on held job `job_id` that its candidate was dropped (`why`), not published.
fn decide(lists: &Kv, job_id: &str, why: &str) {
    if let Err(e) = job_ledger::update(lists, job_id, |j| j.decided(now_ms(), None)) {
        eprintln!("compile: recording that held job {job_id} was {why}: {e}");
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
