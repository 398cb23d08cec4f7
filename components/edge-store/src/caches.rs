//! What a node keeps of the shared data, and how it is forgotten when the data changes.
//!
//! Two caches sit on a node: the node-local `cache` store (compiled lists, subscription
//! renditions' records, subscription tokens; read through by the gateway) and, on the
//! blocklist-edge host, the edge cache in front of the components, which answers subscription
//! fetches without running them (`blocklist:edge-cache/purge`; under Spin a no-op). Answers in
//! the edge cache are tagged with surrogate keys ([`list_tag`], [`subscription_tag`]).
//!
//! Forget *after* writing the change: a request that starts once the purge has returned reads
//! the new data, and the host does not store answers that were being made while it ran. A
//! request that was already reading the old data fills the node-local cache through [`fill`],
//! which takes its entry back out if the data changed meanwhile.

use crate::blocklist::edge_cache::purge::purge_surrogate_key;
use crate::kv::Kv;
use crate::model::{STORE_CACHE, compiled_key, subscription_token_key};

/// How long a node trusts what it cached of the shared data before it reads the shared record
/// again: the longest a change made on another node (a compile, a rotated or revoked
/// subscription token) stays unseen on this one, where several nodes share one store (Spin
/// instances on Redis). This node's own changes are forgotten at once ([`forget_list`],
/// [`forget_subscription`]).
pub const REVALIDATE_MS: u64 = blocklist_model::keys::NODE_CACHE_REVALIDATE_MS;

/// The surrogate key of every edge-cached answer made from list `list_id`.
pub fn list_tag(list_id: &str) -> String {
    format!("list/{list_id}")
}

/// The surrogate key of every edge-cached answer of subscription `subscription_id`.
pub fn subscription_tag(subscription_id: &str) -> String {
    format!("sub/{subscription_id}")
}

/// Purges the edge cache of `tag` (best effort: a failure is logged; the node-local entries
/// expire with their TTL and the edge cache's with their `max-age`).
fn purge(tag: &str) {
    if let Err(e) = purge_surrogate_key(tag) {
        eprintln!("purging the edge cache of {tag}: {e}");
    }
}

/// Fills this node's cache: `value` at `key`, then `still_current` reads again the shared
/// record the value was made from, and if that changed meanwhile (or cannot be read), the
/// entry is removed. Writers change the shared record before they forget this node's entries
/// ([`forget_list`], [`forget_subscription`]), so a fill that raced a change is removed either
/// by the writer's forget (which came after the write) or by this check (which saw the
/// change): it never outlives the change. Best effort, as every cache write: the cache is an
/// optimisation.
pub fn fill(cache: &Kv, key: &str, value: &[u8], still_current: impl FnOnce() -> bool) {
    if cache.set(key, value).is_ok() && !still_current() {
        let _ = cache.delete(key);
    }
}

/// This node forgets list `list_id`: its compiled list and renditions in the node-local cache,
/// and every edge-cached answer made from it (its compiled list was replaced, its name changed,
/// it was deleted). Other nodes see the change within [`REVALIDATE_MS`].
pub fn forget_list(list_id: &str) {
    if let Ok(cache) = Kv::open(STORE_CACHE) {
        let _ = cache.delete(&compiled_key(list_id));
        for key in crate::renditions::keys(list_id) {
            let _ = cache.delete(&key);
        }
    }
    purge(&list_tag(list_id));
}

/// This node forgets subscription `subscription_id`, whose token hashes to `token_sha256`
/// (revoked or rotated): its cached token, and every edge-cached answer of it.
pub fn forget_subscription(subscription_id: &str, token_sha256: &str) {
    if let Ok(cache) = Kv::open(STORE_CACHE) {
        let _ = cache.delete(&subscription_token_key(token_sha256));
    }
    purge(&subscription_tag(subscription_id));
}
