//! The keys a Fastly KV store accepts.

/// Why Fastly would refuse `key`, if it would (the rules of Fastly's KV store, as Viceroy
/// checks them).
pub fn invalid(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("it is empty");
    }
    if key.len() > 1024 {
        return Some("it is longer than 1024 bytes");
    }
    if key.starts_with(".well-known/acme-challenge") {
        return Some("it starts with .well-known/acme-challenge");
    }
    if key == "." || key == ".." || key.contains("./") || key.ends_with("/.") || key.ends_with("/..") {
        return Some("it has a `.` or `..` path segment");
    }
    if key.contains(['\r', '\n', '#', ';', '?', '^', '|']) {
        return Some("it contains one of CR, LF, #, ;, ?, ^ and |");
    }
    let mut chars = key.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && (c <= ' ' || c == '\u{FFFE}' || c == '\u{FFFF}')
    {
        return Some("it is a single control, space or non-character");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::invalid;

    #[test]
    fn the_model_s_keys_are_valid() {
        for key in ["list/l_0123", "compiled/l_1/e-abc", "rendition/l_1/hosts/b3.gz", "lookup/l_1/e/0", "token/ab"] {
            assert_eq!(invalid(key), None, "{key}");
        }
    }

    #[test]
    fn fastly_s_rules() {
        for key in ["", "a#b", "a?b", "a|b", "x/../y", "./x", "x/.", " ", ".well-known/acme-challenge/t"] {
            assert!(invalid(key).is_some(), "{key:?}");
        }
        assert!(invalid(&"k".repeat(1025)).is_some());
        assert_eq!(invalid(&"k".repeat(1024)), None);
    }
}
