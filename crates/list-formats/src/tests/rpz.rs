//! The RPZ zone checked against adblock DNS semantics on random lists; the simpler formats
//! against it as a subset or a superset.

use super::{Random, body};
use crate::*;
use std::collections::HashMap;

/// A rule of the random lists of [`rpz_reproduces_adblock_semantics`].
#[derive(Clone, Debug)]
struct TestRule {
    text: String,
    exception: bool,
    subtree: bool,
    important: bool,
    name: &'static str,
    active: bool,
}

impl TestRule {
    fn matches(&self, query: &str) -> bool {
        query == self.name || (self.subtree && query.ends_with(&format!(".{}", self.name)))
    }
}

const NAMES: [&str; 7] =
    ["example", "a.example", "b.example", "x.a.example", "y.a.example", "z.x.a.example", "c.b.example"];

fn random_rule(random: &mut Random) -> TestRule {
    let name = NAMES[random.below(NAMES.len())];
    let exception = random.below(2) == 0;
    let important = random.below(4) == 0;
    let (subtree, pattern) = match random.below(4) {
        0 | 1 => (true, format!("||{name}^")),
        2 => (false, format!("|{name}^")),
        _ if important && !exception => (false, format!("|{name}^")),
        _ if !exception && random.below(2) == 0 => (false, format!("0.0.0.0 {name} localhost")),
        _ => (false, name.to_owned()),
    };
    let text = format!("{}{pattern}{}", if exception { "@@" } else { "" }, if important { "$important" } else { "" });
    TestRule { text, exception, subtree, important, name, active: true }
}

/// Adblock DNS semantics: `$important` exceptions, then `$important` blocks, then exceptions,
/// then blocks decide.
fn adblock_blocks(rules: &[TestRule], query: &str) -> bool {
    let matching: Vec<_> = rules.iter().filter(|r| r.active && r.matches(query)).collect();
    let has = |exception: bool, important: bool| {
        matching.iter().any(|r| r.exception == exception && (r.important || !important))
    };
    if has(true, true) {
        false
    } else if has(false, true) {
        true
    } else if has(true, false) {
        false
    } else {
        has(false, false)
    }
}

/// RPZ precedence: the exact owner name, else the longest matching wildcard.
fn rpz_blocks(zone: &HashMap<String, bool>, query: &str) -> bool {
    if let Some(&blocked) = zone.get(query) {
        return blocked;
    }
    let mut name = query;
    while let Some((_, parent)) = name.split_once('.') {
        if let Some(&blocked) = zone.get(&format!("*.{parent}")) {
            return blocked;
        }
        name = parent;
    }
    false
}

fn parse_zone(out: &str) -> HashMap<String, bool> {
    let mut zone = HashMap::new();
    for line in out.lines() {
        let (owner, action) = line.split_once(" CNAME ").unwrap();
        let blocked = match action {
            "." => true,
            "rpz-passthru." => false,
            other => panic!("{other}"),
        };
        let previous = zone.insert(owner.to_owned(), blocked);
        assert!(previous.is_none_or(|p| p == blocked), "conflicting records for {owner} in\n{out}");
    }
    zone
}

/// Names that blocks in a simple format cover, with `*.name` covering the name's subdomains
/// and, when `wildcard_apex`, the name too.
fn covered(out: &str, query: &str, prefix: &str, suffix: &str, subtree: bool, wildcard_apex: bool) -> bool {
    out.lines().any(|line| {
        let entry = line.strip_prefix(prefix).and_then(|l| l.strip_suffix(suffix)).unwrap();
        match entry.strip_prefix("*.") {
            Some(parent) => query.ends_with(&format!(".{parent}")) || (wildcard_apex && query == parent),
            None => query == entry || (subtree && query.ends_with(&format!(".{entry}"))),
        }
    })
}

/// On random lists over a few related names, the RPZ zone decides every query as adblock DNS
/// filtering does; hosts and domains block a subset, wildcard and dnsmasq a superset.
#[test]
fn rpz_reproduces_adblock_semantics() {
    let mut random = Random(42);
    let queries: Vec<String> = NAMES
        .iter()
        .flat_map(|n| [n.to_string(), format!("q.{n}"), format!("q.q.{n}")])
        .chain(["other".into()])
        .collect();
    for round in 0..3000 {
        let mut rules: Vec<TestRule> = (0..1 + random.below(8)).map(|_| random_rule(&mut random)).collect();
        let mut lines: Vec<String> = rules.iter().map(|r| r.text.clone()).collect();
        // `$badfilter` applies to adblock-style rules, not to hosts lines.
        let target = rules[random.below(rules.len())].text.clone();
        if random.below(3) == 0 && !target.starts_with("0.0.0.0") {
            let sep = if target.contains('$') { "," } else { "$" };
            lines.push(format!("{target}{sep}badfilter"));
            rules.iter_mut().filter(|r| r.text == target).for_each(|r| r.active = false);
        }
        let list = lines.join("\n");
        let (rpz, _) = body(Format::Rpz, &list);
        let zone = parse_zone(&rpz);
        let (hosts, _) = body(Format::Hosts, &list);
        let (wildcard, _) = body(Format::Wildcard, &list);
        let (dnsmasq, _) = body(Format::Dnsmasq, &list);
        for query in &queries {
            let expected = adblock_blocks(&rules, query);
            let context = format!("round {round}, query {query}, list:\n{list}\nzone:\n{rpz}");
            assert_eq!(rpz_blocks(&zone, query), expected, "{context}");
            assert!(!covered(&hosts, query, "0.0.0.0 ", "", false, false) || expected, "hosts: {context}");
            assert!(covered(&wildcard, query, "", "", false, true) || !expected, "wildcard: {context}");
            assert!(covered(&dnsmasq, query, "local=/", "/", true, false) || !expected, "dnsmasq: {context}");
        }
    }
}
