//! The configuration parser (`hostlist::config`) and, for configurations it accepts, the
//! whole compile (`hostlist::compile`) over in-memory sources.
//!
//! Input: the first byte chooses the mode.
//! - `0`: the rest is configuration text, as a user would send it.
//! - otherwise: the rest drives a generator of configurations (mostly well-formed, with
//!   wrong types, unknown keys, unknown transformations, bad `type`s, conflicting validations
//!   and bad patterns mixed in) and of source files (rules, `/etc/hosts` lines, comments,
//!   `!#include`, `!#if`/`!#else`/`!#endif`), so that the checks past JSON syntax are reached.
//!
//! Checks: parsing never panics; an accepted configuration has what the schema requires and
//! comes back equal from its JSON form; `from_json` and `from_value` agree; the compile of an
//! accepted configuration never panics, and a compiled list starts with the header; a plain
//! exclusion pattern matches exactly the lines that contain it.

#![no_main]

mod generate;

use arbitrary::{Result, Unstructured};
use generate::{or_wrong, pick, word};
use hostlist::config::{Configuration, Filters};
use hostlist::download::{self, Fetch};
use hostlist::wildcard::Matcher;
use hostlist::{Stamp, Transformation, compile};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Where sources live: local paths, URLs on one origin, another origin.
const LOCATIONS: [&str; 9] = [
    "a.txt",
    "b.txt",
    "sub/c.txt",
    "patterns.txt",
    "http://h/l/a.txt",
    "http://h/l/sub/b.txt",
    "https://other/x.txt",
    "//h/z.txt",
    "../up.txt",
];

const DOMAINS: [&str; 14] = [
    "example.org",
    "ads.example.org",
    "sub.ads.example.org",
    "Example.ORG",
    "org",
    "co.uk",
    "пример.рф",
    "1.2.3.4",
    "192.168.1.",
    "localhost",
    "constructor",
    "toString",
    "a-.b",
    "*.example.org",
];

const MODIFIERS: [&str; 9] =
    ["important", "third-party", "dnstype=A", "denyallow=x.org", "badfilter", "popup", "client=a", "3p", "a\\,b"];

const PATTERNS: [&str; 10] =
    ["example", "*.org^", "||*.example.org^", "/^\\|\\|ads/", "/(unclosed/", "*", "", "ads", "//", "/a|b/"];

const EXPRESSION: [&str; 9] = ["true", "false", "(", ")", "!", " && ", " || ", " ", "adguard"];

/// Sources in memory: local paths as [`Fetch::read_local_lines`] reads them, URLs as fetched.
struct Mem(BTreeMap<String, String>);

impl Fetch for Mem {
    fn read_local_lines(&self, path: &str) -> std::result::Result<Vec<String>, String> {
        let p = path.trim_start_matches("./");
        self.0.get(p).map(|t| download::split_lines(t)).ok_or_else(|| format!("ENOENT: '{p}'"))
    }
    fn get_url(&self, url: &str) -> std::result::Result<String, String> {
        self.0.get(url).cloned().ok_or_else(|| format!("Failed to request url '{url}'"))
    }
}

fn string_array(u: &mut Unstructured<'_>, item: impl Fn(&mut Unstructured<'_>) -> Result<String>) -> Result<Value> {
    let n = u.int_in_range(0..=4)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        items.push(or_wrong(Value::String(item(u)?), u)?);
    }
    or_wrong(Value::Array(items), u)
}

fn transformation_name(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(15, 16)? {
        Ok(Transformation::ORDER[u.choose_index(Transformation::ORDER.len())?].name().to_owned())
    } else {
        word(u, &["Nope", "compress", ""])
    }
}

fn pattern(u: &mut Unstructured<'_>) -> Result<String> {
    word(u, &PATTERNS)
}

fn location(u: &mut Unstructured<'_>) -> Result<String> {
    word(u, &LOCATIONS)
}

