//! The webhook outbox: a finished job's event, kept on the job record until it is delivered.
//!
//! ```text
//!   done/dead (same compare-and-swap)      2xx
//!  ─────────────────────────────────▶ pending ─────▶ delivered
//!                  claim (lease) ▲      │ │ other answer or error:
//!                                └──────┘ │ retried after a backoff
//!                                         ▼ after the last attempt (or 410 Gone, no webhook)
//!                                       failed
//! ```
//!
//! The final transition of a job whose list has a webhook writes a pending [`Notification`] in
//! the same compare-and-swap, so that a crash right after it cannot lose the event: the job stays
//! in the sweeper's index until its delivery settles ([`JobRecord::delivery_pending`]) and the
//! sweeper publishes a delivery that is due ([`JobRecord::delivery_due`]). Each attempt is claimed
//! with a lease ([`JobRecord::claim_delivery`]), so that two consumers do not send the same
//! attempt at once; a crash between the POST and its record can still send an event twice, which
//! is why every attempt carries the same delivery id ([`delivery_id`]): receivers drop duplicates
//! by it.

use super::{JobRecord, JobStatus};
use serde::{Deserialize, Serialize};

/// Webhook retry policy: exponential backoff, then failed for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Attempts before a delivery is failed for good.
    pub max_attempts: u32,
    /// Delay after the first failed attempt, in milliseconds; it doubles with each attempt.
    pub base_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// How long a claim on an attempt lasts, in milliseconds: longer than an attempt may take.
    pub lease_ms: u64,
}

impl DeliveryPolicy {
    /// The defaults: 15 attempts, 1 s doubling up to 1 h (about 3 h from the first attempt to
    /// the last), a 60 s claim (an attempt takes at most about 20 s: 10 s to connect, 10 s to
    /// the first byte of the answer).
    pub const DEFAULT: DeliveryPolicy =
        DeliveryPolicy { max_attempts: 15, base_backoff_ms: 1_000, max_backoff_ms: 3_600_000, lease_ms: 60_000 };

    /// The delay after failed attempt number `attempts` (1-based).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.base_backoff_ms.saturating_mul(1u64 << shift).min(self.max_backoff_ms)
    }
}

/// Where a webhook delivery stands.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Not delivered yet: an attempt is due at `next_attempt_at_ms` (or running under a lease).
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Given up: the last attempt failed, the receiver answered 410 Gone, or the list or its
    /// webhook is gone.
    Failed,
}

/// A job's webhook event and its delivery (the outbox entry).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", from = "NotificationRecord")]
pub struct Notification {
    /// `job.done`, `job.dead` or `job.held`.
    pub event: String,
    /// The same for every attempt of this event: see [`delivery_id`].
    pub delivery_id: String,
    pub state: DeliveryState,
    /// Attempts claimed so far.
    pub attempts: u32,
    pub max_attempts: u32,
    /// When the event was written (the job's final transition).
    pub created_at_ms: u64,
    /// When the last attempt ended (before any: when the event was written).
    pub at_ms: u64,
    /// The receiver's HTTP status at the last attempt, if it answered.
    pub status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub error: Option<String>,
    /// When the next attempt is due (pending only).
    pub next_attempt_at_ms: Option<u64>,
    /// The running attempt's lease: its token and expiry.
    pub lease_token: Option<String>,
    pub lease_until_ms: Option<u64>,
    /// When the sweeper last published a message for this delivery.
    pub enqueued_at_ms: u64,
}

/// A notification as stored: records written before the outbox held one attempt's outcome only
/// (`event`, `atMs`, `status`, `error`); they read as settled, delivered if the receiver
/// answered 2xx, else failed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NotificationRecord {
    event: String,
    #[serde(default)]
    delivery_id: String,
    state: Option<DeliveryState>,
    attempts: Option<u32>,
    max_attempts: Option<u32>,
    created_at_ms: Option<u64>,
    at_ms: u64,
    status: Option<u16>,
    error: Option<String>,
    next_attempt_at_ms: Option<u64>,
    lease_token: Option<String>,
    lease_until_ms: Option<u64>,
    #[serde(default)]
    enqueued_at_ms: u64,
}

