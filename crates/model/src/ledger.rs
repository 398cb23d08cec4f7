//! The compile-job ledger: one [`JobRecord`] per job in key-value is the source of truth about
//! a job; queue messages only name it. This module is the ledger's state machine, pure (no I/O)
//! so that it is tested natively; `edge-store`'s `job_ledger` module applies it with compare-and-swap.
//!
//! ```text
//!            claim                 succeed
//!  queued ─────────▶ running ─────────────────▶ done
//!    ▲   failed ◀───┘   │  (lease expired: claimable again)
//!    │      │ claim ▲   │ fail at max attempts,
//!    │      └───────┘   ▼ or lease expired on the last one
//!    └──── replay ───── dead
//!
//!  running ──▶ unchanged   (the inputs are the published list's: nothing compiled)
//!  running ──▶ held ──▶ done (its owner published the candidate) | discarded
//! ```
//!
//! A claim holds a *lease*: a token and an expiry. Only the holder of the token may finish the
//! attempt; after the expiry (the consumer crashed or was cut off) the job may be claimed again,
//! so a job is never lost to a crash and never compiled by two consumers at once while a lease
//! runs. Every message, however often delivered, claims at most one attempt.
//!
//! A job whose list has a webhook keeps its final event on its record until the event is
//! delivered: the outbox ([`outbox`]).

use serde::{Deserialize, Serialize};

pub mod outbox;
pub use outbox::{DeliveryClaim, DeliveryOutcome, DeliveryPolicy, DeliveryState, Notification};

/// A job's state.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for its first attempt (or for an attempt after a replay).
    Queued,
    /// An attempt holds the lease.
    Running,
    /// Compiled; the artifact is current.
    Done,
    /// The last attempt failed; another is due at `next_attempt_at_ms`.
    Failed,
    /// Failed `max_attempts` times: in the dead-letter list until replayed.
    Dead,
    /// Nothing compiled: the list and every source it fetched are as the published list was
    /// made from; the published list stays as it is.
    Unchanged,
    /// The publish guard kept the result back (see [`crate::publish`]): the published list
    /// stays until the owner publishes the candidate (the job is then `done`) or discards it.
    Held,
    /// Held, then discarded by the list's owner.
    Discarded,
}

impl JobStatus {
    /// The status as the API and the ledger spell it.
    pub fn name(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
            JobStatus::Unchanged => "unchanged",
            JobStatus::Held => "held",
            JobStatus::Discarded => "discarded",
        }
    }
}

impl JobStatus {
    /// Whether nothing more will happen to the job (unless a dead one is replayed).
    pub fn is_final(self) -> bool {
        !matches!(self, JobStatus::Queued | JobStatus::Running | JobStatus::Failed)
    }
}

/// Retry policy: exponential backoff, then dead-letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Attempts before a job is dead (Cloudflare Queues' default: 3).
    pub max_attempts: u32,
    /// Delay after the first failed attempt, in milliseconds; it doubles with each attempt.
    pub base_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// How long a claim lasts, in milliseconds: longer than an attempt may run.
    pub lease_ms: u64,
}

impl Policy {
    /// The delay after failed attempt number `attempts` (1-based).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.base_backoff_ms.saturating_mul(1u64 << shift).min(self.max_backoff_ms)
    }
}

/// One attempt, as the job's history shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub attempt: u32,
    pub started_at_ms: u64,
    pub ended_at_ms: Option<u64>,
    pub error: Option<String>,
}

/// The artifact a done job produced.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// SHA-256 of the compiled list (hex): its version and entity tag.
    pub etag: String,
    pub length: u64,
    pub rules: u32,
}

