//! Classification of one input line, and the hashing the two passes share.

use std::borrow::Cow;
use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a rule's name covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// The name only.
    Exact,
    /// The name and all its subdomains.
    Subtree,
}

/// One input rule (a line that is neither blank nor a comment), classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule<'a> {
    /// `R$badfilter`: disables the rule R; it has no effect of its own.
    BadFilter,
    /// `||name^`, `|name^`, a plain `name`, optionally `$important`.
    Block { name: &'a str, scope: Scope, important: bool },
    /// `@@||name^`, `@@|name^`, `@@name`, optionally `$important`.
    Exception { name: &'a str, scope: Scope, important: bool },
    /// The names of a hosts line whose address blocks (`0.0.0.0`, `127.0.0.1`, `::`, `::1`),
    /// its trailing comment removed; see [`host_names`].
    Hosts(&'a str),
    /// Anything no DNS format can express: regular expressions, `*` wildcards, modifiers other
    /// than `important`, cosmetic rules, invalid names, IP addresses, rewriting hosts lines.
    Unsupported { exception: bool },
}

/// One name of a hosts line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostName<'a> {
    /// A conventional local name such as `localhost`, skipped silently.
    Local,
    /// A valid name to block exactly.
    Valid(&'a str),
    /// Not a valid DNS name.
    Invalid,
}

/// The names hosts files conventionally map to themselves; they are never blocked.
const LOCAL_NAMES: [&str; 7] =
    ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback", "0.0.0.0"];

/// Whether a trimmed line is not a rule: blank, or a `!` or `#` comment.
pub(crate) fn is_comment(trimmed: &str) -> bool {
    trimmed.is_empty() || trimmed.starts_with('!') || trimmed.starts_with('#')
}

/// A trimmed rule in lowercase (ASCII), borrowed when it already is.
pub(crate) fn normalize(trimmed: &str) -> Cow<'_, str> {
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

impl<'a> Rule<'a> {
    /// Classifies a rule given trimmed and lowercased (see [`normalize`]), not a comment.
    pub(crate) fn parse(rule: &'a str) -> Rule<'a> {
        parse_hosts(rule).unwrap_or_else(|| parse_adblock(rule))
    }
}

/// A hosts line: an IP address, whitespace, names, an optional `# comment`.
fn parse_hosts(rule: &str) -> Option<Rule<'_>> {
    let space = rule.bytes().position(|b| b.is_ascii_whitespace())?;
    let address: IpAddr = rule[..space].parse().ok()?;
    let names = &rule[space + 1..];
    let names = names.split_once('#').map_or(names, |(names, _comment)| names);
    Some(if blocks(address) { Rule::Hosts(names) } else { Rule::Unsupported { exception: false } })
}

/// Whether a hosts-file address means "blocked" rather than a rewrite.
fn blocks(address: IpAddr) -> bool {
    address.is_unspecified() || address == IpAddr::V4(Ipv4Addr::LOCALHOST) || address == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

/// The names of a hosts line, classified.
pub(crate) fn host_names(names: &str) -> impl Iterator<Item = HostName<'_>> {
    names.split_ascii_whitespace().map(|name| {
        if LOCAL_NAMES.contains(&name) {
            HostName::Local
        } else if is_valid_name(name) {
            HostName::Valid(name)
        } else {
            HostName::Invalid
        }
    })
}

/// An adblock-syntax rule.
fn parse_adblock(rule: &str) -> Rule<'_> {
    let (exception, body) = rule.strip_prefix("@@").map_or((false, rule), |body| (true, body));
    let (pattern, modifiers) = split_modifiers(body);
    let mut modifiers = modifiers.map(|list| list.split(',').collect::<Vec<_>>()).unwrap_or_default();
    if modifiers.contains(&"badfilter") {
        return Rule::BadFilter;
    }
    let important = modifiers.contains(&"important");
    modifiers.retain(|modifier| *modifier != "important");
    let unsupported = Rule::Unsupported { exception };
    if !modifiers.is_empty() {
        return unsupported;
    }
    let (name, scope) = if let Some(name) = pattern.strip_prefix("||").and_then(|p| p.strip_suffix('^')) {
        (name, Scope::Subtree)
    } else if let Some(name) = pattern.strip_prefix('|').and_then(|p| p.strip_suffix('^')) {
        (name, Scope::Exact)
    } else if exception || !important {
        // `@@name` (optionally `$important`) or a plain domain line (which has no modifiers).
        (pattern, Scope::Exact)
    } else {
        return unsupported;
    };
    match (is_valid_name(name), exception) {
        (false, _) => unsupported,
        (true, false) => Rule::Block { name, scope, important },
        (true, true) => Rule::Exception { name, scope, important },
    }
}

/// A rule without its `@@` split into the pattern and the modifier list after `$`. A regular
/// expression (`/…/`) may contain `$` itself: its modifiers start after the closing `/$`.
fn split_modifiers(body: &str) -> (&str, Option<&str>) {
    let dollar = match body.strip_prefix('/') {
        Some(regex) => regex.find("/$").map(|i| i + 2),
        None => body.find('$'),
    };
    match dollar {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    }
}

/// Whether `name` (lowercase) is a valid DNS name to write: labels of `[a-z0-9_-]`, 1 to 63
/// characters, 253 in all, no empty label, and not an IPv4 address.
pub(crate) fn is_valid_name(name: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    };
    let numeric_tld = name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    name.len() <= 253 && name.split('.').all(label_ok) && !(numeric_tld && name.parse::<Ipv4Addr>().is_ok())
}

/// `name`, then each of its parent domains: `a.b.c`, `b.c`, `c`.
pub(crate) fn suffixes(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |name| name.split_once('.').map(|(_, parent)| parent))
}

