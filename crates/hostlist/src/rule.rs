//! Rule classification and parsing: comments, `/etc/hosts` lines, plain domains and
//! adblock-style rules with their modifiers (the reference's `rule.js`).

use crate::js;
use regex::Regex;
use std::sync::LazyLock;

/// `/(\*\.|)([^\s^$|=]+(?:\.[^\s^$|=]+)+)/g`
static DOMAIN_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    let c = r"[^\t\n\x0B\x0C\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}^$|=]";
    Regex::new(&format!(r"(\*\.|)({c}+(?:\.{c}+)+)")).unwrap()
});

/// A comment line: `!…`, `# …`, `#` or `####…`.
pub fn is_comment(rule: &str) -> bool {
    rule.starts_with('!') || rule.starts_with("# ") || rule == "#" || rule.starts_with("####")
}

/// An allowlist rule (`@@…`).
pub fn is_allow_rule(rule: &str) -> bool {
    rule.starts_with("@@")
}

/// A bare domain name such as `example.org`.
pub fn is_just_domain(rule: &str) -> bool {
    // `/^(?=.{1,255}$)[0-9A-Za-z](?:[0-9A-Za-z-]{0,61}[0-9A-Za-z])?(?:\.<the same>)*\.?$/`
    if !rule.contains('.') || rule.is_empty() || rule.len() > 255 {
        return false;
    }
    let host = rule.strip_suffix('.').unwrap_or(rule);
    host.split('.').all(|l| {
        let b = l.as_bytes();
        (1..=63).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

/// An `/etc/hosts` line: an address, then host names. The reference's
/// `/^([a-f0-9.:\][]+)(%[a-z0-9]+)?\s+([^#]+)(#.*)?$/`, matched by hand (it runs on every line).
pub fn is_etc_hosts_rule(rule: &str) -> bool {
    let b = rule.as_bytes();
    let addr = b.iter().take_while(|c| matches!(c, b'a'..=b'f' | b'0'..=b'9' | b'.' | b':' | b'[' | b']')).count();
    if addr == 0 {
        return false;
    }
    let mut rest = &rule[addr..];
    if let Some(zone) = rest.strip_prefix('%') {
        let n = zone.bytes().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &zone[n..];
    }
    // `\s+[^#]+`: a white-space character, then at least one more character before any `#`.
    let mut chars = rest.chars();
    if !chars.next().is_some_and(js::is_space) {
        return false;
    }
    let after = chars.as_str();
    let body_len = after.find('#').unwrap_or(after.len());
    if body_len == 0 {
        return false;
    }
    // `(#.*)?$`: JavaScript's `.` stops at line terminators.
    !after[body_len..].contains(['\n', '\r', '\u{2028}', '\u{2029}'])
}

/// Whether the text has characters outside ASCII.
pub fn contains_non_ascii(rule: &str) -> bool {
    !rule.is_ascii()
}

/// Node's `url.domainToASCII`: the WHATWG hostname setter on a `ws:` URL, so the input ends at
/// the first `/`, `?`, `#` or `\\`, and anything that is not a valid host gives "".
pub fn domain_to_ascii(domain: &str) -> String {
    let Ok(mut u) = url::Url::parse("ws://x") else { return String::new() };
    if url::quirks::set_hostname(&mut u, domain).is_err() {
        return String::new();
    }
    u.host_str().unwrap_or("").to_owned()
}

/// Converts the non-ASCII domain names in a line to punycode as the reference does (with
/// Node's `url.domainToASCII`).
pub fn convert_non_ascii_to_punycode(line: &str) -> String {
    DOMAIN_IN_TEXT
        .replace_all(line, |caps: &regex::Captures<'_>| {
            let (wildcard, domain) = (&caps[1], &caps[2]);
            if contains_non_ascii(domain) {
                format!("{wildcard}{}", domain_to_ascii(domain))
            } else {
                caps[0].to_owned()
            }
        })
        .into_owned()
}

/// The host names of an `/etc/hosts` line (everything after the address, before any `#`).
pub fn etc_hosts_hostnames(rule_text: &str) -> Option<Vec<String>> {
    let mut rule = js::trim(rule_text);
    if let Some(i) = rule.find('#')
        && i > 0
    {
        rule = &rule[..i];
    }
    let parts = js::split_spaces(js::trim(rule));
    let hostnames: Vec<String> = parts.into_iter().skip(1).map(str::to_owned).collect();
    if hostnames.is_empty() { None } else { Some(hostnames) }
}

/// One `$` modifier: a name and an optional value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Modifier {
    /// The name (`important`, `~important`, `dnstype`).
    pub name: String,
    /// What follows `=`, if anything does.
    pub value: Option<String>,
}

/// An adblock-style rule, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdblockRule {
    /// The pattern, without `@@` and modifiers.
    pub pattern: String,
    /// Whether the rule is an allowlist rule (`@@`).
    pub whitelist: bool,
    /// The modifiers, if the rule has a non-empty `$…` part.
    pub options: Option<Vec<Modifier>>,
    /// The host name of a `||host^` pattern.
    pub hostname: Option<String>,
}

