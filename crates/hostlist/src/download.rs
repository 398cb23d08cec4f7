//! What the reference's downloader (`@adguard/filters-downloader`, `download(src, {}, …)`) does
//! with a source: fetch it, split it into lines, resolve `!#if`/`!#else`/`!#endif` (no
//! definitions: only the literal `true` is true) and expand `!#include`, file by file.
//!
//! The fetching itself is the caller's ([`Fetch`]): files and HTTP natively, `wasi:http` in a
//! component. The reference's quirks are reproduced where they decide the output (see the tests);
//! where the reference hangs (an include cycle) this stops with an error instead.

use crate::js;

/// How sources are read.
pub trait Fetch {
    /// A local file split into lines as [`split_lines`] does; `path` is as the list gives it
    /// (relative to the working directory). [`read_file_lines`] does it for a real file system
    /// without holding the whole text; text held in memory goes through [`split_lines`].
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String>;
    /// Fetches an `http(s)` URL; the body, decoded.
    fn get_url(&self, url: &str) -> Result<String, String>;
}

/// Includes nested deeper than this are an error (the reference has no limit and hangs on cycles).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// A download failure; the message is the reference's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DownloadError(pub String);

/// `^[a-z]+://` (any case) not starting with `file`, or `//`.
pub fn is_external(s: &str) -> bool {
    if s.starts_with("//") {
        return true;
    }
    let scheme_len = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    scheme_len > 0 && s[scheme_len..].starts_with("://") && !s[..4.min(s.len())].eq_ignore_ascii_case("file")
}

fn is_absolute_url(s: &str) -> bool {
    if s.starts_with("//") {
        return true;
    }
    let n = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    n > 0 && s[n..].starts_with("://")
}

fn dirname(s: &str) -> &str {
    s.rfind('/').map_or("", |i| &s[..i])
}

/// Bytes read at a time by [`split_reader`].
pub const READ_PIECE: usize = 256 * 1024;

/// Spare capacity [`split_lines`] leaves for header lines.
pub const HEADER_ROOM: usize = 32;

/// `text.trim().split(/[\r\n]+/)`.
pub fn split_lines(text: &str) -> Vec<String> {
    let t = js::trim(text);
    if t.is_empty() {
        return vec![String::new()];
    }
    // Room for the header lines the compiler puts around a source, so that no reallocation
    // copies the whole list later.
    let mut lines = Vec::with_capacity(t.bytes().filter(|&b| b == b'\n').count() + 1 + HEADER_ROOM);
    lines.extend(t.split(['\r', '\n']).filter(|p| !p.is_empty()).map(str::to_owned));
    lines
}

/// [`split_lines`] on the bytes of `reader` (decoded as lossy UTF-8), read in pieces: the text
/// is never held whole. `capacity` sizes the result (e.g. the count of line breaks).
pub fn split_reader(mut reader: impl std::io::Read, capacity: usize) -> std::io::Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::with_capacity(capacity + HEADER_ROOM);
    let mut partial: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; READ_PIECE];
    // A line break is ASCII, so it ends any incomplete UTF-8 sequence: decoding line by line
    // replaces invalid bytes exactly as decoding the whole text does.
    let push = |bytes: &[u8], lines: &mut Vec<String>| {
        if !bytes.is_empty() {
            lines.push(String::from_utf8_lossy(bytes).into_owned());
        }
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut start = 0;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                if partial.is_empty() {
                    push(&buf[start..i], &mut lines);
                } else {
                    partial.extend_from_slice(&buf[start..i]);
                    push(&partial, &mut lines);
                    partial.clear();
                }
                start = i + 1;
            }
        }
        partial.extend_from_slice(&buf[start..n]);
    }
    push(&partial, &mut lines);
    // The whole text was trimmed first: white-space-only lines at either end go, and the
    // first and last lines lose their outer white space.
    let first = lines.iter().position(|l| !js::trim(l).is_empty());
    let Some(first) = first else { return Ok(vec![String::new()]) };
    let last = lines.iter().rposition(|l| !js::trim(l).is_empty()).unwrap_or(first);
    lines.truncate(last + 1);
    lines.drain(..first);
    if let Some(l) = lines.first_mut() {
        let t = l.trim_start_matches(js::is_space);
        if t.len() != l.len() {
            *l = t.to_owned();
        }
    }
    if let Some(l) = lines.last_mut() {
        let t = l.trim_end_matches(js::is_space);
        if t.len() != l.len() {
            *l = t.to_owned();
        }
    }
    Ok(lines)
}