/// The filter keys of a source or of the top level.
fn filters(u: &mut Unstructured<'_>, obj: &mut Map<String, Value>) -> Result<()> {
    if u.arbitrary()? {
        obj.insert("transformations".into(), string_array(u, transformation_name)?);
    }
    for (key, item) in [
        ("exclusions", pattern as fn(&mut Unstructured<'_>) -> Result<String>),
        ("exclusions_sources", location),
        ("inclusions", pattern),
        ("inclusions_sources", location),
    ] {
        if u.ratio(1, 4)? {
            obj.insert(key.into(), string_array(u, item)?);
        }
    }
    if u.ratio(1, 32)? {
        obj.insert(u.arbitrary()?, Value::Null);
    }
    Ok(())
}

fn configuration(u: &mut Unstructured<'_>) -> Result<Value> {
    let mut top = Map::new();
    if u.ratio(31, 32)? {
        let name = word(u, &["List", "", " ", "name\nwith a line break"])?;
        top.insert("name".into(), or_wrong(Value::String(name), u)?);
    }
    for key in ["description", "homepage", "license", "version"] {
        if u.ratio(1, 4)? {
            let v: String = u.arbitrary()?;
            top.insert(key.into(), or_wrong(Value::String(v), u)?);
        }
    }
    let n = u.int_in_range(0..=3)?;
    let mut sources = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = Map::new();
        if u.ratio(31, 32)? {
            s.insert("source".into(), or_wrong(Value::String(location(u)?), u)?);
        }
        if u.ratio(1, 4)? {
            s.insert("name".into(), or_wrong(Value::String(word(u, &["s", ""])?), u)?);
        }
        if u.ratio(1, 4)? {
            s.insert("type".into(), or_wrong(Value::String(word(u, &["adblock", "hosts", "json"])?), u)?);
        }
        filters(u, &mut s)?;
        sources.push(or_wrong(Value::Object(s), u)?);
    }
    if u.ratio(31, 32)? {
        top.insert("sources".into(), or_wrong(Value::Array(sources), u)?);
    }
    filters(u, &mut top)?;
    Ok(Value::Object(top))
}

fn expression(u: &mut Unstructured<'_>) -> Result<String> {
    let n = u.int_in_range(0..=6)?;
    let mut e = String::new();
    for _ in 0..n {
        e.push_str(pick(u, &EXPRESSION)?);
    }
    Ok(e)
}

fn rule_line(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(match u.int_in_range(0..=12)? {
        0 => u.arbitrary()?,
        1 | 2 => word(u, &DOMAINS)?,
        3 | 4 => {
            let mut r = format!("{}||{}^", if u.ratio(1, 4)? { "@@" } else { "" }, word(u, &DOMAINS)?);
            if u.ratio(1, 3)? {
                r.push('$');
                let n = u.int_in_range(1..=3)?;
                let mods: Vec<&str> = (0..n).map(|_| pick(u, &MODIFIERS)).collect::<Result<_>>()?;
                r.push_str(&mods.join(","));
            }
            r
        }
        5 => {
            let ip = pick(u, &["0.0.0.0", "127.0.0.1", "::1", "fe80::1%lo0"])?;
            let n = u.int_in_range(1..=3)?;
            let names: Vec<String> = (0..n).map(|_| word(u, &DOMAINS)).collect::<Result<_>>()?;
            format!("{ip} {}{}", names.join(" "), if u.ratio(1, 4)? { " # comment" } else { "" })
        }
        6 => format!("! {}", u.arbitrary::<String>()?),
        7 => format!("!#include {}", location(u)?),
        8 => format!("!#if {}", expression(u)?),
        9 => "!#else".into(),
        10 => "!#endif".into(),
        11 => "! Diff-Path: x".into(),
        _ => pick(u, &["", "  ", "#", "# c", "\t||x.org^ "])?.into(),
    })
}

fn files(u: &mut Unstructured<'_>) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for loc in LOCATIONS {
        if u.ratio(3, 4)? {
            let n = u.int_in_range(0..=12)?;
            let lines: Vec<String> = (0..n).map(|_| rule_line(u)).collect::<Result<_>>()?;
            files.insert(loc.to_owned(), lines.join(pick(u, &["\n", "\r\n", "\r"])?));
        }
    }
    Ok(files)
}

fn filters_value(f: &Filters, obj: &mut Map<String, Value>) {
    let names: Vec<&str> = f.transformations.iter().map(|t| t.name()).collect();
    for (key, v) in [
        ("transformations", json!(names)),
        ("exclusions", json!(f.exclusions)),
        ("exclusions_sources", json!(f.exclusions_sources)),
        ("inclusions", json!(f.inclusions)),
        ("inclusions_sources", json!(f.inclusions_sources)),
    ] {
        obj.insert(key.into(), v);
    }
}

