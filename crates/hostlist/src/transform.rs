//! The 13 transformations, applied in the reference's fixed order whatever order a
//! configuration lists them in, after exclusions and inclusions.

use crate::validate::{self, Mode};
use crate::wildcard::Matcher;
use crate::{ip, js, rule};

pub use hostlist_config::Transformation;

/// Applies exclusions, inclusions and then `transformations` (in [`Transformation::ORDER`]).
pub fn apply(
    mut rules: Vec<String>,
    exclusions: Option<&Matcher>,
    inclusions: Option<&Matcher>,
    transformations: &[Transformation],
) -> Vec<String> {
    if let Some(m) = exclusions {
        rules.retain(|r| !m.matches(r));
    }
    if let Some(m) = inclusions {
        rules.retain(|r| m.matches(r));
    }
    for t in Transformation::ORDER {
        if transformations.contains(&t) {
            rules = apply_one(t, rules);
        }
    }
    rules
}

/// Applies one transformation.
pub fn apply_one(t: Transformation, rules: Vec<String>) -> Vec<String> {
    match t {
        Transformation::ConvertToAscii => convert_to_ascii(rules),
        Transformation::TrimLines => rules.into_iter().map(|l| l.trim_matches([' ', '\t']).to_owned()).collect(),
        Transformation::RemoveComments => rules.into_iter().filter(|r| !rule::is_comment(r)).collect(),
        Transformation::Compress => compress(rules),
        Transformation::RemoveModifiers => remove_modifiers(rules),
        Transformation::InvertAllow => invert_allow(rules),
        Transformation::Validate => validate::validate(rules, Mode { allow_ip: false, allow_public_suffix: false }),
        Transformation::ValidateAllowIp => {
            validate::validate(normalize_ips(rules), Mode { allow_ip: true, allow_public_suffix: false })
        }
        Transformation::ValidateAllowPublicSuffix => {
            validate::validate(rules, Mode { allow_ip: false, allow_public_suffix: true })
        }
        Transformation::ValidateAllowIpAndPublicSuffix => {
            validate::validate(normalize_ips(rules), Mode { allow_ip: true, allow_public_suffix: true })
        }
        Transformation::Deduplicate => deduplicate(rules),
        Transformation::RemoveEmptyLines => rules.into_iter().filter(|l| !js::trim(l).is_empty()).collect(),
        Transformation::InsertFinalNewLine => insert_final_newline(rules),
    }
}

fn convert_to_ascii(rules: Vec<String>) -> Vec<String> {
    rules
        .into_iter()
        .map(|r| {
            if rule::is_comment(&r) || r.is_empty() || !rule::contains_non_ascii(&r) {
                r
            } else {
                rule::convert_non_ascii_to_punycode(&r)
            }
        })
        .collect()
}

fn normalize_ips(rules: Vec<String>) -> Vec<String> {
    rules.into_iter().map(|r| ip::normalize_rule(&r).unwrap_or(r)).collect()
}

fn invert_allow(rules: Vec<String>) -> Vec<String> {
    rules
        .into_iter()
        .map(|r| {
            if !r.is_empty() && !rule::is_comment(&r) && !rule::is_etc_hosts_rule(&r) && !rule::is_allow_rule(&r) {
                format!("@@{r}")
            } else {
                r
            }
        })
        .collect()
}

fn insert_final_newline(mut lines: Vec<String>) -> Vec<String> {
    if lines.last().is_none_or(|l| !js::trim(l).is_empty()) {
        lines.push(String::new());
    }
    lines
}

fn remove_modifiers(rules: Vec<String>) -> Vec<String> {
    const REMOVED: [&str; 7] = ["third-party", "3p", "all", "document", "doc", "popup", "network"];
    rules
        .into_iter()
        .map(|raw| {
            let text = js::trim(&raw);
            if text.is_empty() || rule::is_comment(text) {
                return text.to_owned();
            }
            match rule::parse_adblock(text) {
                Ok(mut props) => {
                    for name in REMOVED {
                        props.remove_modifier(name);
                    }
                    props.to_text()
                }
                // The reference crashes on such a line (a bare `@@`); it is kept as it is.
                Err(rule::TooShort) => text.to_owned(),
            }
        })
        .collect()
}

/// A set of strings held elsewhere, by index: 4 bytes an entry instead of a `&str`'s 16.
struct IndexSet {
    table: hashbrown::HashTable<u32>,
    hasher: foldhash::fast::FixedState,
}

