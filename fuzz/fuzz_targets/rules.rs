//! The rule parser and the transformations of `crates/hostlist`.
//!
//! Input: two bytes choosing a set of transformations (bits 0-12, in `Transformation::ORDER`)
//! and a validation mode (bits 14-15), then text, split into lines as sources are. Checks:
//! - every classifier and parser of `rule`, `ip`, `tld` and `validate` on each line, with what
//!   their results promise (see `check_line`);
//! - each chosen transformation on its own, with its invariants (idempotence where it holds by
//!   design, output a subsequence of the input where nothing is rewritten, what must stay and
//!   what must go; see `check_transformation`), then the chosen set through `transform::apply`;
//! - `download::split_lines` on the text equals `download::split_reader` on the bytes, read in
//!   small pieces;
//! - an `AdblockRule` built from the bytes within the rule grammar survives `to_text` and
//!   `parse_adblock` unchanged.

#![no_main]

use hostlist::download;
use hostlist::rule::{self, AdblockRule, Modifier, TooShort};
use hostlist::transform::{self, Transformation};
use hostlist::validate::{self, Mode};
use hostlist::{ip, tld};
use libfuzzer_sys::fuzz_target;

use hostlist::js::{is_object_prototype_key as is_prototype_key, is_space, trim};

/// The validation modes, in the order of the validation transformations (`Validate`,
/// `ValidateAllowIp`, `ValidateAllowPublicSuffix`, `ValidateAllowIpAndPublicSuffix`).
const MODES: [Mode; 4] = [
    Mode { allow_ip: false, allow_public_suffix: false },
    Mode { allow_ip: true, allow_public_suffix: false },
    Mode { allow_ip: false, allow_public_suffix: true },
    Mode { allow_ip: true, allow_public_suffix: true },
];

fn no_breaks(lines: &[String], what: &str) {
    for l in lines {
        assert!(!l.contains(['\r', '\n']), "{what}: a line break inside output line {l:?}");
    }
}

/// Whether `sub` is `full` with some lines left out (order kept).
fn is_subsequence(sub: &[String], full: &[String]) -> bool {
    let mut it = full.iter();
    sub.iter().all(|s| it.any(|f| f == s))
}

fn check_line(line: &str, mode: Mode) {
    let comment = rule::is_comment(line);
    let _ = rule::is_allow_rule(line);
    let _ = rule::contains_non_ascii(line);
    if rule::is_just_domain(line) {
        assert!(line.is_ascii() && line.contains('.') && line.len() <= 255, "is_just_domain({line:?})");
        assert!(!line.contains(|c: char| c.is_whitespace()), "is_just_domain({line:?}) with white space");
        assert!(!comment, "{line:?} is both a domain and a comment");
    }
    let _ = rule::is_etc_hosts_rule(line);
    if let Some(hostnames) = rule::etc_hosts_hostnames(line) {
        for h in &hostnames {
            assert!(!h.is_empty() && !h.contains(is_space), "etc_hosts_hostnames({line:?}) gave {h:?}");
            if !trim(line).starts_with('#') {
                assert!(!h.contains('#'), "etc_hosts_hostnames({line:?}) kept a comment: {h:?}");
            }
        }
    }
    match rule::parse_adblock(line) {
        Err(TooShort) => assert!(matches!(trim(line), "" | "@@"), "parse_adblock({line:?}): too short?"),
        Ok(r) => {
            assert_eq!(r.whitelist, trim(line).starts_with("@@"), "parse_adblock({line:?}).whitelist");
            if let Some(options) = &r.options {
                assert!(!options.is_empty(), "parse_adblock({line:?}): empty options are None");
                for o in options {
                    assert_ne!(o.value.as_deref(), Some(""), "parse_adblock({line:?}): empty value");
                }
            }
            if let Some(h) = &r.hostname {
                assert_eq!(format!("||{h}^"), r.pattern, "parse_adblock({line:?}).hostname");
            }
            let text = r.to_text();
            assert!(!text.contains(['\r', '\n']), "to_text of {line:?} has a line break");
            // The text form parses again (it may differ: escapes are resolved, empty parts dropped).
            assert!(rule::parse_adblock(&text).is_ok() || matches!(trim(&text), "" | "@@"));
        }
    }
    let ascii = rule::convert_non_ascii_to_punycode(line);
    if line.is_ascii() {
        assert_eq!(ascii, line, "convert_non_ascii_to_punycode changed an ASCII line");
    }
    assert!(rule::domain_to_ascii(line).is_ascii(), "domain_to_ascii({line:?}) is not ASCII");

    let parsed = tld::parse(line);
    if let Some(h) = &parsed.hostname {
        assert!(!h.is_empty(), "tld::parse({line:?}) gave an empty host name");
    }
    let _ = tld::is_valid_hostname(line);
    let _ = tld::get_public_suffix(line);

    if let Some(p) = ip::parse(line) {
        assert!(!p.octets.is_empty() && p.octets.len() <= 4, "ip::parse({line:?}): {p:?}");
    }
    if let Some(n) = ip::normalize_rule(line) {
        // What ValidateAllowIp writes is already normal.
        assert_eq!(ip::normalize_rule(&n), None, "normalize_rule is not a fixed point: {line:?} -> {n:?}");
        assert!(n.contains("||"), "normalize_rule({line:?}) = {n:?}");
    }
    let valid = validate::is_valid(line, mode);
    if comment || trim(line).is_empty() {
        assert!(valid, "comments and blank lines are always valid: {line:?}");
    }
}

