//! One line of a list, parsed as AdGuard's DNS engine (tsurlfilter's `DnsEngine`) reads it.

mod expression;

use expression::{Matcher, regex_prefixes};

use std::net::IpAddr;
use std::sync::OnceLock;

/// What the DNS engine makes of one line.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// A comment, an empty line, a cosmetic rule or a rule the DNS engine does not use.
    Ignored,
    /// `0.0.0.0 a b`, `::1 a`, or a bare domain `a.example`: these exact names.
    Hosts(Vec<String>),
    /// An adblock-syntax network rule that applies at the DNS level.
    Network(NetRule),
}

/// How a network rule's pattern matches a name.
#[derive(Debug)]
pub(crate) enum Pattern {
    /// `||host^`: the host and its subdomains (indexed by `host`).
    Host(String),
    /// A pattern without special characters (or with only a trailing `*`): a substring of
    /// `http://name/`. Indexed by an inner label (one between two dots) when it has one.
    Substring(String),
    /// Anything else: a regular expression on the name, or on `http://name/` for patterns that
    /// name a scheme or start with `||`. Each of the `literal` pieces (of an adblock pattern)
    /// must occur in the haystack for it to match (checked first, so most rules are never
    /// compiled).
    Regex { source: String, on_url: bool, literal: Vec<String>, compiled: OnceLock<Option<Matcher>> },
}

/// A host-level network rule.
#[derive(Debug)]
pub(crate) struct NetRule {
    pub allow: bool,
    pub important: bool,
    pub badfilter: bool,
    pub pattern: Pattern,
    /// The pattern as written (what `$badfilter` compares).
    pub pattern_text: String,
    /// The modifiers, sorted, without `badfilter` (what `$badfilter` compares).
    pub options_key: Vec<String>,
    /// `$dnstype=`: (permitted, restricted), as written (compared case-sensitively with the
    /// upper-case query type, as tsurlfilter does: `$dnstype=aaaa` never matches).
    pub dnstype: Option<(Vec<String>, Vec<String>)>,
    /// `$denyallow=` domains.
    pub denyallow: Vec<String>,
    /// `$client` / `$ctag`: a lookup carries no client, so such rules never match.
    pub client_only: bool,
    /// The tsurlfilter priority weight (`NetworkRule.calculatePriorityWeight`, restricted to
    /// the modifiers a host-level rule can carry).
    pub weight: u32,
}

const REQUEST_TYPES: &[&str] = &[
    "document",
    "doc",
    "subdocument",
    "frame",
    "script",
    "stylesheet",
    "css",
    "object",
    "image",
    "xmlhttprequest",
    "xhr",
    "media",
    "font",
    "websocket",
    "ping",
    "other",
];

fn is_cosmetic(line: &str) -> bool {
    ["##", "#@#", "#?#", "#@?#", "#$#", "#@$#", "#%#", "#@%#", "$$", "$@$"].iter().any(|m| line.contains(m))
}

