//! The compile-job ledger in key-value ([`crate::ledger`] applied with compare-and-swap), its
//! indexes, the sweeper, and the job channel.
//!
//! Jobs are announced by publishing a [`Message`] on the job channel through
//! `fermyon:spin/redis` `publish`: under Spin that is Redis pub/sub (fire-and-forget), which the
//! Redis trigger delivers to the compile component; on the blocklist-edge host it is the host's
//! durable queue. A lost message loses no job: the ledger keeps it, and the sweeper publishes
//! again every job that is due (queued too long, failed with its retry due, or running with its
//! lease run out). Likewise for webhook events (the outbox, `ledger::outbox`): a finished job
//! stays in the sweeper's index while its event is pending, and the sweeper publishes a
//! delivery that is due.
//!
//! Where no Redis trigger runs the compile component (`job_runner = http`: a platform with HTTP
//! triggers only), nothing is published: the ledger alone is the queue, and the compile
//! component's runner route runs what [`due`] finds (the gateway calls it after answering a
//! request that queued work, or an external scheduler does).

use crate::StoreError;
use crate::fermyon::spin2_0_0::redis;
use crate::kv::{JsonUpdate, Kv, Update};
use crate::ledger::{DeliveryPolicy, JobRecord, Policy};
use crate::model::*;

/// How jobs are run, from configuration (Spin variables; the host's flags).
#[derive(Clone, Debug)]
pub struct JobSettings {
    pub policy: Policy,
    /// Webhook deliveries: attempts and backoff (`webhook_*`).
    pub delivery: DeliveryPolicy,
    /// A queued job not claimed this long after its message is published again (ms).
    pub requeue_after_ms: u64,
    /// `job_queue_address`: the Redis address Spin publishes to (the host accepts its own).
    pub queue_address: String,
    /// `job_queue_channel`: the channel the compile component is subscribed to.
    pub channel: String,
    /// How long finished jobs are kept, and the collector's grace.
    pub retention: crate::retention::Retention,
    /// How jobs reach the compile component (`job_runner`).
    pub runner: Runner,
}

/// How jobs reach the compile component (`job_runner`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    /// `redis` (the default): messages on the job channel (`fermyon:spin/redis` `publish`),
    /// delivered by Spin's Redis trigger or the blocklist-edge host's queue.
    Redis,
    /// `http`: nothing is published; the compile component's runner route runs the jobs that
    /// are due ([`due`]), called through HTTP.
    Http,
}

impl std::str::FromStr for Runner {
    type Err = ();
    fn from_str(s: &str) -> Result<Runner, ()> {
        match s {
            "redis" => Ok(Runner::Redis),
            "http" => Ok(Runner::Http),
            _ => Err(()),
        }
    }
}

impl JobSettings {
    /// Reads the `job_*` configuration values.
    pub fn load(values: &crate::config::Values) -> Result<JobSettings, StoreError> {
        Ok(JobSettings {
            policy: Policy {
                max_attempts: values.get(blocklist_model::variables::JOB_MAX_ATTEMPTS, 3u32)?.max(1),
                base_backoff_ms: values.get(blocklist_model::variables::JOB_BACKOFF_MS, 1_000)?,
                max_backoff_ms: values.get(blocklist_model::variables::JOB_BACKOFF_MAX_MS, 300_000)?,
                lease_ms: values.get(blocklist_model::variables::JOB_LEASE_MS, 300_000)?,
            },
            delivery: {
                let d = DeliveryPolicy::DEFAULT;
                let base = values.get(blocklist_model::variables::WEBHOOK_BACKOFF_MS, d.base_backoff_ms)?;
                DeliveryPolicy {
                    max_attempts: values.get(blocklist_model::variables::WEBHOOK_MAX_ATTEMPTS, d.max_attempts)?.max(1),
                    base_backoff_ms: base,
                    max_backoff_ms: values
                        .get(blocklist_model::variables::WEBHOOK_BACKOFF_MAX_MS, d.max_backoff_ms)?
                        .max(base),
                    lease_ms: d.lease_ms,
                }
            },
            requeue_after_ms: values.get(blocklist_model::variables::JOB_REQUEUE_AFTER_MS, 30_000)?,
            queue_address: values
                .get(blocklist_model::variables::JOB_QUEUE_ADDRESS, "redis://127.0.0.1:6379".to_owned())?,
            channel: values.get(blocklist_model::variables::JOB_QUEUE_CHANNEL, "blocklist-edge-jobs".to_owned())?,
            retention: crate::retention::load(values)?,
            runner: values.get(blocklist_model::variables::JOB_RUNNER, Runner::Redis)?,
        })
    }
}

