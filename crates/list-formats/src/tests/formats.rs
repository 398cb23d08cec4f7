//! Every format on a mixed list, equivalent and conflicting rules, the stats invariant on a
//! large generated list, and the formats' names.

use super::{Random, assert_invariant, body};
use crate::*;

/// Lines 1–3 are comments; the 28 rules follow, their fate noted for the hosts format.
const SAMPLE: &str = "\
! Title: Sample list
# a hosts-style comment

||ads.example^
||ads.example^$important
||Tracker.EXAMPLE^
|exact.example^
plain.example
0.0.0.0 h1.example h2.example # two names
127.0.0.1 localhost
::1 localhost ip6-localhost
1.2.3.4 rewrite.example
/ads[0-9]+\\.example/
||ads*.example^
||typed.example^$dnstype=AAAA
||1.2.3.4^
||bad_name!.example^
example.org##.banner
||parent.example^
@@||sub.parent.example^
||allowed.example^
@@||allowed.example^
||child.allowed.example^
||vip.example^$important
@@||vip.example^
||gone.example^
||gone.example^$badfilter
||apex.example^
@@|apex.example^
@@/regex/
||under_score.example^
";

/// The rules no DNS format can express.
const UNSUPPORTED: [&str; 7] = [
    "1.2.3.4 rewrite.example",
    "/ads[0-9]+\\.example/",
    "||ads*.example^",
    "||typed.example^$dnstype=AAAA",
    "||1.2.3.4^",
    "||bad_name!.example^",
    "example.org##.banner",
];

/// Stats with an omitted sample of `sample`.
fn stats(counts: [u64; 7], sample: &[&str]) -> Stats {
    let [rules, written, lines, omitted, narrowed, widened, unneeded] = counts;
    let omitted_sample = sample.iter().map(|s| s.to_string()).collect();
    Stats { rules, written, lines, omitted, narrowed, widened, unneeded, omitted_sample }
}