/// The JSON form of a parsed configuration.
fn to_value(c: &Configuration) -> Value {
    let mut top = Map::new();
    top.insert("name".into(), json!(c.name));
    for (key, v) in
        [("description", &c.description), ("homepage", &c.homepage), ("license", &c.license), ("version", &c.version)]
    {
        if let Some(v) = v {
            top.insert(key.into(), json!(v));
        }
    }
    let sources: Vec<Value> = c
        .sources
        .iter()
        .map(|s| {
            let mut o = Map::new();
            o.insert("source".into(), json!(s.source));
            if let Some(n) = &s.name {
                o.insert("name".into(), json!(n));
            }
            if let Some(k) = &s.kind {
                o.insert("type".into(), json!(k));
            }
            filters_value(&s.filters, &mut o);
            Value::Object(o)
        })
        .collect();
    top.insert("sources".into(), Value::Array(sources));
    filters_value(&c.filters, &mut top);
    Value::Object(top)
}

fn check_filters(f: &Filters) -> usize {
    let validations: Vec<&Transformation> = f.transformations.iter().filter(|t| t.is_validation()).collect();
    assert!(validations.iter().all(|t| *t == validations[0]), "validations combined: {validations:?}");
    validations.len()
}

/// What an accepted configuration must have.
fn check_accepted(c: &Configuration) {
    assert!(!c.name.is_empty(), "accepted without a name");
    assert!(!c.sources.is_empty(), "accepted without sources");
    let top = check_filters(&c.filters);
    for s in &c.sources {
        assert!(!s.source.is_empty(), "accepted a source without a location");
        assert!(s.kind.as_deref().is_none_or(|k| k == "adblock" || k == "hosts"), "type {:?}", s.kind);
        assert!(s.name.as_deref().is_none_or(|n| !n.is_empty()));
        let here = check_filters(&s.filters);
        assert!(top == 0 || here == 0, "validations at both levels");
    }
    let again = Configuration::from_value(&to_value(c)).expect("the JSON form of an accepted configuration");
    assert_eq!(&again, c, "configuration does not survive its JSON form");
}

fn check_compile(c: &Configuration, files: BTreeMap<String, String>) {
    let stamp = Stamp { last_modified: "2026-01-01T00:00:00.000Z".into(), compiled_by: "fuzz".into() };
    if let Ok(list) = compile(c, &Mem(files), &stamp) {
        assert_eq!(list[0], "!");
        assert_eq!(list[1], format!("! Title: {}", c.name));
    }
}

/// A plain (not wildcard, not `/regex/`) pattern matches the lines that contain it.
fn check_plain_patterns(c: &Configuration, lines: &[&str]) {
    for p in c.filters.exclusions.iter().chain(c.sources.iter().flat_map(|s| &s.filters.exclusions)) {
        if p.is_empty() || p.contains('*') || (p.starts_with('/') && p.ends_with('/') && p.len() > 2) {
            continue;
        }
        let m = Matcher::new([p.as_str()]).expect("a plain pattern is always valid").expect("one pattern");
        for l in lines {
            assert_eq!(m.matches(l), l.contains(p.as_str()), "plain pattern {p:?} on {l:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode == 0 {
        let text = String::from_utf8_lossy(rest);
        let parsed = Configuration::from_json(&text);
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            assert_eq!(Configuration::from_value(&value), parsed);
        }
        if let Ok(c) = parsed {
            check_accepted(&c);
            check_compile(&c, BTreeMap::new());
        }
        return;
    }
    let mut u = Unstructured::new(rest);
    let Ok(value) = configuration(&mut u) else { return };
    let Ok(files) = files(&mut u) else { return };
    let text = value.to_string();
    let parsed = Configuration::from_json(&text);
    assert_eq!(Configuration::from_value(&value), parsed);
    let Ok(c) = parsed else { return };
    check_accepted(&c);
    let lines: Vec<&str> = files.values().flat_map(|t| t.lines()).collect();
    check_plain_patterns(&c, &lines);
    check_compile(&c, files);
});
