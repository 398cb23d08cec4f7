//! Differential test: `dns-filter` against AdGuard's own DNS engine, `@adguard/tsurlfilter`
//! (`DnsEngine`, `RuleStorage`, `StringRuleList`), on seeded generated lists.
//!
//! The reference is installed from npm into the target directory on first use
//! (`tests/reference/package.json`, pinned; the driver is `tests/reference/dns.mjs`), or taken
//! from `TSURLFILTER_DIR` (a directory with `node_modules/@adguard/tsurlfilter`). Node and npm
//! must be on PATH.
//!
//! For every query (name, optional DNS type), on 4 seeded lists of 1,500 rules and 2,500 queries
//! each (names in the lists, subdomains, parents, near misses, unrelated names; no type, `A`,
//! `AAAA`, `CNAME`, `HTTPS`; internationalized names, written in Unicode or punycode in the rules
//! and the queries, asked of tsurlfilter in punycode as a DNS query carries them; `/regex/` rules
//! in JavaScript syntax the `regex` crate lacks: look-ahead, look-behind, back references), it
//! checks:
//! 0. that the sharded form (`build_shards` / `lookup_sharded`) answers exactly as `Engine`;
//! 1. the verdict (blocked or not);
//! 2. the set of adblock-syntax rules matching (tsurlfilter's `NetworkEngine.matchAll`, which
//!    includes `$badfilter` rules and the rules they disable) with ours (every match that is not
//!    a hosts rule, whatever its role);
//! 3. the set of hosts-syntax / bare-domain rules matching the exact name;
//! 4. the deciding adblock rule: the same text, or, when several rules share the deciding
//!    priority, one with the same priority class (see DIFFERENCES);
//!
//! and that the lookups covered every role and rule kind (so a generator change cannot make the
//! test vacuous).
//!
//! DIFFERENCES (settled, not skipped):
//! - Ties: among matching rules of equal priority weight tsurlfilter decides with the first its
//!   lookup tables return, dns-filter with the first in list order. Both block or both unblock
//!   (same weight means same class: important exception, important, exception, plain), so the
//!   verdict never depends on it; item 4 then checks the class, and counts such cases.
//! - `$client` / `$ctag` rules: a lookup has no client; both engines never match them. The
//!   generator includes them, so this is compared, not assumed.
//! - `/regex/` rules: dns-filter runs what the `regex` crate accepts with it, the rest
//!   (look-around, back references) with `fancy-regex`; the generator writes both kinds, so
//!   this is compared. Syntax neither accepts never matches (the crate docs list it).
//!
//! Found by this test and fixed (dns-filter now does as tsurlfilter; the crate docs list them):
//! - rules shorter than 4 characters are dropped (`x1.`);
//! - a bare domain is a hosts rule only when it is registrable by the ICANN section of the Public
//!   Suffix List; `sub.example.org` and `x.blogspot.com` are adblock substring patterns;
//! - the last `$` starts the modifiers even in a `/regex$/` (an invalid rule);
//! - `||UPPER.CASE^`, `0.0.0.0 UPPER.CASE` and `$dnstype=aaaa` are compared case-sensitively
//!   (they never match);
//! - look-around and back references in `/regex/` rules (they never matched before
//!   `fancy-regex`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

fn reference_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TSURLFILTER_DIR") {
        return PathBuf::from(d);
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tsurlfilter-reference");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    if !dir.join("node_modules/@adguard/tsurlfilter/package.json").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(here.join("package.json"), dir.join("package.json")).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("running npm (Node.js and npm are needed for the reference)");
        assert!(status.success(), "npm install of @adguard/tsurlfilter failed");
    }
    // The driver sits beside node_modules so that its import resolves there.
    std::fs::copy(here.join("dns.mjs"), dir.join("dns.mjs")).unwrap();
    dir
}

#[derive(serde::Deserialize, Debug)]
struct Answer {
    blocked: bool,
    basic: Option<String>,
    network: Vec<String>,
    hosts: Vec<String>,
}

