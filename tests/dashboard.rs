//! The dashboard (the `ui` component) in a real browser: `tests/browser/dashboard.py` drives
//! headless Chromium through chromium-driver with Selenium against a real host, walks what a
//! list owner and the admin do, checks every page with axe-core (no serious or critical
//! violation) and saves screenshots (`$CARGO_TARGET_TMPDIR/dashboard-screenshots/`).
//!
//! It needs Debian's `chromium` and `chromium-driver`, a Python with Selenium
//! (`BLOCKLIST_EDGE_SELENIUM_PYTHON`, else `python3` on `PATH`) and npm (axe-core is installed
//! from npm into the target directory on first use, pinned in `tests/browser/package.json`).
//! `#[ignore]`d, so that a plain `cargo test` lists it as ignored rather than passing without
//! running it; `scripts/test` installs all of it and runs it with `--ignored`.

mod common;

use common::{ADMIN_TOKEN, Host};
use std::path::{Path, PathBuf};
use std::process::Command;

/// axe-core's browser script, installed from npm on first use.
fn axe() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-axe");
    let script = dir.join("node_modules/axe-core/axe.min.js");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let pinned = std::fs::read(here.join("package.json")).unwrap();
    if !script.exists() || std::fs::read(dir.join("package.json")).ok() != Some(pinned.clone()) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("package.json"), &pinned).unwrap();
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .status()
            .expect("running npm (needed for axe-core)");
        assert!(status.success(), "npm install of axe-core failed");
    }
    script
}

#[test]
#[ignore = "needs chromium, chromium-driver and Selenium: scripts/test installs them and runs this with --ignored"]
fn the_dashboard_works_in_a_real_browser() {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(Path::new(tool).exists(), "{tool} is missing: apt-get install chromium chromium-driver");
    }
    let python = std::env::var("BLOCKLIST_EDGE_SELENIUM_PYTHON").unwrap_or_else(|_| "python3".into());
    let axe = axe();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let h = Host::start(&[]);
    let status = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.py"))
        .args([&h.url(""), ADMIN_TOKEN])
        .arg(&shots)
        .arg(&axe)
        .status()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(status.success(), "the browser test failed (its output is above)");
    for page in ["signin", "users", "lists", "list", "lookup", "preview", "list-phone"] {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} is not a screenshot", png.display());
    }
}
