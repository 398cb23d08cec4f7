//! The host's `blocklist:edge-cache/purge`: components purge the edge cache in front of them
//! (see `edge_cache`) by surrogate key when the data an answer was made from changes.
//!
//! Hosts that share their durable store (`up --kv-url redis://…`) share their purges too
//! ([`Purges::shared`]): a purge on any host reaches the edge cache of every other host through
//! the store's messages (Redis pub/sub, `keyvalue_redis::Store::publish`), within the time a
//! message takes. A purge is published only after the write it is about (components purge
//! after writing), so another host either has no copy yet, or drops the one it has, or was
//! making one, which its cache then refuses (the purge generation, `EdgeCache::insert`).
//! Pub/sub drops what a disconnected host would have received: so a host's edge cache is
//! suspended (empty, neither answering nor keeping anything) from start until its subscription
//! is confirmed, and again from the moment its connection is lost until it is back. Purges a
//! host cannot publish (the server is down) are kept and published once it answers.
//!
//! A host's components keep their own node-local copies of shared records (the `cache` store),
//! which they trust for `NODE_CACHE_REVALIDATE_MS` before reading the shared record again. An
//! answer made in that time after another host's change may come from such a copy; so each
//! purge from another host (and the emptying when purges arrive again) is applied twice: when
//! it arrives, and again once no copy from before the change can still be trusted.

use crate::bindings::blocklist::edge_cache::purge;
use edge_cache::EdgeCache;
use keyvalue_memory::MemoryStore;
use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker};

/// The name of the store's messages that carry purges.
const PURGE_MESSAGES: &str = "edge-purge";

/// The key of a purge of everything (what a publisher sends when it had to give up on
/// keeping the keys it could not publish, one by one).
const EVERYTHING: &str = "*";

/// Purges not yet published past which they are replaced by one purge of everything.
const MAX_PENDING: usize = 10_000;

/// When another host's purge is applied again: once the components' node-local copies from
/// before it have all been read again from the shared store.
const REPEAT_AFTER: Duration = Duration::from_millis(blocklist_model::keys::NODE_CACHE_REVALIDATE_MS + 200);

/// Where a purge goes: this host's edge cache (if it has one) and, when hosts share their
/// store, every other host's.
pub struct Purges {
    cache: Option<Arc<EdgeCache>>,
    /// To the thread that publishes purges to the other hosts.
    publish: Option<mpsc::Sender<String>>,
}

/// Purges that go nowhere: a host without an edge cache, on a store of its own.
pub static NO_PURGES: Purges = Purges { cache: None, publish: None };

impl Purges {
    /// Purges of this host's `cache` only (or of nothing, without one).
    pub fn local(cache: Option<Arc<EdgeCache>>) -> Purges {
        Purges { cache, publish: None }
    }

    /// Purges shared with every host using `store` (the shared durable store): each purge is
    /// also published, and a thread applies the other hosts' purges to `cache`, which stays
    /// suspended whenever they may not be arriving; `node` (the components' node-local `cache`
    /// store) is emptied then too (see the module's documentation).
    pub fn shared(
        cache: Option<Arc<EdgeCache>>,
        node: Arc<MemoryStore>,
        store: Arc<keyvalue_redis::Store>,
    ) -> std::io::Result<Purges> {
        // Who published a purge, so that a host does not apply its own twice.
        let origin = format!("{:016x}", fastrand::u64(..));
        let copies = Arc::new(NodeCopies { edge: cache.clone(), node });
        copies.suspend();
        let (repeat_tx, repeat_rx) = mpsc::channel();
        let repeating = copies.clone();
        std::thread::Builder::new().name("edge-purge-repeat".into()).spawn(move || repeat(&repeating, &repeat_rx))?;
        let (listen_store, listen_origin) = (store.clone(), origin.clone());
        std::thread::Builder::new()
            .name("edge-purge-listen".into())
            .spawn(move || listen(&copies, &listen_store, &listen_origin, &repeat_tx))?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("edge-purge-publish".into()).spawn(move || publish(&rx, &store, &origin))?;
        Ok(Purges { cache, publish: Some(tx) })
    }

    /// Purges `key` here, and (when shared) everywhere else, soon.
    pub fn purge(&self, key: &str) {
        if let Some(cache) = &self.cache {
            let removed = cache.purge(key);
            tracing::debug!(%key, removed, "edge cache purged");
        }
        if let Some(tx) = &self.publish {
            // The publisher runs as long as the process.
            let _ = tx.send(key.to_owned());
        }
    }
}

/// What a host keeps of the shared data: its edge cache's answers and its components'
/// node-local copies.
struct NodeCopies {
    edge: Option<Arc<EdgeCache>>,
    node: Arc<MemoryStore>,
}

