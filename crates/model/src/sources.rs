//! The URL sources of a configuration list: the last copy fetched of each, its validators for
//! conditional requests (`ETag`, `Last-Modified`), and its health as the list shows it.
//!
//! `sources/{list}` holds a [`SourceStates`]; each copy is stored in chunks under
//! `source/{list}/{sha256}/{n}` ([`copy_prefix`]), named by its content so that two consumers
//! storing the same body write the same bytes.

use serde::{Deserialize, Serialize};

/// The key of a list's [`SourceStates`].
pub fn states_key(list_id: &str) -> String {
    format!("sources/{list_id}")
}

/// The chunk prefix of a copy of a source of `list_id` whose body has SHA-256 `sha256`.
pub fn copy_prefix(list_id: &str, sha256: &str) -> String {
    format!("source/{list_id}/{sha256}")
}

/// Where a source's last copy is stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceCopy {
    /// SHA-256 (hex) of the body.
    pub sha256: String,
    pub bytes: u64,
    pub chunks: u32,
    /// Whether it `!#include`s another file (fetched by the compile, so its content is only
    /// known by compiling).
    #[serde(default)]
    pub includes: bool,
}

/// One URL source of a list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceState {
    pub url: String,
    /// The last copy's `ETag`, sent back as `If-None-Match`.
    #[serde(default)]
    pub etag: Option<String>,
    /// The last copy's `Last-Modified`, sent back as `If-Modified-Since`.
    #[serde(default)]
    pub last_modified: Option<String>,
    /// The last copy fetched (`None` before the first success).
    #[serde(default)]
    pub copy: Option<SourceCopy>,
    /// The HTTP status of the last fetch (`None` if it got no answer).
    #[serde(default)]
    pub last_status: Option<u16>,
    /// Why the last fetch failed (`None` if it succeeded).
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_fetch_at_ms: Option<u64>,
    /// When a fetch last succeeded (`200` or `304`).
    #[serde(default)]
    pub last_success_at_ms: Option<u64>,
    /// Failed fetches since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Rules in the last copy (lines neither empty nor comments).
    #[serde(default)]
    pub rules: u64,
}

/// The outcome of one fetch of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fetched {
    /// A new body (`200`), stored as `copy`.
    Body { copy: SourceCopy, rules: u64, etag: Option<String>, last_modified: Option<String> },
    /// `304 Not Modified`: the last copy stands.
    NotModified,
    /// No usable answer.
    Failed { status: Option<u16>, error: String },
}

/// The sources of one list, in the order its configuration names them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SourceStates {
    pub sources: Vec<SourceState>,
}

impl SourceStates {
    /// The state of `url`, if it was fetched before.
    pub fn get(&self, url: &str) -> Option<&SourceState> {
        self.sources.iter().find(|s| s.url == url)
    }

    /// Records the outcome of a fetch of `url` at `now_ms`; returns the copy it replaced, if
    /// any (its chunks are no longer needed once this record is written).
    pub fn record(&mut self, url: &str, now_ms: u64, fetched: Fetched) -> Option<SourceCopy> {
        let at = match self.sources.iter().position(|s| s.url == url) {
            Some(i) => i,
            None => {
                self.sources.push(SourceState { url: url.to_owned(), ..SourceState::default() });
                self.sources.len() - 1
            }
        };
        let s = &mut self.sources[at];
        s.last_fetch_at_ms = Some(now_ms);
        match fetched {
            Fetched::Body { copy, rules, etag, last_modified } => {
                s.last_status = Some(200);
                s.last_error = None;
                s.last_success_at_ms = Some(now_ms);
                s.consecutive_failures = 0;
                s.etag = etag;
                s.last_modified = last_modified;
                s.rules = rules;
                let old = s.copy.replace(copy);
                old.filter(|o| s.copy.as_ref().is_none_or(|c| c.sha256 != o.sha256))
            }
            Fetched::NotModified => {
                s.last_status = Some(304);
                s.last_error = None;
                s.last_success_at_ms = Some(now_ms);
                s.consecutive_failures = 0;
                None
            }
            Fetched::Failed { status, error } => {
                s.last_status = status;
                s.last_error = Some(error);
                s.consecutive_failures = s.consecutive_failures.saturating_add(1);
                None
            }
        }
    }

    /// Forgets the copy of `url` and its validators (its chunks are gone): its next fetch is
    /// unconditional.
    pub fn forget_copy(&mut self, url: &str) {
        if let Some(s) = self.sources.iter_mut().find(|s| s.url == url) {
            s.copy = None;
            s.etag = None;
            s.last_modified = None;
        }
    }

    /// Forgets the sources not in `urls` (the configuration no longer names them); returns their
    /// copies.
    pub fn retain(&mut self, urls: &[String]) -> Vec<SourceCopy> {
        let (keep, gone): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.sources).into_iter().partition(|s| urls.contains(&s.url));
        self.sources = keep;
        gone.into_iter().filter_map(|s| s.copy).collect()
    }

    /// Whether a copy with body `sha256` is named by a source.
    pub fn keeps(&self, sha256: &str) -> bool {
        self.sources.iter().any(|s| s.copy.as_ref().is_some_and(|c| c.sha256 == sha256))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(sha: &str) -> SourceCopy {
        SourceCopy { sha256: sha.into(), bytes: 3, chunks: 1, includes: false }
    }

    #[test]
    fn health_follows_fetches() {
        let mut s = SourceStates::default();
        let body =
            |sha: &str| Fetched::Body { copy: copy(sha), rules: 2, etag: Some("\"e\"".into()), last_modified: None };
        assert_eq!(s.record("https://a/x", 1, body("h1")), None);
        assert_eq!(s.record("https://a/x", 2, Fetched::NotModified), None);
        s.record("https://a/x", 3, Fetched::Failed { status: Some(503), error: "503".into() });
        s.record("https://a/x", 4, Fetched::Failed { status: None, error: "timed out".into() });
        let st = s.get("https://a/x").unwrap();
        assert_eq!(
            (st.last_status, st.consecutive_failures, st.last_success_at_ms, st.copy.clone()),
            (None, 2, Some(2), Some(copy("h1")))
        );
        assert_eq!(s.record("https://a/x", 5, body("h2")), Some(copy("h1")), "the replaced copy is returned");
        assert_eq!(s.record("https://a/x", 6, body("h2")), None, "the same body replaces nothing");
        assert_eq!(s.get("https://a/x").unwrap().consecutive_failures, 0);
        assert!(s.keeps("h2") && !s.keeps("h1"));
        s.record("https://b/y", 7, body("h3"));
        assert_eq!(s.retain(&["https://b/y".to_owned()]), [copy("h2")]);
        assert_eq!(s.sources.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(), ["https://b/y"]);
        s.forget_copy("https://b/y");
        let st = s.get("https://b/y").unwrap();
        assert_eq!((st.copy.as_ref(), st.etag.as_ref()), (None, None));
    }
}
