//! The records kept in key-value (see [`crate::keys`] for where each lives), as JSON with
//! camelCase fields; the node-local cache's entries in a small binary format.

use serde::{Deserialize, Serialize};

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
    /// Whether the token is in its user's token index ([`crate::keys::user_tokens_key`]).
    /// Tokens issued before the index existed are added to it when they are next used.
    #[serde(default)]
    pub indexed: bool,
}

impl TokenRecord {
    /// The token's public id ([`crate::keys::token_id`]).
    pub fn id(&self) -> String {
        crate::keys::token_id(&self.sha256)
    }
}

/// Transformations applied to a list given as rules text (a configuration list names its own).
pub const RULES_TRANSFORMATIONS: &[&str] = &["TrimLines", "RemoveEmptyLines", "Deduplicate", "InsertFinalNewLine"];

/// The location a rules list's text is given to the compiler under.
pub const RULES_LOCATION: &str = "rules.txt";

/// The configuration a list of rules named `name` is compiled with: its text as one adblock
/// source at [`RULES_LOCATION`], with [`RULES_TRANSFORMATIONS`].
pub fn rules_list_config(name: &str) -> serde_json::Value {
    serde_json::json!({
        "name": name,
        "sources": [{"name": name, "source": RULES_LOCATION, "type": "adblock"}],
        "transformations": RULES_TRANSFORMATIONS,
    })
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
    /// The chunk prefix of the current rules text ([`crate::keys::rules_nonce_prefix`]); absent
    /// in records written before rules were stored under a nonce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_at: Option<String>,
    /// The rules the last update replaced, kept until the next update so that a read that
    /// began before it can finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_rules: Option<RulesChunks>,
    /// Where job events are POSTed, signed with the secret.
    #[serde(default)]
    pub webhook: Option<Webhook>,
    pub created_at: String,
    pub updated_at: String,
    /// Set when a delete began: the list is gone for every reader and writer, and what is left
    /// of it is removed by the delete (or, if that was interrupted, by the next listing of its
    /// owner's lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// Compiled again every this many seconds (lists with a configuration, whose sources are
    /// URLs), see [`crate::schedule`]; `None`: only when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval_secs: Option<u64>,
    /// The list's own publish guard ([`crate::publish::Guard`]); `None`: the configured default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_guard: Option<crate::publish::Guard>,
}

/// Where a list's rules text is stored: its chunks `{prefix}/0` … `{prefix}/{chunks - 1}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RulesChunks {
    pub prefix: String,
    pub chunks: u32,
}

impl ListRecord {
    /// Where the current rules text is, for a list of rules; `None` for a configuration list.
    pub fn rules_chunks(&self) -> Option<RulesChunks> {
        matches!(self.source, ListSource::Rules).then(|| RulesChunks {
            prefix: self.rules_at.clone().unwrap_or_else(|| crate::keys::rules_prefix(&self.id, self.revision)),
            chunks: self.rules_chunks,
        })
    }

    /// The `! Expires:` its subscription files announce, in hours: its refresh interval rounded
    /// up, or `default_hours` without a schedule (uBlock Origin and AdGuard's apps re-fetch by it).
    pub fn expires_hours(&self, default_hours: u32) -> u32 {
        crate::schedule::expires_hours(self.refresh_interval_secs, default_hours)
    }

    /// The list's entity tag for `If-Match` (changes with every update).
    pub fn etag(&self) -> String {
        format!("\"r{}\"", self.revision)
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

/// The value of a list's `compile-lock/{id}` while no compile holds it. The key exists from the
/// list's creation so that taking the lock is always a compare-and-swap on a present key
/// (Spin 4.0.2's SQLite store swaps an absent key unconditionally).
pub const NO_COMPILE_LOCK: &[u8] = b"{}";

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
    /// SHA-256 (hex) of the artifact without its `! Last modified:` line: equal for two compiles
    /// that produced the same list, so that an unchanged list keeps its artifact (and with it
    /// its entity tag and `Last-Modified`).
    #[serde(default)]
    pub content_sha256: Option<String>,
    /// When the content last changed (ms since the epoch): the `Last-Modified` of the list.
    #[serde(default)]
    pub modified_at_ms: u64,
    /// The artifact's version: greater for every new artifact of the list (seconds since the
    /// epoch when it was made, or one more than the previous version if that is not greater).
    /// Subscriptions show it as `Version`, and RPZ zones use it as their SOA serial.
    #[serde(default)]
    pub version: u64,
    /// The published versions, newest first: the first is this artifact (empty for artifacts
    /// published before versions were kept). See [`crate::publish`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<crate::publish::PublishedVersion>,
    /// A compile the publish guard held back, until its owner publishes or discards it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<crate::publish::HeldCandidate>,
    /// What this artifact was compiled from ([`crate::publish::inputs_sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_sha256: Option<String>,
}

impl CompiledMeta {
    /// Every artifact this record keeps chunks of: the current, the previous (for downloads
    /// under way), the kept versions and the held candidate; each etag once.
    pub fn artifact_chunks(&self) -> Vec<ChunkedArtifact> {
        let mut all = vec![ChunkedArtifact { etag: self.etag.clone(), chunks: self.chunks }];
        all.extend(self.previous.clone());
        all.extend(
            self.versions
                .iter()
                .map(|v| &v.artifact)
                .chain(self.held.as_ref().and_then(|h| h.artifact.as_ref()))
                .map(|a| ChunkedArtifact { etag: a.etag.clone(), chunks: a.chunks }),
        );
        let mut seen = std::collections::HashSet::new();
        all.retain(|a| seen.insert(a.etag.clone()));
        all
    }

