//! Records kept in key-value, their keys, ids and timestamps.
//!
//! Key layout of the `lists` store (durable, shared by every host):
//!
//! | key | value |
//! |---|---|
//! | `user/{user-id}` | [`UserRecord`] |
//! | `token/{sha256-hex}` | [`TokenRecord`] (only the token's hash is kept) |
//! | `user-lists/{user-id}` | JSON array of the user's list ids |
//! | `list/{list-id}` | [`ListRecord`] |
//! | `rules/{list-id}/{revision}/{n}` | chunk `n` of the list's rules text |
//! | `compile-lock/{list-id}` | [`CompileLock`]: the compile dedupe lock |
//! | `job/{job-id}` | [`crate::ledger::JobRecord`]: the compile job ledger |
//! | `jobs-active/{h}` | JSON array of the ids of unfinished jobs whose id's first hex digit is `h` (the sweeper's index) |
//! | `user-dead-jobs/{user-id}` | JSON array of the user's dead job ids (the dead-letter list) |
//! | `sweep/last` | when a sweep last ran (ms, JSON), so that sweeps from the request path are rare |
//! | `compiled/{list-id}` | [`CompiledMeta`] of the current compiled artifact |
//! | `compiled/{list-id}/{etag}/{n}` | chunk `n` of that artifact |
//!
//! The node-local `cache` store holds `compiled/{list-id}` → [`CacheEntry`].
//! The `default` store holds the rate limiter's counters (keys `rl/…`), and only counters.

use serde::{Deserialize, Serialize};

pub const STORE_LISTS: &str = "lists";
pub const STORE_CACHE: &str = "cache";

pub const USER_ID_PREFIX: &str = "u_";
pub const LIST_ID_PREFIX: &str = "l_";
pub const JOB_ID_PREFIX: &str = "j_";
/// Random bytes in an id, as this many lowercase hex digits after the prefix.
pub const ID_HEX_LEN: usize = 24;
/// Every user token starts with this.
pub const TOKEN_PREFIX: &str = "ble_";

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
/// Compiled lists up to this size are kept in the node-local cache (Spin caps a value at 1 MB).
pub const MAX_CACHE_BODY: usize = 900 * 1024;

pub fn user_key(id: &str) -> String {
    format!("user/{id}")
}
pub fn token_key(sha256_hex: &str) -> String {
    format!("token/{sha256_hex}")
}
pub fn user_lists_key(user_id: &str) -> String {
    format!("user-lists/{user_id}")
}
pub fn list_key(id: &str) -> String {
    format!("list/{id}")
}
pub fn rules_prefix(id: &str, revision: u64) -> String {
    format!("rules/{id}/{revision}")
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
pub fn user_dead_jobs_key(user_id: &str) -> String {
    format!("user-dead-jobs/{user_id}")
}
pub const SWEEP_KEY: &str = "sweep/last";
pub fn compiled_key(id: &str) -> String {
    format!("compiled/{id}")
}
pub fn compiled_prefix(id: &str, etag: &str) -> String {
    format!("compiled/{id}/{etag}")
}

/// A fresh random id with `prefix`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(crate::wasi::random::random::get_random_bytes(ID_HEX_LEN as u64 / 2)))
}

/// Whether `raw` is an id of the given prefix.
pub fn is_valid_id(raw: &str, prefix: &str) -> bool {
    raw.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == ID_HEX_LEN && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

pub fn now_ms() -> u64 {
    let now = crate::wasi::clocks::wall_clock::now();
    now.seconds.saturating_mul(1000).saturating_add(u64::from(now.nanoseconds / 1_000_000))
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// `ms` since the Unix epoch as RFC 3339 UTC (civil-from-days, H. Hinnant).
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem / 60 % 60, rem % 60, ms % 1000)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub user_id: String,
    pub sha256: String,
    pub created_at: String,
}

/// Where a list's rules come from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ListSource {
    /// Raw rules text, stored in chunks.
    Rules,
    /// A HostlistCompiler configuration.
    Config { config: serde_json::Value },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListRecord {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub source: ListSource,
    /// Bumped by every update; names the chunks of the current rules.
    pub revision: u64,
    pub rules_bytes: u64,
    pub rules_chunks: u32,
    pub rules_sha256: Option<String>,
    /// Where job events are POSTed, signed with the secret.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    pub created_at: String,
    pub updated_at: String,
}

impl ListRecord {
    /// The list as `GET /v1/lists` shows it.
    pub fn summary(&self) -> serde_json::Value {
        let (kind, config) = match &self.source {
            ListSource::Rules => ("rules", None),
            ListSource::Config { config } => ("config", Some(config)),
        };
        let mut v = serde_json::json!({
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "kind": kind,
            "revision": self.revision,
            "rulesBytes": self.rules_bytes,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        });
        if let Some(c) = config {
            v["config"] = c.clone();
        }
        v
    }

