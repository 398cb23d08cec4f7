//! One shard of the store: its entries, their byte cost, and their order of use for eviction.

use crate::{ENTRY_OVERHEAD, Error};
use std::collections::{BTreeMap, HashMap};

/// What a key holds: a value or a counter.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Bytes(Vec<u8>),
    Counter(i64),
}

impl Value {
    pub(crate) fn read(&self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b.clone(),
            Value::Counter(n) => n.to_le_bytes().to_vec(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Value::Bytes(b) => b.len(),
            Value::Counter(_) => 8,
        }
    }
}

/// A key's value, its version and when it was last used.
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) version: i64,
    /// Position in [`Shard::recency`].
    used: u64,
}

/// What an entry takes, as the store accounts it.
fn cost(key: &str, value: &Value) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

/// One lock's share of the store.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) entries: HashMap<String, Entry>,
    /// Keys by last use, oldest first.
    recency: BTreeMap<u64, String>,
    pub(crate) bytes: usize,
    clock: u64,
    pub(crate) evictions: u64,
}

impl Shard {
    /// Marks `key` (if present) as the most recently used.
    pub(crate) fn touch(&mut self, key: &str) {
        self.clock += 1;
        let now = self.clock;
        if let Some(e) = self.entries.get_mut(key) {
            let old = std::mem::replace(&mut e.used, now);
            if let Some(k) = self.recency.remove(&old) {
                self.recency.insert(now, k);
            }
        }
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.entries.remove(key)?;
        self.recency.remove(&e.used);
        self.bytes -= cost(key, &e.value);
        Some(e)
    }

    /// Stores `value` at `key`, evicting the least recently used entries to make room.
    pub(crate) fn put(&mut self, key: &str, value: Value, version: i64, limit: usize) -> Result<(), Error> {
        let bytes = cost(key, &value);
        if bytes > limit {
            return Err(Error::TooLarge { key: key.to_owned(), bytes, limit });
        }
        self.remove(key);
        while self.bytes + bytes > limit {
            let Some((_, oldest)) = self.recency.pop_first() else { break };
            if let Some(e) = self.entries.remove(&oldest) {
                self.bytes -= cost(&oldest, &e.value);
                self.evictions += 1;
            }
        }
        self.clock += 1;
        self.recency.insert(self.clock, key.to_owned());
        self.entries.insert(key.to_owned(), Entry { value, version, used: self.clock });
        self.bytes += bytes;
        Ok(())
    }
}
