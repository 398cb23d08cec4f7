//! `blocklist-edge compile`: natively and inside the compiler component, and its handling of
//! bad input (clear errors, non-zero exit, no output; never a panic).

#[path = "common/reference.rs"]
mod reference;

use std::path::Path;
use std::process::Command;

fn compile(dir: &Path, args: &[&str]) -> (bool, String, Option<String>) {
    let out = dir.join("out.txt");
    let _ = std::fs::remove_file(&out);
    let o = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"))
        .arg("compile")
        .args(args)
        .args(["-o", out.to_str().unwrap()])
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    (o.status.success(), stderr, std::fs::read_to_string(&out).ok())
}

fn without_stamp(text: &str) -> String {
    text.split('\n').filter(|l| !l.starts_with("! Last modified: ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn the_component_compiles_exactly_like_the_native_compiler() {
    for case in reference::fixture_cases() {
        let (ok, err, native) = compile(&case, &["-c", "config.json"]);
        assert!(ok, "{}: {err}", case.display());
        let (ok, err, component) = compile(&case, &["-c", "config.json", "--component"]);
        assert!(ok, "{} in the component: {err}", case.display());
        assert_eq!(without_stamp(&component.unwrap()), without_stamp(&native.unwrap()), "{}", case.display());
    }
}

#[test]
fn a_50_mb_list_compiles() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(52 << 20);
    let mut i = 0u64;
    while text.len() < 50 << 20 {
        text.push_str(&format!("0.0.0.0 host{i}.sub{}.example{}.com\n", i % 977, i % 13));
        i += 1;
    }
    std::fs::write(tmp.path().join("big.txt"), &text).unwrap();
    std::fs::write(
        tmp.path().join("config.json"),
        r#"{"name":"big","sources":[{"source":"big.txt"}],"transformations":["Compress","Validate","Deduplicate","InsertFinalNewLine"]}"#,
    )
    .unwrap();
    let (ok, err, out) = compile(tmp.path(), &["-c", "config.json"]);
    assert!(ok, "{err}");
    let out = out.unwrap();
    assert_eq!(out.lines().filter(|l| l.starts_with("||")).count() as u64, i, "every host kept once");
}

#[test]
fn bad_input_gets_a_clear_error_and_no_output() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("l.txt"), "||a.org^\n").unwrap();
    let cases: [(&str, &str, &str); 7] = [
        ("malformed JSON", "{\"name\": ", "not valid JSON"),
        ("no sources", r#"{"name":"x"}"#, "sources is required"),
        (
            "unknown transformation",
            r#"{"name":"x","sources":[{"source":"l.txt"}],"transformations":["Compresss"]}"#,
            "unknown transformation \"Compresss\"",
        ),
        ("invalid regex", r#"{"name":"x","sources":[{"source":"l.txt"}],"exclusions":["/(unclosed/"]}"#, "/(unclosed/"),
        ("missing source", r#"{"name":"x","sources":[{"source":"missing.txt"}]}"#, "missing.txt"),
        ("unbalanced directive", r#"{"name":"x","sources":[{"source":"if.txt"}]}"#, "Condition end not found"),
        ("wrong type", r#"{"name":"x","sources":[{"source":"l.txt","type":"json"}]}"#, "type must be"),
    ];
    std::fs::write(dir.join("if.txt"), "!#if true\n||a.org^\n").unwrap();
    for (what, config, expected) in cases {
        std::fs::write(dir.join("config.json"), config).unwrap();
        for extra in [&[][..], &["--component"][..]] {
            let mut args = vec!["-c", "config.json"];
            args.extend(extra);
            let (ok, err, out) = compile(dir, &args);
            assert!(!ok, "{what} {extra:?}: succeeded");
            assert!(err.contains(expected), "{what} {extra:?}: error {err:?} does not say {expected:?}");
            assert!(out.is_none(), "{what} {extra:?}: an output was written");
        }
    }
    let (ok, err, _) = compile(dir, &[]);
    assert!(!ok && err.contains("either --input or --config"), "{err}");
}
