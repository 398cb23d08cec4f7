//! The 13 transformations, applied in the reference's fixed order whatever order a
//! configuration lists them in, after exclusions and inclusions.

use crate::validate::{self, Mode};
use crate::wildcard::Matcher;
use crate::{ip, js, rule};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// A transformation, by its configuration name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transformation {
    RemoveComments,
    Compress,
    RemoveModifiers,
    Validate,
    ValidateAllowIp,
    ValidateAllowPublicSuffix,
    ValidateAllowIpAndPublicSuffix,
    Deduplicate,
    InvertAllow,
    RemoveEmptyLines,
    TrimLines,
    InsertFinalNewLine,
    ConvertToAscii,
}

impl Transformation {
    /// Every transformation, in the order they are applied.
    pub const ORDER: [Transformation; 13] = [
        Transformation::ConvertToAscii,
        Transformation::TrimLines,
        Transformation::RemoveComments,
        Transformation::Compress,
        Transformation::RemoveModifiers,
        Transformation::InvertAllow,
        Transformation::Validate,
        Transformation::ValidateAllowIp,
        Transformation::ValidateAllowPublicSuffix,
        Transformation::ValidateAllowIpAndPublicSuffix,
        Transformation::Deduplicate,
        Transformation::RemoveEmptyLines,
        Transformation::InsertFinalNewLine,
    ];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Transformation::RemoveComments => "RemoveComments",
            Transformation::Compress => "Compress",
            Transformation::RemoveModifiers => "RemoveModifiers",
            Transformation::Validate => "Validate",
            Transformation::ValidateAllowIp => "ValidateAllowIp",
            Transformation::ValidateAllowPublicSuffix => "ValidateAllowPublicSuffix",
            Transformation::ValidateAllowIpAndPublicSuffix => "ValidateAllowIpAndPublicSuffix",
            Transformation::Deduplicate => "Deduplicate",
            Transformation::InvertAllow => "InvertAllow",
            Transformation::RemoveEmptyLines => "RemoveEmptyLines",
            Transformation::TrimLines => "TrimLines",
            Transformation::InsertFinalNewLine => "InsertFinalNewLine",
            Transformation::ConvertToAscii => "ConvertToAscii",
        }
    }

    /// The transformation called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Transformation> {
        Transformation::ORDER.into_iter().find(|t| t.name() == name)
    }

    /// Whether this is one of the four validations (at most one may be chosen).
    pub fn is_validation(self) -> bool {
        matches!(
            self,
            Transformation::Validate
                | Transformation::ValidateAllowIp
                | Transformation::ValidateAllowPublicSuffix
                | Transformation::ValidateAllowIpAndPublicSuffix
        )
    }
}

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

/// Removes repeated rules (the last occurrence stays) and the comments and empty lines right
/// above a removed one.
fn deduplicate(rules: Vec<String>) -> Vec<String> {
    if rules.is_empty() {
        return rules;
    }
    let mut seen: FastSet<&str> = FastSet::with_capacity_and_hasher(rules.len(), Default::default());
    let mut keep = vec![true; rules.len()];
    let mut previous_removed = false;
    for i in (0..rules.len()).rev() {
        let r = rules[i].as_str();
        let dup = !seen.insert(r) || js::is_object_prototype_key(r);
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
    rules.into_iter().zip(keep).filter_map(|(r, k)| k.then_some(r)).collect()
}

struct Compressible {
    text: String,
    hostname: Option<String>,
}

fn to_adblock_rules(rule_text: String, out: &mut Vec<Compressible>) {
    if rule::is_etc_hosts_rule(&rule_text) {
        if let Some(hostnames) = rule::etc_hosts_hostnames(&rule_text) {
            for h in hostnames {
                out.push(Compressible { text: format!("||{h}^"), hostname: Some(h) });
            }
            return;
        }
    }
    if rule::is_just_domain(&rule_text) {
        out.push(Compressible { text: format!("||{rule_text}^"), hostname: Some(rule_text) });
        return;
    }
    if let Ok(props) = rule::parse_adblock(&rule_text) {
        if let Some(h) = props.hostname {
            if !props.whitelist && props.options.as_ref().is_none_or(|o| o.is_empty()) {
                out.push(Compressible { text: rule_text, hostname: Some(h) });
                return;
            }
        }
    }
    out.push(Compressible { text: rule_text, hostname: None });
}

/// Converts hosts lines and plain domains to `||host^`, drops repeated host names, and drops
/// rules whose parent domain is blocked too.
fn compress(rules: Vec<String>) -> Vec<String> {
    let mut converted = Vec::with_capacity(rules.len());
    for r in rules {
        to_adblock_rules(r, &mut converted);
    }
    let mut by_hostname: FastSet<&str> = FastSet::with_capacity_and_hasher(converted.len(), Default::default());
    let mut keep = vec![true; converted.len()];
    for (i, c) in converted.iter().enumerate() {
        if let Some(h) = &c.hostname {
            if js::is_object_prototype_key(h) || !by_hostname.insert(h.as_str()) {
                keep[i] = false;
            }
        }
    }
    // Drop rules whose parent domain (`b.c` and `c` for `a.b.c`, never the host itself) is there.
    for (i, c) in converted.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if let Some(h) = &c.hostname {
            let mut rest = h.as_str();
            while let Some(dot) = rest.find('.') {
                rest = &rest[dot + 1..];
                if by_hostname.contains(rest) || js::is_object_prototype_key(rest) {
                    keep[i] = false;
                    break;
                }
            }
        }
    }
    drop(by_hostname);
    converted.into_iter().zip(keep).filter_map(|(c, k)| k.then_some(c.text)).collect()
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
    fn names_round_trip() {
        for t in Transformation::ORDER {
            assert_eq!(Transformation::from_name(t.name()), Some(t));
        }
        assert_eq!(Transformation::from_name("Nope"), None);
    }
}
