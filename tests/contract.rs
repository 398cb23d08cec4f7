//! The API contract test: schemathesis (from PyPI) generates requests from `openapi.yaml` and
//! sends them to the real host; every response must match the spec (status, content type,
//! headers, body schema), no response may be a 5xx, schema-valid requests must be accepted and
//! schema-invalid ones refused.
//!
//! schemathesis is found as `BLOCKLIST_EDGE_SCHEMATHESIS` (the `st` executable) or `st` on
//! `PATH`. The test is `#[ignore]`d, so that a plain `cargo test` lists it as ignored rather
//! than passing without running it; `scripts/test` (the README's test command) installs
//! schemathesis and runs it with `--ignored`, where a missing `st` fails it.
//! `BLOCKLIST_EDGE_SCHEMATHESIS_EXAMPLES` (default 40) and `…_SEED` (default fixed, so CI is
//! repeatable) change the run.

mod common;

use common::{ADMIN_TOKEN, Host};
use std::path::PathBuf;
use std::process::Command;

fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BLOCKLIST_EDGE_SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("st")).find(|p| p.is_file())
}

/// Runs schemathesis on the operations whose path matches `paths` with `token`, and fails the
/// test with its report if it finds anything.
fn run(st: &PathBuf, host: &Host, token: &str, paths: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let examples = std::env::var("BLOCKLIST_EDGE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "40".into());
    let seed = std::env::var("BLOCKLIST_EDGE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let report = tempfile::tempdir().unwrap();
    let out = Command::new(st)
        .arg("--config-file")
        .arg(root.join("tests/contract/schemathesis.toml"))
        .arg("run")
        .arg(root.join("openapi.yaml"))
        .args(["--url", &host.url("")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(["--include-path-regex", paths])
        .args(["--checks", "all", "--max-examples", &examples, "--seed", &seed])
        .args(["--generation-allow-x00", "false", "--no-color"])
        .arg("--report-dir")
        .arg(report.path())
        .current_dir(report.path())
        .output()
        .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "schemathesis found failures ({paths}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("passed"), "schemathesis ran no test cases:\n{stdout}");
}

#[test]
#[ignore = "needs schemathesis (st on PATH or BLOCKLIST_EDGE_SCHEMATHESIS): scripts/test installs it and runs this test"]
fn every_response_matches_openapi_yaml() {
    let st = schemathesis().expect("schemathesis (`st`) not found: pip install schemathesis, or run scripts/test");
    // Limits no generated run reaches: the contract, not the limiters, is under test here.
    let host = Host::start(&[
        "--rate-limit",
        "1000000",
        "--auth-failure-limit",
        "1000000",
        "--subscription-rate-limit",
        "0",
        "--subscription-address-limit",
        "0",
        "--max-preview-bytes",
        "65536",
    ]);
    let (_, user) = host.create_user("contract");
    // A user's token for the user's endpoints; the admin token for user management.
    run(&st, &host, &user, "^/(healthz|s/|v1/(me|lists|preview|jobs))");
    run(&st, &host, ADMIN_TOKEN, "^/v1/(users|admin)");
}
