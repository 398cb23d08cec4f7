//! Retention: how long finished jobs are kept, and what the collector may delete.
//!
//! Two mechanisms keep the `lists` store bounded:
//!
//! - **Jobs per list**: when a job finishes, it is added to its list's `list-jobs/{list-id}`
//!   index; the oldest finished jobs beyond [`Retention::jobs_per_list`] are deleted then.
//! - **The collector** walks the whole store a page of keys per sweep and deletes what nothing
//!   refers to any more ([`KeyKind`] says what a key is; `edge-store::retention` decides
//!   whether it is still referred to): finished jobs older than [`Retention::job_keep_ms`],
//!   chunks that no record names (an update or a compile that crashed before its record
//!   named them, an artifact stored by a compile that a delete overtook), records of lists
//!   that are deleted or that a crashed create never indexed, and what belongs to them.
//!
//! A key that looks unreferenced may belong to a write still in progress (chunks are written
//! before the record that names them). The collector therefore deletes a key only when it has
//! seen it unreferenced twice, at least [`Retention::grace_ms`] apart: longer than any request
//! or compile attempt may run.

/// Retention settings, from configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Finished jobs kept per list (the newest).
    pub jobs_per_list: usize,
    /// Finished jobs older than this are deleted (ms since their last update).
    pub job_keep_ms: u64,
    /// A key unreferenced this long (seen twice) is deleted (ms).
    pub grace_ms: u64,
}

impl Retention {
    /// The defaults: 100 jobs per list, for 30 days; one hour of grace.
    pub const DEFAULT: Retention = Retention { jobs_per_list: 100, job_keep_ms: 30 * 86_400_000, grace_ms: 3_600_000 };
}