fn check_validation(t: Transformation, mode: Mode, input: &[String], once: &[String], twice: &[String]) {
    // The IP-allowing validations first rewrite complete addresses and subnets.
    let normalized: Vec<String> = if mode.allow_ip {
        input.iter().map(|r| ip::normalize_rule(r).unwrap_or_else(|| r.clone())).collect()
    } else {
        input.to_vec()
    };
    assert!(is_subsequence(once, &normalized), "{t:?} did more than remove lines");
    for l in once {
        assert!(validate::is_valid(l, mode), "{t:?} kept an invalid line {l:?}");
    }
    // Valid rules all stay; only comments and empty lines go along with an invalid rule below.
    let is_rule = |l: &&String| !(rule::is_comment(l) || l.is_empty());
    let valid_rules = normalized.iter().filter(is_rule).filter(|l| validate::is_valid(l, mode)).count();
    assert_eq!(valid_rules, once.iter().filter(is_rule).count(), "{t:?} dropped a valid rule");
    assert_eq!(twice, once, "{t:?} is not idempotent");
}

fn check_transformation(t: Transformation, input: &[String]) {
    let once = transform::apply_one(t, input.to_vec());
    no_breaks(&once, t.name());
    let twice = transform::apply_one(t, once.clone());
    match t {
        Transformation::TrimLines => {
            assert_eq!(once.len(), input.len());
            for (o, i) in once.iter().zip(input) {
                assert_eq!(o, i.trim_matches([' ', '\t']));
            }
            assert_eq!(twice, once, "TrimLines is not idempotent");
        }
        Transformation::RemoveComments => {
            assert!(is_subsequence(&once, input));
            assert!(!once.iter().any(|l| rule::is_comment(l)), "RemoveComments kept a comment");
            assert_eq!(once.len(), input.iter().filter(|l| !rule::is_comment(l)).count());
            assert_eq!(twice, once);
        }
        Transformation::RemoveEmptyLines => {
            assert!(is_subsequence(&once, input));
            assert!(!once.iter().any(|l| trim(l).is_empty()), "RemoveEmptyLines kept an empty line");
            assert_eq!(once.len(), input.iter().filter(|l| !trim(l).is_empty()).count());
            assert_eq!(twice, once);
        }
        Transformation::InsertFinalNewLine => {
            assert!(once.len() == input.len() || once.len() == input.len() + 1);
            assert_eq!(&once[..input.len()], input);
            assert!(once.last().is_some_and(|l| trim(l).is_empty()), "no final empty line");
            assert_eq!(twice, once);
        }
        Transformation::InvertAllow => {
            assert_eq!(once.len(), input.len());
            for (o, i) in once.iter().zip(input) {
                assert!(o == i || *o == format!("@@{i}"), "InvertAllow: {i:?} -> {o:?}");
                if !i.is_empty() && !rule::is_comment(i) {
                    assert!(rule::is_allow_rule(o) || rule::is_etc_hosts_rule(o), "InvertAllow left {o:?}");
                }
            }
            assert_eq!(twice, once);
        }
        Transformation::Deduplicate => {
            assert!(is_subsequence(&once, input));
            let rules = |lines: &[String]| -> Vec<String> {
                lines.iter().filter(|l| !(rule::is_comment(l) || l.is_empty())).cloned().collect()
            };
            let mut kept = rules(&once);
            let mut expected = rules(input);
            expected.retain(|l| !is_prototype_key(l));
            expected.sort();
            expected.dedup();
            kept.sort();
            let n = kept.len();
            kept.dedup();
            assert_eq!(kept.len(), n, "Deduplicate kept a repeated rule");
            assert_eq!(kept, expected, "Deduplicate lost a rule");
            assert_eq!(twice, once);
        }
        Transformation::Validate => check_validation(t, MODES[0], input, &once, &twice),
        Transformation::ValidateAllowIp => check_validation(t, MODES[1], input, &once, &twice),
        Transformation::ValidateAllowPublicSuffix => check_validation(t, MODES[2], input, &once, &twice),
        Transformation::ValidateAllowIpAndPublicSuffix => check_validation(t, MODES[3], input, &once, &twice),
        Transformation::Compress => {
            // Compressed rules are `||host^`, unique, with no parent domain blocked: a second
            // pass finds nothing to do.
            assert!(once.len() <= input.iter().map(|l| l.split(is_space).count()).sum::<usize>());
            assert_eq!(twice, once, "Compress is not idempotent");
        }
        Transformation::ConvertToAscii => {
            assert_eq!(once.len(), input.len());
            for (o, i) in once.iter().zip(input) {
                if i.is_ascii() || rule::is_comment(i) {
                    assert_eq!(o, i);
                }
            }
            assert_eq!(twice, once, "ConvertToAscii is not idempotent");
        }
        Transformation::RemoveModifiers => {
            // Not idempotent by design: the text form of a rule resolves escapes (`a\,b`), so a
            // second parse may see other modifiers. Only the shape is checked.
            assert_eq!(once.len(), input.len());
            for (o, i) in once.iter().zip(input) {
                if rule::is_comment(trim(i)) || trim(i).is_empty() {
                    assert_eq!(o, trim(i));
                }
            }
        }
    }
}

