//! IP-like adblock patterns (`||1.2.3.4^`, `192.168.1.`, `10.0.0.*`): parsing, classification
//! and the normalisation `ValidateAllowIp` applies first (the reference's `utils.js` and
//! `ip-normalize.js`).

use crate::rule;

/// The parts of an IP-like pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpPattern {
    /// `||`, `|` or empty.
    pub prefix: &'static str,
    /// The octets given (one to four), as written.
    pub octets: Vec<String>,
    /// Whether the octets end with `.` (`192.168.1.`).
    pub trailing_dot: bool,
    /// Whether the octets end with `.*` (`10.0.0.*`).
    pub trailing_wildcard: bool,
    /// Whether the pattern ends with `^` (or `^|`).
    pub caret: bool,
    /// Whether the pattern ends with `^|`.
    pub caret_pipe: bool,
}

fn is_valid_octet(s: &str) -> bool {
    (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok_and(|n| n <= 255)
}

/// `parseIpPattern`.
pub fn parse(pattern: &str) -> Option<IpPattern> {
    let mut rest = pattern;
    let mut prefix = "";
    if let Some(r) = rest.strip_prefix("||") {
        prefix = "||";
        rest = r;
    } else if let Some(r) = rest.strip_prefix('|') {
        prefix = "|";
        rest = r;
    }
    let (mut caret, mut caret_pipe) = (false, false);
    if let Some(r) = rest.strip_suffix("^|") {
        caret = true;
        caret_pipe = true;
        rest = r;
    } else if let Some(r) = rest.strip_suffix('^') {
        caret = true;
        rest = r;
    }
    let mut trailing_wildcard = false;
    if let Some(r) = rest.strip_suffix(".*") {
        trailing_wildcard = true;
        rest = r;
    }
    let mut trailing_dot = false;
    if let Some(r) = rest.strip_suffix('.') {
        trailing_dot = true;
        rest = r;
    }
    let octets: Vec<&str> = rest.split('.').collect();
    if octets.len() > 4 || !octets.iter().all(|o| is_valid_octet(o)) {
        return None;
    }
    Some(IpPattern {
        prefix,
        octets: octets.into_iter().map(str::to_owned).collect(),
        trailing_dot,
        trailing_wildcard,
        caret,
        caret_pipe,
    })
}

impl IpPattern {
    /// Four octets, without a trailing `.` or `.*`.
    pub fn is_full_ip(&self) -> bool {
        self.octets.len() == 4 && !self.trailing_dot && !self.trailing_wildcard
    }
    /// Fewer than four octets, then `.` or `.*` (`10.0.0.`, `10.0.*`).
    pub fn is_subnet_wildcard(&self) -> bool {
        self.octets.len() < 4 && (self.trailing_dot || self.trailing_wildcard)
    }
    /// Three octets with no `.`, `.*` or `^` after them (`192.168.1`).
    pub fn is_ambiguous_3_octet(&self) -> bool {
        self.octets.len() == 3 && !self.trailing_dot && !self.trailing_wildcard && !self.caret
    }
    /// One or two octets.
    pub fn is_too_wide(&self) -> bool {
        self.octets.len() <= 2
    }
}

/// What `ValidateAllowIp` first does to a rule: complete addresses become `||a.b.c.d^`, and
/// prefix-less 3-octet subnets (`192.168.1.`, `192.168.1.*`) become `||192.168.1.`.
pub fn normalize_rule(rule_text: &str) -> Option<String> {
    if rule_text.is_empty()
        || rule_text.starts_with('!')
        || rule_text.starts_with('#')
        || crate::js::trim(rule_text).is_empty()
    {
        return None;
    }
    // The reference lets a parse failure ("too short") escape here; such a line is kept.
    let mut props = rule::parse_adblock(rule_text).ok()?;
    if let Some(c) = parse(&props.pattern) {
        if c.octets.len() == 3 && !c.caret && (c.trailing_dot || c.trailing_wildcard) {
            if c.prefix == "||" {
                return None;
            }
            let suffix = if c.trailing_wildcard { ".*" } else { "." };
            props.pattern = format!("||{}{suffix}", c.octets.join("."));
            return Some(props.to_text());
        }
        if c.is_full_ip() && !(c.prefix == "||" && c.caret && !c.caret_pipe) {
            props.pattern = format!("||{}^", c.octets.join("."));
            return Some(props.to_text());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_patterns() {
        let p = parse("||192.168.1.*").unwrap();
        assert_eq!((p.prefix, p.octets.len(), p.trailing_wildcard), ("||", 3, true));
        assert!(p.is_subnet_wildcard());
        assert!(parse("||1.2.3.4^").unwrap().is_full_ip());
        assert!(parse("1.2.3.256").is_none());
        assert!(parse("example.org").is_none());
        assert!(parse("1.2.3.4.5").is_none());
    }

    #[test]
    fn normalizes_like_the_reference() {
        assert_eq!(normalize_rule("1.2.3.4").as_deref(), Some("||1.2.3.4^"));
        assert_eq!(normalize_rule("|1.2.3.4^$important").as_deref(), Some("||1.2.3.4^$important"));
        assert_eq!(normalize_rule("||1.2.3.4^"), None);
        assert_eq!(normalize_rule("||1.2.3.4^|").as_deref(), Some("||1.2.3.4^"));
        assert_eq!(normalize_rule("192.168.1.").as_deref(), Some("||192.168.1."));
        assert_eq!(normalize_rule("192.168.1.*").as_deref(), Some("||192.168.1.*"));
        assert_eq!(normalize_rule("||192.168.1."), None);
        assert_eq!(normalize_rule("! 1.2.3.4"), None);
    }
}