/// The identity of a rule (lowercase, trimmed) as `$badfilter` sees it: its pattern (with `@@`)
/// and its set of modifiers, in any order.
pub(crate) fn rule_key(rule: &str) -> u64 {
    key(rule, |_| true)
}

/// The identity of the rule that `rule` (a `$badfilter` rule) disables.
pub(crate) fn badfilter_target(rule: &str) -> u64 {
    key(rule, |modifier| modifier != "badfilter")
}

/// The key [`rule_key`] gives every spelling of the block `name`/`scope`/`important`.
pub(crate) fn block_key(name: &str, scope: Scope, important: bool) -> u64 {
    let anchor = if scope == Scope::Subtree { "||" } else { "|" };
    let modifiers = if important { "$important" } else { "" };
    rule_key(&format!("{anchor}{name}^{modifiers}"))
}

fn key(rule: &str, keep: impl Fn(&str) -> bool) -> u64 {
    let (exception, body) = rule.strip_prefix("@@").map_or((false, rule), |body| (true, body));
    let (pattern, modifiers) = split_modifiers(body);
    let mut modifiers: Vec<&str> = match modifiers {
        Some(list) => list.split(',').filter(|m| keep(m)).collect(),
        None => Vec::new(),
    };
    modifiers.sort_unstable();
    modifiers.dedup();
    hash64(&(exception, pattern, modifiers))
}

/// A deterministic 64-bit hash (SipHash with fixed keys).
pub(crate) fn hash64<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// A set of values that are hashes already, so they are not hashed again.
pub(crate) type HashSet64 = HashSet<u64, BuildHasherDefault<Prehashed>>;

/// The hasher of [`HashSet64`]: a `u64` is its own hash.
#[derive(Default)]
pub(crate) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rule: &str) -> Rule<'_> {
        Rule::parse(rule)
    }

    #[test]
    fn classifies_blocks_and_exceptions() {
        use Scope::*;
        let block = |name, scope, important| Rule::Block { name, scope, important };
        let exception = |name, scope, important| Rule::Exception { name, scope, important };
        assert_eq!(parse("||a.example^"), block("a.example", Subtree, false));
        assert_eq!(parse("||a.example^$important"), block("a.example", Subtree, true));
        assert_eq!(parse("|a.example^"), block("a.example", Exact, false));
        assert_eq!(parse("|a.example^$important"), block("a.example", Exact, true));
        assert_eq!(parse("a.example"), block("a.example", Exact, false));
        assert_eq!(parse("_dmarc.a-b.example"), block("_dmarc.a-b.example", Exact, false));
        assert_eq!(parse("@@||a.example^"), exception("a.example", Subtree, false));
        assert_eq!(parse("@@|a.example^$important"), exception("a.example", Exact, true));
        assert_eq!(parse("@@a.example"), exception("a.example", Exact, false));
        assert_eq!(parse("@@a.example$important"), exception("a.example", Exact, true));
        assert_eq!(parse("0.0.0.0 a.example b.example # c"), Rule::Hosts("a.example b.example "));
        assert_eq!(parse("::1\tlocalhost"), Rule::Hosts("localhost"));
        assert_eq!(parse("||a.example^$badfilter"), Rule::BadFilter);
        assert_eq!(parse("@@||a.example^$dnstype=a,badfilter"), Rule::BadFilter);
    }

    #[test]
    fn rejects_what_dns_cannot_express() {
        let block = Rule::Unsupported { exception: false };
        for rule in [
            "/ads[0-9]\\.example/",
            "||ads*.example^",
            "||a.example",
            "||a.example^|",
            "||a.example^$dnstype=aaaa",
            "||a.example^$important,third-party",
            "a.example$important",
            "a.example^",
            "||1.2.3.4^",
            "1.2.3.4",
            "||a..example^",
            "||.a.example^",
            "||a.example.^",
            "||a!.example^",
            "example.org##.banner",
            "1.2.3.4 rewrite.example",
            "||a.example^$",
        ] {
            assert_eq!(parse(rule), block, "{rule}");
        }
        assert_eq!(parse("@@/ads/"), Rule::Unsupported { exception: true });
        assert_eq!(parse("@@||a.example^$client=1.2.3.4"), Rule::Unsupported { exception: true });
        assert!(!is_valid_name(&format!("{}.example", "a".repeat(64))));
        assert!(is_valid_name(&format!("{}.example", "a".repeat(63))));
        assert!(!is_valid_name(&vec!["a".repeat(63); 4].join(".")), "255 characters");
    }

    #[test]
    fn hosts_names() {
        let names: Vec<_> = host_names(" localhost a.example 0.0.0.0 bad!name ").collect();
        assert_eq!(names, [HostName::Local, HostName::Valid("a.example"), HostName::Local, HostName::Invalid]);
    }

    #[test]
    fn badfilter_keys_ignore_modifier_order() {
        assert_eq!(badfilter_target("||a.example^$badfilter"), rule_key("||a.example^"));
        assert_eq!(badfilter_target("||a.example^$badfilter,important"), block_key("a.example", Scope::Subtree, true));
        assert_eq!(badfilter_target("||a^$dnstype=a,badfilter,important"), rule_key("||a^$important,dnstype=a"));
        assert_ne!(badfilter_target("||a.example^$badfilter"), rule_key("@@||a.example^"));
        assert_ne!(badfilter_target("||a.example^$badfilter"), rule_key("||a.example^$important"));
        assert_eq!(badfilter_target("/a$/$badfilter"), rule_key("/a$/"));
        assert_eq!(split_modifiers("/a$/"), ("/a$/", None));
    }

    #[test]
    fn suffixes_walk_up() {
        assert_eq!(suffixes("a.b.c").collect::<Vec<_>>(), ["a.b.c", "b.c", "c"]);
    }
}
