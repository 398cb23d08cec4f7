//! Where each record lives: the stores, the key layout, ids and limits.
//!
//! Key layout of the `lists` store (durable, shared by every host):
//!
//! | key | value |
//! |---|---|
//! | `user/{user-id}` | [`crate::records::UserRecord`] |
//! | `token/{sha256-hex}` | [`crate::records::TokenRecord`] (only the token's hash is kept) |
//! | `user-tokens/{user-id}` | JSON array of the SHA-256 hashes of the user's tokens |
//! | `user-lists/{user-id}` | JSON array of the user's list ids |
//! | `list/{list-id}` | [`crate::records::ListRecord`] |
//! | `rules/{list-id}/n{nonce}/{n}` | chunk `n` of one write of the list's rules text (the record names the current and the previous; before nonces: `rules/{list-id}/{revision}/{n}`) |
//! | `compile-lock/{list-id}` | [`crate::records::CompileLock`]: the compile dedupe lock |
//! | `job/{job-id}` | [`crate::ledger::JobRecord`]: the compile job ledger |
//! | `jobs-active/{h}` | JSON array of the ids of unfinished jobs whose id's first hex digit is `h` (the sweeper's index) |
//! | `user-dead-jobs/{user-id}` | JSON array of the user's dead job ids (the dead-letter list) |
//! | `sweep/last` | when a sweep last ran (ms, JSON), so that sweeps from the request path are rare |
//! | `runner/secret` | the random bearer secret of the compile consumer's runner route (`job_runner = http`), made by the gateway on first use |
//! | `list-jobs/{list-id}` | JSON array of the list's finished job ids, oldest first (retention keeps the newest) |
//! | `retention/state`, `retention/counters-cursor` | where the retention collector's walks are, and the keys it found unreferenced |
//! | `compiled/{list-id}` | [`crate::records::CompiledMeta`] of the current compiled artifact |
//! | `compiled/{list-id}/{etag}/{n}` | chunk `n` of that artifact |
//! | `lookup/{list-id}/{etag}/{n}` | the artifact's lookup index (crate `dns-filter`, packed): `0` the pack's index, from `1` its chunks |
//! | `subscription/{subscription-id}` | [`crate::records::SubscriptionRecord`] |
//! | `sub-token/{sha256-hex}` | [`crate::records::SubscriptionToken`]: what a subscription token opens (only its hash is kept) |
//! | `list-subscriptions/{list-id}` | JSON array of the list's subscription ids |
//! | `rendition/{list-id}/{format}` | [`crate::records::RenditionMeta`]: the current artifact in one subscription format |
//! | `rendition/{list-id}/{format}/{build}/{n}`, `…/{build}.gz/{n}` | chunk `n` of that rendition, as is and gzip-compressed |
//!
//! The node-local `cache` store holds `compiled/{list-id}` → [`crate::records::CacheEntry`],
//! `sub-token/{sha256-hex}` → [`crate::records::SubscriptionToken`] and `rendition/{list-id}/{format}` → a
//! rendition with its bodies when small (see the gateway's `subscriptions` module), and
//! `lookup/v{format}/{list-id}/{etag}/{shard}` → a shard of a lookup index (empty: none there).
//! The `default` store holds the rate limiter's counters (keys `rl/…`), and only counters.

/// The durable store shared by every host: users, lists, jobs, artifacts, subscriptions.
pub const STORE_LISTS: &str = "lists";
/// The node-local store: what a node caches of the shared data.
pub const STORE_CACHE: &str = "cache";
/// How long a node trusts what it cached of the shared data (in [`STORE_CACHE`]) before it
/// reads the shared record again: the longest a change made on another node stays unseen on
/// this one, where several nodes share one store.
pub const NODE_CACHE_REVALIDATE_MS: u64 = 1_000;
/// The rate limiter's counters (the `ratelimit` component's store).
pub const STORE_RATE_LIMIT: &str = "default";

/// Every user id starts with this.
pub const USER_ID_PREFIX: &str = "u_";
/// Every list id starts with this.
pub const LIST_ID_PREFIX: &str = "l_";
/// Every job id starts with this.
pub const JOB_ID_PREFIX: &str = "j_";
/// Random bytes in an id, as this many lowercase hex digits after the prefix.
pub const ID_HEX_LEN: usize = 24;
/// Every user token starts with this.
pub const TOKEN_PREFIX: &str = "ble_";
/// The prefix of a token's public id (see [`token_id`]).
pub const TOKEN_ID_PREFIX: &str = "t_";
/// The most tokens a user may hold at once.
pub const MAX_TOKENS_PER_USER: usize = 100;
/// Every subscription id starts with this.
pub const SUBSCRIPTION_ID_PREFIX: &str = "s_";
/// Every subscription token starts with this (then 64 lowercase hex digits).
pub const SUBSCRIPTION_TOKEN_PREFIX: &str = "bls_";
/// Subscriptions one list may have.
pub const MAX_SUBSCRIPTIONS_PER_LIST: usize = 100;