/// The rule is empty (or just `@@`): the reference throws "the rule is too short".
#[derive(Debug, PartialEq, Eq)]
pub struct TooShort;

/// Parses an adblock-style rule (after trimming it).
pub fn parse_adblock(rule_text: &str) -> Result<AdblockRule, TooShort> {
    let text = js::trim(rule_text);
    let (whitelist, start) = if text.starts_with("@@") { (true, 2) } else { (false, 0) };
    if text.len() <= start {
        return Err(TooShort);
    }
    let mut pattern = &text[start..];
    let mut options: Option<&str> = None;
    let is_regex = pattern.starts_with('/') && pattern.ends_with('/') && !pattern.contains("replace=");
    if !is_regex {
        let bytes = text.as_bytes();
        let mut i = bytes.len();
        // The reference scans from the end for the last unescaped `$`.
        loop {
            if i < bytes.len() && bytes[i] == b'$' && !(i > start && bytes[i - 1] == b'\\') {
                pattern = &text[start..i];
                options = Some(&text[i + 1..]);
                break;
            }
            if i == start {
                break;
            }
            i -= 1;
        }
    }
    let options = options.filter(|o| !o.is_empty()).and_then(|o| {
        let parts = split_escaped(o, ',', '\\');
        if parts.is_empty() {
            return None;
        }
        Some(
            parts
                .into_iter()
                .map(|part| {
                    // `_.split(option, '=', 2)`: the first two pieces, the rest is dropped.
                    let mut pieces = part.split('=');
                    let name = pieces.next().unwrap_or("").to_owned();
                    let value = pieces.next().filter(|v| !v.is_empty()).map(str::to_owned);
                    Modifier { name, value }
                })
                .collect(),
        )
    });
    let hostname = simple_hostname(pattern).map(str::to_owned);
    Ok(AdblockRule { pattern: pattern.to_owned(), whitelist, options, hostname })
}

/// The host of a `||host^` pattern (`/^\|\|([a-z0-9-.]+)\^$/`).
pub fn simple_hostname(pattern: &str) -> Option<&str> {
    let host = pattern.strip_prefix("||")?.strip_suffix('^')?;
    (!host.is_empty() && host.bytes().all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'))).then_some(host)
}

/// `splitByDelimiterWithEscapeCharacter(str, delimiter, escape, false)`.
fn split_escaped(s: &str, delimiter: char, escape: char) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut parts = Vec::new();
    let mut sb: Vec<char> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if c == delimiter {
            if i == 0 {
                // ignored
            } else if chars[i - 1] == escape {
                sb.pop();
                sb.push(c);
            } else if !sb.is_empty() {
                parts.push(sb.iter().collect());
                sb.clear();
            }
        } else {
            sb.push(c);
        }
    }
    if !sb.is_empty() {
        parts.push(sb.iter().collect());
    }
    parts
}

impl AdblockRule {
    /// Removes every modifier called `name`; returns whether one was there.
    pub fn remove_modifier(&mut self, name: &str) -> bool {
        let Some(options) = &mut self.options else { return false };
        let before = options.len();
        options.retain(|o| o.name != name);
        before != options.len()
    }

    /// Whether the rule has a modifier called `name`.
    pub fn has_modifier(&self, name: &str) -> bool {
        self.options.as_ref().is_some_and(|o| o.iter().any(|m| m.name == name))
    }

