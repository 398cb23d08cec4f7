use super::*;
use std::collections::HashMap;

/// In-memory files and URLs.
struct Mem(HashMap<&'static str, &'static str>);

impl Fetch for Mem {
    fn read_local_lines(&self, path: &str) -> Result<Vec<String>, String> {
        let p = path.trim_start_matches("./");
        self.0.get(p).map(|s| split_lines(s)).ok_or_else(|| format!("ENOENT: no such file or directory, open '{p}'"))
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
    assert_eq!(run(&files, "http://h/l/main.txt").unwrap_err(), "Include url is rejected with origin: http://other");
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
    for t in
        ["true&&true", "true||false", "(true)&&true", "adguard || true && false", "TRUE", "constructor", "!!adguard"]
    {
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
    let files =
        [("m.txt", "!#if true\n!#include c.txt\n!#endif\n!#if false\n!#include missing.txt\n!#endif"), ("c.txt", "c1")];
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