    /// Whether this record keeps chunks under `etag`.
    pub fn keeps(&self, etag: &str) -> bool {
        self.artifact_chunks().iter().any(|a| a.etag == etag)
    }

    /// The version that follows `previous`'s, made at `now_ms`: seconds since the epoch, kept
    /// increasing (a clock that went back still gives a greater version) and within an RPZ
    /// serial's 32 bits until 2106.
    pub fn next_version(previous: Option<&CompiledMeta>, now_ms: u64) -> u64 {
        let secs = now_ms / 1000;
        match previous {
            Some(p) if p.version >= secs => p.version + 1,
            _ => secs,
        }
    }
}

/// SHA-256 (hex) of a compiled list's content: its text without the `! Last modified:` header
/// line, the one line that differs between two compiles of the same rules.
pub fn content_sha256(text: &[u8]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut skipped = false;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if !skipped && line.starts_with(b"! Last modified:") {
            skipped = true;
            continue;
        }
        hasher.update(line);
    }
    hex::encode(hasher.finalize())
}

/// A subscription to a list: a URL a resolver or ad blocker fetches the list from, in one
/// format, authorised by a secret token of its own (only the token's hash is kept).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRecord {
    pub id: String,
    pub list_id: String,
    pub owner: String,
    pub name: String,
    /// A [`list_formats::Format`] name.
    pub format: String,
    pub token_sha256: String,
    pub created_at: String,
    /// When the token was last replaced (`POST …/rotate`).
    #[serde(default)]
    pub rotated_at: Option<String>,
    /// Whether the token also answers lookups (`GET /s/{token}/lookup/{name}`): the list
    /// owner's choice when creating the subscription.
    #[serde(default)]
    pub lookup: bool,
}

/// What a subscription token opens: enough to serve a fetch without reading the subscription.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionToken {
    pub subscription_id: String,
    pub list_id: String,
    pub owner: String,
    pub format: String,
    /// Whether the token answers lookups ([`SubscriptionRecord::lookup`]).
    #[serde(default)]
    pub lookup: bool,
}

/// What a rendition says about the rules of the compiled list: how many it wrote, and which it
/// could not express (see [`list_formats::Stats`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RenditionStats {
    /// Rules in the compiled list.
    pub rules: u64,
    /// Lines of rules in the rendition.
    pub entries: u64,
    /// Rules the format cannot express, left out.
    pub omitted: u64,
    /// The first of them, verbatim.
    pub omitted_sample: Vec<String>,
    /// Rules written with a narrower reach (subdomains no longer covered).
    pub narrowed: u64,
    /// Rules written with a wider reach (subdomains covered too).
    pub widened: u64,
    /// Rules whose effect needs no line (disabled by `$badfilter`, cancelled by an exception,
    /// duplicates, or not the format's subject).
    pub unneeded: u64,
}

/// A list's compiled artifact in one subscription format, stored in chunks as is and
/// gzip-compressed (compressed once, not per request).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenditionMeta {
    /// What it was made from: the artifact's etag, the title and the expiry it carries.
    pub artifact_etag: String,
    pub title: String,
    pub expires_hours: u32,
    /// SHA-256 (hex) of the body: its entity tag and chunk prefix.
    pub etag: String,
    /// Names the chunks: a digest of what the rendition was made from, so that two nodes
    /// making the same rendition at once write the same bytes under the same keys.
    pub build: String,
    pub length: u64,
    pub chunks: u32,
    pub gzip_length: u64,
    pub gzip_chunks: u32,
    /// When these bytes first appeared (ms since the epoch): `Last-Modified`.
    pub last_modified_ms: u64,
    /// The artifact's version.
    pub version: u64,
    pub stats: RenditionStats,
    /// The rendition this one replaced, kept until the next replacement so that a download
    /// that started before the swap can finish.
    #[serde(default)]
    pub previous: Option<RenditionChunks>,
}

