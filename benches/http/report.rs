//! Formatting the results.

/// `n` with thousands separators.
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size in bytes as KB or MB (10³, 10⁶).
pub(crate) fn size(bytes: usize) -> String {
    if bytes >= 1_000_000 { format!("{:.2} MB", bytes as f64 / 1e6) } else { format!("{:.1} KB", bytes as f64 / 1e3) }
}

pub(crate) fn metric(text: &str, name: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(f64::NAN)
}
