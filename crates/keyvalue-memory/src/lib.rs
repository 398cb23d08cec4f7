//! A bounded in-process key-value store: values, counters and compare-and-swap, with the same
//! semantics as `keyvalue-sqlite`, kept in memory and evicting the least recently used keys
//! when full.
//!
//! It backs the host's node-local stores, whose contents may be lost without losing data:
//! the read-through cache of compiled lists, and the rate limiter's window counters. Keeping
//! them in memory takes the limiter's write off the durable store's single writer, which every
//! authenticated request would otherwise queue on.
//!
//! - **Counters and values never mix**, as in `keyvalue-sqlite`: [`MemoryStore::increment`] on
//!   a value is [`Error::NotACounter`]; [`MemoryStore::get`] of a counter returns its 8-byte
//!   little-endian encoding; [`MemoryStore::set`] on a counter turns it into a value.
//! - **Every operation is atomic** (one lock per shard), so increments from concurrent requests
//!   never lose an update and compare-and-swap is exact.
//! - **Bounded**: each shard holds at most its share of the byte budget (keys, values and a
//!   fixed overhead per entry). A write that would pass it first evicts the least recently used
//!   entries of that shard. A single entry larger than a shard's share is refused
//!   ([`Error::TooLarge`]).

#![forbid(unsafe_code)]

mod shard;
#[cfg(test)]
mod tests;

pub use keyvalue_types::{KeyPage, LIST_PAGE, Versioned};
use shard::{Shard, Value};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// `increment` on a key that holds a value, not a counter.
    #[error("key {0:?} holds a value, not a counter")]
    NotACounter(String),
    /// `increment` would overflow an `i64`.
    #[error("incrementing key {0:?} would overflow")]
    Overflow(String),
    /// The entry alone is larger than the store may hold for it.
    #[error("key {key:?}: an entry of {bytes} bytes is over this store's limit of {limit} bytes per entry")]
    TooLarge {
        /// The key written.
        key: String,
        /// The entry's size as accounted (key, value and overhead).
        bytes: usize,
        /// The largest entry the store holds.
        limit: usize,
    },
}

/// Bytes accounted per entry beyond its key and value: the map slots, the recency index and
/// the entry's fields.
pub const ENTRY_OVERHEAD: usize = 96;

const SHARDS: usize = 16;

/// A bounded in-memory key-value store (one bucket). Cheap to share behind an `Arc`.
pub struct MemoryStore {
    shards: Vec<Mutex<Shard>>,
    /// Byte budget of each shard.
    shard_limit: usize,
    hasher: RandomState,
    versions: AtomicI64,
}

/// Counts of what a store holds, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Entries held.
    pub entries: usize,
    /// Bytes accounted (keys, values, overhead).
    pub bytes: usize,
    /// Entries evicted to make room, since the store was made.
    pub evictions: u64,
}

impl MemoryStore {
    /// A store that holds at most about `max_bytes` (keys, values and [`ENTRY_OVERHEAD`] per
    /// entry). The budget is split evenly over 16 shards, so one entry may use at most a
    /// sixteenth of it.
    pub fn new(max_bytes: usize) -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_limit: (max_bytes / SHARDS).max(ENTRY_OVERHEAD + 64),
            hasher: RandomState::new(),
            versions: AtomicI64::new(1),
        }
    }

    /// The largest entry (key, value and overhead, in bytes) the store accepts.
    pub fn max_entry_bytes(&self) -> usize {
        self.shard_limit
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_version(&self) -> i64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }

    /// The value at `key`, or `None`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.get_versioned(key).value
    }

    /// The value at `key` with its version, for a later [`MemoryStore::compare_and_swap`].
    pub fn get_versioned(&self, key: &str) -> Versioned {
        match self.shard(key).touch(key) {
            Some(e) => Versioned { value: Some(e.value.read()), version: Some(e.version) },
            None => Versioned { value: None, version: None },
        }
    }

    /// Sets `key` to `value` (replacing a value or a counter).
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        let version = self.next_version();
        self.shard(key).put(key, Value::Bytes(value.to_vec()), version, self.shard_limit)
    }

    /// Deletes `key`; deleting an absent key is not an error.
    pub fn delete(&self, key: &str) {
        self.shard(key).remove(key);
    }

    /// Deletes every key (shard by shard: a write made meanwhile may stay). For a cache whose
    /// owner learns that any of its entries may be out of date.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            shard.entries.clear();
            shard.bytes = 0;
        }
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> bool {
        self.shard(key).entries.contains_key(key)
    }

    /// Up to [`LIST_PAGE`] keys after `cursor` (the previous page's cursor), in key order.
    pub fn list_keys(&self, cursor: Option<&str>) -> KeyPage {
        let mut keys: Vec<String> = Vec::new();
        for shard in &self.shards {
            let shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            keys.extend(shard.entries.keys().filter(|k| cursor.is_none_or(|c| k.as_str() > c)).cloned());
        }
        keys.sort_unstable();
        let cursor = if keys.len() > LIST_PAGE {
            keys.truncate(LIST_PAGE);
            keys.last().cloned()
        } else {
            None
        };
        KeyPage { keys, cursor }
    }

    /// Adds `delta` to the counter at `key` (an absent key counts from 0) and returns the new
    /// value. `delta = 0` reads a counter and creates nothing.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, Error> {
        let mut shard = self.shard(key);
        let current = match shard.entries.get(key).map(|e| &e.value) {
            None => 0,
            Some(Value::Counter(n)) => *n,
            Some(Value::Bytes(_)) => return Err(Error::NotACounter(key.to_owned())),
        };
        if delta == 0 {
            return Ok(current);
        }
        let next = current.checked_add(delta).ok_or_else(|| Error::Overflow(key.to_owned()))?;
        let version = self.next_version();
        match shard.touch(key) {
            Some(e) => {
                e.value = Value::Counter(next);
                e.version = version;
            }
            None => shard.put(key, Value::Counter(next), version, self.shard_limit)?,
        }
        Ok(next)
    }

    /// Sets `key` to `value` if its version is still `expected` (`None`: if it is still
    /// absent). Returns whether the swap happened.
    pub fn compare_and_swap(&self, key: &str, expected: Option<i64>, value: &[u8]) -> Result<bool, Error> {
        let mut shard = self.shard(key);
        if shard.entries.get(key).map(|e| e.version) != expected {
            return Ok(false);
        }
        let version = self.next_version();
        shard.put(key, Value::Bytes(value.to_vec()), version, self.shard_limit)?;
        Ok(true)
    }

    /// The values of `keys`, in order.
    pub fn get_many(&self, keys: &[String]) -> Vec<Option<Vec<u8>>> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Sets every pair. Each write is atomic; the batch as a whole is not (as
    /// `wasi:keyvalue/batch` allows).
    pub fn set_many(&self, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        pairs.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    /// Deletes every key.
    pub fn delete_many(&self, keys: &[String]) {
        keys.iter().for_each(|k| self.delete(k));
    }

    /// What the store holds now.
    pub fn usage(&self) -> Usage {
        self.shards.iter().fold(Usage::default(), |u, s| {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            Usage {
                entries: u.entries + s.entries.len(),
                bytes: u.bytes + s.bytes,
                evictions: u.evictions + s.evictions,
            }
        })
    }
}
