//! The cache itself: the stored answers by URL in least-recently-used order within a memory
//! bound, their surrogate-key index, the purge generation and the counters.
//!
//! The LRU order is `hashlink`'s `LruCache`: on a hit or an insert it is as fast as the `lru`
//! crate's (within the noise of a measurement on 10,000 URLs), and the time of a hit is the
//! lookup of the answer's variants, not the LRU (`examples/lru_timing.rs`).

use crate::Stored;
use hashlink::LruCache;
use http::HeaderMap;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Variants one URL may have (one per combination of the `Vary`-selected request headers);
/// past it the oldest goes.
const MAX_VARIANTS: usize = 8;

/// What one URL has in the cache: its variants, newest last.
struct Resource {
    variants: Vec<Arc<Stored>>,
    cost: usize,
}

impl Resource {
    fn surrogate_keys(&self) -> HashSet<&str> {
        self.variants.iter().flat_map(|v| v.surrogate_keys.iter().map(String::as_str)).collect()
    }
}

/// What the cache's lock guards.
pub(crate) struct State {
    /// URL → its answers, least recently used first; bounded by bytes, not by count, so the
    /// cache evicts itself ([`EdgeCache::insert`]).
    resources: LruCache<String, Resource>,
    bytes: usize,
    /// Surrogate key → the URLs (resource keys) with an answer tagged with it.
    pub(crate) by_surrogate_key: HashMap<String, HashSet<String>>,
    /// While set, the cache neither answers nor keeps anything ([`EdgeCache::suspend`]).
    suspended: bool,
}

impl Default for State {
    fn default() -> Self {
        State { resources: LruCache::new_unbounded(), bytes: 0, by_surrogate_key: HashMap::new(), suspended: false }
    }
}

impl State {
    /// Removes the resource at `key` and its tags; returns its variants' count.
    fn remove(&mut self, key: &str) -> usize {
        let Some(resource) = self.resources.remove(key) else { return 0 };
        self.untag(key, &resource);
        self.bytes -= resource.cost;
        resource.variants.len()
    }

    /// Removes every resource; returns their variants' count.
    fn clear(&mut self) -> usize {
        let count = self.resources.iter().map(|(_, r)| r.variants.len()).sum();
        self.resources.clear();
        self.by_surrogate_key.clear();
        self.bytes = 0;
        count
    }

    fn untag(&mut self, key: &str, resource: &Resource) {
        for tag in resource.surrogate_keys() {
            if let Some(keys) = self.by_surrogate_key.get_mut(tag) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_surrogate_key.remove(tag);
                }
            }
        }
    }
}

/// Counts since the start, and the cache's size now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests the cache had no fresh copy for, whose answer it could keep
    /// ([`EdgeCache::count_miss`]).
    pub misses: u64,
    /// Requests the cache had no copy for, whose answer it could not keep (not cacheable, or
    /// too large: [`EdgeCache::count_pass`]).
    pub passes: u64,
    /// Answers stored.
    pub stores: u64,
    /// Answers removed to make room.
    pub evictions: u64,
    /// Purges (calls of [`EdgeCache::purge`]).
    pub purges: u64,
    /// Answers removed by purges.
    pub purged: u64,
    /// Answers not stored because a purge ran while they were made.
    pub discarded: u64,
    /// Answers stored now (variants counted).
    pub entries: u64,
    /// Memory they take, as accounted.
    pub bytes: u64,
    /// The bound on it.
    pub max_bytes: u64,
    /// Whether the cache is suspended ([`EdgeCache::suspend`]).
    pub suspended: bool,
}

/// The cache: bounded, shared by every request of the host.
pub struct EdgeCache {
    state: Mutex<State>,
    max_bytes: usize,
    max_entry_bytes: usize,
    /// Purges so far; changed only under the state's lock.
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    passes: AtomicU64,
    stores: AtomicU64,
    evictions: AtomicU64,
    purges: AtomicU64,
    purged: AtomicU64,
    discarded: AtomicU64,
}

impl EdgeCache {
    /// A cache that keeps at most `max_bytes` of answers (headers, bodies and keys counted);
    /// one answer may take an eighth of it.
    pub fn new(max_bytes: usize) -> EdgeCache {
        EdgeCache {
            state: Mutex::default(),
            max_bytes,
            max_entry_bytes: max_bytes / 8,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            passes: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            purges: AtomicU64::new(0),
            purged: AtomicU64::new(0),
            discarded: AtomicU64::new(0),
        }
    }

    /// The largest body stored; a larger answer goes to the client from the component.
    pub fn max_entry_bytes(&self) -> usize {
        self.max_entry_bytes
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is completed
        // before anything that could panic); the cache goes on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fresh copy that answers a request with `request` headers for `key`, if there is one
    /// (counted as a hit). Without one, the caller counts a miss or a pass once it has the
    /// component's answer.
    pub fn lookup(&self, key: &str, request: &HeaderMap, now: Instant) -> Option<Arc<Stored>> {
        let found = {
            let mut state = self.state();
            if state.suspended {
                return None;
            }
            let found = state
                .resources
                .get(key)
                .and_then(|resource| resource.variants.iter().find(|v| v.selected_by(request)).cloned());
            match found {
                Some(v) if !v.is_fresh(now) => {
                    state.remove(key);
                    None
                }
                other => other,
            }
        };
        if found.is_some() {
            self.hits.fetch_add(1, Relaxed);
        }
        found
    }

    /// Counts a request without a copy whose answer could be kept.
    pub fn count_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }

