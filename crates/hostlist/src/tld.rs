//! Host-name parsing as the reference's `tldts.parse` (default options) sees it: host-name
//! extraction and validation, IP detection, and the ICANN public suffix.

/// What `tldts.parse(input)` reports, for the fields the validator uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The extracted, lower-cased host name; `None` when there is none or it is invalid.
    pub hostname: Option<String>,
    /// Whether the host name looks like an IPv4 or IPv6 address.
    pub is_ip: bool,
    /// The public suffix (ICANN rules; an unknown TLD is its own suffix).
    pub public_suffix: Option<String>,
    /// Whether an ICANN rule matched.
    pub is_icann: bool,
}

fn is_valid_ascii(c: u16) -> bool {
    (97..=122).contains(&c) || (48..=57).contains(&c) || c > 127
}

/// tldts's `isValidHostname`, on UTF-16 code units.
pub fn is_valid_hostname(hostname: &str) -> bool {
    if hostname.is_ascii() {
        valid_hostname_units(hostname.as_bytes())
    } else {
        valid_hostname_units(&hostname.encode_utf16().collect::<Vec<u16>>())
    }
}

fn valid_hostname_units<T: Copy + Into<u16>>(units: &[T]) -> bool {
    let len = units.len();
    if len == 0 || len > 255 {
        return false;
    }
    let first: u16 = units[0].into();
    if !is_valid_ascii(first) && first != 46 && first != 95 {
        return false;
    }
    let mut last_dot: isize = -1;
    let mut last: i32 = -1;
    for (i, c) in units.iter().enumerate() {
        let c: u16 = (*c).into();
        if c == 46 {
            if i as isize - last_dot > 64 || last == 46 || last == 45 || last == 95 {
                return false;
            }
            last_dot = i as isize;
        } else if !(is_valid_ascii(c) || c == 45 || c == 95) {
            return false;
        }
        last = i32::from(c);
    }
    (len as isize - last_dot - 1) <= 63 && last != 45
}

fn is_probably_ipv4(h: &str) -> bool {
    let b = h.as_bytes();
    if b.len() < 7 || b.len() > 15 {
        return false;
    }
    let mut dots = 0;
    for &c in b {
        if c == b'.' {
            dots += 1;
        } else if !c.is_ascii_digit() {
            return false;
        }
    }
    dots == 3 && b[0] != b'.' && b[b.len() - 1] != b'.'
}

fn is_probably_ipv6(h: &str) -> bool {
    // Every accepted character is ASCII.
    if !h.is_ascii() {
        return false;
    }
    let units = h.as_bytes();
    if units.len() < 3 {
        return false;
    }
    let mut start = usize::from(units[0] == b'[');
    let mut end = units.len();
    if units[end - 1] == b']' {
        end -= 1;
    }
    if end.saturating_sub(start) > 39 {
        return false;
    }
    let mut has_colon = false;
    while start < end {
        let c = u16::from(units[start]);
        if c == 58 {
            has_colon = true;
        } else if !((48..=57).contains(&c) || (97..=102).contains(&c) || (65..=90).contains(&c)) {
            return false;
        }
        start += 1;
    }
    has_colon
}

/// tldts's `isIp`.
pub fn is_ip(hostname: &str) -> bool {
    is_probably_ipv6(hostname) || is_probably_ipv4(hostname)
}

/// tldts's `extractHostname(url, urlIsValidHostname)`.
fn extract_hostname(url: &str, url_is_valid_hostname: bool) -> Option<String> {
    if url.is_ascii() {
        let (start, end, lower) = extract_range(url.as_bytes(), url_is_valid_hostname, url.starts_with("data:"))?;
        let h = &url[start..end];
        Some(if lower { h.to_ascii_lowercase() } else { h.to_owned() })
    } else {
        let u: Vec<u16> = url.encode_utf16().collect();
        let (start, end, lower) = extract_range(&u, url_is_valid_hostname, url.starts_with("data:"))?;
        let h = String::from_utf16_lossy(&u[start..end]);
        Some(if lower { h.to_lowercase() } else { h })
    }
}

/// The host name's range in `u`, and whether it must be lower-cased.
fn extract_range<T: Copy + Into<u16>>(
    u: &[T],
    url_is_valid_hostname: bool,
    is_data: bool,
) -> Option<(usize, usize, bool)> {
    let at = |i: usize| -> u16 { u.get(i).map(|&c| c.into()).unwrap_or(0) };
    let mut start = 0usize;
    let mut end = u.len();
    let mut has_upper = false;
    if !url_is_valid_hostname {
        if is_data {
            return None;
        }
        while start < u.len() && at(start) <= 32 {
            start += 1;
        }
        while end > start + 1 && at(end - 1) <= 32 {
            end -= 1;
        }
        if at(start) == 47 && at(start + 1) == 47 {
            start += 2;
        } else if let Some(proto) = (start..u.len().saturating_sub(1)).find(|&i| at(i) == 58 && at(i + 1) == 47) {
            let size = proto - start;
            let c: Vec<u16> = (0..5).map(|k| at(start + k)).collect();
            let known = (size == 5 && c[..5] == [104, 116, 116, 112, 115])
                || (size == 4 && c[..4] == [104, 116, 116, 112])
                || (size == 3 && c[..3] == [119, 115, 115])
                || (size == 2 && c[..2] == [119, 115]);
            if !known {
                for i in start..proto {
                    let l = at(i) | 32;
                    if !((97..=122).contains(&l) || (48..=57).contains(&l) || l == 46 || l == 45 || l == 43) {
                        return None;
                    }
                }
            }
            start = proto + 2;
            while at(start) == 47 {
                start += 1;
            }
        }
        let mut identifier: Option<usize> = None;
        let mut closing_bracket: Option<usize> = None;
        let mut port: Option<usize> = None;
        let mut i = start;
        while i < end {
            let code = at(i);
            if code == 35 || code == 47 || code == 63 {
                end = i;
                break;
            } else if code == 64 {
                identifier = Some(i);
            } else if code == 93 {
                closing_bracket = Some(i);
            } else if code == 58 {
                port = Some(i);
            } else if (65..=90).contains(&code) {
                has_upper = true;
            }
            i += 1;
        }
        if let Some(id) = identifier
            && id > start
            && id < end
        {
            start = id + 1;
        }
        if at(start) == 91 {
            return closing_bracket.map(|cb| (start + 1, cb.max(start + 1), true));
        } else if let Some(p) = port
            && p > start
            && p < end
        {
            end = p;
        }
    }
    while end > start + 1 && at(end - 1) == 46 {
        end -= 1;
    }
    Some((start.min(end), end, has_upper))
}

