//! The dashboard's browser test, for any host that serves it: `tests/browser/dashboard.py`
//! drives headless Chromium (Debian's `chromium` and `chromium-driver`) with Selenium
//! (`BLOCKLIST_EDGE_SELENIUM_PYTHON`, else `python3` on `PATH`), checks every page with
//! axe-core (installed from npm into the target directory on first use, pinned in
//! `tests/browser/package.json`) and saves screenshots.

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

/// The pages the script saves a screenshot of.
pub const SCREENSHOTS: &[&str] = &["signin", "users", "lists", "list", "lookup", "preview", "list-phone"];

/// Runs the browser test against the host at `base` (admin token `admin`), its screenshots
/// saved in `shots` (emptied first), and fails if any step fails.
pub fn run_dashboard(base: &str, admin: &str, shots: &Path) {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(Path::new(tool).exists(), "{tool} is missing: apt-get install chromium chromium-driver");
    }
    let python = std::env::var("BLOCKLIST_EDGE_SELENIUM_PYTHON").unwrap_or_else(|_| "python3".into());
    let axe = axe();
    let _ = std::fs::remove_dir_all(shots);
    let status = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.py"))
        .args([base, admin])
        .arg(shots)
        .arg(&axe)
        .status()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    assert!(status.success(), "the browser test against {base} failed (its output is above)");
    for page in SCREENSHOTS {
        let png = shots.join(format!("{page}.png"));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000, "{} is not a screenshot", png.display());
    }
}
