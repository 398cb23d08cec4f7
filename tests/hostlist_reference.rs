//! Differential tests: AdGuard's HostlistCompiler 2.1.1 (the reference, on Node) and
//! `blocklist-edge compile` run on the same inputs must write the same list, apart from the
//! `! Last modified:` and `! Compiled by` header lines.
//!
//! The reference is installed from npm into the target directory on first use
//! (`tests/reference/package.json`), or taken from `HOSTLIST_COMPILER_CLI` (a path to its
//! `src/cli.js`). Node and npm must be on PATH.

#[path = "common/reference.rs"]
mod reference;

use reference::{Rng, comparable};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn reference_cli() -> &'static Path {
    static CLI: OnceLock<PathBuf> = OnceLock::new();
    CLI.get_or_init(|| reference::cli(Path::new(env!("CARGO_TARGET_TMPDIR"))).unwrap_or_else(|e| panic!("{e}")))
}

struct Outcome {
    ok: bool,
    output: String,
    log: String,
}

fn run(program: &str, args: &[&str], dir: &Path, out: &Path) -> Outcome {
    let _ = std::fs::remove_file(out);
    let o = Command::new(program).args(args).current_dir(dir).output().unwrap();
    Outcome {
        ok: o.status.success(),
        output: std::fs::read_to_string(out).unwrap_or_default(),
        log: String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout),
    }
}

/// Runs both with `args` (plus `-o`) in `dir`; returns a description of any difference, or of
/// both failing when the case `must_compile`.
fn compare(dir: &Path, args: &[&str], must_compile: bool) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let ref_out = tmp.path().join("reference.txt");
    let our_out = tmp.path().join("ours.txt");
    let cli = reference_cli().to_str().unwrap().to_owned();
    let mut ref_args = vec![cli.as_str()];
    ref_args.extend(args);
    ref_args.extend(["-o", ref_out.to_str().unwrap()]);
    let mut our_args = vec!["compile"];
    our_args.extend(args);
    our_args.extend(["-o", our_out.to_str().unwrap()]);
    let reference = run("node", &ref_args, dir, &ref_out);
    let ours = run(env!("CARGO_BIN_EXE_blocklist-edge"), &our_args, dir, &our_out);
    if reference.ok != ours.ok {
        return Some(format!(
            "{}: reference {} but ours {}\nreference log: {}\nour log: {}",
            dir.display(),
            if reference.ok { "succeeded" } else { "failed" },
            if ours.ok { "succeeded" } else { "failed" },
            reference.log,
            ours.log
        ));
    }
    if !reference.ok && !must_compile {
        return None;
    }
    if !reference.ok {
        // Two failures on a case meant to compile are no agreement to trust.
        return Some(format!(
            "{}: both failed\nreference log: {}\nour log: {}",
            dir.display(),
            reference.log,
            ours.log
        ));
    }
    assert!(reference.output.contains("! Title: "), "the reference wrote no list in {}", dir.display());
    let (a, b) = (comparable(&reference.output), comparable(&ours.output));
    if a == b {
        return None;
    }
    let first =
        a.split('\n').zip(b.split('\n')).position(|(x, y)| x != y).unwrap_or(a.lines().count().min(b.lines().count()));
    let context = |t: &str| t.split('\n').skip(first.saturating_sub(2)).take(6).collect::<Vec<_>>().join("\n");
    Some(format!(
        "{}: outputs differ from line {}\n--- reference\n{}\n--- ours\n{}",
        dir.display(),
        first + 1,
        context(&a),
        context(&b)
    ))
}

