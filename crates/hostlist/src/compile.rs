//! Compiling a configuration into a list: sources downloaded and transformed one by one, each
//! under its own header block, then the top-level transformations, then the list header.

use crate::config::{Configuration, Filters, Source};
use crate::download::{self, DownloadError, Fetch};
use crate::transform;
use crate::wildcard::{Matcher, PatternError};
use crate::{js, rule};

/// Why a compile failed.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The configuration does not check.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A source (or an exclusions or inclusions source) could not be read.
    #[error("source {location:?}: {error}")]
    Download {
        /// The source, as the configuration names it.
        location: String,
        /// Why.
        error: DownloadError,
    },
    /// An exclusion or inclusion pattern is invalid.
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// The two header lines that differ between compilers and runs.
#[derive(Clone, Debug)]
pub struct Stamp {
    /// `! Last modified:` value (the reference writes `new Date().toISOString()`).
    pub last_modified: String,
    /// `! Compiled by` value, e.g. `blocklist-edge v0.1.0`.
    pub compiled_by: String,
}

fn not_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// The list header.
pub fn header(config: &Configuration, stamp: &Stamp) -> Vec<String> {
    let mut lines = vec!["!".to_owned(), format!("! Title: {}", config.name)];
    for (label, value) in [
        ("Description", &config.description),
        ("Version", &config.version),
        ("Homepage", &config.homepage),
        ("License", &config.license),
    ] {
        if let Some(v) = not_empty(value) {
            lines.push(format!("! {label}: {v}"));
        }
    }
    lines.push(format!("! Last modified: {}", stamp.last_modified));
    lines.push("!".into());
    lines.push(format!("! Compiled by {}", stamp.compiled_by));
    lines.push("!".into());
    lines
}

fn source_header(source: &Source) -> Vec<String> {
    let mut lines = vec!["!".to_owned()];
    if let Some(n) = not_empty(&source.name) {
        lines.push(format!("! Source name: {n}"));
    }
    lines.push(format!("! Source: {}", source.source));
    lines.push("!".into());
    lines
}

pub(crate) fn download(source: &str, fetch: &dyn Fetch) -> Result<Vec<String>, CompileError> {
    download::download(source, fetch).map_err(|error| CompileError::Download { location: source.to_owned(), error })
}

/// Patterns given inline plus those listed in pattern files (blank lines and comments skipped).
pub(crate) fn matcher(inline: &[String], files: &[String], fetch: &dyn Fetch) -> Result<Option<Matcher>, CompileError> {
    let mut patterns: Vec<String> = inline.to_vec();
    for f in files {
        for line in download(f, fetch)? {
            if !js::trim(&line).is_empty() && !rule::is_comment(&line) {
                patterns.push(line);
            }
        }
    }
    Ok(Matcher::new(patterns.iter().map(String::as_str))?)
}

fn apply(rules: Vec<String>, filters: &Filters, fetch: &dyn Fetch) -> Result<Vec<String>, CompileError> {
    let exclusions = matcher(&filters.exclusions, &filters.exclusions_sources, fetch)?;
    let inclusions = matcher(&filters.inclusions, &filters.inclusions_sources, fetch)?;
    Ok(transform::apply(rules, exclusions.as_ref(), inclusions.as_ref(), &filters.transformations))
}

/// Compiles `config`, reading sources through `fetch`; the lines of the output (join them
/// with `\n`, as the reference does).
pub fn compile(config: &Configuration, fetch: &dyn Fetch, stamp: &Stamp) -> Result<Vec<String>, CompileError> {
    let mut list: Vec<String> = Vec::new();
    for source in &config.sources {
        let mut rules = apply(download(&source.source, fetch)?, &source.filters, fetch)?;
        let head = source_header(source);
        if list.is_empty() {
            // The first source's vector becomes the list (it has room for the headers).
            rules.splice(0..0, head);
            list = rules;
        } else {
            list.reserve_exact(head.len() + rules.len());
            list.extend(head);
            list.extend(rules);
        }
    }
    let mut list = apply(list, &config.filters, fetch)?;
    let head = header(config, stamp);
    list.reserve_exact(head.len());
    list.splice(0..0, head);
    Ok(list)
}