/// A compile job: `job/{id}` in the `lists` store.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub id: String,
    pub list_id: String,
    pub user_id: String,
    /// The list's revision when the compile was requested.
    pub list_revision: u64,
    pub status: JobStatus,
    /// Attempts claimed so far (since the last replay).
    pub attempts: u32,
    pub max_attempts: u32,
    pub last_error: Option<String>,
    pub requested_at_ms: u64,
    pub updated_at_ms: u64,
    /// When a failed job's next attempt is due.
    pub next_attempt_at_ms: Option<u64>,
    /// The running attempt's lease: its token and expiry.
    pub lease_token: Option<String>,
    pub lease_until_ms: Option<u64>,
    /// When a message for the job was last published.
    pub enqueued_at_ms: u64,
    pub history: Vec<Attempt>,
    pub artifact: Option<Artifact>,
    /// Times the job came back from the dead-letter list.
    pub replays: u32,
    /// The webhook event of the job's final state and its delivery (the outbox; see [`outbox`]).
    pub notification: Option<Notification>,
    /// Why the job was made: its owner asked, or the list's refresh schedule came due.
    #[serde(default)]
    pub cause: JobCause,
}

/// Why a job was made.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobCause {
    /// `POST /v1/lists/{id}/compile` (and every job made before causes were recorded).
    #[default]
    Manual,
    /// The list's refresh schedule ([`crate::schedule`]).
    Schedule,
}

impl JobCause {
    /// The cause as the API and the ledger spell it.
    pub fn name(self) -> &'static str {
        match self {
            JobCause::Manual => "manual",
            JobCause::Schedule => "schedule",
        }
    }
}

/// Why a message did not claim the job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The job is finished (done or dead): a duplicate or late message.
    Final(JobStatus),
    /// Another consumer holds an unexpired lease.
    Leased { until_ms: u64 },
    /// The last attempt failed and the next is not due yet: a duplicate delivery, or one from
    /// a consumer that does not wait out the backoff (Spin's Redis trigger delivers every
    /// message to every instance). The sweeper publishes the job again when it is due.
    NotDue { at_ms: u64 },
}

/// The outcome of [`JobRecord::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The new record: this consumer holds the lease.
    Claimed(JobRecord),
    /// The lease of the last allowed attempt ran out: the new record is dead.
    Expired(JobRecord),
    /// Nothing to do.
    Skip(Skip),
}

/// Keeps this many attempts in a job's history.
pub const HISTORY_LIMIT: usize = 20;

impl JobRecord {
    /// A new queued job.
    pub fn new(id: &str, list_id: &str, user_id: &str, list_revision: u64, now_ms: u64, policy: &Policy) -> JobRecord {
        JobRecord {
            id: id.to_owned(),
            list_id: list_id.to_owned(),
            user_id: user_id.to_owned(),
            list_revision,
            status: JobStatus::Queued,
            attempts: 0,
            max_attempts: policy.max_attempts.max(1),
            last_error: None,
            requested_at_ms: now_ms,
            updated_at_ms: now_ms,
            next_attempt_at_ms: None,
            lease_token: None,
            lease_until_ms: None,
            enqueued_at_ms: now_ms,
            history: Vec::new(),
            artifact: None,
            replays: 0,
            notification: None,
            cause: JobCause::Manual,
        }
    }

    fn end_attempt(&mut self, now_ms: u64, error: Option<String>) {
        if let Some(last) = self.history.last_mut()
            && last.ended_at_ms.is_none()
        {
            last.ended_at_ms = Some(now_ms);
            last.error = error;
        }
    }

    fn die(&mut self, now_ms: u64, error: String) {
        self.status = JobStatus::Dead;
        self.last_error = Some(error);
        self.next_attempt_at_ms = None;
        self.lease_token = None;
        self.lease_until_ms = None;
        self.updated_at_ms = now_ms;
    }

