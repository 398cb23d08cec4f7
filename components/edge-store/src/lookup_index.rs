//! The lookup index of a compiled list (crate `dns-filter`'s sharded index, packed), in the
//! durable `lists` store under `lookup/{list}/{etag}/{n}`: the pack's header (with `meta`) at
//! `0`, its chunks from `1`. The compile consumer stores it with every artifact it stores, so
//! that a lookup on a list of a million rules never builds it inside a request; a lookup that
//! finds none (a
//! version published before the index existed, a rollback to one) builds it once and stores it
//! the same way. Chunks are written before the header, so a reader that finds the header finds
//! every chunk (the retention collector deletes them with the artifact's chunks, by etag).
//!
//! [`Reader`] answers the shards a lookup asks for from the node-local `cache` store first
//! (each shard under `lookup/v{format}/{list}/{etag}/{key}`, an empty value for a shard number
//! without rules), and on a miss from the chunk that holds it, keeping every shard number of
//! that chunk. A warm lookup reads `meta` and a few 1 KiB shards from the node's memory.

use crate::StoreError;
use crate::kv::Kv;
use blocklist_model::keys::lookup_index_key;
use dns_filter::{Shard, chunk_of, chunk_shard_keys, header_meta, pack_shards, shard_count, unpack_chunk};

/// Builds the index of `text` (a compiled list) and stores it for artifact `etag` of `list_id`.
pub fn store(lists: &Kv, list_id: &str, etag: &str, text: &str) -> Result<(), StoreError> {
    store_shards(lists, list_id, etag, &dns_filter::build_shards(text))
}

/// Stores built `shards` for artifact `etag` of `list_id`: the chunks, then the header.
pub fn store_shards(lists: &Kv, list_id: &str, etag: &str, shards: &[Shard]) -> Result<(), StoreError> {
    let packed = pack_shards(shards);
    for (n, chunk) in packed.chunks.iter().enumerate() {
        lists.set(&lookup_index_key(list_id, etag, n as u32 + 1), chunk)?;
    }
    lists.set(&lookup_index_key(list_id, etag, 0), &packed.header)
}

/// Deletes the lookup index of artifact `etag` of `list_id`, the header first (a reader then
/// finds no index, never a partial one). Pieces it cannot name (a header of another format) are
/// left to the retention collector, which deletes them with the artifact's chunks.
pub fn delete(lists: &Kv, list_id: &str, etag: &str) -> Result<(), StoreError> {
    let Some(header) = lists.get(&lookup_index_key(list_id, etag, 0))? else { return Ok(()) };
    lists.delete(&lookup_index_key(list_id, etag, 0))?;
    for n in 1..=dns_filter::header_chunk_count(&header).unwrap_or(0) {
        lists.delete(&lookup_index_key(list_id, etag, n))?;
    }
    Ok(())
}

/// Reads the shards of artifact `etag` of a list for `dns_filter::lookup_sharded`.
pub struct Reader<'a> {
    lists: &'a Kv,
    node: Option<&'a Kv>,
    list_id: &'a str,
    etag: &'a str,
    /// The index's shard count, from `meta` once read.
    shard_count: Option<u32>,
    /// No header in the store (or not in this format, or a damaged chunk): the caller indexes
    /// the artifact again.
    no_index: bool,
    /// Shards read ahead from the node cache ([`Reader::prefetch`]), empty ones as empty.
    ahead: std::collections::HashMap<String, Vec<u8>>,
    /// A store error met while reading (the lookup then fails with it).
    pub error: Option<StoreError>,
    /// Time spent in calls to the stores.
    pub store_time: std::time::Duration,
}