impl RenditionMeta {
    /// Where this rendition's chunks are.
    pub fn chunks(&self) -> RenditionChunks {
        RenditionChunks { build: self.build.clone(), chunks: self.chunks, gzip_chunks: self.gzip_chunks }
    }
}

/// Where a rendition's chunks are: `rendition/{list}/{format}/{build}` and `….gz`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RenditionChunks {
    pub build: String,
    pub chunks: u32,
    pub gzip_chunks: u32,
}

/// Where an artifact's chunks are.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ChunkedArtifact {
    pub etag: String,
    pub chunks: u32,
}

/// A compiled list in the node-local cache. Encoded as: a format byte (3), `expires_at_ms`
/// (u64 LE), `last_modified_ms` (u64 LE), the owner's length (u8) and the owner's id, the etag's length (u16 LE) and the
/// etag, then the body. The owner lets a cache hit be served without reading the list record.
pub struct CacheEntry {
    pub expires_at_ms: u64,
    /// When the content last changed ([`CompiledMeta::modified_at_ms`]).
    pub last_modified_ms: u64,
    pub owner: String,
    pub etag: String,
    pub body: Vec<u8>,
}

const CACHE_ENTRY_FORMAT: u8 = 3;

impl CacheEntry {
    pub fn encode(&self) -> Vec<u8> {
        let owner = &self.owner.as_bytes()[..self.owner.len().min(255)];
        let mut out = Vec::with_capacity(20 + owner.len() + self.etag.len() + self.body.len());
        out.push(CACHE_ENTRY_FORMAT);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        out.extend_from_slice(&self.last_modified_ms.to_le_bytes());
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
        let last_modified_ms = u64::from_le_bytes(rest.get(8..16)?.try_into().ok()?);
        let rest = &rest[16..];
        let (&owner_len, rest) = rest.split_first()?;
        let owner = std::str::from_utf8(rest.get(..usize::from(owner_len))?).ok()?.to_owned();
        let rest = &rest[usize::from(owner_len)..];
        let etag_len = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let etag = std::str::from_utf8(rest.get(2..2 + etag_len)?).ok()?.to_owned();
        Some(CacheEntry { expires_at_ms, last_modified_ms, owner, etag, body: rest[2 + etag_len..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_only_the_last_modified_line() {
        let a = b"! Title: x\n! Last modified: 2026-01-01T00:00:00.000Z\n||a^\n";
        let b = b"! Title: x\n! Last modified: 2026-12-01T10:00:00.000Z\n||a^\n";
        let c = b"! Title: x\n! Last modified: 2026-12-01T10:00:00.000Z\n||b^\n";
        assert_eq!(content_sha256(a), content_sha256(b));
        assert_ne!(content_sha256(b), content_sha256(c));
        assert_ne!(content_sha256(b"||a^\n"), content_sha256(b"||a^"));
    }

    #[test]
    fn versions_increase() {
        let at = |version| CompiledMeta {
            etag: String::new(),
            length: 0,
            chunks: 0,
            compiled_at: String::new(),
            rules: 0,
            list_revision: 0,
            job_id: None,
            previous: None,
            content_sha256: None,
            modified_at_ms: 0,
            version,
            versions: Vec::new(),
            held: None,
            inputs_sha256: None,
        };
        assert_eq!(CompiledMeta::next_version(None, 1_700_000_000_123), 1_700_000_000);
        assert_eq!(CompiledMeta::next_version(Some(&at(5)), 1_700_000_000_123), 1_700_000_000);
        // Two versions in one second, or a clock that went back: still greater.
        assert_eq!(CompiledMeta::next_version(Some(&at(1_700_000_000)), 1_700_000_000_999), 1_700_000_001);
        assert_eq!(CompiledMeta::next_version(Some(&at(1_800_000_000)), 1_700_000_000_000), 1_800_000_001);
    }

    #[test]
    fn cache_entry_round_trip() {
        let e = CacheEntry {
            expires_at_ms: 42,
            last_modified_ms: 7,
            owner: "u_1".into(),
            etag: "abc".into(),
            body: b"||x^\n".to_vec(),
        };
        let d = CacheEntry::decode(&e.encode()).unwrap();
        assert_eq!(
            (d.expires_at_ms, d.last_modified_ms, d.owner.as_str(), d.etag.as_str(), &d.body[..]),
            (42, 7, "u_1", "abc", &b"||x^\n"[..])
        );
        assert!(CacheEntry::decode(b"short").is_none());
        let mut old_format = e.encode();
        old_format[0] = 2;
        assert!(CacheEntry::decode(&old_format).is_none(), "another format is a miss");
        for cut in 0..e.encode().len() - 5 {
            // Truncated entries (of the header) are misses, never a panic.
            let _ = CacheEntry::decode(&e.encode()[..cut]);
        }
    }
}