    /// Claims the next attempt with lease `token` until `now + policy.lease_ms`.
    pub fn claim(&self, now_ms: u64, token: &str, policy: &Policy) -> Claim {
        let mut next = self.clone();
        match self.status {
            s if s.is_final() => return Claim::Skip(Skip::Final(s)),
            JobStatus::Running => {
                let until = self.lease_until_ms.unwrap_or(0);
                if until > now_ms {
                    return Claim::Skip(Skip::Leased { until_ms: until });
                }
                let error = format!("attempt {} did not finish within its lease (the consumer stopped)", self.attempts);
                next.end_attempt(now_ms, Some(error.clone()));
                if self.attempts >= self.max_attempts {
                    next.die(now_ms, error);
                    return Claim::Expired(next);
                }
                next.last_error = Some(error);
            }
            JobStatus::Failed => {
                if let Some(at_ms) = self.next_attempt_at_ms.filter(|&at| at > now_ms) {
                    return Claim::Skip(Skip::NotDue { at_ms });
                }
            }
            _ => {}
        }
        next.status = JobStatus::Running;
        next.attempts = self.attempts + 1;
        next.next_attempt_at_ms = None;
        next.lease_token = Some(token.to_owned());
        next.lease_until_ms = Some(now_ms.saturating_add(policy.lease_ms));
        next.updated_at_ms = now_ms;
        next.history.push(Attempt { attempt: next.attempts, started_at_ms: now_ms, ended_at_ms: None, error: None });
        if next.history.len() > HISTORY_LIMIT {
            next.history.remove(0);
        }
        Claim::Claimed(next)
    }

    /// Whether `token` holds the running attempt's lease.
    pub fn holds(&self, token: &str) -> bool {
        self.status == JobStatus::Running && self.lease_token.as_deref() == Some(token)
    }

    /// Finishes the attempt holding `token` as done; `None` if it no longer holds the lease.
    pub fn succeed(&self, token: &str, now_ms: u64, artifact: Artifact) -> Option<JobRecord> {
        if !self.holds(token) {
            return None;
        }
        let mut next = self.clone();
        next.end_attempt(now_ms, None);
        next.status = JobStatus::Done;
        next.last_error = None;
        next.lease_token = None;
        next.lease_until_ms = None;
        next.artifact = Some(artifact);
        next.updated_at_ms = now_ms;
        Some(next)
    }

    /// Finishes the attempt holding `token` as `unchanged` (the published `artifact` stays) or
    /// `held` (`reason`: why); `None` if it no longer holds the lease.
    pub fn settle(
        &self,
        token: &str,
        now_ms: u64,
        status: JobStatus,
        artifact: Artifact,
        reason: Option<&str>,
    ) -> Option<JobRecord> {
        if !self.holds(token) || !matches!(status, JobStatus::Unchanged | JobStatus::Held) {
            return None;
        }
        let mut next = self.succeed(token, now_ms, artifact)?;
        next.status = status;
        next.last_error = reason.map(str::to_owned);
        Some(next)
    }

    /// A held job after its owner decided: `done` with the published `artifact`, or
    /// `discarded` (no artifact). `None` if the job is not held.
    pub fn decided(&self, now_ms: u64, published: Option<Artifact>) -> Option<JobRecord> {
        if self.status != JobStatus::Held {
            return None;
        }
        let mut next = self.clone();
        next.status = if published.is_some() { JobStatus::Done } else { JobStatus::Discarded };
        next.artifact = published.or(next.artifact);
        next.updated_at_ms = now_ms;
        Some(next)
    }

    /// Finishes the attempt holding `token` as failed: a retry after the backoff, or dead after
    /// the last attempt. `None` if it no longer holds the lease.
    pub fn fail(&self, token: &str, now_ms: u64, error: &str, policy: &Policy) -> Option<JobRecord> {
        self.failed(token, now_ms, error, Some(policy))
    }

    /// Ends the job as dead at once, whatever its attempts (a permanent failure, such as a
    /// deleted list). `None` if `token` no longer holds the lease.
    pub fn abandon(&self, token: &str, now_ms: u64, error: &str) -> Option<JobRecord> {
        self.failed(token, now_ms, error, None)
    }

