//! The validation transformations (`Validate`, `ValidateAllowIp`, `ValidateAllowPublicSuffix`,
//! `ValidateAllowIpAndPublicSuffix`): keep only rules a DNS-level blocker can apply, and drop the
//! comments and empty lines directly above a removed rule (the reference's `validate.js`).

use crate::{ip, js, rule, tld};

/// `/^[a-zA-Z0-9-.*|^]+$/`
fn only_domain_chars(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'*' | b'|' | b'^'))
}

const ANY_PATTERN_MODIFIERS: [&str; 3] = ["denyallow", "badfilter", "client"];
const SUPPORTED_MODIFIERS: [&str; 8] =
    ["important", "~important", "dnstype", "dnsrewrite", "ctag", "denyallow", "badfilter", "client"];
const MIN_PATTERN_LENGTH: usize = 5;

/// Which validation: whether IP addresses and bare public suffixes are allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// IP addresses (and `||a.b.c.` subnets) are valid.
    pub allow_ip: bool,
    /// Bare public suffixes (`||org^`, `||co.uk^`) are valid.
    pub allow_public_suffix: bool,
}

fn valid_hostname(hostname: &str, mode: Mode, has_limit_modifier: bool) -> bool {
    let r = tld::parse(hostname);
    let Some(h) = r.hostname.as_deref() else { return false };
    if !h.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    if !mode.allow_ip && r.is_ip {
        return false;
    }
    if r.public_suffix.as_deref() == Some(h) && !has_limit_modifier {
        if !mode.allow_public_suffix {
            return false;
        }
        if !r.is_icann {
            return false;
        }
    }
    true
}

/// `EXACT_DOMAIN_PATTERN` (`||example.org^`, `*.org^`, `.org^`, `||org^`, optional `|` at
/// the end): the domain, without a trailing dot.
fn exact_domain(pattern: &str) -> Option<&str> {
    let p = pattern.strip_prefix("||").unwrap_or(pattern);
    let p = p.strip_prefix("*.").or_else(|| p.strip_prefix('.')).unwrap_or(p);
    let h = p.strip_suffix("^|").or_else(|| p.strip_suffix('^'))?;
    let h = h.strip_suffix('.').unwrap_or(h);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    h.split('.').all(label_ok).then_some(h)
}

fn valid_etc_hosts_rule(rule_text: &str, mode: Mode) -> bool {
    match rule::etc_hosts_hostnames(rule_text) {
        None => false,
        Some(hostnames) => hostnames.iter().all(|h| valid_hostname(h, mode, false)),
    }
}

fn is_3_octet_subnet_with_suffix(c: &ip::IpPattern) -> bool {
    c.octets.len() == 3 && c.is_subnet_wildcard() && !c.caret && c.prefix == "||"
}

fn valid_adblock_rule(rule_text: &str, mode: Mode) -> bool {
    let Ok(props) = rule::parse_adblock(rule_text) else { return false };
    let mut has_limit_modifier = false;
    if let Some(options) = &props.options {
        for o in options {
            if !SUPPORTED_MODIFIERS.contains(&o.name.as_str()) {
                return false;
            }
            if ANY_PATTERN_MODIFIERS.contains(&o.name.as_str()) {
                has_limit_modifier = true;
            }
        }
    }
    let pattern = props.pattern.as_str();
    let exact = exact_domain(pattern);
    if js::len(pattern) < MIN_PATTERN_LENGTH && exact.is_none() {
        return false;
    }
    if pattern.starts_with('/') && pattern.ends_with('/') {
        return true;
    }
    // `_.trimStart(toTest, '://')` strips any leading ':' and '/' characters.
    let to_test = if pattern.starts_with("://") { pattern.trim_start_matches([':', '/']) } else { pattern };
    if !only_domain_chars(to_test) {
        return false;
    }
    let classified = ip::parse(pattern);
    if props.has_modifier("denyallow") && classified.is_some() {
        return false;
    }
    if let Some(c) = &classified {
        // An IP suffix (`1.1^`, `1.1.1.1^` without `||`) matches string ends unpredictably.
        if c.prefix.is_empty() && c.caret && c.octets.len() >= 2 {
            return false;
        }
        // Too wide or ambiguous: `1.2.`, `1.2.*`, `192.168.1`, `10.10.34.`.
        if !pattern.contains('^')
            && (c.is_too_wide()
                || c.is_ambiguous_3_octet()
                || ((c.octets.len() == 3 || c.octets.len() == 4)
                    && (c.trailing_dot || c.trailing_wildcard)
                    && c.prefix.is_empty()))
        {
            return false;
        }
        // Subnets (`||1.1^`, `||1.1.2^`, `||1.1.`): only `||a.b.c.` / `||a.b.c.*` with IPs allowed.
        let is_subnet = !c.prefix.is_empty() && (c.octets.len() < 4 || c.trailing_dot || c.trailing_wildcard);
        if is_subnet && (!mode.allow_ip || !is_3_octet_subnet_with_suffix(c)) {
            return false;
        }
    }
    let mut candidate = pattern;
    if let Some(r) = candidate.strip_prefix("||") {
        candidate = r;
    } else if let Some(r) = candidate.strip_prefix('|') {
        candidate = r;
    }
    let candidate = candidate.strip_suffix("^|").or_else(|| candidate.strip_suffix('^')).unwrap_or(candidate);
    if tld::parse(candidate).is_ip {
        return mode.allow_ip;
    }
    let sep = pattern.find('^');
    let wildcard = pattern.find('*');
    if let (Some(s), Some(w)) = (sep, wildcard)
        && w > s
    {
        return false;
    }
    if let Some(domain) = exact {
        return valid_hostname(domain, mode, has_limit_modifier);
    }
    let Some(sep) = sep.filter(|_| pattern.starts_with("||")) else {
        return true;
    };
    let domain = substring_between(pattern, "||", "^").unwrap_or_default();
    if wildcard.is_some() {
        let tld_pattern = domain.replacen("*.", "", 1);
        let only_tld = tld::get_public_suffix(&tld_pattern).as_deref() == Some(tld_pattern.as_str());
        if domain.starts_with("*.") && only_tld {
            return valid_hostname(&tld_pattern, mode, has_limit_modifier);
        }
        return true;
    }
    if !valid_hostname(&domain, mode, has_limit_modifier) {
        return false;
    }
    !(pattern.len() > sep + 1 && pattern.as_bytes()[sep + 1] != b'|')
}