#[test]
fn fixtures_match_the_reference() {
    let cases = reference::fixture_cases();
    assert!(cases.len() >= 10, "fixtures are missing");
    let failures: Vec<String> = cases.iter().filter_map(|c| compare(c, &["-c", "config.json"], true)).collect();
    assert!(failures.is_empty(), "{} of {} cases differ:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

#[test]
fn input_mode_matches_the_reference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostlist");
    for args in [
        &["-i", "hosts-all/hosts.txt"][..],
        &["-i", "hosts-all/hosts.txt", "-i", "adblock-all/list.txt", "-t", "adblock"][..],
    ] {
        if let Some(d) = compare(&dir, args, true) {
            panic!("{args:?}: {d}");
        }
    }
}

#[test]
fn broken_inputs_fail_in_both() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 5] = [
        ("unbalanced if", r#"{"name":"x","sources":[{"source":"l.txt"}]}"#, "!#if true\n||a.org^\n"),
        ("stray endif", r#"{"name":"x","sources":[{"source":"l.txt"}]}"#, "||a.org^\n!#endif\n"),
        ("unknown transformation", r#"{"name":"x","sources":[{"source":"l.txt"}],"transformations":["Nope"]}"#, "x\n"),
        (
            "two validations",
            r#"{"name":"x","sources":[{"source":"l.txt"}],"transformations":["Validate","ValidateAllowIp"]}"#,
            "x\n",
        ),
        ("missing source", r#"{"name":"x","sources":[{"source":"missing.txt"}]}"#, "x\n"),
    ];
    for (what, config, list) in cases {
        let dir = tmp.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        std::fs::write(dir.join("l.txt"), list).unwrap();
        let out = dir.join("out.txt");
        let ours = run(
            env!("CARGO_BIN_EXE_blocklist-edge"),
            &["compile", "-c", "config.json", "-o", out.to_str().unwrap()],
            &dir,
            &out,
        );
        assert!(!ours.ok, "{what}: ours succeeded");
        assert!(!ours.log.trim().is_empty(), "{what}: no error message");
        assert!(!out.exists(), "{what}: an output was written");
        if let Some(d) = compare(&dir, &["-c", "config.json"], false) {
            panic!("{what}: {d}");
        }
    }
}

/// A messy list mixing every kind of line the transformations treat differently.
fn generated_list(seed: u64, lines: usize) -> String {
    let mut r = Rng(seed);
    let labels =
        ["ads", "tracker", "cdn", "www", "img", "a", "b-c", "x1", "mail", "static", "ADS", "münchen", "пример", "t_x"];
    let tlds = ["com", "org", "net", "co.uk", "io", "github.io", "рф", "de", "unknowntld", "example"];
    let mods = [
        "",
        "",
        "",
        "$important",
        "$third-party",
        "$popup,important",
        "$dnstype=A",
        "$denyallow=a.com",
        "$client=127.0.0.1",
        "$script",
        "$badfilter",
    ];
    let mut out = String::new();
    for _ in 0..lines {
        let depth = 1 + r.next() % 3;
        let mut host: Vec<&str> = (0..depth).map(|_| r.pick(&labels)).collect();
        host.push(r.pick(&tlds));
        let host = host.join(".");
        let ip = format!("{}.{}.{}.{}", r.next() % 256, r.next() % 300, r.next() % 256, r.next() % 256);
        let line = match r.next() % 22 {
            0 => format!("0.0.0.0 {host}"),
            1 => format!("127.0.0.1 {host} {}.{} # note", r.pick(&labels), r.pick(&tlds)),
            2 => format!("||{host}^"),
            3 => format!("||{host}^{}", r.pick(&mods)),
            4 => format!("@@||{host}^{}", r.pick(&mods)),
            5 => host.clone(),
            6 => format!("! comment {}", r.next() % 100),
            7 => String::new(),
            8 => format!("# {host}"),
            9 => format!("||{ip}^"),
            10 => ip.clone(),
            11 => format!("{host}##.banner"),
            12 => format!("/{}[0-9]+/", r.pick(&labels)),
            13 => format!("  ||{host}^  "),
            14 => format!("||*.{}^", r.pick(&tlds)),
            15 => format!("||{}^", r.pick(&tlds)),
            16 => format!("::1 {host}"),
            17 => format!("|{ip}^"),
            18 => format!("{}.{}.{}.", r.next() % 256, r.next() % 256, r.next() % 256),
            19 => format!("||{host}/path^"),
            20 => format!("||{host}^|"),
            _ => format!("||{host}^$dnsrewrite=1.2.3.4"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn generated_lists_match_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let configs = [
        r#"["RemoveComments","Compress","Validate","Deduplicate","InsertFinalNewLine"]"#,
        r#"["ConvertToAscii","TrimLines","Compress","ValidateAllowIp","Deduplicate","RemoveEmptyLines","InsertFinalNewLine"]"#,
        r#"["ConvertToAscii","TrimLines","RemoveModifiers","InvertAllow","ValidateAllowPublicSuffix","Deduplicate"]"#,
        r#"["ConvertToAscii","ValidateAllowIpAndPublicSuffix","RemoveEmptyLines"]"#,
        r#"["Deduplicate","Validate"]"#,
    ];
    let mut failures = Vec::new();
    for (i, transformations) in configs.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), generated_list(1000 + i as u64, 3000)).unwrap();
        std::fs::write(dir.join("b.txt"), generated_list(2000 + i as u64, 1000)).unwrap();
        let config = format!(
            r#"{{"name":"generated {i}","sources":[{{"source":"a.txt","name":"A","exclusions":["tracker","*cdn.*.org^"]}},{{"source":"b.txt","transformations":["TrimLines"]}}],"transformations":{transformations}}}"#
        );
        std::fs::write(dir.join("config.json"), config).unwrap();
        if let Some(d) = compare(&dir, &["-c", "config.json"], true) {
            failures.push(d);
        }
    }
    if !failures.is_empty() {
        let kept = tmp.keep();
        panic!("inputs kept in {}:\n{}", kept.display(), failures.join("\n\n"));
    }
}
