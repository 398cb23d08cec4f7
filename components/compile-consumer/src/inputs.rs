//! What a compile is made from: the list's rules, or its configuration and the sources it names.
//!
//! URL sources are fetched here, through the compiler's `fetch-source` (the same checks and
//! limits as its own fetches), conditionally: each source's last copy is kept in the `lists`
//! store with its `ETag` and `Last-Modified` ([`blocklist_model::sources`]), sent back as
//! `If-None-Match` / `If-Modified-Since`, and reused on `304`. Their contents go to the compiler
//! inline, so the compile itself fetches only what they `!#include`.

use crate::blocklist::compiler::compiler;
use crate::consume::{AttemptError, store};
use blocklist_model::publish::inputs_sha256;
use blocklist_model::sources::{Fetched, SourceCopy, SourceStates, copy_prefix, states_key};
use edge_store::kv::{JsonUpdate, Kv};
use edge_store::model::*;
use sha2::{Digest, Sha256};

/// A source that could not be fetched, compiled from its last copy.
pub struct FailedSource {
    pub url: String,
    pub error: String,
}

/// A source's content for the compiler: fetched now, or the kept copy (read only if the list is
/// compiled).
enum Body {
    Text(String),
    Copy(SourceCopy),
}

/// A compile's inputs.
pub struct Inputs {
    /// The configuration (HostlistCompiler's JSON).
    pub config: String,
    /// Every source given inline, by location.
    sources: Vec<(String, Body)>,
    /// What they are ([`inputs_sha256`]), for a configuration list; `None` for a list of rules
    /// (always compiled), or when it cannot be known before compiling (a source `!#include`s
    /// another file, fetched by the compile).
    pub sha256: Option<String>,
    /// Sources that failed and were given from their last copy (only when `stale_if_error`).
    pub failed: Vec<FailedSource>,
    list_id: String,
}

impl Inputs {
    /// The sources as the compiler takes them, kept copies read. A copy whose chunks are gone
    /// fails the attempt and is forgotten, so that the retry fetches its source unconditionally.
    pub fn files(self, lists: &Kv) -> Result<Vec<compiler::SourceFile>, AttemptError> {
        let mut files = Vec::with_capacity(self.sources.len());
        for (location, body) in self.sources {
            let content = match body {
                Body::Text(text) => text,
                Body::Copy(copy) => match read_copy(lists, &self.list_id, &copy)? {
                    Some(text) => text,
                    None => {
                        forget_copy(lists, &self.list_id, &location)?;
                        return Err(AttemptError::Store {
                            context: format!("reading the kept copy of {location}"),
                            source: edge_store::StoreError::unavailable(
                                "it is gone; the next attempt fetches it again",
                            ),
                        });
                    }
                },
            };
            files.push(compiler::SourceFile { location, content });
        }
        Ok(files)
    }
}

/// Whether a source's text `!#include`s another file.
fn has_include(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("!#include"))
}

/// The inputs of the current revision of `list`. With `stale_if_error`, a URL source that fails
/// but has a copy is given from the copy (and named in [`Inputs::failed`]); otherwise its failure
/// fails the attempt.
pub fn gather(lists: &Kv, list: &ListRecord, stale_if_error: bool) -> Result<Inputs, AttemptError> {
    match &list.source {
        ListSource::Rules => {
            let content = read_rules(lists, list)?;
            let config = blocklist_model::records::rules_list_config(&list.name);
            Ok(Inputs {
                list_id: list.id.clone(),
                config: config.to_string(),
                // A list of rules is compiled whenever asked (it fetches nothing, and compiles
                // fast); a compile that gives the published content keeps it.
                sha256: None,
                sources: vec![(blocklist_model::records::RULES_LOCATION.into(), Body::Text(content))],
                failed: Vec::new(),
            })
        }
        ListSource::Config { config } => {
            // The gateway checked it; a configuration it cannot read is the compiler's to report.
            let urls =
                hostlist_config::Configuration::from_value(config).map(|c| c.url_locations()).unwrap_or_default();
            let fetched = fetch_sources(lists, &list.id, &urls, stale_if_error)?;
            let has_includes = fetched.sources.iter().any(|(_, body)| match body {
                Body::Text(text) => has_include(text),
                Body::Copy(copy) => copy.includes,
            });
            // The compiler's version is among the inputs: an upgrade compiles every list again.
            let salt = ("blocklist-edge", env!("CARGO_PKG_VERSION"));
            let sha256 = (!has_includes).then(|| {
                inputs_sha256(
                    list.revision,
                    std::iter::once(salt).chain(fetched.hashes.iter().map(|(u, h)| (u.as_str(), h.as_str()))),
                )
            });
            Ok(Inputs {
                list_id: list.id.clone(),
                config: config.to_string(),
                sources: fetched.sources,
                sha256,
                failed: fetched.failed,
            })
        }
    }
}

/// The list's rules text, checked against its recorded SHA-256.
fn read_rules(lists: &Kv, list: &ListRecord) -> Result<String, AttemptError> {
    let missing = || AttemptError::RulesMissing { list_id: list.id.clone(), revision: list.revision };
    let at = list.rules_chunks().ok_or_else(missing)?;
    let bytes = lists
        .get_chunks(&at.prefix, at.chunks, list.rules_bytes as usize)
        .map_err(store(format!("reading the rules of list {}", list.id)))?
        .ok_or_else(missing)?;
    if list.rules_sha256.as_ref().is_some_and(|h| *h != hex::encode(Sha256::digest(&bytes))) {
        return Err(AttemptError::RulesHashMismatch { list_id: list.id.clone(), revision: list.revision });
    }
    String::from_utf8(bytes).map_err(|_| AttemptError::RulesNotUtf8(list.id.clone()))
}