impl IndexSet {
    fn with_capacity(n: usize) -> IndexSet {
        IndexSet {
            table: hashbrown::HashTable::with_capacity(n),
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        }
    }

    fn hash(&self, s: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(s)
    }

    /// Inserts index `i` (standing for `key(i)`) unless an equal string is there; whether it was new.
    fn insert<'a>(&mut self, i: u32, key: impl Fn(u32) -> &'a str) -> bool {
        let s = key(i);
        let h = self.hash(s);
        let hasher = self.hasher.clone();
        match self.table.entry(
            h,
            |&j| key(j) == s,
            |&j| {
                use std::hash::BuildHasher;
                hasher.hash_one(key(j))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(_) => false,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(i);
                true
            }
        }
    }

    fn contains<'a>(&self, s: &str, key: impl Fn(u32) -> &'a str) -> bool {
        self.table.find(self.hash(s), |&j| key(j) == s).is_some()
    }
}

/// Removes repeated rules (the last occurrence stays) and the comments and empty lines right
/// above a removed one.
fn deduplicate(rules: Vec<String>) -> Vec<String> {
    if rules.is_empty() {
        return rules;
    }
    let mut seen = IndexSet::with_capacity(rules.len());
    let mut keep = vec![true; rules.len()];
    let mut previous_removed = false;
    for i in (0..rules.len()).rev() {
        let r = rules[i].as_str();
        let dup = !seen.insert(i as u32, |j| rules[j as usize].as_str()) || js::is_object_prototype_key(r);
        let is_comment_or_empty = rule::is_comment(r) || r.is_empty();
        if dup && !is_comment_or_empty {
            previous_removed = true;
            keep[i] = false;
        } else if previous_removed && is_comment_or_empty {
            keep[i] = false;
        } else {
            previous_removed = false;
        }
    }
    drop(seen);
    retain_flagged(rules, &keep)
}

/// Keeps the rules whose flag is set, in place.
fn retain_flagged(mut rules: Vec<String>, keep: &[bool]) -> Vec<String> {
    let mut i = 0;
    rules.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    rules
}

/// No host name: the rule cannot be compressed.
const NO_HOST: u32 = u32::MAX;

/// Rewrites `text` in place to the rule it becomes and returns where its host name starts
/// ([`NO_HOST`] if it cannot be compressed; the name ends before the last `^`, see
/// [`host_of`]); further rules (an `/etc/hosts` line's other host names) go to `extra`.
fn to_adblock_rule(text: &mut String, extra: &mut Vec<(String, u32)>) -> u32 {
    if rule::is_etc_hosts_rule(text)
        && let Some(hostnames) = rule::etc_hosts_hostnames(text)
    {
        let mut names = hostnames.into_iter();
        let first = names.next().unwrap_or_default();
        for h in names {
            extra.push((format!("||{h}^"), 2));
        }
        // The line is always longer than `||host^`: its buffer is reused.
        text.clear();
        text.push_str("||");
        text.push_str(&first);
        text.push('^');
        return 2;
    }
    if rule::is_just_domain(text) {
        text.insert_str(0, "||");
        text.push('^');
        return 2;
    }
    if let Ok(props) = rule::parse_adblock(text)
        && let Some(h) = &props.hostname
        && !props.whitelist
        && props.options.as_ref().is_none_or(|o| o.is_empty())
    {
        // The host name sits in the (possibly padded) text as `||host^`.
        let start = text.find("||").map_or(0, |i| i + 2);
        debug_assert_eq!(host_of(text, start as u32), h);
        return start as u32;
    }
    NO_HOST
}

/// The host name of a compressible rule: from `start` to the last `^`. That `^` ends the
/// trimmed text, or is followed by an empty modifier list (`||host^$`, `||host^$,`), which
/// leaves the rule compressible.
fn host_of(text: &str, start: u32) -> &str {
    let end = text.rfind('^').unwrap_or(text.len());
    &text[start as usize..end]
}

