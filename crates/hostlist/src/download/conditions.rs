//! The `!#if`/`!#else`/`!#endif` directives: which lines a list keeps, and the reference's
//! string-rewriting evaluator of their conditions (no definitions: only `true` is true).

use super::{DownloadError, format_error};
use crate::js;

fn find_end(rules: &[String], directive: &str, from: usize, to: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, r) in rules.iter().enumerate().take(to).skip(from) {
        if r.starts_with("!#if") {
            depth += 1;
        } else if r.starts_with(directive) {
            if depth > 0 {
                depth -= 1;
            } else {
                return Some(i);
            }
        }
    }
    None
}

/// The lines of `rules` (of the list at `base`) that its `!#if` directives keep, without the
/// directives.
pub(super) fn resolve_conditions(rules: &[String], base: &str) -> Result<Vec<String>, DownloadError> {
    let mut out = Vec::with_capacity(rules.len());
    let mut i = 0;
    while i < rules.len() {
        let r = &rules[i];
        if let Some(expression) = r.strip_prefix("!#if") {
            let end = find_end(rules, "!#endif", i + 1, rules.len())
                .ok_or_else(|| format_error("Invalid directives: Condition end not found", r, rules, i, base, None))?;
            let els = find_end(rules, "!#else", i + 1, end);
            let matched = resolve_expression(js::trim(expression))?;
            match els {
                None => {
                    if matched {
                        out.extend(resolve_conditions(&rules[i + 1..end], base)?);
                    }
                }
                Some(e) => {
                    if js::trim(&rules[e]) != "!#else" {
                        return Err(format_error("Found invalid directive !#else", r, rules, i, base, None));
                    }
                    let branch = if matched { &rules[i + 1..e] } else { &rules[e + 1..end] };
                    out.extend(resolve_conditions(branch, base)?);
                }
            }
            i = end + 1;
            continue;
        } else if r.starts_with("!#else") {
            return Err(format_error("Found unexpected condition else branch:", r, rules, i, base, None));
        } else if r.starts_with("!#endif") {
            return Err(format_error("Found unexpected condition end:", r, rules, i, base, None));
        }
        out.push(r.clone());
        i += 1;
    }
    Ok(out)
}

fn empty_condition() -> DownloadError {
    DownloadError("Invalid directives: Empty condition".into())
}

fn brackets_balanced(e: &str) -> bool {
    let mut depth = 0i64;
    for c in e.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// Everything before byte `k` except the last UTF-16 unit (the reference assumes a space there).
fn left_operand(e: &str, k: usize) -> String {
    let units: Vec<u16> = e[..k].encode_utf16().collect();
    String::from_utf16_lossy(&units[..units.len().saturating_sub(1)])
}

/// How deep [`resolve_expression`] may recurse (about one level per `(`, `!`, `&&` or `||`).
/// The reference's own recursion fails with a `RangeError` at a nesting of 5,000 and works at
/// 1,000; this bound keeps the evaluator inside a component's 1 MiB stack, and answers an
/// error instead of overflowing it.
pub const MAX_CONDITION_DEPTH: usize = 2_000;

/// The reference's string-rewriting condition evaluator, with no definitions.
pub fn resolve_expression(raw: &str) -> Result<bool, DownloadError> {
    resolve_at(raw, 0)
}

fn resolve_at(raw: &str, depth: usize) -> Result<bool, DownloadError> {
    if depth > MAX_CONDITION_DEPTH {
        return Err(DownloadError(format!(
            "Invalid directives: the condition is nested more than {MAX_CONDITION_DEPTH} levels deep"
        )));
    }
    if raw.is_empty() {
        return Err(empty_condition());
    }
    let e = js::trim(raw);
    if !brackets_balanced(e) {
        return Err(DownloadError(format!("Invalid directives: Incorrect brackets: {e}")));
    }
    if let Some(o) = e.rfind('(') {
        let c = e[o..]
            .find(')')
            .map(|c| c + o)
            .ok_or_else(|| DownloadError(format!("Invalid directives: Incorrect brackets: {e}")))?;
        let v = resolve_at(&e[o + 1..c], depth + 1)?;
        let rewritten = format!("{}{}{}", &e[..o], if v { "true" } else { "false" }, &e[c + 1..]);
        return resolve_at(&rewritten, depth + 1);
    }
    if let Some(k) = e.find("||") {
        return Ok(resolve_at(&left_operand(e, k), depth + 1)? || resolve_at(&e[k + 2..], depth + 1)?);
    }
    if let Some(k) = e.find("&&") {
        return Ok(resolve_at(&left_operand(e, k), depth + 1)? && resolve_at(&e[k + 2..], depth + 1)?);
    }
    if let Some(rest) = e.strip_prefix('!') {
        return Ok(!resolve_at(rest, depth + 1)?);
    }
    if e.is_empty() {
        return Err(empty_condition());
    }
    Ok(e == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deeply_nested_condition_is_an_error_not_a_stack_overflow() {
        for (open, close) in [("(", ")"), ("!", ""), ("true && ", "")] {
            let deep = format!("{}true{}", open.repeat(100_000), close.repeat(100_000));
            let e = resolve_expression(&deep).unwrap_err();
            assert!(e.0.contains("nested more than"), "{}", e.0);
            let fine = format!("{}true{}", open.repeat(500), close.repeat(500));
            assert!(resolve_expression(&fine).is_ok(), "{open}");
        }
    }
}