/// Longest name (of a user, a list, a subscription), in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest list description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Compiled lists up to this size are kept in the node-local cache (Spin caps a value at 1 MB).
pub const MAX_CACHE_BODY: usize = 900 * 1024;

pub fn user_key(id: &str) -> String {
    format!("user/{id}")
}
pub fn token_key(sha256_hex: &str) -> String {
    format!("token/{sha256_hex}")
}
/// A token's public id: `t_` and the first [`ID_HEX_LEN`] hex digits of its SHA-256 (the
/// token itself is never stored, and its id does not reveal it).
pub fn token_id(sha256_hex: &str) -> String {
    format!("{TOKEN_ID_PREFIX}{}", &sha256_hex[..ID_HEX_LEN.min(sha256_hex.len())])
}
pub fn user_tokens_key(user_id: &str) -> String {
    format!("user-tokens/{user_id}")
}
pub fn user_lists_key(user_id: &str) -> String {
    format!("user-lists/{user_id}")
}
pub fn list_key(id: &str) -> String {
    format!("list/{id}")
}
/// Where revision `revision` of a list's rules text was stored before rules were stored under a
/// nonce (records without `rulesAt`).
pub fn rules_prefix(id: &str, revision: u64) -> String {
    format!("rules/{id}/{revision}")
}
/// Where one write of a list's rules text is stored: a prefix no other write uses (`nonce`:
/// random hex), so that concurrent writers never write over each other's chunks.
pub fn rules_nonce_prefix(id: &str, nonce: &str) -> String {
    format!("rules/{id}/n{nonce}")
}
pub fn compile_lock_key(id: &str) -> String {
    format!("compile-lock/{id}")
}
pub fn job_key(id: &str) -> String {
    format!("job/{id}")
}
pub fn active_jobs_key(shard: char) -> String {
    format!("jobs-active/{shard}")
}
/// The `jobs-active/{h}` shard of a job id.
pub fn active_jobs_shard(job_id: &str) -> char {
    job_id.strip_prefix(JOB_ID_PREFIX).and_then(|h| h.chars().next()).unwrap_or('0')
}
/// Every `jobs-active/{h}` shard.
pub const ACTIVE_JOBS_SHARDS: [char; 16] =
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'];
/// The index of a list's finished jobs (see [`crate::retention`]).
pub fn list_jobs_key(list_id: &str) -> String {
    format!("list-jobs/{list_id}")
}
pub fn user_dead_jobs_key(user_id: &str) -> String {
    format!("user-dead-jobs/{user_id}")
}
pub const SWEEP_KEY: &str = "sweep/last";
/// The secret the gateway sends to the compile consumer's runner route (`job_runner = http`).
pub const RUNNER_SECRET_KEY: &str = "runner/secret";
pub fn compiled_key(id: &str) -> String {
    format!("compiled/{id}")
}
pub fn compiled_prefix(id: &str, etag: &str) -> String {
    format!("compiled/{id}/{etag}")
}
/// Piece `n` of the lookup index of artifact `etag` of list `id` (`0`: the pack's index; from
/// `1`: its chunks). Collected with the artifact's own chunks.
pub fn lookup_index_key(id: &str, etag: &str, n: u32) -> String {
    format!("lookup/{id}/{etag}/{n}")
}

pub fn subscription_key(id: &str) -> String {
    format!("subscription/{id}")
}
pub fn subscription_token_key(sha256_hex: &str) -> String {
    format!("sub-token/{sha256_hex}")
}
pub fn list_subscriptions_key(list_id: &str) -> String {
    format!("list-subscriptions/{list_id}")
}
/// The key of a list's current rendition in `format` (a [`list_formats::Format`] name).
pub fn rendition_key(list_id: &str, format: &str) -> String {
    format!("rendition/{list_id}/{format}")
}
/// The chunk prefix of a rendition's body (made by `build`, see [`RenditionMeta::build`]);
/// `gzip` for its gzip-compressed copy.
pub fn rendition_prefix(list_id: &str, format: &str, build: &str, gzip: bool) -> String {
    format!("rendition/{list_id}/{format}/{build}{}", if gzip { ".gz" } else { "" })
}

/// Whether `raw` is an id of the given prefix.
pub fn is_valid_id(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == ID_HEX_LEN && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(is_valid_id("l_0123456789abcdef01234567", "l_"));
        assert!(!is_valid_id("../x", "l_"));
        assert!(!is_valid_id("l_0123456789ABCDEF01234567", "l_"));
        assert!(!is_valid_id("u_0123456789abcdef01234567", "l_"));
        assert!(!is_valid_id("l_0123456789abcdef0123456", "l_"));
    }
}