pub use crate::ledger::Message;

/// `message` as it travels (JSON).
fn message_bytes(message: &Message) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(message).map_err(|e| StoreError::internal(format!("encoding a job message: {e}")))
}

/// Set when a message was not published because jobs run through HTTP (`job_runner = http`):
/// whoever runs this instance's request may then call the runner ([`take_runner_wanted`]).
static RUNNER_WANTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether something this instance did since the last call wants the runner called (a job was
/// queued or replayed, a sweep requested), under `job_runner = http`; clears it.
pub fn take_runner_wanted() -> bool {
    RUNNER_WANTED.swap(false, std::sync::atomic::Ordering::Relaxed)
}

/// Publishes `message` on the job channel. Under `job_runner = http` it publishes nothing (the
/// ledger holds the job; the runner finds it due) and notes that the runner is wanted.
pub fn publish(settings: &JobSettings, message: &Message) -> Result<(), StoreError> {
    if settings.runner == Runner::Http {
        RUNNER_WANTED.store(true, std::sync::atomic::Ordering::Relaxed);
        return Ok(());
    }
    let describe = |e: redis::Error| match e {
        redis::Error::InvalidAddress => format!("invalid job queue address {:?}", settings.queue_address),
        redis::Error::TooManyConnections => "too many connections to the job queue".to_owned(),
        redis::Error::TypeError => "job queue type error".to_owned(),
        redis::Error::Other(m) => m,
    };
    let conn = redis::Connection::open(&settings.queue_address)
        .map_err(|e| StoreError::unavailable(format!("job queue: {}", describe(e))))?;
    conn.publish(&settings.channel, &message_bytes(message)?)
        .map_err(|e| StoreError::unavailable(format!("publishing to the job queue: {}", describe(e))))
}

/// The job `id`, if it exists.
pub fn get(lists: &Kv, id: &str) -> Result<Option<JobRecord>, StoreError> {
    lists.get_json(&job_key(id))
}

/// Writes a new job, in the sweeper's index first: a crash after any of these writes leaves
/// either an index entry without a job (the sweeper drops it) or a job the sweeper will publish
/// (never an unfinished job the sweeper does not know). The index entry is checked again after
/// the record is written, since a sweep in between may have dropped it as a missing job.
pub fn create(lists: &Kv, job: &JobRecord) -> Result<(), StoreError> {
    let index = active_jobs_key(active_jobs_shard(&job.id));
    index_add(lists, &index, &job.id, None)?;
    lists.put_json(&job_key(&job.id), job)?;
    index_add(lists, &index, &job.id, None)
}

/// What a compile request became.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// A new job, published.
    Queued(String),
    /// A job already holds the list's lock for this request (its id).
    AlreadyQueued(String),
}