impl NodeCopies {
    /// While the other hosts' purges may be missed: nothing kept is trusted.
    fn suspend(&self) {
        if let Some(edge) = &self.edge {
            edge.suspend();
        }
        self.node.clear();
    }

    /// Purges arrive again: from empty caches (what was kept while they did not may be stale).
    fn resume(&self) {
        self.node.clear();
        if let Some(edge) = &self.edge {
            edge.resume();
        }
    }

    /// Purges `key` ([`EVERYTHING`]: every answer) from the edge cache; returns how many
    /// answers went.
    fn purge(&self, key: &str) -> usize {
        match &self.edge {
            None => 0,
            Some(edge) if key == EVERYTHING => edge.purge_all(),
            Some(edge) => edge.purge(key),
        }
    }
}

/// Applies the purges other hosts publish, for as long as the process runs, and sends each to
/// `repeat` to be applied again later.
fn listen(copies: &NodeCopies, store: &keyvalue_redis::Store, origin: &str, repeat: &mpsc::Sender<(Instant, String)>) {
    let mut delay = Duration::from_millis(100);
    let mut was_listening = true;
    loop {
        let mut listening = false;
        let ended = store.listen(
            PURGE_MESSAGES,
            &|| true,
            &mut || {
                // From now on no purge is missed; what was missed before is dropped with the rest.
                copies.resume();
                let _ = repeat.send((Instant::now() + REPEAT_AFTER, EVERYTHING.to_owned()));
                listening = true;
                tracing::info!("edge cache: receiving the other hosts' purges");
            },
            &mut |message| {
                if let Some(key) = apply(copies, origin, message) {
                    let _ = repeat.send((Instant::now() + REPEAT_AFTER, key));
                }
            },
        );
        copies.suspend();
        if listening {
            delay = Duration::from_millis(100);
        }
        if listening || was_listening {
            let error = ended.err().map(|e| e.to_string()).unwrap_or_default();
            tracing::warn!(%error, "edge cache suspended: the other hosts' purges may not arrive; listening again");
        }
        was_listening = listening;
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Applies one purge message (`{origin} {key}`), unless this host sent it; returns the key
/// purged.
fn apply(copies: &NodeCopies, origin: &str, message: &[u8]) -> Option<String> {
    let message = String::from_utf8_lossy(message);
    let (from, key) = message.split_once(' ').unwrap_or(("", EVERYTHING));
    if from == origin {
        return None;
    }
    let removed = copies.purge(key);
    tracing::debug!(%key, removed, "edge cache purged by another host");
    Some(key.to_owned())
}

/// Applies again each purge `rx` receives at the time it names (they arrive in that order).
fn repeat(copies: &NodeCopies, rx: &mpsc::Receiver<(Instant, String)>) {
    let mut due: VecDeque<(Instant, String)> = VecDeque::new();
    loop {
        let next = match due.front() {
            None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some((at, _)) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(item) => due.push_back(item),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) if due.is_empty() => return,
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(Duration::from_millis(50)),
        }
        let now = Instant::now();
        while due.front().is_some_and(|(at, _)| *at <= now) {
            let (_, key) = due.pop_front().expect("a front");
            let removed = copies.purge(&key);
            tracing::debug!(%key, removed, "edge cache purged again");
        }
    }
}

/// Publishes the purges `rx` receives, keeping those the server could not take until it can.
fn publish(rx: &mpsc::Receiver<String>, store: &keyvalue_redis::Store, origin: &str) {
    let mut pending = BTreeSet::new();
    let mut failing = false;
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(key) => pending.insert(key),
                Err(_) => return,
            };
        }
        pending.extend(rx.try_iter());
        if pending.len() > MAX_PENDING {
            pending = BTreeSet::from([EVERYTHING.to_owned()]);
        }
        while let Some(key) = pending.first() {
            match store.publish(PURGE_MESSAGES, format!("{origin} {key}").as_bytes()) {
                Ok(_) => {
                    pending.pop_first();
                    if std::mem::take(&mut failing) {
                        tracing::info!("edge cache purges are reaching the other hosts again");
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(error = %e, "edge cache purges cannot reach the other hosts; trying again");
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
            }
        }
    }
}

/// What host functions see: where purges go.
pub struct PurgeView<'a>(pub &'a Purges);

impl purge::Host for PurgeView<'_> {
    fn purge_surrogate_key(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        self.0.purge(&key);
        Ok(Ok(()))
    }
}

struct HasPurge;

impl HasData for HasPurge {
    type Data<'a> = PurgeView<'a>;
}

/// Adds `blocklist:edge-cache/purge` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> PurgeView<'_>,
) -> wasmtime::Result<()> {
    purge::add_to_linker::<_, HasPurge>(linker, view)
}