/// `split_lines` on the text equals `split_reader` on the bytes, however they are read.
fn check_split(bytes: &[u8], piece: usize) {
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(self.1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let lines = download::split_lines(&String::from_utf8_lossy(bytes));
    assert!(!lines.is_empty());
    if lines != [""] {
        for l in &lines {
            assert!(!l.is_empty() && !l.contains(['\r', '\n']), "split_lines gave {l:?}");
        }
        assert!(!lines[0].starts_with(is_space) && !lines[lines.len() - 1].ends_with(is_space));
    }
    assert_eq!(download::split_reader(bytes, 0).unwrap(), lines, "split_reader differs from split_lines");
    assert_eq!(download::split_reader(Trickle(bytes, piece), 0).unwrap(), lines, "split_reader in pieces of {piece}");
}

/// Characters allowed in a generated modifier name or value: none of the rule syntax.
fn option_char(c: char) -> bool {
    !matches!(c, ',' | '=' | '$' | '\\') && !is_space(c)
}

/// Builds a rule within the grammar `parse_adblock` reads (no `$` in the pattern, no syntax
/// characters in modifiers) and checks that its text form parses back to it.
fn check_round_trip(text: &str, mask: u16) {
    let mut parts = text.split('\u{1}');
    let pattern: String = parts.next().unwrap_or("").chars().filter(|&c| c != '$').collect();
    let pattern = trim(&pattern).to_owned();
    let whitelist = mask & 1 != 0;
    if pattern.is_empty() || pattern.ends_with('\\') || (!whitelist && pattern.starts_with("@@")) {
        return;
    }
    let mut options = Vec::new();
    for p in parts {
        let mut kv = p.splitn(2, '\u{2}');
        let name: String = kv.next().unwrap_or("").chars().filter(|&c| option_char(c)).collect();
        let value: Option<String> =
            kv.next().map(|v| v.chars().filter(|&c| option_char(c)).collect()).filter(|v: &String| !v.is_empty());
        if name.is_empty() {
            continue;
        }
        options.push(Modifier { name, value });
    }
    let rule = AdblockRule {
        hostname: rule::simple_hostname(&pattern).map(str::to_owned),
        pattern,
        whitelist,
        options: (!options.is_empty()).then_some(options),
    };
    let text = rule.to_text();
    // A rule whose whole text looks like `/regex/` is read as a regular expression, options and all.
    let body = text.strip_prefix("@@").filter(|_| whitelist).unwrap_or(&text);
    if rule.options.is_some() && body.starts_with('/') && body.ends_with('/') && !body.contains("replace=") {
        return;
    }
    assert_eq!(rule::parse_adblock(&text), Ok(rule.clone()), "{text:?} does not parse back");
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let mask = u16::from_le_bytes([data[0], data[1]]);
    let bytes = &data[2..];
    let text = String::from_utf8_lossy(bytes);
    // Lines as the downloader gives them (never a line break inside one), empty ones included
    // (an empty include leaves one).
    let lines: Vec<String> = text.split(['\r', '\n']).map(str::to_owned).collect();

    let mode = MODES[usize::from(mask >> 14)];
    for line in &lines {
        check_line(line, mode);
    }
    // The chosen transformations (a bit each), each on its own, then together in their order.
    let chosen: Vec<Transformation> =
        Transformation::ORDER.into_iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, t)| t).collect();
    for &t in &chosen {
        check_transformation(t, &lines);
        assert_eq!(Transformation::from_name(t.name()), Some(t));
    }
    let out = transform::apply(lines.clone(), None, None, &chosen);
    no_breaks(&out, "apply");
    if let Some(t) = Transformation::from_name(&text) {
        assert_eq!(t.name(), text);
    }

    check_split(bytes, usize::from((mask >> 13) & 7) + 1);
    check_round_trip(&text, mask);
});