impl<'a> Reader<'a> {
    /// A reader of artifact `etag` of `list_id`, through the node-local cache `node` if open.
    pub fn new(lists: &'a Kv, node: Option<&'a Kv>, list_id: &'a str, etag: &'a str) -> Reader<'a> {
        Reader {
            lists,
            node,
            list_id,
            etag,
            shard_count: None,
            no_index: false,
            ahead: Default::default(),
            error: None,
            store_time: Default::default(),
        }
    }

    /// Reads `meta` and every shard a lookup of `name` needs from the node cache in two calls
    /// (instead of one per shard): what a warm lookup costs. Shards not there are read by
    /// [`Reader::get`] as usual.
    pub fn prefetch(&mut self, name: &str) {
        let Some(node) = self.node else { return };
        let Some(meta) = self.get("meta") else { return };
        let Ok(keys) = dns_filter::shards_of_lookup(name, &meta) else { return };
        let node_keys: Vec<String> = keys.iter().map(|k| self.node_key(k)).collect();
        let started = std::time::Instant::now();
        let found = node.get_many(&node_keys);
        self.store_time += started.elapsed();
        if let Ok(mut found) = found {
            for (key, node_key) in keys.into_iter().zip(&node_keys) {
                if let Some(value) = found.remove(node_key) {
                    self.ahead.insert(key, value);
                }
            }
        }
        self.ahead.insert("meta".into(), meta);
    }

    /// Whether the lookup found no stored index (it then builds one: [`store_shards`]).
    pub fn has_no_index(&self) -> bool {
        self.no_index
    }

    fn node_key(&self, key: &str) -> String {
        format!("lookup/v{}/{}/{}/{key}", dns_filter::SHARD_FORMAT_VERSION, self.list_id, self.etag)
    }

    fn remember(&self, key: &str, bytes: &[u8]) {
        if let Some(node) = self.node {
            let _ = node.set(&self.node_key(key), bytes);
        }
    }

    fn read(&mut self, n: u32) -> Option<Vec<u8>> {
        let started = std::time::Instant::now();
        let read = self.lists.get(&lookup_index_key(self.list_id, self.etag, n));
        self.store_time += started.elapsed();
        match read {
            Ok(found) => found,
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// Shard `key`: `None` when there is no such shard (no rule there), or no index.
    pub fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        if self.no_index {
            // Found missing or damaged already: the caller indexes the artifact again.
            return None;
        }
        if let Some(ahead) = self.ahead.get(key) {
            return (!ahead.is_empty()).then(|| ahead.clone());
        }
        let started = std::time::Instant::now();
        let cached = self.node.and_then(|n| n.get(&self.node_key(key)).ok().flatten());
        self.store_time += started.elapsed();
        if key == "meta" {
            let meta = match cached {
                Some(meta) => meta,
                None => {
                    let header = self.read(0);
                    let Some(meta) = header.as_deref().and_then(|h| header_meta(h).ok()).map(<[u8]>::to_vec) else {
                        self.no_index = self.error.is_none();
                        return None;
                    };
                    self.remember(key, &meta);
                    meta
                }
            };
            self.shard_count = shard_count(&meta);
            return Some(meta);
        }
        if let Some(hit) = cached {
            return (!hit.is_empty()).then_some(hit);
        }
        let (chunk, count) = (chunk_of(key)?, self.shard_count?);
        let Some(bytes) = self.read(chunk + 1) else {
            if self.error.is_none() {
                self.error = Some(StoreError::unavailable("the list's lookup index is being replaced; try again"));
            }
            return None;
        };
        let Ok(shards) = unpack_chunk(&bytes) else {
            // Damaged: indexed again, as if there were none.
            self.no_index = true;
            return None;
        };
        // Every shard number of the chunk, an empty value for those without rules.
        let mut found = None;
        for number in chunk_shard_keys(chunk, count) {
            let bytes = shards.iter().find(|s| s.key == number).map_or(&[][..], |s| s.bytes.as_slice());
            self.remember(&number, bytes);
            if number == key && !bytes.is_empty() {
                found = Some(bytes.to_vec());
            }
        }
        found
    }
}
