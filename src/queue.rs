//! The job queue: where the components' `fermyon:spin/redis` `publish` on the job channel puts
//! messages, and where the trigger ([`crate::trigger`]) claims them.
//!
//! - **Durable**: a published message is stored before `publish` returns: in SQLite
//!   (`queue.sqlite3` in the data directory, the default) or in Redis/Valkey (`--redis-url`).
//! - **Deduplicated**: a message is identified by its content; publishing one that is still
//!   pending does nothing, and publishing one that is dead brings it back (a replay).

use anyhow::{Context, Result};
use jobqueue::Queue;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The job queue: where `publish` on the job channel puts messages.
pub struct JobQueue {
    pub(crate) backend: Box<dyn Queue>,
    /// The address components open (`job_queue_address`).
    pub address: String,
    /// The job channel (`job_queue_channel`): the queue's name in the backend.
    pub channel: String,
    /// Wakes idle workers when a message is published on this host.
    pub(crate) published: Notify,
}

impl JobQueue {
    /// The embedded queue in the SQLite file `path`, committing with `synchronous`.
    pub fn embedded(path: &std::path::Path, channel: &str, synchronous: jobqueue::Synchronous) -> Result<JobQueue> {
        let backend = jobqueue::SqliteQueue::open_with(path, synchronous)
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(JobQueue::new(Box::new(backend), "blocklist-edge:embedded".into(), channel))
    }

    /// A queue on the Redis/Valkey server at `url` (keys prefixed `blocklist-edge`); the server
    /// may be down now, it is reached when first used.
    pub fn redis(url: &str, channel: &str) -> Result<JobQueue> {
        let backend = jobqueue::RedisQueue::open(url, "blocklist-edge").context("the Redis URL")?;
        Ok(JobQueue::new(Box::new(backend), url.to_owned(), channel))
    }

    /// Messages by state.
    pub fn depth(&self) -> Result<jobqueue::Depth, jobqueue::Error> {
        self.backend.depth(&self.channel, now_ms())
    }

    /// Deletes the oldest dead messages beyond the newest `keep`; returns how many. Blocking.
    pub fn prune_dead(&self, keep: usize) -> Result<u64, jobqueue::Error> {
        self.backend.prune_dead(&self.channel, keep)
    }

    fn new(backend: Box<dyn Queue>, address: String, channel: &str) -> JobQueue {
        JobQueue { backend, address, channel: channel.to_owned(), published: Notify::new() }
    }

    /// Stores `payload` on `channel` (it must be the job channel). Blocking.
    pub fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), PublishError> {
        if channel != self.channel {
            return Err(PublishError::NotTheJobChannel {
                channel: channel.to_owned(),
                job_channel: self.channel.clone(),
            });
        }
        let id = hex::encode(&Sha256::digest(payload)[..16]);
        let now = now_ms();
        let added = self.backend.enqueue(&self.channel, &id, payload, now)?;
        // Already pending: nothing to do; dead: published again means replayed.
        if !added && self.backend.replay(&self.channel, &id, now)? {
            tracing::info!(msg = %id, "dead message published again: replayed");
        }
        self.published.notify_waiters();
        Ok(())
    }
}

/// Why a message was not published.
#[derive(Debug)]
pub enum PublishError {
    /// Only the job channel has a subscriber on this host.
    NotTheJobChannel { channel: String, job_channel: String },
    /// The queue's backend (SQLite or Redis) failed.
    Backend(jobqueue::Error),
}

impl From<jobqueue::Error> for PublishError {
    fn from(e: jobqueue::Error) -> Self {
        PublishError::Backend(e)
    }
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::NotTheJobChannel { channel, job_channel } => {
                write!(f, "nothing on this host subscribes to channel {channel:?}; the job channel is {job_channel:?}")
            }
            PublishError::Backend(e) => write!(f, "the job queue: {e}"),
        }
    }
}

impl std::error::Error for PublishError {}
