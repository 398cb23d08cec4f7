//! DNS-level matching of AdGuard-syntax blocklists: is a DNS query for a name blocked by a list,
//! by which rule, and which other rules match it (exceptions, `$important`, `$badfilter`).
//!
//! The semantics are those of AdGuard's DNS engine (tsurlfilter's `DnsEngine`, the engine the
//! differential test `tests/tsurlfilter.rs` compares against, on generated lists):
//!
//! - `||d^` matches `d` and its subdomains; other adblock patterns (`|d^`, `d^`, `*` wildcards,
//!   `^` separators) are matched as tsurlfilter does for a hostname request: patterns that start
//!   with `||` or a scheme against `http://name/`, the others against the name; a pattern without
//!   special characters is a substring of `http://name/`;
//! - hosts lines (`0.0.0.0 a b`, `127.0.0.1 a`, `::1 a`) and bare domain lines match the exact
//!   names; they are consulted only when no network rule decides (as in `DnsEngine.match`);
//! - `@@` exceptions unblock; `$important` beats exceptions; `@@…$important` beats `$important`
//!   (tsurlfilter's priority weights; among rules of the same weight the first line decides);
//! - `$badfilter` disables the matching rules with the same pattern and modifiers;
//! - `$dnstype=A|~AAAA` filters by query type (a rule with `$dnstype` never matches a lookup
//!   without a type); `$denyallow` excludes domains; `/regex/` rules match the name;
//! - comments (`!`, `#`), cosmetic rules, rules shorter than 4 characters and rules with
//!   modifiers the DNS engine does not use at the host level (`$domain`, `$third-party`,
//!   `$popup`, `$all`, request types other than `document`, …) are ignored.
//!
//! tsurlfilter's details this crate reproduces (each found by the differential test):
//!
//! - a bare domain line is a hosts rule (exact name) only when it is a registrable domain by the
//!   ICANN section of the Public Suffix List (`example.org`, `x.co.uk`); `sub.example.org` or
//!   `x.blogspot.com` is an adblock pattern without special characters: a substring of
//!   `http://name/` (so it also matches `xsub.example.org.evil`);
//! - the last `$` starts the modifiers even in a regex: `/^a\.com$/` is the pattern `/^a\.com` with
//!   the modifier `/`, an invalid rule;
//! - `||HOST^` patterns, hosts entries and `$dnstype` values are compared case-sensitively with
//!   the lower-case name and the upper-case type: `||ADS.EXAMPLE^`, `0.0.0.0 ADS.EXAMPLE` and
//!   `$dnstype=aaaa` never match;
//! - a rule with `$dnstype` does not match a lookup without a query type.
//!
//! Known, documented differences from tsurlfilter (see the differential test):
//!
//! - `$client` and `$ctag` rules never match: a lookup carries no client (tsurlfilter does the
//!   same without a client name or address);
//! - `/regex/` rules run on the `regex` crate, or, when they use what only a backtracking
//!   engine has (look-around, back references), on `fancy-regex`; syntax neither accepts (a
//!   JavaScript-only form such as `\cX` or the `v` flag's sets) never matches, and a rule that
//!   backtracks past `fancy-regex`'s limit does not match that name;
//! - `$dnsrewrite` rules count as blocking rules, as tsurlfilter's `DnsEngine` reports them (a
//!   non-allowlist basic rule); AdGuard Home answers them with the rewrite instead;
//! - among matching rules of the same priority the first in list order decides; tsurlfilter takes
//!   the first its lookup tables return. Same priority means the same class (important exception,
//!   important block, exception, block), so the verdict is the same.
//!
//! Two forms answer a lookup without scanning the list: [`Engine`], in memory (a hash map from
//! each domain to its rules; a lookup reads the entries of the name and each parent suffix, plus
//! a short list of rules that need a scan: regular expressions and wildcard patterns), and the
//! sharded form of [`build_shards`] / [`lookup_sharded`] for a key-value store, where a lookup
//! reads one `meta` shard and the few shards the name's suffixes hash to.

#![forbid(unsafe_code)]

mod pack;
mod rule;
mod shards;

use rule::{Parsed, Pattern};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