struct FetchedSources {
    sources: Vec<(String, Body)>,
    /// (url, SHA-256 of the body given), in the order of `urls`.
    hashes: Vec<(String, String)>,
    failed: Vec<FailedSource>,
}

/// Fetches every URL of `urls` (conditionally where a copy is kept), records each outcome in
/// `sources/{list}`, and returns the bodies to compile.
fn fetch_sources(
    lists: &Kv,
    list_id: &str,
    urls: &[String],
    stale_if_error: bool,
) -> Result<FetchedSources, AttemptError> {
    let key = states_key(list_id);
    let states: SourceStates = lists.get_json(&key).map_err(store("reading the list's sources"))?.unwrap_or_default();
    let mut outcomes: Vec<(String, Fetched)> = Vec::new();
    let mut out = FetchedSources { sources: Vec::new(), hashes: Vec::new(), failed: Vec::new() };
    let mut failure = None;
    for url in urls {
        let state = states.get(url);
        let copy = state.and_then(|s| s.copy.clone());
        let validators = compiler::Validators {
            etag: copy.as_ref().and_then(|_| state.and_then(|s| s.etag.clone())),
            last_modified: copy.as_ref().and_then(|_| state.and_then(|s| s.last_modified.clone())),
        };
        let (body, sha) = match (compiler::fetch_source(url, &validators), copy) {
            (Ok(compiler::FetchOutcome::Modified(fetched)), kept) => {
                let sha = hex::encode(Sha256::digest(fetched.content.as_bytes()));
                let chunks = match kept.filter(|c| c.sha256 == sha) {
                    // The same body again (a server without validators): its copy stands.
                    Some(c) => c.chunks,
                    None => lists
                        .put_chunks(&copy_prefix(list_id, &sha), fetched.content.as_bytes())
                        .map_err(store(format!("storing the copy of {url}")))?,
                };
                let rules =
                    fetched.content.lines().filter(|l| blocklist_model::publish::is_rule(l.trim())).count() as u64;
                let copy = SourceCopy {
                    sha256: sha.clone(),
                    bytes: fetched.content.len() as u64,
                    chunks,
                    includes: has_include(&fetched.content),
                };
                outcomes.push((
                    url.clone(),
                    Fetched::Body { copy, rules, etag: fetched.etag, last_modified: fetched.last_modified },
                ));
                (Body::Text(fetched.content), sha)
            }
            (Ok(compiler::FetchOutcome::NotModified), Some(copy)) => {
                outcomes.push((url.clone(), Fetched::NotModified));
                let sha = copy.sha256.clone();
                (Body::Copy(copy), sha)
            }
            (Ok(compiler::FetchOutcome::NotModified), None) => {
                // A 304 to an unconditional request: nothing to compile from.
                let error = format!("Response status for url {url} is invalid: 304 (no copy was asked about)");
                outcomes.push((url.clone(), Fetched::Failed { status: Some(304), error: error.clone() }));
                failure = Some(error);
                break;
            }
            (Err(e), copy) => {
                outcomes.push((url.clone(), Fetched::Failed { status: e.status, error: e.message.clone() }));
                match copy.filter(|_| stale_if_error) {
                    Some(copy) => {
                        out.failed.push(FailedSource { url: url.clone(), error: e.message });
                        let sha = copy.sha256.clone();
                        (Body::Copy(copy), sha)
                    }
                    None => {
                        failure = Some(e.message);
                        break;
                    }
                }
            }
        };
        out.hashes.push((url.clone(), sha));
        out.sources.push((url.clone(), body));
    }
    record(lists, list_id, urls, outcomes)?;
    match failure {
        Some(message) => Err(AttemptError::Compile(compiler::CompileError::Source(message))),
        None => Ok(out),
    }
}

/// Forgets the kept copy of `url` (its chunks are gone): its next fetch is unconditional.
fn forget_copy(lists: &Kv, list_id: &str, url: &str) -> Result<(), AttemptError> {
    lists
        .update_json(&states_key(list_id), |cur: Option<SourceStates>| {
            let mut states = cur.unwrap_or_default();
            states.forget_copy(url);
            JsonUpdate::Write(states, ())
        })
        .map_err(store("recording the list's sources"))
}

/// A kept copy's text; `None` if its chunks are gone.
fn read_copy(lists: &Kv, list_id: &str, copy: &SourceCopy) -> Result<Option<String>, AttemptError> {
    let bytes = lists
        .get_chunks(&copy_prefix(list_id, &copy.sha256), copy.chunks, copy.bytes as usize)
        .map_err(store("reading a source's copy"))?;
    Ok(bytes.and_then(|b| String::from_utf8(b).ok()))
}

/// Writes the fetches' outcomes into `sources/{list}` (forgetting sources the configuration no
/// longer names), then deletes the copies they replaced.
fn record(lists: &Kv, list_id: &str, urls: &[String], outcomes: Vec<(String, Fetched)>) -> Result<(), AttemptError> {
    let now = now_ms();
    let mut dropped = Vec::new();
    lists
        .update_json(&states_key(list_id), |cur: Option<SourceStates>| {
            let mut states = cur.unwrap_or_default();
            dropped = states.retain(urls);
            for (url, fetched) in &outcomes {
                dropped.extend(states.record(url, now, fetched.clone()));
            }
            dropped.retain(|c| !states.keeps(&c.sha256));
            JsonUpdate::Write(states, ())
        })
        .map_err(store("recording the list's sources"))?;
    for copy in dropped {
        // What is left is the retention collector's.
        let _ = lists.delete_chunks(&copy_prefix(list_id, &copy.sha256), copy.chunks);
    }
    Ok(())
}
