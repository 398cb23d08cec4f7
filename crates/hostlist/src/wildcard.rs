//! Exclusion and inclusion patterns: a plain substring, a `*` wildcard (whole line,
//! case-insensitive), or `/regex/` (case-insensitive, multi-line), as the reference's `Wildcard`.
//! Regular expressions run in linear time (the `regex` crate): no catastrophic backtracking.

use aho_corasick::AhoCorasick;
use regex::{RegexSet, RegexSetBuilder};

/// Largest compiled size of the patterns' regular expressions together.
pub const MAX_REGEX_BYTES: usize = 32 * 1024 * 1024;

/// An invalid pattern.
#[derive(Debug, thiserror::Error)]
#[error("invalid pattern {pattern:?}: {reason}")]
pub struct PatternError {
    /// The pattern, as written.
    pub pattern: String,
    /// Why it is invalid.
    pub reason: String,
}

/// A set of patterns; a line matches if any pattern does.
pub struct Matcher {
    plain: Option<AhoCorasick>,
    regexes: Option<RegexSet>,
    /// The patterns as written: the plain ones (in the automaton's order), then those compiled
    /// to regular expressions (in the set's order).
    written: Vec<String>,
    plain_count: usize,
}

/// The regular expression a pattern stands for, or `None` for a plain substring.
fn pattern_regex(p: &str) -> Option<String> {
    if p.starts_with('/') && p.ends_with('/') && p.len() > 2 {
        Some(format!("(?mi){}", &p[1..p.len() - 1]))
    } else if p.contains('*') {
        let pieces: Vec<String> = split_star_runs(p).into_iter().map(regex::escape).collect();
        Some(format!(r"(?i)^{}$", pieces.join(r"[\s\S]*")))
    } else {
        None
    }
}

/// `str.split(/\*+/)`.
fn split_star_runs(p: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = p.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'*' {
            out.push(&p[start..i]);
            while i < bytes.len() && bytes[i] == b'*' {
                i += 1;
            }
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&p[start..]);
    out
}

impl Matcher {
    /// Builds a matcher from patterns; empty ones are ignored and repeats count once. `None`
    /// when no pattern is left.
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<Option<Matcher>, PatternError> {
        let mut seen = std::collections::HashSet::new();
        let mut plain = Vec::new();
        let mut regexes = Vec::new();
        let mut written_regexes = Vec::new();
        for p in patterns {
            if p.is_empty() || !seen.insert(p) {
                continue;
            }
            match pattern_regex(p) {
                Some(re) => {
                    // Check each on its own, so that the error names the pattern.
                    regex::RegexBuilder::new(&re)
                        .size_limit(MAX_REGEX_BYTES)
                        .build()
                        .map_err(|e| PatternError { pattern: p.to_owned(), reason: e.to_string() })?;
                    regexes.push(re);
                    written_regexes.push(p.to_owned());
                }
                None => plain.push(p.to_owned()),
            }
        }
        if plain.is_empty() && regexes.is_empty() {
            return Ok(None);
        }
        let plain_count = plain.len();
        let mut written = plain.clone();
        written.extend(written_regexes);
        let plain = if plain.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::new(&plain)
                    .map_err(|e| PatternError { pattern: plain[0].clone(), reason: e.to_string() })?,
            )
        };
        let regexes = if regexes.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(&regexes)
                    .size_limit(MAX_REGEX_BYTES)
                    .build()
                    .map_err(|e| PatternError { pattern: "(the set of patterns)".into(), reason: e.to_string() })?,
            )
        };
        Ok(Some(Matcher { plain, regexes, written, plain_count }))
    }

    /// Whether any pattern matches `line`.
    pub fn matches(&self, line: &str) -> bool {
        self.plain.as_ref().is_some_and(|ac| ac.is_match(line))
            || self.regexes.as_ref().is_some_and(|rs| rs.is_match(line))
    }

    /// A pattern, as written, that matches `line` (for explaining why a line was dropped).
    pub fn matching_pattern(&self, line: &str) -> Option<&str> {
        if let Some(m) = self.plain.as_ref().and_then(|ac| ac.find(line)) {
            return Some(&self.written[m.pattern().as_usize()]);
        }
        let index = self.regexes.as_ref()?.matches(line).iter().next()?;
        Some(&self.written[self.plain_count + index])
    }

    /// The patterns, as written (repeats once).
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.written.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &[&str]) -> Matcher {
        Matcher::new(p.iter().copied()).unwrap().unwrap()
    }

    #[test]
    fn three_kinds_of_pattern() {
        let plain = m(&["example"]);
        assert!(plain.matches("||example.org^"));
        assert!(!plain.matches("||EXAMPLE.org^"), "plain substrings are case-sensitive");
        let wild = m(&["||*.example.org^"]);
        assert!(wild.matches("||ads.EXAMPLE.org^"));
        assert!(!wild.matches("||ads.example.org^$important"), "wildcards match the whole line");
        let wild = m(&["*ads**tracker*"]);
        assert!(wild.matches("||ads.tracker.org^"));
        let re = m(&["/^\\|\\|ads[0-9]+\\./"]);
        assert!(re.matches("||ADS12.example.org^"));
        assert!(!re.matches("||ads.example.org^"));
    }

    #[test]
    fn invalid_regex_is_an_error_naming_the_pattern() {
        let e = Matcher::new(["/(unclosed/"]).err().unwrap();
        assert_eq!(e.pattern, "/(unclosed/");
        assert!(Matcher::new(["", ""]).unwrap().is_none());
    }

    #[test]
    fn the_matching_pattern_is_named() {
        let matcher = m(&["ads", "*tracker*", "/^x[0-9]/", "ads"]);
        assert_eq!(matcher.matching_pattern("||ads.example^"), Some("ads"));
        assert_eq!(matcher.matching_pattern("0.0.0.0 my.TRACKER.example"), Some("*tracker*"));
        assert_eq!(matcher.matching_pattern("x1.example"), Some("/^x[0-9]/"));
        assert_eq!(matcher.matching_pattern("||example.org^"), None);
        assert_eq!(matcher.patterns().collect::<Vec<_>>(), ["ads", "*tracker*", "/^x[0-9]/"]);
    }
}
