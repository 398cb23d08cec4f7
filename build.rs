//! Builds the WebAssembly components (target wasm32-wasip2, release) that the host embeds, so
//! that `cargo run` and `cargo test` need no separate build step.
//!
//! The components are built by a nested `cargo build` into `<target-dir>/components` (its own
//! target directory: the outer build holds the lock on the main one). Their paths reach the host
//! as `BLOCKLIST_EDGE_*_WASM` compile-time variables.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, variable naming its .wasm) for every component built here.
const COMPONENTS: &[(&str, &str)] = &[
    ("gateway", "BLOCKLIST_EDGE_GATEWAY_WASM"),
    ("ratelimit", "BLOCKLIST_EDGE_RATELIMIT_WASM"),
    ("compiler", "BLOCKLIST_EDGE_COMPILER_WASM"),
    ("compile-consumer", "BLOCKLIST_EDGE_COMPILE_CONSUMER_WASM"),
    ("edge-cache-none", "BLOCKLIST_EDGE_EDGE_CACHE_NONE_WASM"),
    ("ui", "BLOCKLIST_EDGE_UI_WASM"),
    ("gateway-fastly", "BLOCKLIST_EDGE_GATEWAY_FASTLY_WASM"),
    ("fastly-storage", "BLOCKLIST_EDGE_FASTLY_STORAGE_WASM"),
    ("fastly-unavailable", "BLOCKLIST_EDGE_FASTLY_UNAVAILABLE_WASM"),
    ("busy-loop", "BLOCKLIST_EDGE_TEST_BUSY_LOOP_WASM"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    for dir in ["components", "crates/sliding-window", "crates/hostlist", "tests/guests", "wit", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target"))
        .join("components");

    ensure_target();

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        // Small components: no debug info, but keep the names section for readable traps.
        .args(["--config", "profile.release.debug=false", "--config", "profile.release.strip=\"debuginfo\""]);
    for (package, _) in COMPONENTS {
        cmd.args(["-p", package]);
    }
    // Flags meant for the host build must not leak into the wasm build.
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "RUSTC_WORKSPACE_WRAPPER"]
    {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the components");
    if !status.success() {
        panic!("building the components for {TARGET} failed (see the errors above)");
    }
    for (package, var) in COMPONENTS {
        let wasm = target_dir.join(TARGET).join("release").join(format!("{}.wasm", package.replace('-', "_")));
        assert!(wasm.exists(), "{} was not built", wasm.display());
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}

/// Installs the wasm32-wasip2 standard library through rustup if it is missing (rustup does not
/// add the targets of rust-toolchain.toml to a toolchain that is already installed).
fn ensure_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc).args(["--print", "target-libdir", "--target", TARGET]).output();
    if let Ok(out) = libdir {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && Path::new(&dir).is_dir() {
            return;
        }
    }
    println!("cargo:warning=installing the {TARGET} target with rustup");
    let status = Command::new("rustup").args(["target", "add", TARGET]).status();
    if !matches!(status, Ok(s) if s.success()) {
        panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed; install it and build again");
    }
}