pub use pack::{
    Packed, SHARDS_PER_CHUNK, chunk_of, chunk_shard_keys, header_chunk_count, header_meta, pack_shards, unpack_chunk,
};
pub use shards::{
    SHARD_FORMAT_VERSION, Shard, ShardError, build_shards, lookup_sharded, shard_count, shards_of_lookup,
};

/// A rule of the list as the engine keeps it: its text, its 1-based line, what it means.
#[derive(Debug)]
pub(crate) struct StoredRule {
    pub text: String,
    pub line: u32,
    pub parsed: Parsed,
}

/// What a matching rule does for this query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// A blocking rule (adblock syntax, hosts syntax or a bare domain).
    Block,
    /// An `@@` exception.
    Exception,
    /// A `$important` blocking rule: beats exceptions without `$important`.
    ImportantBlock,
    /// An `@@…$important` exception: beats everything.
    ImportantException,
    /// A rule disabled by a matching `$badfilter` rule.
    Badfiltered,
    /// A `$badfilter` rule (it disables the rules named by it and does nothing else).
    Badfilter,
}

/// One rule matching the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Match {
    /// The rule as written in the list.
    pub text: String,
    /// Its 1-based line number in the list.
    pub line: u32,
    /// What it does for this query.
    pub role: Role,
    /// Whether it is a hosts-syntax or bare-domain rule (exact name), not an adblock rule.
    pub hosts: bool,
}

/// The answer to a lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lookup {
    /// The name as looked up (normalised: lower case, ASCII, no trailing dot).
    pub name: String,
    /// The query type looked up with, if any (upper case).
    pub qtype: Option<String>,
    /// Whether a DNS query for the name is blocked.
    pub blocked: bool,
    /// The rule that decides (blocks, or unblocks as an exception); `None` when nothing matches.
    pub decided_by: Option<Match>,
    /// Every rule matching the name, in list order, with its role.
    pub matches: Vec<Match>,
}

/// A name that is not a DNS name (a caller answers 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError(pub String);

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid name: {}", self.0)
    }
}

impl std::error::Error for NameError {}

/// Normalises a queried name: trims, drops one trailing dot, converts internationalised names to
/// punycode (as the compiler's `ConvertToAscii` does), lower-cases, and checks it is a DNS name
/// (labels of 1 to 63 letters, digits, `-` or `_`, at most 253 characters).
pub fn normalize_name(name: &str) -> Result<String, NameError> {
    let trimmed = name.trim();
    let no_dot = trimmed.strip_suffix('.').unwrap_or(trimmed);
    if no_dot.is_empty() {
        return Err(NameError("empty name".into()));
    }
    let ascii = if no_dot.is_ascii() {
        no_dot.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(no_dot).map_err(|_| NameError(format!("{name:?} is not a valid domain name")))?
    };
    let ok = ascii.len() <= 253
        && ascii.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && ascii.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok { Ok(ascii) } else { Err(NameError(format!("{name:?} is not a valid domain name"))) }
}

/// The keys a rule is indexed by (its exact names for hosts rules, the host of `||host^`,
/// `~label` for a substring pattern with an inner label), or `None` for a rule that must be
/// scanned.
pub(crate) fn index_keys(parsed: &Parsed) -> Option<Vec<String>> {
    match parsed {
        Parsed::Ignored => Some(Vec::new()),
        Parsed::Hosts(names) => Some(names.clone()),
        Parsed::Network(r) => match &r.pattern {
            Pattern::Host(h) => Some(vec![h.clone()]),
            p => p.inner_label().map(|l| vec![format!("~{l}")]),
        },
    }
}

/// The keys a lookup of `name` reads: the name and each parent suffix (`a.b.c`, `b.c`, `c`),
/// then `~` and each label.
pub(crate) fn probe_keys(name: &str) -> Vec<String> {
    let mut keys: Vec<String> =
        std::iter::once(name).chain(name.match_indices('.').map(|(i, _)| &name[i + 1..])).map(str::to_owned).collect();
    keys.extend(name.split('.').map(|l| format!("~{l}")));
    keys
}