impl From<NotificationRecord> for Notification {
    fn from(r: NotificationRecord) -> Notification {
        let delivered = r.status.is_some_and(|s| (200..300).contains(&s));
        let state = r.state.unwrap_or(if delivered { DeliveryState::Delivered } else { DeliveryState::Failed });
        Notification {
            event: r.event,
            delivery_id: r.delivery_id,
            state,
            attempts: r.attempts.unwrap_or(1),
            max_attempts: r.max_attempts.unwrap_or(1),
            created_at_ms: r.created_at_ms.unwrap_or(r.at_ms),
            at_ms: r.at_ms,
            status: r.status,
            error: r.error,
            next_attempt_at_ms: r.next_attempt_at_ms,
            lease_token: r.lease_token,
            lease_until_ms: r.lease_until_ms,
            enqueued_at_ms: r.enqueued_at_ms,
        }
    }
}

/// The event a job in final state `status` announces.
pub fn event_of(status: JobStatus) -> Option<&'static str> {
    match status {
        JobStatus::Done => Some("job.done"),
        JobStatus::Dead => Some("job.dead"),
        JobStatus::Held => Some("job.held"),
        _ => None,
    }
}

/// The delivery id of `event` of job `job_id` after `replays` replays: `{job id}.{event}.{replays}`
/// (`j_….job.done.0`). Every attempt of one event carries the same id, and each event its own
/// (a replayed job that ends again announces a new one).
pub fn delivery_id(job_id: &str, event: &str, replays: u32) -> String {
    format!("{job_id}.{event}.{replays}")
}

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed (`None`: delivered).
    pub error: Option<String>,
    /// Whether another attempt may succeed (false: failed for good at once).
    pub retry: bool,
}

impl DeliveryOutcome {
    /// The outcome of an answer with `status`: 2xx is delivered; 410 Gone is failed for good
    /// (the receiver says it is gone); anything else is retried.
    pub fn answered(status: u16) -> DeliveryOutcome {
        if (200..300).contains(&status) {
            return DeliveryOutcome { status: Some(status), error: None, retry: false };
        }
        DeliveryOutcome {
            status: Some(status),
            error: Some(format!("the receiver answered {status}")),
            retry: status != 410,
        }
    }

    /// No answer (connection refused, timeout, refused destination…): retried.
    pub fn unanswered(error: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome { status: None, error: Some(error.into()), retry: true }
    }

    /// Not attempted, and never will be (no list or webhook to send it to).
    pub fn abandoned(error: impl Into<String>) -> DeliveryOutcome {
        DeliveryOutcome { status: None, error: Some(error.into()), retry: false }
    }
}

/// The outcome of [`JobRecord::claim_delivery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// The new record: this consumer holds the attempt's lease.
    Claimed(JobRecord),
    /// The lease of the last allowed attempt ran out: the new record has the delivery failed.
    Expired(JobRecord),
    /// Nothing to do: no pending delivery, not due yet, or another consumer holds the lease.
    Skip,
}

impl JobRecord {
    /// The record with its final event pending delivery, if it is final: what the final
    /// transition writes, in the same compare-and-swap, for a list with a webhook. The same
    /// event already recorded (a transition retried) is left as it is; another event (the job
    /// ended again after a replay) replaces any older one, delivered or not.
    pub fn with_delivery(mut self, now_ms: u64, policy: &DeliveryPolicy) -> JobRecord {
        let Some(event) = event_of(self.status) else { return self };
        let id = delivery_id(&self.id, event, self.replays);
        if self.notification.as_ref().is_some_and(|n| n.delivery_id == id) {
            return self;
        }
        self.notification = Some(Notification {
            event: event.to_owned(),
            delivery_id: id,
            state: DeliveryState::Pending,
            attempts: 0,
            max_attempts: policy.max_attempts.max(1),
            created_at_ms: now_ms,
            at_ms: now_ms,
            status: None,
            error: None,
            next_attempt_at_ms: Some(now_ms),
            lease_token: None,
            lease_until_ms: None,
            enqueued_at_ms: 0,
        });
        self
    }