    /// The list as `GET /v1/lists/{id}` shows it, with its rules text.
    pub fn view(&self, rules: Option<&str>) -> serde_json::Value {
        let mut v = self.summary();
        if let Some(w) = &self.webhook {
            v["webhook"] = serde_json::json!({"url": w.url, "secret": w.secret});
        }
        if let Some(r) = rules {
            v["rules"] = serde_json::Value::String(r.to_owned());
        }
        v
    }
}

/// A list's webhook: finished compile jobs are POSTed to `url` as JSON, with an HMAC-SHA256
/// signature of the body by `secret` in the `x-blocklist-edge-signature` header.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    pub url: String,
    pub secret: String,
}

/// The compile dedupe lock of a list: the job that holds it, when it was taken, for which revision.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompileLock {
    pub job_id: String,
    pub at_ms: u64,
    /// The list revision the job compiles: a request for a newer revision is not a duplicate.
    #[serde(default)]
    pub revision: u64,
}

/// The current compiled artifact of a list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompiledMeta {
    /// SHA-256 of the artifact (hex): its version, entity tag and chunk prefix.
    pub etag: String,
    pub length: u64,
    pub chunks: u32,
    pub compiled_at: String,
    /// Rules in the list.
    #[serde(default)]
    pub rules: u32,
    /// The list revision it was compiled from: an older compile never replaces a newer one.
    #[serde(default)]
    pub list_revision: u64,
    /// The job that compiled it.
    #[serde(default)]
    pub job_id: Option<String>,
    /// The artifact this one replaced: its chunks are kept until the next replacement, so that
    /// a download that started before the swap can finish.
    #[serde(default)]
    pub previous: Option<ChunkedArtifact>,
}

/// Where an artifact's chunks are.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkedArtifact {
    pub etag: String,
    pub chunks: u32,
}

/// A compiled list in the node-local cache. Encoded as: a format byte (2), `expires_at_ms`
/// (u64 LE), the owner's length (u8) and the owner's id, the etag's length (u16 LE) and the
/// etag, then the body. The owner lets a cache hit be served without reading the list record.
pub struct CacheEntry {
    pub expires_at_ms: u64,
    pub owner: String,
    pub etag: String,
    pub body: Vec<u8>,
}

const CACHE_ENTRY_FORMAT: u8 = 2;

impl CacheEntry {
    pub fn encode(&self) -> Vec<u8> {
        let owner = &self.owner.as_bytes()[..self.owner.len().min(255)];
        let mut out = Vec::with_capacity(12 + owner.len() + self.etag.len() + self.body.len());
        out.push(CACHE_ENTRY_FORMAT);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        out.push(owner.len() as u8);
        out.extend_from_slice(owner);
        out.extend_from_slice(&(self.etag.len() as u16).to_le_bytes());
        out.extend_from_slice(self.etag.as_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for anything that is not a well-formed entry of this format (then it is treated as
    /// a miss).
    pub fn decode(bytes: &[u8]) -> Option<CacheEntry> {
        let (&format, rest) = bytes.split_first()?;
        if format != CACHE_ENTRY_FORMAT {
            return None;
        }
        let expires_at_ms = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let rest = &rest[8..];
        let (&owner_len, rest) = rest.split_first()?;
        let owner = std::str::from_utf8(rest.get(..usize::from(owner_len))?).ok()?.to_owned();
        let rest = &rest[usize::from(owner_len)..];
        let etag_len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let etag = std::str::from_utf8(rest.get(2..2 + etag_len)?).ok()?.to_owned();
        Some(CacheEntry { expires_at_ms, owner, etag, body: rest[2 + etag_len..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339(1_796_083_199_000), "2026-11-30T23:59:59.000Z");
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_valid_id("l_0123456789abcdef01234567", "l_"));
        assert!(!is_valid_id("../x", "l_"));
        assert!(!is_valid_id("l_0123456789ABCDEF01234567", "l_"));
        assert!(!is_valid_id("u_0123456789abcdef01234567", "l_"));
        assert!(!is_valid_id("l_0123456789abcdef0123456", "l_"));
    }

    #[test]
    fn cache_entry_round_trip() {
        let e = CacheEntry { expires_at_ms: 42, owner: "u_1".into(), etag: "abc".into(), body: b"||x^\n".to_vec() };
        let d = CacheEntry::decode(&e.encode()).unwrap();
        assert_eq!(
            (d.expires_at_ms, d.owner.as_str(), d.etag.as_str(), &d.body[..]),
            (42, "u_1", "abc", &b"||x^\n"[..])
        );
        assert!(CacheEntry::decode(b"short").is_none());
        let mut old_format = e.encode();
        old_format[0] = 1;
        assert!(CacheEntry::decode(&old_format).is_none(), "another format is a miss");
        for cut in 0..e.encode().len() - 5 {
            // Truncated entries (of the header) are misses, never a panic.
            let _ = CacheEntry::decode(&e.encode()[..cut]);
        }
    }
}