/// Decides a lookup from the candidate rules (those indexed by the name's suffixes and the
/// scan list; each rule at most once).
pub(crate) fn decide(name: String, qtype: Option<&str>, candidates: &[&StoredRule]) -> Lookup {
    let qtype = qtype.map(str::to_ascii_uppercase);
    let url = format!("http://{name}/");
    let mut net = Vec::new();
    let mut hosts = Vec::new();
    for r in candidates {
        match &r.parsed {
            Parsed::Ignored => {}
            Parsed::Hosts(names) => {
                if names.contains(&name) {
                    hosts.push(*r);
                }
            }
            Parsed::Network(n) => {
                if n.matches(&name, &url, qtype.as_deref()) {
                    net.push((*r, n));
                }
            }
        }
    }
    let badfilters: Vec<_> = net.iter().filter(|(_, n)| n.badfilter).map(|(_, n)| *n).collect();
    let mut matches = Vec::new();
    let mut best: Option<(&StoredRule, &rule::NetRule)> = None;
    for &(r, n) in &net {
        let role = if n.badfilter {
            Role::Badfilter
        } else if badfilters.iter().any(|b| b.negates(n)) {
            Role::Badfiltered
        } else {
            if best.is_none_or(|(br, bn)| n.weight > bn.weight || (n.weight == bn.weight && r.line < br.line)) {
                best = Some((r, n));
            }
            match (n.allow, n.important) {
                (true, true) => Role::ImportantException,
                (true, false) => Role::Exception,
                (false, true) => Role::ImportantBlock,
                (false, false) => Role::Block,
            }
        };
        matches.push(Match { text: r.text.clone(), line: r.line, role, hosts: false });
    }
    for r in &hosts {
        matches.push(Match { text: r.text.clone(), line: r.line, role: Role::Block, hosts: true });
    }
    matches.sort_by_key(|m| m.line);
    let (blocked, decided_by) = if let Some((r, _)) = best {
        let m = matches.iter().find(|m| m.line == r.line).cloned();
        (!matches!(m.as_ref().map(|m| m.role), Some(Role::Exception | Role::ImportantException)), m)
    } else if let Some(first) = matches.iter().find(|m| m.hosts) {
        (true, Some(first.clone()))
    } else {
        (false, None)
    };
    Lookup { name, qtype, blocked, decided_by, matches }
}

/// FNV-1a, 64 bits: the index's hash of a key (stable across platforms and builds).
pub(crate) fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A list, indexed in memory: the rule texts in one buffer, a hash map from the hash of each
/// key (domain, `~label`) to a chain of the rules indexed by it (rules are parsed when a lookup
/// reads them), and the rules that need a scan, parsed, each with its prefilter.
#[derive(Debug)]
pub struct Engine {
    text: String,
    /// Per indexed rule: start and end in `text`, line.
    rules: Vec<(u32, u32, u32)>,
    /// Hash of a key → first node in `nodes`.
    heads: HashMap<u64, u32>,
    /// (rule, next node or `u32::MAX`).
    nodes: Vec<(u32, u32)>,
    scan: Vec<(StoredRule, rule::Prefilter)>,
}

impl Engine {
    /// Parses and indexes `rules_text` (one rule a line; line numbers are kept).
    pub fn new(rules_text: &str) -> Engine {
        let mut e = Engine {
            text: String::new(),
            rules: Vec::new(),
            heads: HashMap::new(),
            nodes: Vec::new(),
            scan: Vec::new(),
        };
        for (i, line) in rules_text.lines().enumerate() {
            let parsed = rule::parse(line);
            let line_no = i as u32 + 1;
            match index_keys(&parsed) {
                Some(keys) if keys.is_empty() => {}
                Some(keys) => {
                    let t = line.trim();
                    let idx = e.rules.len() as u32;
                    let start = e.text.len() as u32;
                    e.text.push_str(t);
                    e.rules.push((start, e.text.len() as u32, line_no));
                    for k in keys {
                        let node = e.nodes.len() as u32;
                        let head = e.heads.entry(fnv1a(&k)).or_insert(u32::MAX);
                        e.nodes.push((idx, *head));
                        *head = node;
                    }
                }
                None => {
                    let pre = rule::prefilter(&parsed);
                    e.scan.push((StoredRule { text: line.trim().to_owned(), line: line_no, parsed }, pre));
                }
            }
        }
        e
    }