/// A name as the hosts syntax and bare-domain lines accept it (already lower case).
fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| !l.is_empty() && l.len() <= 63)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Whether `name` is one label under its public suffix, by the ICANN section of the Public
/// Suffix List only (tldts, which tsurlfilter uses, leaves the private section out by default:
/// `x.blogspot.com` is not registrable there).
fn is_registrable(name: &str) -> bool {
    let mut rest = name;
    // Skip private suffixes: look again at what is under them, until an ICANN (or unknown,
    // `*`) suffix.
    let suffix = loop {
        let Some(s) = psl::suffix(rest.as_bytes()) else { return false };
        let Ok(text) = std::str::from_utf8(s.trim().as_bytes()) else { return false };
        if s.typ() != Some(psl::Type::Private) {
            break text.to_owned();
        }
        match text.split_once('.') {
            Some((_, parent)) => rest = &name[name.len() - parent.len()..],
            None => return false,
        }
    };
    name.len() > suffix.len() + 1
        && name.ends_with(&suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
        && !name[..name.len() - suffix.len() - 1].contains('.')
}

pub(crate) fn parse(line: &str) -> Parsed {
    let line = line.trim();
    // tsurlfilter drops rules shorter than 4 characters (`MIN_RULE_LENGTH`).
    if line.len() < 4 || line.starts_with('!') || line.starts_with('#') || is_cosmetic(line) {
        return Parsed::Ignored;
    }
    // Hosts syntax: an address, then names up to a `#` comment.
    let mut words = line.split_whitespace();
    if let Some(first) = words.next()
        && first.parse::<IpAddr>().is_ok()
    {
        let names: Vec<String> = words
            .take_while(|w| !w.starts_with('#'))
            .map(str::to_owned)
            // Kept as written: tsurlfilter compares them case-sensitively with the lower-case
            // name, so an upper-case hosts entry never matches.
            .filter(|w| is_hostname(w))
            .collect();
        return if names.is_empty() { Parsed::Ignored } else { Parsed::Hosts(names) };
    }
    // A bare domain is a hosts rule (the exact name) when it is a registrable domain (one label
    // under its public suffix); `sub.example.org` is an adblock pattern (a substring of the URL).
    if line.contains('.')
        && is_hostname(line)
        && line.split('.').all(|l| !l.starts_with('-') && !l.ends_with('-'))
        && is_registrable(line)
    {
        return Parsed::Hosts(vec![line.to_owned()]);
    }
    parse_network(line).map_or(Parsed::Ignored, Parsed::Network)
}

fn parse_network(line: &str) -> Option<NetRule> {
    let (allow, body) = match line.strip_prefix("@@") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    // Split the modifiers off: for a `/regex/$opts` rule after the closing slash.
    // The last `$` starts the modifiers, in a `/regex/` too (tsurlfilter reads `/a$/` as the
    // pattern `/a` with the modifier `/`, an invalid rule).
    let split = body.rfind('$');
    let (pattern_text, options) = match split {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, ""),
    };
    let mut rule = NetRule {
        allow,
        important: false,
        badfilter: false,
        pattern: Pattern::Substring(String::new()),
        pattern_text: pattern_text.to_owned(),
        options_key: Vec::new(),
        dnstype: None,
        denyallow: Vec::new(),
        client_only: false,
        weight: 1,
    };
    let (mut permitted_types, mut restricted_types) = (0u32, 0u32);
    let mut document_permitted = false;
    let mut document_restricted = false;
    if !options.is_empty() {
        for opt in options.split(',') {
            let opt = opt.trim();
            let (name, value) = match opt.split_once('=') {
                Some((n, v)) => (n.to_ascii_lowercase(), Some(v)),
                None => (opt.to_ascii_lowercase(), None),
            };
            if name != "badfilter" {
                rule.options_key.push(opt.to_ascii_lowercase());
            }
            let (negated, bare) = match name.strip_prefix('~') {
                Some(b) => (true, b),
                None => (false, name.as_str()),
            };
            match (bare, value, negated) {
                ("important", None, false) => rule.important = true,
                ("badfilter", None, false) => rule.badfilter = true,
                ("dnstype", Some(v), false) => {
                    let (mut p, mut r) = (Vec::new(), Vec::new());
                    for t in v.split('|') {
                        match t.strip_prefix('~') {
                            Some(t) => r.push(t.to_owned()),
                            None => p.push(t.to_owned()),
                        }
                    }
                    if !p.is_empty() {
                        r.clear();
                    }
                    rule.dnstype = Some((p, r));
                }
                ("denyallow", Some(v), false) => {
                    rule.denyallow = v.split('|').map(|d| d.to_ascii_lowercase()).collect();
                    rule.weight += 1;
                }
                ("client" | "ctag", Some(_), false) => rule.client_only = true,
                ("dnsrewrite", _, false) => {}
                (t, None, _) if REQUEST_TYPES.contains(&t) => {
                    let is_doc = t == "document" || t == "doc";
                    if negated {
                        restricted_types += 1;
                        document_restricted |= is_doc;
                    } else {
                        permitted_types += 1;
                        document_permitted |= is_doc;
                    }
                }
                // Any other modifier makes the rule a browser-only rule the DNS engine skips.
                _ => return None,
            }
        }
    }
    // `isHostLevelNetworkRule`: not both permitted and restricted request types.
    if permitted_types > 0 && restricted_types > 0 {
        return None;
    }
    // A DNS request is a `document` request.
    if (permitted_types > 0 && !document_permitted) || document_restricted {
        // Host-level but never matching a DNS query: kept out like an unsupported rule.
        return None;
    }
    if restricted_types > 0 {
        rule.weight += 1;
    }
    if permitted_types > 0 {
        rule.weight += 50 + 50_u32.div_ceil(permitted_types);
    }
    if allow {
        rule.weight += 100_000;
    }
    if rule.important {
        rule.weight += 1_000_000;
    }
    rule.options_key.sort();
    rule.pattern = pattern(pattern_text)?;
    Some(rule)
}

fn pattern(p: &str) -> Option<Pattern> {
    if p.len() > 1 && p.starts_with('/') && p.ends_with('/') {
        let source = p[1..p.len() - 1].to_owned();
        // Compiled on first use ([`Matcher`]).
        return Some(Pattern::Regex { source, on_url: false, literal: Vec::new(), compiled: OnceLock::new() });
    }
    let special = |c: char| matches!(c, '*' | '^' | '|');
    if !p.contains(special) || (p.ends_with('*') && !p[..p.len() - 1].contains(special)) {
        let lit = p.trim_end_matches('*').to_ascii_lowercase();
        if lit.is_empty() {
            return Some(Pattern::Substring(String::new()));
        }
        return Some(Pattern::Substring(lit));
    }
    if let Some(h) = p.strip_prefix("||").and_then(|r| r.strip_suffix('^'))
        && !h.contains(['*', '/', '^', '|'])
    {
        // Kept as written: tsurlfilter compares it case-sensitively with the lower-case name,
        // so an upper-case `||HOST^` never matches.
        return Some(Pattern::Host(h.to_owned()));
    }
    let on_url = p.starts_with("||") || p.starts_with("http://") || p.starts_with("https:/") || p.starts_with("://");
    let source = pattern_to_regex(p);
    let literal: Vec<String> =
        p.split(['*', '^', '|']).filter(|s| !s.is_empty()).map(str::to_ascii_lowercase).collect();
    Some(Pattern::Regex { source, on_url, literal, compiled: OnceLock::new() })
}