/// Requests a compile of `list`'s current revision: one job per list revision and dedupe
/// window (`window_ms`) for a request of its owner; for a scheduled refresh, one unfinished job
/// per list. The job is written first, then the list's dedupe lock is taken for it by
/// compare-and-swap (a request that loses that race withdraws its job and answers with the
/// winner's), then the job is published. So a lock always names a job that exists, and a crash
/// after any write leaves at most a job the sweeper publishes (or, after losing the race, one
/// extra compile).
pub fn request_compile(
    lists: &Kv,
    settings: &JobSettings,
    list: &ListRecord,
    cause: crate::ledger::JobCause,
    window_ms: u64,
    now_ms: u64,
) -> Result<Requested, StoreError> {
    let lock_key = compile_lock_key(&list.id);
    let duplicate_of = |bytes: Option<&[u8]>| -> Option<String> {
        let held = serde_json::from_slice::<CompileLock>(bytes?).ok()?;
        match cause {
            crate::ledger::JobCause::Manual => {
                let fresh =
                    now_ms.saturating_sub(held.at_ms) < window_ms && held.at_ms <= now_ms.saturating_add(window_ms);
                (fresh && held.revision == list.revision).then_some(held.job_id)
            }
            // A refresh fetches its sources again: only a job still to run makes it a duplicate.
            crate::ledger::JobCause::Schedule => {
                let job = get(lists, &held.job_id).ok().flatten()?;
                (!job.status.is_final()).then_some(held.job_id)
            }
        }
    };
    // Most duplicates are answered by reading the lock, without writing.
    if let Some(queued) = duplicate_of(lists.get(&lock_key)?.as_deref()) {
        return Ok(Requested::AlreadyQueued(queued));
    }
    let job_id = new_id(JOB_ID_PREFIX);
    let mut job = JobRecord::new(&job_id, &list.id, &list.owner, list.revision, now_ms, &settings.policy);
    job.cause = cause;
    create(lists, &job)?;
    let lock = CompileLock { job_id: job_id.clone(), at_ms: now_ms, revision: list.revision };
    let lock_bytes = serde_json::to_vec(&lock).map_err(|e| StoreError::internal(e.to_string()))?;
    // Compare-and-swap on the list's lock: exactly one request per window and revision wins.
    let existing = lists.update(&lock_key, |cur| match duplicate_of(cur) {
        Some(held) => Update::Keep(Some(held)),
        None => Update::Write(lock_bytes.clone(), None),
    })?;
    if let Some(queued) = existing {
        withdraw(lists, &job)?;
        return Ok(Requested::AlreadyQueued(queued));
    }
    // The ledger holds the job now: if the message is lost, the sweeper publishes it again.
    if let Err(e) = publish(settings, &Message::Compile { job_id: job_id.clone() }) {
        eprintln!("job {job_id} is in the ledger but its message was not published ({e}); the sweeper will");
    }
    Ok(Requested::Queued(job_id))
}

/// Takes back a job that was created but lost the race for its list's dedupe lock (it was
/// never published): its record, then its index entry.
pub fn withdraw(lists: &Kv, job: &JobRecord) -> Result<(), StoreError> {
    lists.delete(&job_key(&job.id))?;
    lists.remove_from_index(&active_jobs_key(active_jobs_shard(&job.id)), &job.id)
}

/// Atomically replaces job `id` by what `step` makes of it (`None`: leave it). Returns the
/// record written, or `None` if the job is missing or `step` left it.
pub fn update(
    lists: &Kv,
    id: &str,
    mut step: impl FnMut(&JobRecord) -> Option<JobRecord>,
) -> Result<Option<JobRecord>, StoreError> {
    lists.update_json(&job_key(id), |cur: Option<JobRecord>| {
        let Some(job) = cur else { return JsonUpdate::Keep(None) };
        match step(&job) {
            None => JsonUpdate::Keep(None),
            Some(next) => JsonUpdate::Write(next.clone(), Some(next)),
        }
    })
}

/// Updates the indexes after `job` finished (done or dead), and deletes the list's oldest
/// finished jobs beyond what `settings.retention` keeps. It leaves the sweeper's index unless
/// its webhook event is still to be delivered: then it leaves once the delivery settles
/// ([`delivery_settled`]), and the sweeper publishes its delivery while it is due.
pub fn finished(lists: &Kv, settings: &JobSettings, job: &JobRecord) -> Result<(), StoreError> {
    if job.status == crate::ledger::JobStatus::Dead {
        index_add(lists, &user_dead_jobs_key(&job.user_id), &job.id, Some(MAX_DEAD_LISTED))?;
    }
    if !job.delivery_pending() {
        lists.remove_from_index(&active_jobs_key(active_jobs_shard(&job.id)), &job.id)?;
    }
    crate::retention::job_finished(lists, job, &settings.retention)
}

