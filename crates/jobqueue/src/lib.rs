//! Durable job queues with Cloudflare Queues' guarantees, behind one trait ([`Queue`]) with two
//! backends: [`SqliteQueue`] (embedded, the default: one file, no server) and, with the `redis`
//! feature, `RedisQueue` (a Redis/Valkey server shared by several hosts).
//!
//! - **At-least-once**: a claimed message is leased, not removed. It is removed by [`Queue::ack`]
//!   with the lease's token; a lease that runs out makes the message claimable again (a crashed
//!   consumer loses nothing).
//! - **Retries with exponential backoff**: [`Queue::fail`] makes the message visible again after
//!   `base · 2^(attempts-1)` (capped), until `max_attempts`, then it is **dead** (the DLQ):
//!   listed by [`Queue::dead`], brought back by [`Queue::replay`], the oldest deleted by
//!   [`Queue::prune_dead`].
//! - **One message per job**: enqueueing a job id that is already queued (or leased, or dead)
//!   does nothing, so duplicate requests and re-enqueues by a sweeper are harmless.

#![forbid(unsafe_code)]

mod sqlite;
pub use sqlite::{SqliteQueue, Synchronous};

#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
pub use crate::redis::RedisQueue;

#[cfg(feature = "testing")]
pub mod testing;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The Redis server could not be reached or refused a command; the operation may be retried
    /// (the backend reconnects on the next call).
    #[error("redis: {0}")]
    Redis(String),
}

/// Retry policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Deliveries before a message is dead (Cloudflare Queues' default: 3).
    pub max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each attempt.
    pub base_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { max_attempts: 3, base_backoff_ms: 1_000, max_backoff_ms: 5 * 60_000 }
    }
}

impl Policy {
    /// The delay after failed attempt number `attempts` (1-based).
    pub fn backoff_ms(&self, attempts: u32) -> u64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.base_backoff_ms.saturating_mul(1u64 << shift).min(self.max_backoff_ms)
    }
}

/// A claimed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub queue: String,
    pub job_id: String,
    pub payload: Vec<u8>,
    /// Deliveries so far, this one included.
    pub attempts: u32,
    /// Proves the claim: [`Queue::ack`] and [`Queue::fail`] need it.
    pub lease: i64,
}

/// What [`Queue::fail`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// The message will be delivered again at this time (ms since the epoch).
    RetryAt(u64),
    /// The message is dead (max attempts reached).
    Dead,
    /// The lease was no longer held (it expired and someone else claimed the message).
    LeaseLost,
}

/// A dead message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dead {
    pub job_id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// Messages by state, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Depth {
    /// Deliverable now.
    pub ready: u64,
    /// Waiting for a retry time.
    pub delayed: u64,
    /// Claimed, lease running.
    pub leased: u64,
    pub dead: u64,
}

/// A queue store (any number of named queues). Times are milliseconds since the Unix epoch,
/// passed in by the caller.
pub trait Queue: Send + Sync {
    /// Enqueues `job_id` (visible at `now_ms`); returns false if that job is already in the queue.
    fn enqueue(&self, queue: &str, job_id: &str, payload: &[u8], now_ms: u64) -> Result<bool, Error>;

    /// Claims the next deliverable message for `lease_ms`: the oldest due one, including any
    /// whose previous lease has run out (a redelivery).
    fn claim(&self, queue: &str, now_ms: u64, lease_ms: u64) -> Result<Option<Message>, Error>;

    /// Renews the lease of a message still being processed, until `now_ms + lease_ms`; false if
    /// the lease was no longer held. A consumer that renews a short lease while it works is
    /// never mistaken for a dead one, and the lease of one that died runs out soon.
    fn extend(&self, msg: &Message, now_ms: u64, lease_ms: u64) -> Result<bool, Error>;

    /// Removes a message whose processing succeeded; false if the lease was no longer held.
    fn ack(&self, msg: &Message) -> Result<bool, Error>;

    /// Records a failed delivery: a retry after the policy's backoff, or death after
    /// `max_attempts`.
    fn fail(&self, msg: &Message, error: &str, now_ms: u64, policy: &Policy) -> Result<Failed, Error>;

    /// The dead messages of `queue`, oldest first.
    fn dead(&self, queue: &str) -> Result<Vec<Dead>, Error>;

    /// Deletes the oldest dead messages of `queue` beyond the newest `keep`; returns how many
    /// it deleted. (The job ledger keeps its own record of dead jobs; a deleted dead message
    /// published again is simply a new message.)
    fn prune_dead(&self, queue: &str, keep: usize) -> Result<u64, Error>;

    /// Brings a dead job back with fresh attempts, deliverable at `now_ms`; false if it is not dead.
    fn replay(&self, queue: &str, job_id: &str, now_ms: u64) -> Result<bool, Error>;

    /// Messages of `queue` by state at `now_ms`.
    fn depth(&self, queue: &str, now_ms: u64) -> Result<Depth, Error>;
}