    /// A failed attempt: retried under `policy` while attempts remain, else (or with no policy)
    /// dead.
    fn failed(&self, token: &str, now_ms: u64, error: &str, retry: Option<&Policy>) -> Option<JobRecord> {
        if !self.holds(token) {
            return None;
        }
        let mut next = self.clone();
        next.end_attempt(now_ms, Some(error.to_owned()));
        match retry {
            Some(policy) if self.attempts < self.max_attempts => {
                next.status = JobStatus::Failed;
                next.last_error = Some(error.to_owned());
                next.lease_token = None;
                next.lease_until_ms = None;
                next.next_attempt_at_ms = Some(now_ms.saturating_add(policy.backoff_ms(self.attempts)));
                next.updated_at_ms = now_ms;
            }
            _ => next.die(now_ms, error.to_owned()),
        }
        Some(next)
    }

    /// Brings a dead job back: queued, with fresh attempts. `None` if it is not dead.
    pub fn replay(&self, now_ms: u64, policy: &Policy) -> Option<JobRecord> {
        if self.status != JobStatus::Dead {
            return None;
        }
        let mut next = self.clone();
        next.status = JobStatus::Queued;
        next.attempts = 0;
        next.max_attempts = policy.max_attempts.max(1);
        next.replays += 1;
        next.next_attempt_at_ms = None;
        next.enqueued_at_ms = now_ms;
        next.updated_at_ms = now_ms;
        Some(next)
    }

    /// Whether the sweeper should publish the job again: queued with no claim for
    /// `requeue_after_ms` since its last publish (the message may be lost), failed with its
    /// retry due, or running with its lease run out — once when it becomes due, then again
    /// every `requeue_after_ms` while nothing claims it.
    pub fn sweep_due(&self, now_ms: u64, requeue_after_ms: u64) -> bool {
        let ready_at = match self.status {
            JobStatus::Queued => self.enqueued_at_ms.saturating_add(requeue_after_ms),
            JobStatus::Failed => self.next_attempt_at_ms.unwrap_or(0),
            JobStatus::Running => self.lease_until_ms.unwrap_or(0),
            _ => return false,
        };
        now_ms >= ready_at
            && (self.enqueued_at_ms < ready_at || now_ms.saturating_sub(self.enqueued_at_ms) >= requeue_after_ms)
    }

    /// The record after the sweeper published it again.
    pub fn enqueued(&self, now_ms: u64) -> JobRecord {
        JobRecord { enqueued_at_ms: now_ms, ..self.clone() }
    }

    /// The running attempt's lease, extended to `now + lease_ms` by the host that runs it (it
    /// renews while the attempt runs, so a claim can be short and a crashed attempt retried
    /// soon); `None` if the job is not running or its lease already reaches that far.
    pub fn renewed(&self, now_ms: u64, lease_ms: u64) -> Option<JobRecord> {
        let until = now_ms.saturating_add(lease_ms);
        match self.lease_until_ms {
            Some(current) if self.status == JobStatus::Running && current < until => {
                Some(JobRecord { lease_until_ms: Some(until), updated_at_ms: now_ms, ..self.clone() })
            }
            _ => None,
        }
    }

    /// The running attempt's lease, ended now by the host that was running it and stopped (a
    /// graceful shutdown): the job is claimable at once, and the next claim records the attempt
    /// as interrupted. `None` if the job is not running.
    pub fn released(&self, now_ms: u64) -> Option<JobRecord> {
        (self.status == JobStatus::Running).then(|| JobRecord {
            lease_until_ms: Some(now_ms.min(self.lease_until_ms.unwrap_or(now_ms))),
            updated_at_ms: now_ms,
            ..self.clone()
        })
    }
}

/// A message on the job channel (JSON): `{"type":"compile","jobId":…}`,
/// `{"type":"deliver","jobId":…}` or `{"type":"sweep"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum Message {
    /// Attempt this job.
    Compile { job_id: String },
    /// Attempt this job's pending webhook delivery, if it is due.
    Deliver { job_id: String },
    /// Run the sweeper.
    Sweep,
}

#[cfg(test)]
mod tests;