    /// How many rules the DNS engine uses (the others are ignored).
    pub fn rule_count(&self) -> usize {
        self.rules.len() + self.scan.len()
    }

    /// How many of them need a scan on every lookup (regular expressions, wildcard patterns).
    pub fn scan_count(&self) -> usize {
        self.scan.len()
    }

    /// Looks `name` up, queried with type `qtype` (`A`, `AAAA`, … or `None` for any: then rules
    /// with `$dnstype` do not match).
    pub fn lookup(&self, name: &str, qtype: Option<&str>) -> Result<Lookup, NameError> {
        let name = normalize_name(name)?;
        let url = format!("http://{name}/");
        let mut ids: Vec<u32> = Vec::new();
        for k in probe_keys(&name) {
            let mut node = self.heads.get(&fnv1a(&k)).copied().unwrap_or(u32::MAX);
            while node != u32::MAX {
                let (rule, next) = self.nodes[node as usize];
                ids.push(rule);
                node = next;
            }
        }
        ids.sort_unstable();
        ids.dedup();
        let parsed: Vec<StoredRule> = ids
            .iter()
            .map(|&i| {
                let (s, e, line) = self.rules[i as usize];
                let text = &self.text[s as usize..e as usize];
                StoredRule { text: text.to_owned(), line, parsed: rule::parse(text) }
            })
            .collect();
        let mut candidates: Vec<&StoredRule> = parsed.iter().collect();
        candidates.extend(self.scan.iter().filter(|(_, pre)| pre.passes(&url)).map(|(r, _)| r));
        Ok(decide(name, qtype, &candidates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "! comment\n# comment\n||ads.example^\n@@||ok.ads.example^\n||imp.example^$important\n@@||imp.example^\n@@||top.example^$important\n||top.example^$important\n0.0.0.0 h1.example h2.example\nbare.example\n||bad.example^\n||bad.example^$badfilter\n||t.example^$dnstype=AAAA\n/^re[0-9]+\\.example\\b/\nexample.com##.banner\n||tp.example^$third-party\n";

    fn blocked(e: &Engine, n: &str, q: Option<&str>) -> bool {
        e.lookup(n, q).unwrap().blocked
    }

    #[test]
    fn semantics() {
        let e = Engine::new(LIST);
        assert!(blocked(&e, "ads.example", None));
        assert!(blocked(&e, "x.ads.example", None));
        assert!(!blocked(&e, "ok.ads.example", None));
        assert!(!blocked(&e, "notads.example", None));
        assert!(blocked(&e, "imp.example", None));
        assert!(!blocked(&e, "top.example", None));
        assert!(blocked(&e, "h2.example", None));
        assert!(!blocked(&e, "x.h2.example", None));
        assert!(blocked(&e, "BARE.example.", None));
        assert!(!blocked(&e, "bad.example", None));
        assert!(blocked(&e, "t.example", Some("AAAA")));
        assert!(!blocked(&e, "t.example", Some("A")));
        assert!(blocked(&e, "re12.example", None));
        assert!(!blocked(&e, "tp.example", None));
        assert!(e.lookup("a..b", None).is_err());
        let l = e.lookup("ok.ads.example", None).unwrap();
        assert_eq!(l.matches.len(), 2);
        assert_eq!(l.decided_by.unwrap().line, 4);
        let roles: Vec<Role> = e.lookup("bad.example", None).unwrap().matches.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::Badfiltered, Role::Badfilter]);
    }

    #[test]
    fn sharded_agrees() {
        let e = Engine::new(LIST);
        let shards: HashMap<String, Vec<u8>> = build_shards(LIST).into_iter().map(|s| (s.key, s.bytes)).collect();
        for n in [
            "ads.example",
            "x.ads.example",
            "ok.ads.example",
            "top.example",
            "h1.example",
            "bad.example",
            "re1.example",
            "nothing.example",
        ] {
            for q in [None, Some("A"), Some("AAAA")] {
                let a = e.lookup(n, q).unwrap();
                let b = lookup_sharded(n, q, |k| shards.get(k).cloned()).unwrap();
                assert_eq!(a, b, "{n} {q:?}");
            }
        }
    }
}