/// Reads the file at `path` (at most `max_bytes`) split into lines, for [`Fetch`]
/// implementations that have a file system (natively, or `wasi:filesystem` in a component).
/// Two passes: the line breaks are counted to size the list, then the file is split in pieces,
/// so the whole text is never held.
pub fn read_file_lines(path: &str, max_bytes: u64) -> Result<Vec<String>, String> {
    use std::io::Read;
    let open = || std::fs::File::open(path).map_err(|e| format!("cannot open {path:?}: {e}"));
    let read_err = |e: std::io::Error| format!("cannot read {path:?}: {e}");
    let mut file = open()?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) > max_bytes {
        return Err(format!("{path:?} is larger than {max_bytes} bytes"));
    }
    let mut breaks = 0usize;
    let mut buf = vec![0u8; READ_PIECE];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        breaks += buf[..n].iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    }
    drop(buf);
    split_reader(open()?.take(max_bytes), breaks + 1).map_err(read_err)
}

/// Downloads `src` with its directives resolved.
pub fn download(src: &str, fetch: &dyn Fetch) -> Result<Vec<String>, DownloadError> {
    let origin = is_external(src).then(|| dirname(src).to_owned());
    process(src, origin.as_deref(), fetch, 0)
}

fn process(url: &str, origin: Option<&str>, fetch: &dyn Fetch, depth: usize) -> Result<Vec<String>, DownloadError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(DownloadError(format!(
            "includes are nested deeper than {MAX_INCLUDE_DEPTH} levels (a cycle?) at {url:?}"
        )));
    }
    let origin_s = origin.unwrap_or("");
    let (full, lines) = if is_external(url) || is_external(origin_s) {
        let full = if !is_absolute_url(url) && is_absolute_url(origin_s) {
            format!("{origin_s}/{url}")
        } else {
            url.to_owned()
        };
        let text = fetch.get_url(&full).map_err(DownloadError)?;
        (full, split_lines(&text))
    } else {
        let full = if origin_s.is_empty() { url.to_owned() } else { format!("{origin_s}/{url}") };
        let lines = fetch.read_local_lines(&full).map_err(DownloadError)?;
        (full, lines)
    };
    let base = dirname(&full).to_owned();
    // Most lists have no directives: then the lines are passed on, not copied.
    let lines = if lines.iter().any(|l| l.starts_with("!#if") || l.starts_with("!#else") || l.starts_with("!#endif")) {
        resolve_conditions(&lines, &base)?
    } else {
        lines
    };
    if lines.iter().any(|l| l.starts_with("!#include")) {
        resolve_includes(lines, &base, fetch, depth)
    } else {
        Ok(lines)
    }
}

fn format_error(
    desc: &str,
    rule: &str,
    rules: &[String],
    index: usize,
    base: &str,
    original: Option<&str>,
) -> DownloadError {
    let mut msg = vec![format!("{desc} '{rule}'")];
    if !base.is_empty() {
        msg.push(format!("URL: '{base}'"));
    }
    let context: Vec<String> = rules[index.saturating_sub(3)..index].iter().map(|l| format!("\t{l}")).collect();
    if !context.is_empty() {
        msg.push("Context:".into());
        msg.push(context.join("\n"));
        msg.push(format!("\t{rule}"));
    }
    if let Some(o) = original {
        msg.push(format!("\t{o}"));
    }
    DownloadError(msg.join("\n") + "\n")
}

