//! The README's walk-through, run as written against a real host.

mod common;

use common::{ADMIN_TOKEN, Host};
use std::process::Command;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let after = readme.split("<!-- walkthrough").nth(1).expect("README has the walk-through marker");
    let block = after.split("```sh\n").nth(1).expect("a sh block follows the marker");
    block.split("\n```").next().unwrap().to_owned()
}

#[test]
fn readme_walkthrough_works_as_written() {
    let h = Host::start(&[]);
    let script = format!("set -euo pipefail\n{}", walkthrough());
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("BASE", &h.base)
        .env("ADMIN", ADMIN_TOKEN)
        .output()
        .expect("running bash (the walk-through needs bash, curl and jq)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the walk-through failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(r#""name":"ads""#), "{stdout}");
    assert!(stdout.contains(r#""status":"already_queued""#), "{stdout}");
    assert!(stdout.contains(r#""status":"queued""#), "{stdout}");
    assert!(stdout.contains(r#""status":"done""#), "{stdout}");
    assert!(stdout.contains("\n||ads.example^\n||tracker.example^\n"), "the compiled list: {stdout}");
    assert!(stdout.contains("# Title: ads\n"), "the subscription's header: {stdout}");
    assert!(stdout.contains("\n0.0.0.0 ads.example\n0.0.0.0 tracker.example\n"), "the hosts subscription: {stdout}");
}