/// What a key of the `lists` store is, as far as the collector is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyKind<'a> {
    /// `list/{list}`.
    List { list: &'a str },
    /// A chunk of a write of a list's rules: `rules/{list}/{write}/{n}` (`prefix` is the key
    /// without `/{n}`).
    RulesChunk { list: &'a str, prefix: &'a str },
    /// A key that exists only while its list does: `compile-lock/{list}`, `compiled/{list}`,
    /// `list-subscriptions/{list}`, `list-jobs/{list}`, `sources/{list}`,
    /// `rendition/{list}/{format}`.
    OfList { list: &'a str },
    /// `compiled/{list}/{etag}/{n}`, or a piece of its lookup index, `lookup/{list}/{etag}/{n}`:
    /// kept while the artifact is.
    CompiledChunk { list: &'a str, etag: &'a str },
    /// `source/{list}/{sha256}/{n}`: a chunk of the last copy of a URL source.
    SourceChunk { list: &'a str, sha256: &'a str },
    /// `rendition/{list}/{format}/{build}/{n}` or `…/{build}.gz/{n}`.
    RenditionChunk { list: &'a str, format: &'a str, build: &'a str },
    /// `subscription/{id}`.
    Subscription,
    /// `sub-token/{sha256}`.
    SubscriptionToken { sha256: &'a str },
    /// `job/{id}`.
    Job,
    /// `user/{user}`.
    User { user: &'a str },
    /// A key that exists only while its user does: `user-lists/{user}`, `user-tokens/{user}`,
    /// `user-dead-jobs/{user}`.
    OfUser { user: &'a str },
    /// Anything else (users, tokens, their indexes, the sweeper's and the collector's own
    /// state): kept.
    Kept,
}

/// What `key` is.
pub fn classify(key: &str) -> KeyKind<'_> {
    let parts: Vec<&str> = key.split('/').collect();
    let is_chunk_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        ["list", list] => KeyKind::List { list },
        ["rules", list, _, n] if is_chunk_number(n) => {
            KeyKind::RulesChunk { list, prefix: &key[..key.len() - n.len() - 1] }
        }
        ["compile-lock" | "compiled" | "list-subscriptions" | "list-jobs" | "sources", list] => {
            KeyKind::OfList { list }
        }
        ["rendition", list, _format] => KeyKind::OfList { list },
        ["compiled" | "lookup", list, etag, n] if is_chunk_number(n) => KeyKind::CompiledChunk { list, etag },
        ["source", list, sha256, n] if is_chunk_number(n) => KeyKind::SourceChunk { list, sha256 },
        ["rendition", list, format, build, n] if is_chunk_number(n) => {
            KeyKind::RenditionChunk { list, format, build: build.strip_suffix(".gz").unwrap_or(build) }
        }
        ["subscription", _] => KeyKind::Subscription,
        ["sub-token", sha256] => KeyKind::SubscriptionToken { sha256 },
        ["job", _] => KeyKind::Job,
        ["user", user] => KeyKind::User { user },
        ["user-lists" | "user-tokens" | "user-dead-jobs", user] => KeyKind::OfUser { user },
        _ => KeyKind::Kept,
    }
}

/// Ids kept in a list's finished-job index after adding `job_id` (newest last), and the ids
/// pushed out, whose jobs are deleted.
pub fn keep_newest(mut ids: Vec<String>, job_id: &str, keep: usize) -> (Vec<String>, Vec<String>) {
    if !ids.iter().any(|x| x == job_id) {
        ids.push(job_id.to_owned());
    }
    let excess = ids.len().saturating_sub(keep.max(1));
    let dropped = ids.drain(..excess).collect();
    (ids, dropped)
}

/// The collector's memory of keys it found unreferenced: key → when it first saw them (ms).
/// Bounded: beyond [`MAX_CANDIDATES`], new candidates wait for the next pass.
pub type Candidates = std::collections::BTreeMap<String, u64>;

/// The most candidates the collector remembers at once.
pub const MAX_CANDIDATES: usize = 20_000;

/// Whether a key found unreferenced at `now_ms` may be deleted now; records it as a candidate
/// if it was not one.
pub fn due_for_deletion(candidates: &mut Candidates, key: &str, now_ms: u64, grace_ms: u64) -> bool {
    match candidates.get(key) {
        Some(&first) => now_ms.saturating_sub(first) >= grace_ms,
        None => {
            if candidates.len() < MAX_CANDIDATES {
                candidates.insert(key.to_owned(), now_ms);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified() {
        assert_eq!(classify("list/l_1"), KeyKind::List { list: "l_1" });
        assert_eq!(classify("rules/l_1/nabc/0"), KeyKind::RulesChunk { list: "l_1", prefix: "rules/l_1/nabc" });
        assert_eq!(classify("rules/l_1/3/12"), KeyKind::RulesChunk { list: "l_1", prefix: "rules/l_1/3" });
        assert_eq!(classify("compile-lock/l_1"), KeyKind::OfList { list: "l_1" });
        assert_eq!(classify("compiled/l_1"), KeyKind::OfList { list: "l_1" });
        assert_eq!(classify("list-jobs/l_1"), KeyKind::OfList { list: "l_1" });
        assert_eq!(classify("rendition/l_1/hosts"), KeyKind::OfList { list: "l_1" });
        assert_eq!(classify("compiled/l_1/ab12/0"), KeyKind::CompiledChunk { list: "l_1", etag: "ab12" });
        assert_eq!(classify("lookup/l_1/ab12/7"), KeyKind::CompiledChunk { list: "l_1", etag: "ab12" });
        assert_eq!(classify("sources/l_1"), KeyKind::OfList { list: "l_1" });
        assert_eq!(classify("source/l_1/cd34/2"), KeyKind::SourceChunk { list: "l_1", sha256: "cd34" });
        assert_eq!(
            classify("rendition/l_1/hosts/b7.gz/2"),
            KeyKind::RenditionChunk { list: "l_1", format: "hosts", build: "b7" }
        );
        assert_eq!(
            classify("rendition/l_1/hosts/b7/0"),
            KeyKind::RenditionChunk { list: "l_1", format: "hosts", build: "b7" }
        );
        assert_eq!(classify("subscription/s_1"), KeyKind::Subscription);
        assert_eq!(classify("sub-token/ff"), KeyKind::SubscriptionToken { sha256: "ff" });
        assert_eq!(classify("job/j_1"), KeyKind::Job);
        assert_eq!(classify("user/u_1"), KeyKind::User { user: "u_1" });
        assert_eq!(classify("user-lists/u_1"), KeyKind::OfUser { user: "u_1" });
        assert_eq!(classify("user-dead-jobs/u_1"), KeyKind::OfUser { user: "u_1" });
        for kept in ["token/ab", "jobs-active/a", "sweep/last", "runner/secret", "retention/cursor", "rules/l_1/x/y"] {
            assert_eq!(classify(kept), KeyKind::Kept, "{kept}");
        }
    }

    #[test]
    fn the_newest_jobs_are_kept() {
        let (kept, dropped) = keep_newest(vec!["a".into(), "b".into()], "c", 2);
        assert_eq!((kept, dropped), (vec!["b".to_owned(), "c".to_owned()], vec!["a".to_owned()]));
        let (kept, dropped) = keep_newest(vec!["a".into()], "a", 2);
        assert_eq!((kept, dropped), (vec!["a".to_owned()], vec![]));
    }

    #[test]
    fn a_candidate_is_deleted_only_after_its_grace() {
        let mut c = Candidates::new();
        assert!(!due_for_deletion(&mut c, "k", 1_000, 500), "first sighting");
        assert!(!due_for_deletion(&mut c, "k", 1_400, 500));
        assert!(due_for_deletion(&mut c, "k", 1_500, 500));
        assert!(!due_for_deletion(&mut c, "other", 1_500, 0), "even with no grace, seen twice");
        assert!(due_for_deletion(&mut c, "other", 1_500, 0));
    }
}