    /// Counts a request without a copy whose answer could not be kept.
    pub fn count_pass(&self) {
        self.passes.fetch_add(1, Relaxed);
    }

    /// The purge generation: take it before asking the component for an answer, and give it
    /// to [`EdgeCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// Stores `stored` as the answer for `key`, unless a purge ran since `generation`, or it is
    /// larger than [`EdgeCache::max_entry_bytes`]. Returns whether it was stored.
    pub fn insert(&self, key: &str, generation: u64, stored: Arc<Stored>) -> bool {
        if stored.body.len() > self.max_entry_bytes {
            return false;
        }
        let mut state = self.state();
        if self.generation.load(Relaxed) != generation || state.suspended {
            self.discarded.fetch_add(1, Relaxed);
            return false;
        }
        let mut resource = match state.resources.remove(key) {
            Some(r) => {
                state.untag(key, &r);
                state.bytes -= r.cost;
                r
            }
            None => Resource { variants: Vec::new(), cost: 0 },
        };
        // Another `Vary` makes the old variants meaningless; the same variant is replaced.
        resource.variants.retain(|v| v.vary == stored.vary && v.variant != stored.variant);
        if resource.variants.len() >= MAX_VARIANTS {
            resource.variants.remove(0);
        }
        resource.variants.push(stored);
        resource.cost = resource.variants.iter().map(|v| v.cost(key)).sum();
        for tag in resource.surrogate_keys() {
            state.by_surrogate_key.entry(tag.to_owned()).or_default().insert(key.to_owned());
        }
        state.bytes += resource.cost;
        state.resources.insert(key.to_owned(), resource);
        self.stores.fetch_add(1, Relaxed);
        while state.bytes > self.max_bytes {
            let Some((old_key, old)) = state.resources.remove_lru() else { break };
            state.untag(&old_key, &old);
            state.bytes -= old.cost;
            self.evictions.fetch_add(old.variants.len() as u64, Relaxed);
        }
        true
    }

    /// Removes every answer tagged with surrogate key `tag`; answers being made meanwhile are
    /// not stored ([`EdgeCache::insert`]). Returns how many were removed.
    pub fn purge(&self, tag: &str) -> usize {
        let mut state = self.state();
        self.generation.fetch_add(1, Relaxed);
        let keys: Vec<String> =
            state.by_surrogate_key.get(tag).map(|k| k.iter().cloned().collect()).unwrap_or_default();
        let removed: usize = keys.iter().map(|k| state.remove(k)).sum();
        drop(state);
        self.purges.fetch_add(1, Relaxed);
        self.purged.fetch_add(removed as u64, Relaxed);
        removed
    }

    /// Removes every answer, as if every surrogate key were purged; answers being made
    /// meanwhile are not stored. Returns how many were removed.
    pub fn purge_all(&self) -> usize {
        let mut state = self.state();
        self.generation.fetch_add(1, Relaxed);
        let removed = state.clear();
        drop(state);
        self.purges.fetch_add(1, Relaxed);
        self.purged.fetch_add(removed as u64, Relaxed);
        removed
    }

    /// Empties the cache and stops it answering or keeping anything until
    /// [`EdgeCache::resume`]: for a host that may be missing purges (it lost its connection to
    /// the other hosts' purges), and so cannot tell whether a copy is still exact.
    pub fn suspend(&self) {
        let mut state = self.state();
        self.generation.fetch_add(1, Relaxed);
        state.clear();
        state.suspended = true;
    }

    /// Starts answering and keeping again after [`EdgeCache::suspend`], empty: whatever was
    /// being made while suspended is not stored. Call it once purges reach the cache again.
    pub fn resume(&self) {
        let mut state = self.state();
        self.generation.fetch_add(1, Relaxed);
        state.clear();
        state.suspended = false;
    }

    /// Whether the cache is suspended ([`EdgeCache::suspend`]).
    pub fn is_suspended(&self) -> bool {
        self.state().suspended
    }

    /// Counts and size.
    pub fn stats(&self) -> Stats {
        let (entries, bytes, suspended) = {
            let state = self.state();
            (state.resources.iter().map(|(_, r)| r.variants.len() as u64).sum(), state.bytes as u64, state.suspended)
        };
        Stats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            passes: self.passes.load(Relaxed),
            stores: self.stores.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            purges: self.purges.load(Relaxed),
            purged: self.purged.load(Relaxed),
            discarded: self.discarded.load(Relaxed),
            entries,
            bytes,
            max_bytes: self.max_bytes as u64,
            suspended,
        }
    }
}