    /// The rule as text again.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 8);
        if self.whitelist {
            out.push_str("@@");
        }
        out.push_str(&self.pattern);
        if let Some(options) = self.options.as_ref().filter(|o| !o.is_empty()) {
            out.push('$');
            for (i, o) in options.iter().enumerate() {
                out.push_str(&o.name);
                if let Some(v) = &o.value {
                    out.push('=');
                    out.push_str(v);
                }
                if i + 1 < options.len() {
                    out.push(',');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_lines() {
        assert!(is_comment("! comment"));
        assert!(is_comment("# comment"));
        assert!(is_comment("#"));
        assert!(is_comment("#### x"));
        assert!(!is_comment("#comment"));
        assert!(!is_comment("##.banner"));
        assert!(is_etc_hosts_rule("0.0.0.0 example.org"));
        assert!(is_etc_hosts_rule("::1 localhost ip6-localhost # loopback"));
        assert!(is_etc_hosts_rule("127.0.0.1\texample.org"));
        assert!(!is_etc_hosts_rule("||example.org^"));
        assert!(!is_etc_hosts_rule("0.0.0.0"));
        assert!(!is_etc_hosts_rule("0.0.0.0 "));
        assert!(is_etc_hosts_rule("0.0.0.0  "));
        assert!(!is_etc_hosts_rule("0.0.0.0 #x"));
        assert!(is_etc_hosts_rule("fe80::1%lo0 localhost"));
        assert!(!is_etc_hosts_rule("fe80::1% localhost"));
        assert!(!is_etc_hosts_rule("0.0.0.0 a # b\u{2028}c"));
        assert!(is_etc_hosts_rule("0.0.0.0 a\u{2028}b"));
        assert!(is_just_domain("example.org"));
        assert!(!is_just_domain("example"));
        assert!(!is_just_domain("-example.org"));
        assert!(is_just_domain("example.org."));
        assert!(!is_just_domain("example..org"));
        assert!(!is_just_domain(&format!("{}.org", "a".repeat(64))));
        assert!(is_just_domain(&format!("{}.org", "a".repeat(63))));
        assert!(!is_just_domain("ex ample.org"));
    }

    #[test]
    fn parses_adblock_rules() {
        let r = parse_adblock("@@||example.org^$important,dnstype=A").unwrap();
        assert!(r.whitelist);
        assert_eq!(r.pattern, "||example.org^");
        assert_eq!(r.hostname.as_deref(), Some("example.org"));
        assert_eq!(
            r.options.unwrap(),
            vec![
                Modifier { name: "important".into(), value: None },
                Modifier { name: "dnstype".into(), value: Some("A".into()) }
            ]
        );
        let r = parse_adblock("||example.org^$").unwrap();
        assert_eq!((r.pattern.as_str(), r.options), ("||example.org^", None));
        let r = parse_adblock("/ads\\$/").unwrap();
        assert_eq!(r.pattern, "/ads\\$/");
        let r = parse_adblock("||a.org^$dnsrewrite=a=b=c,x\\,y").unwrap();
        assert_eq!(r.to_text(), "||a.org^$dnsrewrite=a,x,y");
        assert_eq!(parse_adblock("@@"), Err(TooShort));
        assert_eq!(parse_adblock("  "), Err(TooShort));
    }

    #[test]
    fn hosts_hostnames() {
        assert_eq!(etc_hosts_hostnames("0.0.0.0 a.org b.org # c.org").unwrap(), vec!["a.org", "b.org"]);
        assert_eq!(etc_hosts_hostnames("0.0.0.0   a.org"), Some(vec!["a.org".into()]));
    }

    #[test]
    fn punycode_conversion() {
        assert_eq!(convert_non_ascii_to_punycode("||пример.рф^"), "||xn--e1afmkfd.xn--p1ai^");
        assert_eq!(convert_non_ascii_to_punycode("*.пример.рф"), "*.xn--e1afmkfd.xn--p1ai");
        assert_eq!(convert_non_ascii_to_punycode("||example.org^"), "||example.org^");
        // Node's domainToASCII stops at `#`: the cosmetic part of the line is lost, as in the reference.
        assert_eq!(convert_non_ascii_to_punycode("img.рф##.banner"), "img.xn--p1ai");
    }
}
