//! Publishing a compiled list: its versions, the publish guard, held candidates and the diff
//! between two versions. Pure rules; `edge-store`'s `publish` module applies them to the
//! `compiled/{list}` record ([`crate::records::CompiledMeta`]) by compare-and-swap.
//!
//! - Every artifact that becomes current is a **version** (`version` number, time, rules,
//!   cause); the newest [`DEFAULT_VERSIONS_KEPT`] (configurable) are kept with their chunks, so
//!   that any of them can be compared with another or published again (a rollback, which makes
//!   a new version with the old content).
//! - A compile of a list whose own content did not change since the published artifact (a
//!   scheduled refresh, or a compile asked again) passes the **guard** before it is published:
//!   a source that failed, a list that shrank by more than a share of the published one, or one
//!   with fewer rules than a minimum is **held** instead — the published list stays, the
//!   candidate is kept with the reason until its owner publishes or discards it.
//! - A compile whose inputs (the list's revision and every source's content) are those of the
//!   published artifact ends **unchanged** without compiling ([`inputs_sha256`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// Versions kept per list unless configured otherwise.
pub const DEFAULT_VERSIONS_KEPT: u32 = 5;
/// The most versions a list may keep.
pub const MAX_VERSIONS_KEPT: u32 = 100;
/// The publish guard's default: hold a list that lost more than this share of its rules.
pub const DEFAULT_MAX_SHRINK_PERCENT: u32 = 50;

/// Why an artifact became current.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VersionCause {
    /// A compile its owner asked for.
    #[default]
    Manual,
    /// A compile of the list's refresh schedule.
    Schedule,
    /// An older version published again.
    Rollback,
    /// A held candidate published by its owner.
    Approval,
}

impl VersionCause {
    /// The cause of a version compiled by a job of `cause`.
    pub fn of_job(cause: crate::ledger::JobCause) -> VersionCause {
        match cause {
            crate::ledger::JobCause::Manual => VersionCause::Manual,
            crate::ledger::JobCause::Schedule => VersionCause::Schedule,
        }
    }
}

/// Where an artifact is and what it holds: `compiled/{list}/{etag}/{n}`, `n < chunks`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StoredArtifact {
    /// SHA-256 (hex) of the bytes: entity tag and chunk prefix.
    pub etag: String,
    pub length: u64,
    pub chunks: u32,
    /// Rules in it.
    pub rules: u32,
    /// SHA-256 of the text without its `! Last modified:` line ([`crate::records::content_sha256`]).
    pub content_sha256: String,
}

/// One published version of a list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PublishedVersion {
    /// Its number: greater for every new version ([`crate::records::CompiledMeta::next_version`]).
    pub version: u64,
    #[serde(flatten)]
    pub artifact: StoredArtifact,
    pub cause: VersionCause,
    pub published_at_ms: u64,
    /// The job that compiled it (for a rollback: the job of the version it restored).
    #[serde(default)]
    pub job_id: Option<String>,
    /// The list revision it was compiled from.
    pub list_revision: u64,
    /// For a rollback: the version it restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<u64>,
}

/// Why a candidate was held.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HoldReason {
    /// A source could not be fetched; the candidate (if any) was compiled with its last copy.
    SourceFailed,
    /// It lost more than the allowed share of the published list's rules.
    Shrank,
    /// It has fewer rules than the list's minimum.
    TooFewRules,
}

/// A compile that was not published: the list's one held candidate.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeldCandidate {
    pub job_id: String,
    pub reason: HoldReason,
    /// The reason in words (rule counts, the failed source and its error).
    pub message: String,
    pub held_at_ms: u64,
    pub list_revision: u64,
    pub cause: VersionCause,
    /// The compiled candidate; `None` when there is nothing new to publish (every source that
    /// could be fetched gave what the published list was made from).
    #[serde(default)]
    pub artifact: Option<StoredArtifact>,
    /// The inputs it was compiled from ([`inputs_sha256`]).
    #[serde(default)]
    pub inputs_sha256: Option<String>,
}

/// The publish guard of a list.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Guard {
    /// Hold a candidate with fewer than `100 - maxShrinkPercent` % of the published rules
    /// (100: never for shrinking).
    pub max_shrink_percent: u32,
    /// Hold a candidate with fewer rules than this (0: never).
    pub min_rules: u32,
}

impl Default for Guard {
    fn default() -> Guard {
        Guard { max_shrink_percent: DEFAULT_MAX_SHRINK_PERCENT, min_rules: 0 }
    }
}

impl Guard {
    /// Why a candidate of `candidate_rules` rules may not replace a published list of
    /// `published_rules`; `None` if it may.
    pub fn check(&self, published_rules: u32, candidate_rules: u32) -> Option<(HoldReason, String)> {
        if candidate_rules < self.min_rules {
            return Some((
                HoldReason::TooFewRules,
                format!("the compiled list has {candidate_rules} rules, fewer than the minimum of {}", self.min_rules),
            ));
        }
        // Kept: at least (100 - max) % of the published rules, in integers.
        let kept_percent = 100u64.saturating_sub(u64::from(self.max_shrink_percent.min(100)));
        if u64::from(candidate_rules) * 100 < u64::from(published_rules) * kept_percent {
            let lost = (u64::from(published_rules - candidate_rules.min(published_rules)) * 100)
                .div_ceil(u64::from(published_rules.max(1)));
            return Some((
                HoldReason::Shrank,
                format!(
                    "the compiled list has {candidate_rules} rules where the published one has {published_rules}: \
                     {lost} % fewer, more than the {} % allowed",
                    self.max_shrink_percent
                ),
            ));
        }
        None
    }
}