    /// Whether the job's webhook event is still to be delivered: such a job stays in the
    /// sweeper's index, and must not be deleted (retention) before it settles.
    pub fn delivery_pending(&self) -> bool {
        self.notification.as_ref().is_some_and(|n| n.state == DeliveryState::Pending)
    }

    /// Claims the next attempt of the pending delivery with lease `token` until
    /// `now + policy.lease_ms`.
    pub fn claim_delivery(&self, now_ms: u64, token: &str, policy: &DeliveryPolicy) -> DeliveryClaim {
        let Some(n) = self.notification.as_ref().filter(|n| n.state == DeliveryState::Pending) else {
            return DeliveryClaim::Skip;
        };
        if n.next_attempt_at_ms.is_some_and(|at| at > now_ms) || n.lease_until_ms.is_some_and(|at| at > now_ms) {
            return DeliveryClaim::Skip;
        }
        let mut next = self.clone();
        let m = next.notification.as_mut().expect("checked above");
        if n.lease_until_ms.is_some() {
            // The last attempt's claim ran out before its outcome was recorded.
            m.error = Some(format!("attempt {} did not finish within its lease (the consumer stopped)", n.attempts));
            m.status = None;
            m.at_ms = now_ms;
            if n.attempts >= n.max_attempts {
                m.state = DeliveryState::Failed;
                m.next_attempt_at_ms = None;
                m.lease_token = None;
                m.lease_until_ms = None;
                return DeliveryClaim::Expired(next);
            }
        }
        m.attempts = n.attempts + 1;
        m.next_attempt_at_ms = None;
        m.lease_token = Some(token.to_owned());
        m.lease_until_ms = Some(now_ms.saturating_add(policy.lease_ms));
        DeliveryClaim::Claimed(next)
    }

    /// Whether `token` holds the lease of the delivery's running attempt.
    pub fn holds_delivery(&self, token: &str) -> bool {
        self.notification
            .as_ref()
            .is_some_and(|n| n.state == DeliveryState::Pending && n.lease_token.as_deref() == Some(token))
    }

    /// Records the outcome of the attempt holding `token`: delivered, retried after the backoff,
    /// or failed for good (no retry, or the last attempt). `None` if it no longer holds the lease.
    pub fn delivery_attempted(
        &self,
        token: &str,
        now_ms: u64,
        outcome: &DeliveryOutcome,
        policy: &DeliveryPolicy,
    ) -> Option<JobRecord> {
        if !self.holds_delivery(token) {
            return None;
        }
        let mut next = self.clone();
        let n = next.notification.as_mut().expect("held");
        n.at_ms = now_ms;
        n.status = outcome.status;
        n.error = outcome.error.clone();
        n.lease_token = None;
        n.lease_until_ms = None;
        n.state = match &outcome.error {
            None => DeliveryState::Delivered,
            Some(_) if outcome.retry && n.attempts < n.max_attempts => {
                n.next_attempt_at_ms = Some(now_ms.saturating_add(policy.backoff_ms(n.attempts)));
                DeliveryState::Pending
            }
            Some(_) => DeliveryState::Failed,
        };
        if n.state != DeliveryState::Pending {
            n.next_attempt_at_ms = None;
        }
        Some(next)
    }

    /// Whether the sweeper should publish a delivery message for the job: its delivery is
    /// pending, and its next attempt is due or its running attempt's lease ran out — once when
    /// it becomes due, then again every `requeue_after_ms` while nothing claims it.
    pub fn delivery_due(&self, now_ms: u64, requeue_after_ms: u64) -> bool {
        let Some(n) = self.notification.as_ref().filter(|n| n.state == DeliveryState::Pending) else {
            return false;
        };
        let ready_at = n.lease_until_ms.or(n.next_attempt_at_ms).unwrap_or(0);
        now_ms >= ready_at
            && (n.enqueued_at_ms < ready_at || now_ms.saturating_sub(n.enqueued_at_ms) >= requeue_after_ms)
    }

    /// The record after the sweeper published a delivery message for it.
    pub fn delivery_enqueued(&self, now_ms: u64) -> JobRecord {
        let mut next = self.clone();
        if let Some(n) = next.notification.as_mut() {
            n.enqueued_at_ms = now_ms;
        }
        next
    }
}