fn origin_of(u: &str) -> Option<String> {
    url::Url::parse(u).ok().map(|p| p.origin().ascii_serialization())
}

fn resolve_includes(
    lines: Vec<String>,
    base: &str,
    fetch: &dyn Fetch,
    depth: usize,
) -> Result<Vec<String>, DownloadError> {
    let mut out = Vec::with_capacity(lines.len());
    for (idx, line) in lines.iter().enumerate() {
        let Some(arg) = line.strip_prefix("!#include") else {
            out.push(line.clone());
            continue;
        };
        let u = js::trim(arg);
        if !base.is_empty() && is_absolute_url(u) {
            let o1 = origin_of(u).ok_or_else(|| DownloadError(format!("Invalid url: '{u}'")))?;
            let o2 = origin_of(base).ok_or_else(|| DownloadError(format!("Invalid url: '{base}'")))?;
            if o1 != o2 {
                return Err(DownloadError(format!("Include url is rejected with origin: {o1}")));
            }
        }
        let mut child = process(u, Some(base), fetch, depth + 1).map_err(|e| {
            format_error("Failed to resolve the include directive", line, &lines, idx, base, Some(&e.0))
        })?;
        // The reference removes `! Diff-Path:` lines among an include's first 50, skipping the
        // line after each removal.
        let mut i = 0;
        while i < 50.min(child.len()) {
            if js::trim(&child[i]).starts_with("! Diff-Path:") {
                child.remove(i);
            }
            i += 1;
        }
        if child.is_empty() {
            out.push(String::new());
        } else {
            out.extend(child);
        }
    }
    Ok(out)
}

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

