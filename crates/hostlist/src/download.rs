//! What the reference's downloader (`@adguard/filters-downloader`, `download(src, {}, …)`) does
//! with a source: fetch it, split it into lines, resolve `!#if`/`!#else`/`!#endif` (no
//! definitions: only the literal `true` is true) and expand `!#include`, file by file.
//!
//! The fetching itself is the caller's ([`Fetch`]): files and HTTP natively, `wasi:http` in a
//! component. The reference's quirks are reproduced where they decide the output (see the tests);
//! where the reference hangs (an include cycle) this stops with an error instead.

use crate::js;

mod conditions;
mod lines;
#[cfg(test)]
mod tests;

use conditions::resolve_conditions;
pub use conditions::{MAX_CONDITION_DEPTH, resolve_expression};
pub use lines::{HEADER_ROOM, READ_PIECE, read_file_lines, split_lines, split_reader};

/// How sources are read.
pub trait Fetch {
    /// A local file split into lines as [`split_lines`] does; `path` is as the list gives it
    /// (relative to the working directory). [`read_file_lines`] does it for a real file system
    /// without holding the whole text; text held in memory goes through [`split_lines`].
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String>;
    /// Fetches an `http(s)` URL; the body, decoded.
    fn get_url(&self, url: &str) -> Result<String, String>;
}

/// Includes nested deeper than this are an error (the reference has no limit and hangs on cycles).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// A download failure; the message is the reference's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DownloadError(pub String);

/// `^[a-z]+://` (any case) not starting with `file`, or `//`.
pub fn is_external(s: &str) -> bool {
    if s.starts_with("//") {
        return true;
    }
    let scheme_len = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    scheme_len > 0 && s[scheme_len..].starts_with("://") && !s[..4.min(s.len())].eq_ignore_ascii_case("file")
}

fn is_absolute_url(s: &str) -> bool {
    if s.starts_with("//") {
        return true;
    }
    let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    n > 0 && s[n..].starts_with("://")
}

fn dirname(s: &str) -> &str {
    s.rfind('/').map_or("", |i| &s[..i])
}

/// Downloads `src` with its directives resolved.
pub fn download(src: &str, fetch: &dyn Fetch) -> Result<Vec<String>, DownloadError> {
    let origin = is_external(src).then(|| dirname(src).to_owned());
    process(src, origin.as_deref(), fetch, 0)
}

fn process(url: &str, origin: Option<&str>, fetch: &dyn Fetch, depth: usize) -> Result<Vec<String>, DownloadError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(DownloadError(format!(
            "includes are nested deeper than {MAX_INCLUDE_DEPTH} levels (a cycle?) at {url:?}"
        )));
    }
    let origin_s = origin.unwrap_or("");
    let (full, lines) = if is_external(url) || is_external(origin_s) {
        let full = if !is_absolute_url(url) && is_absolute_url(origin_s) {
            format!("{origin_s}/{url}")
        } else {
            url.to_owned()
        };
        let text = fetch.get_url(&full).map_err(DownloadError)?;
        (full, split_lines(&text))
    } else {
        let full = if origin_s.is_empty() { url.to_owned() } else { format!("{origin_s}/{url}") };
        let lines = fetch.read_local_lines(&full).map_err(DownloadError)?;
        (full, lines)
    };
    let base = dirname(&full).to_owned();
    // Most lists have no directives: then the lines are passed on, not copied.
    let lines = if lines.iter().any(|l| l.starts_with("!#if") || l.starts_with("!#else") || l.starts_with("!#endif")) {
        resolve_conditions(&lines, &base)?
    } else {
        lines
    };
    if lines.iter().any(|l| l.starts_with("!#include")) {
        resolve_includes(lines, &base, fetch, depth)
    } else {
        Ok(lines)
    }
}

fn format_error(
    desc: &str,
    rule: &str,
    rules: &[String],
    index: usize,
    base: &str,
    original: Option<&str>,
) -> DownloadError {
    let mut msg = vec![format!("{desc} '{rule}'")];
    if !base.is_empty() {
        msg.push(format!("URL: '{base}'"));
    }
    let context: Vec<String> = rules[index.saturating_sub(3)..index].iter().map(|l| format!("\t{l}")).collect();
    if !context.is_empty() {
        msg.push("Context:".into());
        msg.push(context.join("\n"));
        msg.push(format!("\t{rule}"));
    }
    if let Some(o) = original {
        msg.push(format!("\t{o}"));
    }
    DownloadError(msg.join("\n") + "\n")
}

fn origin_of(u: &str) -> Option<String> {
    url::Url::parse(u).ok().map(|p| p.origin().ascii_serialization())
}

fn resolve_includes(
    lines: Vec<String>,
    base: &str,
    fetch: &dyn Fetch,
    depth: usize,
) -> Result<Vec<String>, DownloadError> {
    let mut out = Vec::with_capacity(lines.len());
    for (idx, line) in lines.iter().enumerate() {
        let Some(arg) = line.strip_prefix("!#include") else {
            out.push(line.clone());
            continue;
        };
        let u = js::trim(arg);
        if !base.is_empty() && is_absolute_url(u) {
            let o1 = origin_of(u).ok_or_else(|| DownloadError(format!("Invalid url: '{u}'")))?;
            let o2 = origin_of(base).ok_or_else(|| DownloadError(format!("Invalid url: '{base}'")))?;
            if o1 != o2 {
                return Err(DownloadError(format!("Include url is rejected with origin: {o1}")));
            }
        }
        let mut child = process(u, Some(base), fetch, depth + 1).map_err(|e| {
            format_error("Failed to resolve the include directive", line, &lines, idx, base, Some(&e.0))
        })?;
        // The reference removes `! Diff-Path:` lines among an include's first 50, skipping the
        // line after each removal.
        let mut i = 0;
        while i < 50.min(child.len()) {
            if js::trim(&child[i]).starts_with("! Diff-Path:") {
                child.remove(i);
            }
            i += 1;
        }
        if child.is_empty() {
            out.push(String::new());
        } else {
            out.extend(child);
        }
    }
    Ok(out)
}