/// Converts hosts lines and plain domains to `||host^`, drops repeated host names, and drops
/// rules whose parent domain is blocked too.
fn compress(mut texts: Vec<String>) -> Vec<String> {
    let mut hosts: Vec<u32> = Vec::with_capacity(texts.len());
    let mut extras: Vec<(usize, String, u32)> = Vec::new();
    let mut extra = Vec::new();
    for (i, text) in texts.iter_mut().enumerate() {
        hosts.push(to_adblock_rule(text, &mut extra));
        extras.extend(extra.drain(..).map(|(t, r)| (i, t, r)));
    }
    if !extras.is_empty() {
        // Lines with several host names: their further rules follow them.
        let mut merged = Vec::with_capacity(texts.len() + extras.len());
        let mut merged_hosts = Vec::with_capacity(texts.len() + extras.len());
        let mut extras = extras.into_iter().peekable();
        for (i, (t, h)) in texts.into_iter().zip(hosts).enumerate() {
            merged.push(t);
            merged_hosts.push(h);
            while let Some((_, t, h)) = extras.next_if(|e| e.0 == i) {
                merged.push(t);
                merged_hosts.push(h);
            }
        }
        texts = merged;
        hosts = merged_hosts;
    }
    let host = |i: u32| -> &str { host_of(&texts[i as usize], hosts[i as usize]) };
    let mut seen = IndexSet::with_capacity(hosts.iter().filter(|&&h| h != NO_HOST).count());
    let mut keep = vec![true; texts.len()];
    for i in 0..texts.len() {
        if hosts[i] != NO_HOST {
            let h = host(i as u32);
            if js::is_object_prototype_key(h) || !seen.insert(i as u32, host) {
                keep[i] = false;
            }
        }
    }
    // Drop rules whose parent domain (`b.c` and `c` for `a.b.c`, never the host itself) is there.
    for i in 0..texts.len() {
        if !keep[i] || hosts[i] == NO_HOST {
            continue;
        }
        let mut rest = host(i as u32);
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if seen.contains(rest, host) || js::is_object_prototype_key(rest) {
                keep[i] = false;
                break;
            }
        }
    }
    drop(seen);
    drop(hosts);
    retain_flagged(texts, &keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn order_is_fixed() {
        let out = apply(
            lines(&["b.example.org", "example.org", "  x  "]),
            None,
            None,
            &[Transformation::InsertFinalNewLine, Transformation::Compress, Transformation::TrimLines],
        );
        assert_eq!(out, lines(&["||example.org^", "x", ""]));
    }

    #[test]
    fn compress_hosts_and_parents() {
        let out = compress(lines(&[
            "0.0.0.0 ads.example.org tracker.example.org",
            "example.org",
            "||example.org^",
            "||other.net^",
            "||sub.other.net^$important",
            "! comment",
        ]));
        assert_eq!(out, lines(&["||example.org^", "||other.net^", "||sub.other.net^$important", "! comment"]));
    }

    #[test]
    fn deduplicate_keeps_last_and_drops_comments_above_duplicates() {
        let out = deduplicate(lines(&["! about a", "||a.org^", "||b.org^", "! again", "||a.org^", "! x", "! x"]));
        assert_eq!(out, lines(&["||b.org^", "! again", "||a.org^", "! x", "! x"]));
    }

    #[test]
    fn remove_modifiers_and_invert_allow() {
        assert_eq!(
            remove_modifiers(lines(&["||a.org^$third-party,popup,important", " ! c "])),
            lines(&["||a.org^$important", "! c"])
        );
        assert_eq!(
            invert_allow(lines(&["||a.org^", "@@||b.org^", "! c", "0.0.0.0 d.org", ""])),
            lines(&["@@||a.org^", "@@||b.org^", "! c", "0.0.0.0 d.org", ""])
        );
    }

    #[test]
    fn final_newline_and_empty_lines() {
        assert_eq!(insert_final_newline(lines(&["a"])), lines(&["a", ""]));
        assert_eq!(insert_final_newline(lines(&["a", " "])), lines(&["a", " "]));
        assert_eq!(insert_final_newline(vec![]), lines(&[""]));
        assert_eq!(apply_one(Transformation::RemoveEmptyLines, lines(&["a", " ", "", "b"])), lines(&["a", "b"]));
    }

    #[test]
    fn compress_reads_the_host_of_a_rule_with_an_empty_modifier_list() {
        // Found by fuzzing (fuzz/, target `rules`): `||d^$` has the host `d` (its modifier list
        // is empty), not `d^`, so it is a repeat of `||d^` and the parent of `||sub.d^$,`.
        let out = compress(lines(&["||example.org^$", "||sub.example.org^$,", "||example.org^", " ||other.org^$ "]));
        assert_eq!(out, lines(&["||example.org^$", " ||other.org^$ "]));
        assert_eq!(compress(lines(&["||d^$"])), lines(&["||d^$"]));
    }
}