/// The ICANN public suffix of `hostname`: private rules are ignored (tldts's default), and an
/// unknown TLD is its own suffix.
pub fn public_suffix(hostname: &str) -> (String, bool) {
    if hostname.ends_with('.') {
        // Only "." itself gets here (trailing dots are stripped before): an empty last label.
        return (String::new(), false);
    }
    let mut candidate: &str = hostname;
    loop {
        match psl::suffix(candidate.as_bytes()) {
            Some(s) if s.typ() == Some(psl::Type::Private) => {
                // Look again without the private rule: drop the private suffix's first label.
                let suffix = std::str::from_utf8(s.as_bytes()).unwrap_or("");
                match suffix.find('.') {
                    Some(dot) => candidate = &candidate[candidate.len() - suffix.len() + dot + 1..],
                    None => return (suffix.to_owned(), false),
                }
            }
            Some(s) => {
                let suffix = std::str::from_utf8(s.as_bytes()).unwrap_or("").to_owned();
                return (suffix, s.is_known());
            }
            None => {
                let last = hostname.rsplit('.').next().unwrap_or(hostname);
                return (last.to_owned(), false);
            }
        }
    }
}

/// `tldts.parse(input)` for the fields the validator reads.
pub fn parse(input: &str) -> Parsed {
    let hostname = extract_hostname(input, is_valid_hostname(input));
    let Some(hostname) = hostname else {
        return Parsed { hostname: None, is_ip: false, public_suffix: None, is_icann: false };
    };
    if is_ip(&hostname) {
        return Parsed { hostname: Some(hostname), is_ip: true, public_suffix: None, is_icann: false };
    }
    if !is_valid_hostname(&hostname) {
        return Parsed { hostname: None, is_ip: false, public_suffix: None, is_icann: false };
    }
    let (suffix, is_icann) = public_suffix(&hostname);
    Parsed { hostname: Some(hostname), is_ip: false, public_suffix: Some(suffix), is_icann }
}

/// `tldts.getPublicSuffix(input)`.
pub fn get_public_suffix(input: &str) -> Option<String> {
    parse(input).public_suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(h: &str) -> (Option<String>, Option<String>, bool, bool) {
        let r = parse(h);
        (r.hostname, r.public_suffix, r.is_icann, r.is_ip)
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_owned())
    }

    // Expected values observed from tldts 7.0.28 (the reference's dependency).
    #[test]
    fn matches_tldts() {
        assert_eq!(p("github.io"), (s("github.io"), s("io"), true, false));
        assert_eq!(p("foo.github.io"), (s("foo.github.io"), s("io"), true, false));
        assert_eq!(p("co.uk"), (s("co.uk"), s("co.uk"), true, false));
        assert_eq!(p("unknowntld"), (s("unknowntld"), s("unknowntld"), false, false));
        assert_eq!(p("EXAMPLE.ORG"), (s("example.org"), s("org"), true, false));
        assert_eq!(p("foo..bar"), (None, None, false, false));
        assert_eq!(p("-foo.com"), (None, None, false, false));
        assert_eq!(p("foo_bar.com"), (s("foo_bar.com"), s("com"), true, false));
        assert_eq!(p("1.2.3.4"), (s("1.2.3.4"), None, false, true));
        assert_eq!(p("1.2.3.256"), (s("1.2.3.256"), None, false, true));
        assert_eq!(p("1.2.3"), (s("1.2.3"), s("3"), false, false));
        assert_eq!(p("192.168.1.1."), (s("192.168.1.1"), None, false, true));
        assert_eq!(p("[::1]"), (s("::1"), None, false, true));
        assert_eq!(p("fe80::1"), (s("fe80:"), None, false, true));
        assert_eq!(p("ab:cd"), (s("ab"), s("ab"), false, false));
        assert_eq!(p("*.org"), (None, None, false, false));
        assert_eq!(p("localhost"), (s("localhost"), s("localhost"), false, false));
        assert_eq!(p("."), (s("."), s(""), false, false));
        assert_eq!(get_public_suffix("co.uk").as_deref(), Some("co.uk"));
        assert_eq!(get_public_suffix("example.org").as_deref(), Some("org"));
    }
}
