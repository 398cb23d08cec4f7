//! Shared by the differential tests and the compile benchmark: the reference HostlistCompiler
//! (installed from npm on first use) and a seeded generator.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The reference's `cli.js`: `HOSTLIST_COMPILER_CLI` if set, else installed with npm under
/// `dir` from `tests/reference/package.json` (once).
pub fn cli(dir: &Path) -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("HOSTLIST_COMPILER_CLI") {
        return Ok(PathBuf::from(p));
    }
    let dir = dir.join("hostlist-reference");
    let cli = dir.join("node_modules/@adguard/hostlist-compiler/src/cli.js");
    if !cli.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference/package.json"), dir.join("package.json"))
            .map_err(|e| e.to_string())?;
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .map_err(|e| format!("running npm (Node.js and npm are needed for the reference): {e}"))?;
        if !status.success() {
            return Err("npm install of the reference failed".into());
        }
    }
    if cli.exists() { Ok(cli) } else { Err(format!("{} is missing after npm install", cli.display())) }
}

/// The fixture cases of `tests/fixtures/hostlist`: one directory each, with a `config.json`.
pub fn fixture_cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostlist");
    let mut cases: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    cases.sort();
    cases
}

/// The output without the two header lines that differ by design.
pub fn comparable(text: &str) -> String {
    text.split('\n')
        .filter(|l| !l.starts_with("! Last modified: ") && !l.starts_with("! Compiled by "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A small deterministic generator (SplitMix64), the one dns-filter's differential test uses.
#[path = "../../crates/dns-filter/tests/common/rng.rs"]
mod rng;
// Used by the differential suite, not by every test binary that includes this file.
#[allow(unused_imports)]
pub use rng::Rng;