fn with(extra: &[&'static str]) -> Vec<&'static str> {
    UNSUPPORTED.iter().chain(extra).copied().collect()
}

#[test]
fn adblock_copies_the_list() {
    let (out, s) = body(Format::Adblock, SAMPLE);
    assert_eq!(out, SAMPLE);
    assert_eq!(s, stats([28, 28, 28, 0, 0, 0, 0], &[]));
}

#[test]
fn hosts() {
    let (out, s) = body(Format::Hosts, SAMPLE);
    assert_eq!(
        out,
        "0.0.0.0 ads.example\n0.0.0.0 tracker.example\n0.0.0.0 exact.example\n0.0.0.0 plain.example\n\
         0.0.0.0 h1.example\n0.0.0.0 h2.example\n0.0.0.0 parent.example\n0.0.0.0 vip.example\n\
         0.0.0.0 under_score.example\n"
    );
    assert_eq!(s, stats([28, 9, 9, 9, 6, 0, 10], &with(&["||apex.example^", "@@/regex/"])));
}

#[test]
fn domains() {
    let (out, s) = body(Format::Domains, SAMPLE);
    assert_eq!(
        out,
        "ads.example\ntracker.example\nexact.example\nplain.example\nh1.example\nh2.example\n\
         parent.example\nvip.example\nunder_score.example\n"
    );
    assert_eq!(s, stats([28, 9, 9, 9, 6, 0, 10], &with(&["||apex.example^", "@@/regex/"])));
}

#[test]
fn wildcard() {
    let (out, s) = body(Format::Wildcard, SAMPLE);
    assert_eq!(
        out,
        "ads.example\n*.ads.example\ntracker.example\n*.tracker.example\nexact.example\nplain.example\n\
         h1.example\nh2.example\nparent.example\n*.parent.example\nvip.example\n*.vip.example\n\
         *.apex.example\nunder_score.example\n*.under_score.example\n"
    );
    let sample = with(&["@@||sub.parent.example^", "@@|apex.example^", "@@/regex/"]);
    assert_eq!(s, stats([28, 10, 15, 10, 0, 1, 8], &sample));
}

/// dnsmasq, dnsmasq-legacy and unbound: one line per name, covering its subdomains.
#[test]
fn subtree_formats() {
    for (format, prefix, suffix) in [
        (Format::Dnsmasq, "local=/", "/"),
        (Format::DnsmasqLegacy, "address=/", "/"),
        (Format::Unbound, "local-zone: \"", ".\" always_nxdomain"),
    ] {
        let (out, s) = body(format, SAMPLE);
        let names = [
            "ads.example",
            "tracker.example",
            "exact.example",
            "plain.example",
            "h1.example",
            "h2.example",
            "parent.example",
            "vip.example",
            "apex.example",
            "under_score.example",
        ];
        let expected: String = names.iter().map(|name| format!("{prefix}{name}{suffix}\n")).collect();
        assert_eq!(out, expected, "{format}");
        let sample = with(&["@@||sub.parent.example^", "@@|apex.example^", "@@/regex/"]);
        assert_eq!(s, stats([28, 10, 10, 10, 0, 4, 8], &sample), "{format}");
    }
}

#[test]
fn rpz() {
    let (out, s) = body(Format::Rpz, SAMPLE);
    assert_eq!(
        out,
        "ads.example CNAME .\n*.ads.example CNAME .\ntracker.example CNAME .\n*.tracker.example CNAME .\n\
         exact.example CNAME .\nplain.example CNAME .\nh1.example CNAME .\nh2.example CNAME .\n\
         parent.example CNAME .\n*.parent.example CNAME .\n\
         sub.parent.example CNAME rpz-passthru.\n*.sub.parent.example CNAME rpz-passthru.\n\
         vip.example CNAME .\n*.vip.example CNAME .\n\
         *.apex.example CNAME .\napex.example CNAME rpz-passthru.\n\
         under_score.example CNAME .\n*.under_score.example CNAME .\n"
    );
    assert_eq!(s, stats([28, 12, 18, 8, 0, 0, 8], &with(&["@@/regex/"])));
}

#[test]
fn allowlist() {
    let (out, s) = body(Format::Allowlist, SAMPLE);
    assert_eq!(out, "sub.parent.example\nallowed.example\nvip.example\napex.example\n");
    assert_eq!(s, stats([28, 4, 4, 1, 3, 0, 23], &["@@/regex/"]));
}

#[test]
fn equivalent_rules_write_one_line() {
    let list = "||a.example^\n||a.example^$important\n||A.Example^\n0.0.0.0 a.example\n";
    let (out, s) = body(Format::Domains, list);
    assert_eq!(out, "a.example\n");
    assert_eq!((s.rules, s.written, s.lines, s.narrowed), (4, 4, 1, 3));
    let (out, _) = body(Format::Rpz, list);
    assert_eq!(out, "a.example CNAME .\n*.a.example CNAME .\n");
}

#[test]
fn important_exceptions_and_blocks() {
    let list = "\
||a.example^$important
@@||a.example^$important
||b.example^$important
@@||x.b.example^$important
@@||y.b.example^
||c.example^
@@||c.example^$important
|d.example^$important
@@|d.example^
";
    let (out, s) = body(Format::Rpz, list);
    assert_eq!(
        out,
        "b.example CNAME .\n*.b.example CNAME .\n\
         x.b.example CNAME rpz-passthru.\n*.x.b.example CNAME rpz-passthru.\n\
         d.example CNAME .\n"
    );
    assert_eq!((s.written, s.omitted, s.unneeded), (3, 0, 6));
    let (out, s) = body(Format::Dnsmasq, list);
    assert_eq!(out, "local=/b.example/\nlocal=/d.example/\n");
    assert_eq!((s.written, s.omitted, s.unneeded, s.widened), (2, 1, 6, 1));
}

#[test]
fn badfilter_compares_modifier_sets() {
    let list = "\
||a.example^$important
||a.example^$badfilter
@@||b.example^
||b.example^
@@||b.example^$badfilter
||c.example^$important
||c.example^$important,badfilter
";
    let (out, s) = body(Format::Domains, list);
    assert_eq!(out, "a.example\nb.example\n");
    assert_eq!((s.written, s.unneeded), (2, 5));
}

#[test]
fn stats_invariant_on_a_large_generated_list() {
    let list = generated_list(100_000);
    let analysis = analyze(list.lines());
    let check = |format: Format| {
        let mut renderer = Renderer::new(format, &analysis);
        let mut out = Vec::new();
        list.lines().for_each(|line| renderer.line(line, &mut out));
        let stats = renderer.finish(&mut out);
        assert_invariant(&stats);
        assert_eq!(stats.rules, 100_000, "{format}");
        let entries = out.iter().filter(|&&b| b == b'\n').count() as u64;
        let comments = if format == Format::Adblock { list.lines().count() as u64 - stats.rules } else { 0 };
        assert_eq!(entries, stats.lines + comments, "{format}");
        if format != Format::Adblock {
            assert!(stats.written > 0 && stats.omitted > 0 && stats.unneeded > 0, "{format}: {stats:?}");
        }
    };
    // The formats are independent: check them on two threads.
    std::thread::scope(|scope| {
        let (odd, even): (Vec<_>, Vec<_>) = Format::ALL.into_iter().enumerate().partition(|(i, _)| i % 2 == 1);
        let other = scope.spawn(|| odd.into_iter().for_each(|(_, format)| check(format)));
        even.into_iter().for_each(|(_, format)| check(format));
        other.join().unwrap();
    });
}

/// `rules` rules of every kind (and a comment every 50 lines) over a few thousand names, so that
/// exceptions, duplicates and `$badfilter` meet their blocks.
fn generated_list(rules: usize) -> String {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut list = String::new();
    for i in 0..rules {
        if i % 50 == 0 {
            list.push_str("! section\n");
        }
        let name = match random.below(3) {
            0 => format!("d{}.example", random.below(3000)),
            1 => format!("s{}.d{}.example", random.below(5), random.below(3000)),
            _ => format!("n{}.test", random.below(50_000)),
        };
        let line = match random.below(21) {
            0..=7 => format!("||{name}^"),
            8 => format!("||{name}^$important"),
            9 => format!("|{name}^"),
            10 => name,
            11 => format!("0.0.0.0 {name} localhost # c"),
            12 => format!("@@||{name}^"),
            13 => format!("@@|{name}^$important"),
            14 => format!("||{name}^$badfilter"),
            15 => format!("||{name}^$dnstype=AAAA"),
            16 => format!("/{name}/"),
            17 => format!("||*.{name}^"),
            18 => format!("10.0.0.1 {name}"),
            19 => format!("@@||{name}^$client=10.0.0.1"),
            _ => format!("{name}##.banner"),
        };
        list.push_str(&line);
        list.push('\n');
    }
    list
}

#[test]
fn format_names_round_trip() {
    let names: Vec<_> = Format::ALL.iter().map(Format::name).collect();
    assert_eq!(
        names,
        ["adblock", "hosts", "domains", "wildcard", "dnsmasq", "dnsmasq-legacy", "unbound", "rpz", "allowlist"]
    );
    for format in Format::ALL {
        assert_eq!(Format::parse(format.name()), Some(format));
        assert_eq!(format.to_string(), format.name());
    }
    assert_eq!(Format::parse("Hosts"), None);
    let suffixes: Vec<_> = Format::ALL.iter().map(Format::file_name_suffix).collect();
    assert_eq!(suffixes, ["txt", "txt", "txt", "txt", "conf", "conf", "conf", "rpz", "txt"]);
}