/// `substringBetween(str, start, end)`: the text between the first `start` and the next `end`.
fn substring_between(s: &str, start_tag: &str, end_tag: &str) -> Option<String> {
    let start = s.find(start_tag)? + start_tag.len();
    let end = s[start..].find(end_tag)? + start;
    (end > start).then(|| s[start..end].to_owned())
}

/// Whether one line is valid under `mode`.
pub fn is_valid(rule_text: &str, mode: Mode) -> bool {
    if rule::is_comment(rule_text) || js::trim(rule_text).is_empty() {
        return true;
    }
    if rule::is_etc_hosts_rule(rule_text) {
        return valid_etc_hosts_rule(rule_text, mode);
    }
    valid_adblock_rule(rule_text, mode)
}

/// Removes invalid rules, and the comments and empty lines right above each removed rule.
pub fn validate(rules: Vec<String>, mode: Mode) -> Vec<String> {
    let mut keep = vec![true; rules.len()];
    let mut previous_removed = false;
    for i in (0..rules.len()).rev() {
        let r = &rules[i];
        if !is_valid(r, mode) {
            previous_removed = true;
            keep[i] = false;
        } else if previous_removed && (rule::is_comment(r) || r.is_empty()) {
            keep[i] = false;
        } else {
            previous_removed = false;
        }
    }
    rules.into_iter().zip(keep).filter_map(|(r, k)| k.then_some(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Mode = Mode { allow_ip: false, allow_public_suffix: false };
    const IP: Mode = Mode { allow_ip: true, allow_public_suffix: false };
    const SUFFIX: Mode = Mode { allow_ip: false, allow_public_suffix: true };

    #[test]
    fn strict_validation() {
        for ok in [
            "||example.org^",
            "||example.org^|",
            "@@||example.org^$important",
            "||example.org^$dnstype=A",
            "0.0.0.0 example.org",
            "example.org",
            "||*.example.org^",
            "/ads[0-9]+/",
            "! comment",
            "",
            "||org^$denyallow=example.org",
        ] {
            assert!(is_valid(ok, STRICT), "{ok} should be valid");
        }
        for bad in [
            "||example.org^$third-party",
            "||org^",
            "||*.org^",
            "||co.uk^",
            "ab",
            "||example.org^path",
            "example.org/path",
            "||1.2.3.4^",
            "0.0.0.0 localhost",
            "1.2.3.4^",
            "192.168.1",
            "||ex ample.org^",
            "##.banner",
        ] {
            assert!(!is_valid(bad, STRICT), "{bad} should be invalid");
        }
    }

    #[test]
    fn exact_domain_patterns() {
        assert_eq!(exact_domain("||example.org^"), Some("example.org"));
        assert_eq!(exact_domain("*.org^"), Some("org"));
        assert_eq!(exact_domain(".org^|"), Some("org"));
        assert_eq!(exact_domain("||foo.bar.^"), Some("foo.bar"));
        assert_eq!(exact_domain("||foo..^"), None);
        assert_eq!(exact_domain("||-a.org^"), None);
        assert_eq!(exact_domain("||a-.org^"), None);
        assert_eq!(exact_domain("||example.org^abc"), None);
        assert_eq!(exact_domain("||example.org"), None);
        assert_eq!(exact_domain("||*.org^"), Some("org"));
        assert_eq!(exact_domain("|||a.org^"), None);
    }

    #[test]
    fn allow_ip_and_public_suffix_modes() {
        assert!(is_valid("||1.2.3.4^", IP));
        assert!(is_valid("||192.168.1.", IP));
        assert!(!is_valid("||192.168^", IP));
        assert!(is_valid("||org^", SUFFIX));
        assert!(is_valid("||co.uk^", SUFFIX));
        assert!(!is_valid("||notatld^", SUFFIX));
    }

    #[test]
    fn removes_comments_above_invalid_rules() {
        let rules: Vec<String> = ["! keep", "||a.org^", "! about b", "", "||b.org^$popup", "||c.org^"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(validate(rules, STRICT), vec!["! keep", "||a.org^", "||c.org^"]);
    }
}
