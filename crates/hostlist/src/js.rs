//! The few JavaScript string semantics the reference relies on, reproduced exactly.

/// Whether `c` is matched by JavaScript's `\s` (and removed by `String.prototype.trim`).
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// `String.prototype.trim` (and lodash's `_.trim(s)`).
pub fn trim(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s.split(/\s+/)` on an already trimmed string.
pub fn split_spaces(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    s.split(is_space).filter(|p| !p.is_empty()).collect()
}

/// `s.length`: UTF-16 code units.
pub fn len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Property names every plain JavaScript object has through its prototype: the reference keys
/// plain objects by rule text and host name, so these count as "already seen".
pub fn is_object_prototype_key(key: &str) -> bool {
    matches!(
        key,
        "constructor"
            | "__defineGetter__"
            | "__defineSetter__"
            | "hasOwnProperty"
            | "__lookupGetter__"
            | "__lookupSetter__"
            | "isPrototypeOf"
            | "propertyIsEnumerable"
            | "toString"
            | "valueOf"
            | "__proto__"
            | "toLocaleString"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_and_split_like_javascript() {
        assert_eq!(trim("\u{feff} a b\u{a0}\t"), "a b");
        assert_eq!(trim("\u{85}x"), "\u{85}x", "NEL is not JavaScript white space");
        assert_eq!(split_spaces("0.0.0.0  a\tb"), vec!["0.0.0.0", "a", "b"]);
        assert_eq!(split_spaces(""), vec![""]);
        assert_eq!(len("a😀"), 3);
    }
}