/// `versions` (newest first) with `new` in front, the newest `keep` of them kept; returns the
/// versions pushed out.
pub fn push_version(versions: &mut Vec<PublishedVersion>, new: PublishedVersion, keep: u32) -> Vec<PublishedVersion> {
    versions.insert(0, new);
    let keep = keep.clamp(1, MAX_VERSIONS_KEPT) as usize;
    if versions.len() > keep { versions.split_off(keep) } else { Vec::new() }
}

/// SHA-256 (hex) of what a compile is made from: the list's revision and every source's
/// location and content hash, in the order given. Two compiles with equal inputs produce the same
/// list (but for the `! Last modified:` line), so the second need not run.
pub fn inputs_sha256<'a>(list_revision: u64, sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Sha256::new();
    h.update(list_revision.to_le_bytes());
    for (location, sha256) in sources {
        h.update((location.len() as u64).to_le_bytes());
        h.update(location.as_bytes());
        h.update(sha256.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Whether a line of a compiled list is a rule: not empty, not a comment as HostlistCompiler
/// reads one (`!`, `# `, `#`, `####`), the lines the compiler counts as rules.
pub fn is_rule(line: &str) -> bool {
    !(line.is_empty() || line.starts_with('!') || line.starts_with("# ") || line == "#" || line.starts_with("####"))
}

/// The rules one list has that another lacks.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleDiff<'a> {
    /// Rules of the old list not in the new, in the old list's order (each once).
    pub removed: Vec<&'a str>,
    /// Rules of the new list not in the old, in the new list's order (each once).
    pub added: Vec<&'a str>,
}

/// The rules removed from `old` and added in `new` (comments and empty lines aside).
pub fn diff_rules<'a>(old: &'a str, new: &'a str) -> RuleDiff<'a> {
    let rules = |text: &'a str| text.lines().map(str::trim_end).filter(|l| is_rule(l));
    let in_old: HashSet<&str> = rules(old).collect();
    let in_new: HashSet<&str> = rules(new).collect();
    let mut seen = HashSet::new();
    let removed = rules(old).filter(|r| !in_new.contains(r) && seen.insert(*r)).collect();
    seen.clear();
    let added = rules(new).filter(|r| !in_old.contains(r) && seen.insert(*r)).collect();
    RuleDiff { removed, added }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u64) -> PublishedVersion {
        PublishedVersion {
            version: n,
            artifact: StoredArtifact {
                etag: format!("e{n}"),
                length: 1,
                chunks: 1,
                rules: 1,
                content_sha256: format!("c{n}"),
            },
            cause: VersionCause::Manual,
            published_at_ms: n,
            job_id: None,
            list_revision: 1,
            restores: None,
        }
    }

    #[test]
    fn the_guard_holds_shrinks_and_short_lists() {
        let g = Guard::default();
        assert_eq!(g.check(1000, 500), None, "exactly half is allowed");
        assert_eq!(g.check(1000, 499).map(|h| h.0), Some(HoldReason::Shrank));
        assert!(g.check(1000, 100).unwrap().1.contains("90 % fewer"));
        assert_eq!(g.check(0, 0), None, "an empty list may stay empty");
        assert_eq!(g.check(10, 2000), None, "growth is never held");
        let strict = Guard { max_shrink_percent: 10, min_rules: 50 };
        assert_eq!(strict.check(1000, 899).map(|h| h.0), Some(HoldReason::Shrank));
        assert_eq!(strict.check(1000, 900), None);
        assert_eq!(strict.check(40, 49).map(|h| h.0), Some(HoldReason::TooFewRules));
        let off = Guard { max_shrink_percent: 100, min_rules: 0 };
        assert_eq!(off.check(1000, 0), None);
    }

    #[test]
    fn versions_keep_the_newest() {
        let mut v = Vec::new();
        for n in 1..=7 {
            let out = push_version(&mut v, version(n), 5);
            assert_eq!(out.len(), usize::from(n > 5));
        }
        assert_eq!(v.iter().map(|v| v.version).collect::<Vec<_>>(), [7, 6, 5, 4, 3]);
        let out = push_version(&mut v, version(8), 2);
        assert_eq!(out.iter().map(|v| v.version).collect::<Vec<_>>(), [6, 5, 4, 3]);
        assert_eq!(push_version(&mut v, version(9), 0).len(), 2, "at least the current is kept");
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn inputs_differ_with_any_source_or_revision() {
        let a = inputs_sha256(1, [("https://a/x", "h1"), ("https://a/y", "h2")]);
        assert_eq!(a, inputs_sha256(1, [("https://a/x", "h1"), ("https://a/y", "h2")]));
        assert_ne!(a, inputs_sha256(2, [("https://a/x", "h1"), ("https://a/y", "h2")]));
        assert_ne!(a, inputs_sha256(1, [("https://a/x", "h1"), ("https://a/y", "h3")]));
        assert_ne!(a, inputs_sha256(1, [("https://a/xh", "1"), ("https://a/y", "h2")]));
    }

    #[test]
    fn diff_names_rules_added_and_removed_once() {
        let old = "! Title: t\n! Last modified: 1\n||a^\n||b^\n||b^\n0.0.0.0 c\n";
        let new = "! Title: t\n! Last modified: 2\n||b^\n||d^\n||d^\n0.0.0.0 c\n# comment\n##.ad\n";
        let d = diff_rules(old, new);
        assert_eq!(d.removed, ["||a^"]);
        assert_eq!(d.added, ["||d^", "##.ad"]);
        assert_eq!(diff_rules(old, old), RuleDiff { removed: vec![], added: vec![] });
    }
}