/// `SimpleRegex.patternToRegexp` of tsurlfilter.
fn pattern_to_regex(p: &str) -> String {
    if p == "||" || p == "|" || p == "*" || p.is_empty() {
        return ".*".into();
    }
    let (start, rest) = if let Some(r) = p.strip_prefix("||") {
        ("^(http|https|ws|wss)://([a-z0-9-_.]+\\.)?", r)
    } else if let Some(r) = p.strip_prefix('|') {
        ("^", r)
    } else {
        ("", p)
    };
    let (rest, end) = match rest.strip_suffix('|') {
        Some(r) => (r, "$"),
        None => (rest, ""),
    };
    let mut out = String::from(start);
    for c in rest.chars() {
        match c {
            '*' => out.push_str(".*"),
            '^' => out.push_str("([^ a-zA-Z0-9.%_-]|$)"),
            '.' | '+' | '?' | '$' | '{' | '}' | '(' | ')' | '[' | ']' | '\\' | '/' | '|' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push_str(end);
    out
}

impl NetRule {
    /// Whether the rule matches `name` (normalised) queried with `qtype`.
    pub fn matches(&self, name: &str, url: &str, qtype: Option<&str>) -> bool {
        if self.client_only {
            return false;
        }
        if let Some((permitted, restricted)) = &self.dnstype {
            let Some(q) = qtype else { return false };
            let ok = if !permitted.is_empty() {
                permitted.iter().any(|t| t == q)
            } else {
                !restricted.iter().any(|t| t == q)
            };
            if !ok {
                return false;
            }
        }
        if self.denyallow.iter().any(|d| is_same_or_sub(name, d)) {
            return false;
        }
        match &self.pattern {
            Pattern::Host(h) => is_same_or_sub(name, h),
            Pattern::Substring(s) => url.contains(s.as_str()),
            Pattern::Regex { source, on_url, literal, compiled } => {
                let hay = if *on_url { url } else { name };
                if !literal.iter().all(|l| hay.contains(l.as_str())) {
                    return false;
                }
                compiled.get_or_init(|| Matcher::new(source)).as_ref().is_some_and(|re| re.is_match(hay))
            }
        }
    }

    /// Whether this `$badfilter` rule disables `other`.
    pub fn negates(&self, other: &NetRule) -> bool {
        self.badfilter
            && !other.badfilter
            && self.allow == other.allow
            && self.pattern_text == other.pattern_text
            && self.options_key == other.options_key
    }
}

impl Pattern {
    /// For a substring pattern `a.b.c`: its longest inner label (`b`), which must be a whole
    /// label of any name it matches.
    pub fn inner_label(&self) -> Option<&str> {
        let Pattern::Substring(s) = self else { return None };
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() < 3 {
            return None;
        }
        parts[1..parts.len() - 1]
            .iter()
            .copied()
            .filter(|l| !l.is_empty() && !l.contains([':', '/']))
            .max_by_key(|l| l.len())
    }
}

/// `name` is `domain` or one of its subdomains.
pub(crate) fn is_same_or_sub(name: &str, domain: &str) -> bool {
    name == domain
        || (name.len() > domain.len()
            && name.ends_with(domain)
            && name.as_bytes()[name.len() - domain.len() - 1] == b'.')
}

/// A scan rule's prefilter: literals (lower case) that must occur in `http://name/` for the
/// rule to match: all of them (`all`) or one of them; none means no prefilter. Checked before
/// the rule is parsed (in the sharded form) or its regular expression compiled.
#[derive(Debug, Default)]
pub(crate) struct Prefilter {
    pub all: bool,
    pub literals: Vec<String>,
}

impl Prefilter {
    /// Whether `url` may match.
    pub fn passes(&self, url: &str) -> bool {
        if self.all {
            self.literals.iter().all(|l| url.contains(l.as_str()))
        } else {
            self.literals.is_empty() || self.literals.iter().any(|l| url.contains(l.as_str()))
        }
    }
}

pub(crate) fn prefilter(parsed: &Parsed) -> Prefilter {
    let Parsed::Network(r) = parsed else { return Prefilter::default() };
    match &r.pattern {
        Pattern::Host(_) => Prefilter::default(),
        Pattern::Substring(s) => Prefilter { all: true, literals: vec![s.clone()] },
        Pattern::Regex { literal, .. } if !literal.is_empty() => Prefilter { all: true, literals: literal.clone() },
        Pattern::Regex { source, .. } => Prefilter { all: false, literals: regex_prefixes(source) },
    }
}