fn reference(dir: &Path, rules: &str, queries: &[(String, Option<&str>)]) -> Vec<Answer> {
    let input = serde_json::json!({ "rules": rules, "queries": queries });
    let mut child = Command::new("node")
        .arg(dir.join("dns.mjs"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running node");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the reference driver failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

const TLDS: &[&str] = &["com", "org", "net", "example", "co.uk"];
const WORDS: &[&str] =
    &["ads", "track", "cdn", "img", "metrics", "pixel", "static", "api", "mail", "news", "ad-serv", "stats", "x1"];
/// Labels of internationalized names (written in Unicode in some rules and queries, in
/// punycode in others).
const IDN_WORDS: &[&str] = &["bücher", "пример", "例え", "ñandú"];
const QTYPES: &[Option<&str>] = &[None, Some("A"), Some("AAAA"), Some("CNAME"), Some("HTTPS")];

/// The ASCII (punycode) form of a name, as a DNS query carries it.
fn ascii(name: &str) -> String {
    idna::domain_to_ascii(name).unwrap_or_else(|_| name.to_owned())
}

fn domain(rng: &mut Rng) -> String {
    let word = if rng.below(12) == 0 { rng.pick(IDN_WORDS) } else { rng.pick(WORDS) };
    let mut d = format!("{word}{}.{}", rng.below(40), rng.pick(TLDS));
    if rng.below(3) == 0 {
        d = format!("{}.{d}", rng.pick(WORDS));
    }
    d
}

/// A generated list (rules over a pool of domains) and the pool.
fn generate(seed: u64, n: usize) -> (String, Vec<String>) {
    let mut rng = Rng(seed);
    let mut pool: Vec<String> = (0..n / 2).map(|_| domain(&mut rng)).collect();
    pool.sort();
    pool.dedup();
    let mut lines: Vec<String> = vec!["! Title: generated".into(), "# hosts comment".into()];
    for _ in 0..n {
        let d = pool[rng.below(pool.len())].clone();
        let e = pool[rng.below(pool.len())].clone();
        let w = rng.pick(WORDS);
        let line = match rng.below(58) {
            0..=7 => format!("||{d}^"),
            8..=9 => format!("@@||{d}^"),
            10 => format!("||{d}^$important"),
            11 => format!("@@||{d}^$important"),
            12..=14 => format!("0.0.0.0 {d}"),
            15 => format!("127.0.0.1 {d} {e}"),
            16 => format!("::1 {d}"),
            17..=18 => d.clone(),
            19 => format!("|{d}^"),
            20 => format!("{d}^"),
            21 => format!("||{w}*.{}^", rng.pick(TLDS)),
            // With a `$` before the closing slash tsurlfilter reads modifiers: an invalid rule.
            22 => format!("/^{w}[0-9]+\\.{}{}/", rng.pick(TLDS).replace('.', "\\."), rng.pick(&["", "", "$"])),
            23 => format!("||{d}^$dnstype={}", rng.pick(&["A", "AAAA", "A|AAAA", "~A", "~AAAA|~CNAME"])),
            24 => format!("||{d}^$badfilter"),
            25 => format!("||{d}^$important,badfilter"),
            26 => format!("||{d}^$denyallow={w}.{d}|{}.{d}", rng.pick(WORDS)),
            27 => format!("||{d}^$client=192.168.0.1"),
            28 => format!("||{d}^$third-party"),
            29 => format!("||{d}^$domain={e}"),
            30 => format!("{d}##.banner"),
            31 => format!("||{d}^$document"),
            32 => format!("||{d}^$image"),
            33 => format!("||{d}^$~image"),
            34 => format!("||{d}^$dnsrewrite=1.2.3.4"),
            35 => format!("@@{d}^|"),
            36 => format!("||{d}/path"),
            37 => format!("{w}."),
            38 => format!("||{}^", d.to_ascii_uppercase()),
            39 => format!("! {d}"),
            40 => format!("0.0.0.0 {}", d.to_ascii_uppercase()),
            41 => format!("{w}.blogspot.com"),
            42 => format!("||{d}^$dnstype={}", rng.pick(&["a", "aaaa", "A,important", "~a"])),
            43 => format!("@@||{d}^$dnstype=A"),
            44 => format!("||{d}^|"),
            45 => format!("||{d}"),
            46 => format!("*{d}^"),
            47 => format!("@@/^{w}[0-9]+\\./$important"),
            48 => format!("||{d}^$important,badfilter"),
            49 => format!("{d}^$important"),
            50 => format!("  ||{d}^  "),
            // JavaScript regex syntax beyond the `regex` crate: look-ahead, look-behind, a back
            // reference.
            51 => format!("/^{w}(?=[0-9])/"),
            52 => format!("/(?<=\\.){w}[0-9]+\\./"),
            53 => "/^([a-z]+)\\.\\1[0-9]/".to_owned(),
            // An internationalized name in punycode, as most lists write them (the pool's
            // Unicode names appear as written in the other rules).
            54 => format!("||{}^", ascii(&d)),
            55 => format!("0.0.0.0 {}", ascii(&d)),
            56 => format!("@@||{}^", ascii(&e)),
            _ => format!("0.0.0.0 {d} # comment {e}"),
        };
        lines.push(line);
    }
    (lines.join("\n"), pool)
}

fn queries(seed: u64, pool: &[String], n: usize) -> Vec<(String, Option<&'static str>)> {
    let mut rng = Rng(seed ^ 0xABCD);
    (0..n)
        .map(|_| {
            let d = &pool[rng.below(pool.len())];
            let name = match rng.below(9) {
                8 => format!("{}.blogspot.com", rng.pick(WORDS)),
                0..=2 => d.clone(),
                3 => format!("{}.{d}", rng.pick(WORDS)),
                4 => d.split_once('.').map_or(d.clone(), |x| x.1.to_owned()),
                5 => format!("x{d}"),
                6 => format!("{d}.evil"),
                7 if rng.below(2) == 0 => ascii(d),
                _ => domain(&mut rng),
            };
            (name, QTYPES[rng.below(QTYPES.len())])
        })
        .collect()
}

#[test]
fn verdicts_and_matches_agree_with_tsurlfilter() {
    let dir = reference_dir();
    let (mut compared, mut ties, mut blocked) = (0usize, 0usize, 0usize);
    // What the agreeing lookups covered (so a generator change cannot make the test vacuous).
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut failures = Vec::new();
    for seed in [1u64, 2, 3, 4] {
        let (list, pool) = generate(seed, 1500);
        let qs = queries(seed, &pool, 2500);
        // tsurlfilter is asked the name as a DNS query carries it (punycode); dns-filter is also
        // asked names in Unicode, which it converts.
        let ascii_qs: Vec<(String, Option<&str>)> = qs.iter().map(|(n, t)| (ascii(n), *t)).collect();
        let theirs = reference(&dir, &list, &ascii_qs);
        let engine = dns_filter::Engine::new(&list);
        let shards: std::collections::HashMap<String, Vec<u8>> =
            dns_filter::build_shards(&list).into_iter().map(|s| (s.key, s.bytes)).collect();
        for ((name, qtype), t) in qs.iter().zip(&theirs) {
            let ours = engine.lookup(name, *qtype).unwrap();
            let sharded = dns_filter::lookup_sharded(name, *qtype, |k| shards.get(k).cloned()).unwrap();
            assert_eq!(ours, sharded, "the sharded form answers {name} {qtype:?} differently");
            compared += 1;
            blocked += usize::from(ours.blocked);
            for m in &ours.matches {
                if !m.text.is_ascii() || m.text.contains("xn--") {
                    let written = if m.text.is_ascii() { "punycode" } else { "unicode" };
                    seen.insert(format!("idn {written} {:?}", m.role));
                }
                let kind = if m.hosts {
                    "hosts"
                } else if m.text.starts_with('/') && ["(?=", "(?<", "\\1"].iter().any(|x| m.text.contains(x)) {
                    "js-regex"
                } else if m.text.starts_with('/') {
                    "regex"
                } else if m.text.contains("$dnstype") {
                    "dnstype"
                } else if m.text.contains('*') {
                    "wildcard"
                } else {
                    "adblock"
                };
                seen.insert(format!("{kind} {:?}", m.role));
            }
            let our_net: BTreeSet<&str> = ours.matches.iter().filter(|m| !m.hosts).map(|m| m.text.as_str()).collect();
            let our_hosts: BTreeSet<&str> = ours.matches.iter().filter(|m| m.hosts).map(|m| m.text.as_str()).collect();
            let their_net: BTreeSet<&str> = t.network.iter().map(String::as_str).collect();
            let their_hosts: BTreeSet<&str> = t.hosts.iter().map(String::as_str).collect();
            let our_basic = ours.decided_by.as_ref().filter(|m| !m.hosts);
            let mut why = Vec::new();
            if ours.blocked != t.blocked {
                why.push(format!("verdict: ours {} theirs {}", ours.blocked, t.blocked));
            }
            if our_net != their_net {
                why.push(format!("adblock matches: ours {our_net:?} theirs {their_net:?}"));
            }
            if our_hosts != their_hosts {
                why.push(format!("hosts matches: ours {our_hosts:?} theirs {their_hosts:?}"));
            }
            match (our_basic, &t.basic) {
                (None, None) => {}
                (Some(o), Some(b)) if o.text == *b => {}
                (Some(o), Some(b)) => {
                    let their_role = ours.matches.iter().find(|m| m.text == *b).map(|m| m.role);
                    if their_role == Some(o.role) {
                        ties += 1;
                    } else {
                        why.push(format!(
                            "deciding rule: ours {:?} ({:?}) theirs {b:?} ({their_role:?})",
                            o.text, o.role
                        ));
                    }
                }
                (o, b) => why.push(format!("deciding rule: ours {:?} theirs {b:?}", o.map(|m| &m.text))),
            }
            if !why.is_empty() {
                failures.push(format!("seed {seed} {name} {qtype:?}: {}", why.join("; ")));
            }
        }
    }
    eprintln!(
        "compared {compared} lookups, {blocked} blocked ({ties} decided by a different rule of the same priority); covered: {seen:?}"
    );
    assert!(compared >= 10_000);
    for kind in [
        "hosts Block",
        "regex Block",
        "js-regex Block",
        "idn unicode Block",
        "idn punycode Block",
        "idn punycode Exception",
        "dnstype Block",
        "wildcard Block",
        "adblock Block",
        "adblock Exception",
        "adblock ImportantBlock",
        "adblock ImportantException",
        "adblock Badfiltered",
        "adblock Badfilter",
    ] {
        assert!(seen.contains(kind), "no lookup matched a rule of kind {kind}");
    }
    assert!(blocked > compared / 10 && blocked < compared * 9 / 10, "{blocked} of {compared} blocked");
    assert!(
        failures.is_empty(),
        "{} of {compared} lookups differ:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
}
