//! The regular expressions of `/regex/` rules (and of wildcard patterns): compiled as
//! JavaScript would run them, and the literals that prefilter them.

use regex::Regex;

/// A `/regex/` rule's expression, compiled case-insensitively (tsurlfilter's `RegExp` with the
/// `i` flag): by the `regex` crate (linear time) when it accepts it, else by `fancy-regex`,
/// which adds what JavaScript has and `regex` lacks (look-around, back references) and gives up
/// after a bounded amount of backtracking (a rule that gives up does not match).
#[derive(Debug)]
pub(crate) enum Matcher {
    /// Compiled by the `regex` crate: matches in linear time.
    Linear(Box<Regex>),
    /// Compiled by `fancy-regex`: look-around and back references, backtracking bounded.
    Backtracking(Box<fancy_regex::Regex>),
}

impl Matcher {
    /// `None` when neither accepts `source` (the rule never matches).
    pub(crate) fn new(source: &str) -> Option<Matcher> {
        let source = format!("(?i){source}");
        Regex::new(&source)
            .map(|re| Matcher::Linear(Box::new(re)))
            .or_else(|_| fancy_regex::Regex::new(&source).map(|re| Matcher::Backtracking(Box::new(re))))
            .ok()
    }

    pub(crate) fn is_match(&self, hay: &str) -> bool {
        match self {
            Matcher::Linear(re) => re.is_match(hay),
            Matcher::Backtracking(re) => re.is_match(hay).unwrap_or(false),
        }
    }
}

/// `source` (JavaScript syntax) with what the `regex` crate lacks replaced by what matches at
/// least as much: look-around groups removed (they match no text), back references (`\1`,
/// `\k<name>`) by `.*`. Every match of `source` is a match of the result, so the literals every
/// match of the result starts with are a prefilter for `source`.
fn widen_backtracking(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    let mut in_class = false;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            let named = rest.starts_with("\\k<").then(|| rest.find('>')).flatten();
            if !in_class && digits > 0 && !rest[1..].starts_with('0') {
                out.push_str("(?s:.*)");
                rest = &rest[1 + digits..];
            } else if let (false, Some(end)) = (in_class, named) {
                out.push_str("(?s:.*)");
                rest = &rest[end + 1..];
            } else {
                let escaped = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + escaped]);
                rest = &rest[1 + escaped..];
            }
            continue;
        }
        if in_class {
            in_class = c != ']';
        } else if c == '[' {
            in_class = true;
        } else if ["(?=", "(?!", "(?<=", "(?<!"].iter().any(|p| rest.starts_with(p)) {
            rest = &rest[group_end(rest)..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The length of the group `s` starts with (`s` starts with `(`), up to its closing `)`, or all
/// of `s` if it is not closed.
fn group_end(s: &str) -> usize {
    let (mut depth, mut in_class, mut escaped) = (0usize, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ']' if in_class => in_class = false,
            _ if in_class => {}
            '[' => in_class = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// The literal prefixes every match of a `/regex/` rule starts with, if few and ASCII.
pub(crate) fn regex_prefixes(source: &str) -> Vec<String> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let parse = |s: &str| regex_syntax::Parser::new().parse(s).ok();
    let Some(hir) = parse(source).or_else(|| parse(&widen_backtracking(source))) else { return Vec::new() };
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
    let Some(lits) = seq.literals() else { return Vec::new() };
    if lits.is_empty() || lits.len() > 16 || lits.iter().any(|l| l.as_bytes().is_empty() || !l.as_bytes().is_ascii()) {
        return Vec::new();
    }
    let mut out: Vec<String> =
        lits.iter().map(|l| String::from_utf8_lossy(l.as_bytes()).to_ascii_lowercase()).collect();
    out.sort();
    out.dedup();
    // Their longest common prefix, when there is one, is a single literal to look for instead.
    let first = out[0].clone();
    let common =
        out.iter().fold(first.len(), |n, l| first.bytes().zip(l.bytes()).take(n).take_while(|(a, b)| a == b).count());
    if common >= 2 { vec![first[..common].to_owned()] } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtracking_syntax_widens_to_what_the_regex_crate_takes() {
        assert_eq!(widen_backtracking(r"^ads(?=[0-9])"), "^ads");
        assert_eq!(widen_backtracking(r"(?<=\.)ads[0-9]+\."), r"ads[0-9]+\.");
        assert_eq!(widen_backtracking(r"^(?!x(?:y|z)\))ads"), "^ads");
        assert_eq!(widen_backtracking(r"^([a-z]+)\.\1[0-9]"), r"^([a-z]+)\.(?s:.*)[0-9]");
        assert_eq!(widen_backtracking(r"^(?<w>a)\k<w>b"), r"^(?<w>a)(?s:.*)b");
        // Not a group or a reference inside a class or after an escape.
        assert_eq!(widen_backtracking(r"[(?=\1]\(?=x\0"), r"[(?=\1]\(?=x\0");
    }

    #[test]
    fn backtracking_rules_get_a_prefilter_and_match_as_in_javascript() {
        assert_eq!(regex_prefixes(r"^ads(?=[0-9])"), ["ads"]);
        assert_eq!(regex_prefixes(r"^(track|pixel)(?![0-9])"), ["pixel", "track"]);
        assert!(regex_prefixes(r"^(?!ads)\w+").is_empty(), "no literal every match starts with");
        let m = Matcher::new(r"^ads(?=[0-9])").unwrap();
        assert!(matches!(m, Matcher::Backtracking(_)));
        assert!(m.is_match("ads1.example") && !m.is_match("adsx.example"));
        let m = Matcher::new(r"^([a-z]+)\.\1[0-9]").unwrap();
        assert!(m.is_match("ads.ads1.com") && !m.is_match("ads.cdn1.com"));
        assert!(matches!(Matcher::new(r"^ads[0-9]").unwrap(), Matcher::Linear(_)));
        assert!(Matcher::new(r"^ads(").is_none());
    }
}