fn resolve_conditions(rules: &[String], base: &str) -> Result<Vec<String>, DownloadError> {
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
    use std::collections::HashMap;

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

    /// In-memory files and URLs.
    struct Mem(HashMap<&'static str, &'static str>);

    impl Fetch for Mem {
        fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
            let p = path.trim_start_matches("./");
            self.0
                .get(p)
                .map(|s| split_lines(s))
                .ok_or_else(|| format!("ENOENT: no such file or directory, open '{p}'"))
        }
        fn get_url(&self, url: &str) -> Result<String, String> {
            self.0.get(url).map(|s| s.to_string()).ok_or_else(|| format!("Failed to request url '{url}'"))
        }
    }

    fn run(files: &[(&'static str, &'static str)], src: &str) -> Result<Vec<String>, String> {
        download(src, &Mem(files.iter().copied().collect())).map_err(|e| e.0)
    }

    fn cond(text: &'static str) -> Result<Vec<String>, String> {
        run(&[("l.txt", text)], "l.txt")
    }

    #[test]
    fn splits_like_the_reference() {
        assert_eq!(split_lines("a\r\nb\r\n\r\n\r\nc\rd\n\n  \n\te\t\n   \n"), vec!["a", "b", "c", "d", "  ", "\te"]);
        assert_eq!(split_lines("\n\n  \r\n\t\n"), vec![""]);
        assert_eq!(split_lines("\u{feff}! title\nx\n"), vec!["! title", "x"]);
        assert_eq!(split_lines("  lead\nmid  \ntrail  \n"), vec!["lead", "mid  ", "trail"]);
        assert_eq!(
            split_lines("x\u{2028}y\n\u{85}z\u{85}\n\u{a0}nb\u{a0}\n"),
            vec!["x\u{2028}y", "\u{85}z\u{85}", "\u{a0}nb"]
        );
    }

    #[test]
    fn split_reader_equals_split_lines() {
        let texts: [&[u8]; 9] = [
            b"a\r\nb\r\n\r\n\r\nc\rd\n\n  \n\te\t\n   \n",
            b"\n\n  \r\n\t\n",
            b"\xef\xbb\xbf! title\nx\n",
            b"  lead\nmid  \ntrail  \n",
            b"a\xffb\n\xed\xa0\x80\n\xf0\x9f\x98\n\xc3(\n\xe2\x82\n",
            b"",
            b"single",
            b"\xc2\xa0\xe3\x80\x80first\nlast\xc2\xa0",
            b" \n \n x \n \n ",
        ];
        for t in texts {
            // Tiny reads exercise lines split across reads.
            struct Trickle<'a>(&'a [u8]);
            impl std::io::Read for Trickle<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let n = self.0.len().min(3).min(buf.len());
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let expected = split_lines(&String::from_utf8_lossy(t));
            assert_eq!(split_reader(t, 0).unwrap(), expected, "{t:?}");
            assert_eq!(split_reader(Trickle(t), 0).unwrap(), expected, "{t:?} in pieces");
        }
    }

    #[test]
    fn includes_resolve_relative_to_the_including_file() {
        let files = [
            ("main.txt", "! top\n!#include sub/a.txt\nafter"),
            ("sub/a.txt", "a1\n!#include deep/b.txt\n!#include ../c.txt\na2"),
            ("sub/deep/b.txt", "! Diff-Path: x\nb1"),
            ("sub/../c.txt", "c1"),
        ];
        assert_eq!(run(&files, "main.txt").unwrap(), vec!["! top", "a1", "b1", "c1", "a2", "after"]);
    }

    #[test]
    fn include_failures_are_wrapped_with_context() {
        let files = [("f.txt", "p1\np2\np3\np4\n!#include missing.txt")];
        assert_eq!(
            run(&files, "f.txt").unwrap_err(),
            "Failed to resolve the include directive '!#include missing.txt'\nContext:\n\tp2\n\tp3\n\tp4\n\t!#include missing.txt\n\tENOENT: no such file or directory, open 'missing.txt'\n"
        );
    }

    #[test]
    fn include_cycles_stop() {
        let files = [("self.txt", "x\n!#include self.txt")];
        assert!(run(&files, "self.txt").unwrap_err().contains("nested deeper"));
    }

    #[test]
    fn diff_path_lines_of_includes_are_dropped_with_the_reference_skip() {
        let files = [
            ("top.txt", "top\n! Diff-Path: top\n!#include diffs.txt"),
            ("diffs.txt", "! Diff-Path: a\n! Diff-Path: b\n  ! Diff-Path: c\n! Diff-Path:d\n!Diff-Path: e\nr"),
        ];
        assert_eq!(
            run(&files, "top.txt").unwrap(),
            vec!["top", "! Diff-Path: top", "! Diff-Path: b", "! Diff-Path:d", "!Diff-Path: e", "r"]
        );
    }

    #[test]
    fn include_line_forms() {
        let files =
            [("m.txt", "a\n!#includec.txt\n !#include c.txt\n!#INCLUDE c.txt\n!#include   c.txt   "), ("c.txt", "c1")];
        assert_eq!(run(&files, "m.txt").unwrap(), vec!["a", "c1", " !#include c.txt", "!#INCLUDE c.txt", "c1"]);
        let files = [("m.txt", "x\n!#include empty.txt\ny"), ("empty.txt", "  \n")];
        assert_eq!(run(&files, "m.txt").unwrap(), vec!["x", "", "y"]);
    }

    #[test]
    fn url_includes_stay_on_the_origin() {
        let files = [
            (
                "http://h/l/main.txt",
                "! main\n!#include sub/a.txt\n!#include http://h/abs.txt\n!#include http://other/x.txt",
            ),
            ("http://h/l/sub/a.txt", "a1"),
            ("http://h/abs.txt", "abs"),
        ];
        assert_eq!(
            run(&files, "http://h/l/main.txt").unwrap_err(),
            "Include url is rejected with origin: http://other"
        );
        let files = [
            ("http://h/l/main.txt", "! main\n!#include sub/a.txt\n!#include http://h/abs.txt"),
            ("http://h/l/sub/a.txt", "a1"),
            ("http://h/abs.txt", "abs"),
        ];
        assert_eq!(run(&files, "http://h/l/main.txt").unwrap(), vec!["! main", "a1", "abs"]);
    }

    #[test]
    fn conditions() {
        assert_eq!(cond("!#if false\nF\n!#else\nE\n!#endif").unwrap(), vec!["E"]);
        assert_eq!(cond("!#if adguard\nX\n!#else\nNOT\n!#endif").unwrap(), vec!["NOT"]);
        assert_eq!(cond("!#if !ext_chromium\nnotchromium\n!#endif").unwrap(), vec!["notchromium"]);
        for t in [
            "! adguard",
            "(true)",
            "!(adguard)",
            "((true))",
            "true && true",
            "true ||false",
            "true ||",
            "true && (false || true)",
            "true || false && false",
            "false && false || true",
            "!true || true",
        ] {
            let text: &'static str = Box::leak(format!("!#if {t}\nA\n!#endif").into_boxed_str());
            assert_eq!(cond(text).unwrap(), vec!["A"], "{t}");
        }
        for t in [
            "true&&true",
            "true||false",
            "(true)&&true",
            "adguard || true && false",
            "TRUE",
            "constructor",
            "!!adguard",
        ] {
            let text: &'static str = Box::leak(format!("!#if {t}\nA\n!#endif").into_boxed_str());
            assert!(cond(text).unwrap().is_empty(), "{t}");
        }
        assert_eq!(cond("!#iftrue\nA\n!#endif").unwrap(), vec!["A"]);
        for t in ["a&&b", "x||true", "x ||", "()", ""] {
            let text: &'static str = Box::leak(format!("!#if {t}\nA\n!#endif").into_boxed_str());
            assert_eq!(cond(text).unwrap_err(), "Invalid directives: Empty condition", "{t}");
        }
        assert_eq!(cond("!#if (true\nA\n!#endif").unwrap_err(), "Invalid directives: Incorrect brackets: (true");
    }

    #[test]
    fn condition_structure_errors_and_quirks() {
        assert_eq!(
            cond("p\n!#if true\nq").unwrap_err(),
            "Invalid directives: Condition end not found '!#if true'\nContext:\n\tp\n\t!#if true\n"
        );
        assert_eq!(
            cond("p\n!#else\nq").unwrap_err(),
            "Found unexpected condition else branch: '!#else'\nContext:\n\tp\n\t!#else\n"
        );
        assert_eq!(
            cond("p\nq\nr\ns\n!#endif\nq").unwrap_err(),
            "Found unexpected condition end: '!#endif'\nContext:\n\tq\n\tr\n\ts\n\t!#endif\n"
        );
        assert_eq!(
            cond("!#if true\nA\n!#else foo\nB\n!#endif").unwrap_err(),
            "Found invalid directive !#else '!#if true'\n"
        );
        // The reference's else search lets a nested !#if swallow the outer !#else.
        assert!(cond("!#if false\n!#if false\nx\n!#endif\n!#else\ny\n!#endif").unwrap().is_empty());
        assert_eq!(cond("x\n!#if true\nA\n!#endif trailing\nz").unwrap(), vec!["x", "A", "z"]);
        let files = [
            ("m.txt", "!#if true\n!#include c.txt\n!#endif\n!#if false\n!#include missing.txt\n!#endif"),
            ("c.txt", "c1"),
        ];
        assert_eq!(run(&files, "m.txt").unwrap(), vec!["c1"]);
    }

    #[test]
    fn classifies_sources() {
        assert!(is_external("https://a/b"));
        assert!(is_external("HTTP://a/b"));
        assert!(is_external("//a/b"));
        assert!(!is_external("file:///a"));
        assert!(!is_external("lists/a.txt"));
        assert!(!is_external("git+https://a"));
    }
}
