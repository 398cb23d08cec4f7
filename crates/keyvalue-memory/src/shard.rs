//! One shard of the store: its entries, their byte cost, and their order of use for eviction.

use crate::{ENTRY_OVERHEAD, Error};
use hashlink::LinkedHashMap;
use std::hash::RandomState;

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

/// A key's value and its version.
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) version: i64,
}

/// What an entry takes, as the store accounts it.
fn cost(key: &str, value: &Value) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

/// One lock's share of the store.
#[derive(Default)]
pub(crate) struct Shard {
    /// The entries, least recently used first. Hashed with std's SipHash rather than
    /// `hashlink`'s faster default: the keys come from clients.
    pub(crate) entries: LinkedHashMap<String, Entry, RandomState>,
    pub(crate) bytes: usize,
    pub(crate) evictions: u64,
}

impl Shard {
    /// Marks `key` (if present) as the most recently used, and returns its entry.
    pub(crate) fn touch(&mut self, key: &str) -> Option<&mut Entry> {
        self.entries.to_back(key)
    }

    /// Removes `key`, returning its entry.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Entry> {
        let e = self.entries.remove(key)?;
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
            let Some((oldest, e)) = self.entries.pop_front() else { break };
            self.bytes -= cost(&oldest, &e.value);
            self.evictions += 1;
        }
        self.entries.insert(key.to_owned(), Entry { value, version });
        self.bytes += bytes;
        Ok(())
    }
}