/// Updates the sweeper's index after `job`'s webhook delivery settled (delivered or failed):
/// a finished job leaves it.
pub fn delivery_settled(lists: &Kv, job: &JobRecord) -> Result<(), StoreError> {
    if !job.status.is_final() || job.delivery_pending() {
        return Ok(());
    }
    lists.remove_from_index(&active_jobs_key(active_jobs_shard(&job.id)), &job.id)
}

/// Updates the indexes after `job` was replayed.
pub fn replayed(lists: &Kv, job: &JobRecord) -> Result<(), StoreError> {
    index_add(lists, &active_jobs_key(active_jobs_shard(&job.id)), &job.id, None)?;
    lists.remove_from_index(&user_dead_jobs_key(&job.user_id), &job.id)
}

/// The ids in a user's dead-letter list, oldest first.
pub fn dead_ids(lists: &Kv, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(lists.get_json(&user_dead_jobs_key(user_id))?.unwrap_or_default())
}

/// A user's dead-letter list keeps this many newest jobs.
pub const MAX_DEAD_LISTED: usize = 1_000;

fn index_add(lists: &Kv, key: &str, id: &str, cap: Option<usize>) -> Result<(), StoreError> {
    lists.update_json(key, |ids: Option<Vec<String>>| {
        let ids = ids.unwrap_or_default();
        if ids.iter().any(|x| x == id) {
            return JsonUpdate::Keep(());
        }
        let (kept, _dropped) = blocklist_model::retention::keep_newest(ids, id, cap.unwrap_or(usize::MAX));
        JsonUpdate::Write(kept, ())
    })
}

/// What a sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Unfinished jobs, and finished jobs with a webhook delivery pending, looked at.
    pub examined: u32,
    /// Jobs published again.
    pub requeued: u32,
    /// Webhook deliveries published (a retry due, or an attempt whose claim ran out).
    pub deliveries: u32,
    /// Index entries dropped (finished jobs with no delivery pending, or missing jobs).
    pub dropped: u32,
}

/// Publishes again every unfinished job that is due (see [`JobRecord::sweep_due`]), and a
/// [`Message::Deliver`] for every pending webhook delivery that is due (see
/// [`JobRecord::delivery_due`]).
pub fn sweep(lists: &Kv, settings: &JobSettings, now_ms: u64) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    walk_active(lists, &mut report, &mut |id, job, report| {
        if !job.status.is_final() {
            let marked =
                update(lists, id, |j| j.sweep_due(now_ms, settings.requeue_after_ms).then(|| j.enqueued(now_ms)))?;
            if marked.is_some() {
                publish(settings, &Message::Compile { job_id: id.to_owned() })?;
                report.requeued += 1;
            }
        }
        if job.delivery_pending() {
            let marked = update(lists, id, |j| {
                j.delivery_due(now_ms, settings.requeue_after_ms).then(|| j.delivery_enqueued(now_ms))
            })?;
            if marked.is_some() {
                publish(settings, &Message::Deliver { job_id: id.to_owned() })?;
                report.deliveries += 1;
            }
        }
        Ok(())
    })?;
    Ok(report)
}

/// What a runner that runs jobs itself (`job_runner = http`) should do now, oldest shard
/// order: a [`Message::Compile`] for every unfinished job a claim would take now (queued,
/// failed with its retry due, running with its lease run out) and a [`Message::Deliver`] for
/// every webhook delivery that is due. Unlike [`sweep`] it marks and publishes nothing (what
/// the runner leaves for later stays due); it drops finished and missing jobs from the index
/// as the sweep does. `report.requeued` and `report.deliveries` count what it found.
pub fn due(lists: &Kv, now_ms: u64) -> Result<(SweepReport, Vec<Message>), StoreError> {
    let mut report = SweepReport::default();
    let mut found = Vec::new();
    walk_active(lists, &mut report, &mut |id, job, report| {
        // Due at once: nothing was published that might still arrive.
        if !job.status.is_final() && job.sweep_due(now_ms, 0) {
            found.push(Message::Compile { job_id: id.to_owned() });
            report.requeued += 1;
        }
        if job.delivery_pending() && job.delivery_due(now_ms, 0) {
            found.push(Message::Deliver { job_id: id.to_owned() });
            report.deliveries += 1;
        }
        Ok(())
    })?;
    Ok((report, found))
}

