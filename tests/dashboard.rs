//! The dashboard (the `ui` component) in a real browser, against this project's host:
//! `tests/browser/dashboard.py` (see `common::browser`) walks what a list owner and the admin
//! do, checks every page with axe-core (no serious or critical violation) and saves screenshots
//! in `$CARGO_TARGET_TMPDIR/dashboard-screenshots/`. The same walk under Spin is
//! `tests/conformance.rs`'s `spin_up_dashboard_in_a_browser`.
//!
//! `#[ignore]`d, so that a plain `cargo test` lists it as ignored rather than passing without
//! running it; `scripts/test` installs Chromium, chromium-driver and Selenium and runs it with
//! `--ignored`.

mod common;

use common::{ADMIN_TOKEN, Host};
use std::path::Path;

#[test]
#[ignore = "needs chromium, chromium-driver and Selenium: scripts/test installs them and runs this with --ignored"]
fn the_dashboard_works_in_a_real_browser() {
    let h = Host::start(&[]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    common::browser::run_dashboard(&h.url(""), ADMIN_TOKEN, &shots);
}

/// `up --no-ui`: no dashboard; its paths reach the gateway, which has no such route (and, as
/// for any path, asks for a token first).
#[test]
fn no_ui_leaves_the_dashboard_out() {
    let h = Host::start(&["--no-ui"]);
    for path in ["/", "/ui/"] {
        let r = h.client().get(h.url(path)).send().unwrap();
        assert_eq!(common::error_of(r).0, 401, "{path}");
        let r = h.get(path, ADMIN_TOKEN).send().unwrap();
        assert_eq!(common::error_of(r).1, "not_found", "{path}");
    }
    assert_eq!(h.client().get(h.url("/healthz")).send().unwrap().status(), 200);
}