/// Calls `each` with every job of the sweeper's index that is unfinished or has a webhook
/// delivery pending, dropping from the index the jobs that are missing or finished with no
/// delivery pending.
fn walk_active(
    lists: &Kv,
    report: &mut SweepReport,
    each: &mut dyn FnMut(&str, &JobRecord, &mut SweepReport) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for shard in ACTIVE_JOBS_SHARDS {
        let key = active_jobs_key(shard);
        let Some(ids) = lists.get_json::<Vec<String>>(&key)? else {
            // Made once, so that adding to it is a compare-and-swap on a present key (see
            // `NO_COMPILE_LOCK`).
            crate::retention::ensure_exists(lists, &key, b"[]")?;
            continue;
        };
        for id in ids {
            let Some(job) = get(lists, &id)? else {
                // A job being created is indexed before it is written (`create`): if it was
                // written between the read above and this removal, it goes back, or it would
                // never be swept (its retries, its webhook deliveries).
                lists.remove_from_index(&key, &id)?;
                if get(lists, &id)?.is_some() {
                    index_add(lists, &key, &id, None)?;
                } else {
                    report.dropped += 1;
                }
                continue;
            };
            if job.status.is_final() && !job.delivery_pending() {
                lists.remove_from_index(&key, &id)?;
                report.dropped += 1;
                continue;
            }
            report.examined += 1;
            each(&id, &job, report)?;
        }
    }
    Ok(())
}

/// Publishes a [`Message::Sweep`] if none was published in the last `interval_ms` (one caller
/// wins per interval, by compare-and-swap): how a host with no timer (Spin) runs the sweeper
/// from its request path. Returns whether this call published.
pub fn request_sweep(lists: &Kv, settings: &JobSettings, interval_ms: u64, now_ms: u64) -> Result<bool, StoreError> {
    let won = lists.update(SWEEP_KEY, |cur| {
        let last: u64 = cur.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or(0);
        if now_ms.saturating_sub(last) < interval_ms && last <= now_ms {
            return Update::Keep(false);
        }
        Update::Write(now_ms.to_string().into_bytes(), true)
    })?;
    if won {
        publish(settings, &Message::Sweep)?;
    }
    Ok(won)
}

/// The bearer secret of the compile component's runner route (`job_runner = http`): random,
/// made by the first caller that asks for it with `create` (compare-and-swap: every caller gets
/// the same), kept in the `lists` store, which only the application's components read.
pub fn runner_secret(lists: &Kv, create: bool) -> Result<Option<String>, StoreError> {
    if let Some(bytes) = lists.get(RUNNER_SECRET_KEY)? {
        return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
    }
    if !create {
        return Ok(None);
    }
    let fresh = hex::encode(crate::wasi::random::random::get_random_bytes(32));
    let secret = lists.update(RUNNER_SECRET_KEY, |cur| match cur {
        Some(b) => Update::Keep(String::from_utf8_lossy(b).into_owned()),
        None => Update::Write(fresh.clone().into_bytes(), fresh.clone()),
    })?;
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::{Message, message_bytes};

    #[test]
    fn message_format() {
        let m = Message::Compile { job_id: "j_1".into() };
        assert_eq!(String::from_utf8(message_bytes(&m).unwrap()).unwrap(), r#"{"type":"compile","jobId":"j_1"}"#);
        assert_eq!(serde_json::from_slice::<Message>(br#"{"type":"sweep"}"#).unwrap(), Message::Sweep);
        assert!(serde_json::from_slice::<Message>(br#"{"type":"compile"}"#).is_err());
    }
}
