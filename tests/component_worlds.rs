//! What each built component imports and exports, read from the .wasm files themselves (the
//! component's type, decoded as `wasm-tools component wit` decodes it, by wac-graph).
//!
//! The portability promise: every component imports only standard WASI interfaces, the
//! interfaces of its sibling components (plugged in by composition or Spin component
//! dependencies), `fermyon:spin/redis` where it publishes jobs, and the Redis trigger's
//! `fermyon:spin/redis-types` where it is a Redis-trigger component — nothing that only one host
//! offers — so the same binaries run on this host and on Spin. Whatever SDK builds a component
//! (spin-sdk, wit-bindgen, wstd), this is checked on its output. The Fastly parts
//! (`gateway-fastly`, `fastly-storage`) import Fastly's interfaces too, and the Fastly build
//! composed of them imports nothing but Fastly's and WASI's.
//!
//! `cargo test --test component_worlds -- --nocapture` prints every component's world.

use std::collections::BTreeSet;

/// A built component's imports and exports, by name (`ns:pkg/iface@version`).
fn world(wasm: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let bytes = std::fs::read(wasm).unwrap_or_else(|e| panic!("reading {wasm}: {e}"));
    let mut types = wac_graph::types::Types::default();
    let package = wac_graph::types::Package::from_bytes("test:c", None, bytes, &mut types)
        .unwrap_or_else(|e| panic!("{wasm} is not a component: {e:#}"));
    let world = &types[package.ty()];
    (world.imports.keys().cloned().collect(), world.exports.keys().cloned().collect())
}

/// `ns:pkg/iface@1.2.3` → `ns:pkg/iface`.
fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// Checks `wasm`'s imports: each is WASI or one of `siblings`; every sibling is imported; and
/// the exports are exactly `exports` (unversioned).
fn check(component: &str, wasm: &str, siblings: &[&str], exports: &[&str]) {
    check_on(component, wasm, &[], siblings, exports);
}

/// [`check`] for a component of a platform whose interfaces it may also import: those of
/// `platform` (unversioned names, e.g. `fastly:compute/kv-store`) it must import, and any other
/// of the same package it may.
fn check_on(component: &str, wasm: &str, platform: &[&str], siblings: &[&str], exports: &[&str]) {
    let (imported, exported) = world(wasm);
    println!("{component}:");
    for i in &imported {
        println!("  import {i}");
    }
    for e in &exported {
        println!("  export {e}");
    }
    let platform_package = |name: &str| platform.iter().any(|p| p.split('/').next() == name.split('/').next());
    for i in &imported {
        let name = unversioned(i);
        assert!(
            name.starts_with("wasi:") || siblings.contains(&name) || platform_package(name),
            "{component} imports {i}, which is neither standard WASI, its platform's nor a sibling component's interface"
        );
    }
    let imported_names: BTreeSet<&str> = imported.iter().map(|i| unversioned(i)).collect();
    for s in siblings.iter().chain(platform) {
        assert!(imported_names.contains(s), "{component} no longer imports {s}: update this test and the docs");
    }
    let exported_names: BTreeSet<&str> = exported.iter().map(|e| unversioned(e)).collect();
    assert_eq!(exported_names, exports.iter().copied().collect(), "{component}'s exports");
}

#[test]
fn gateway_imports_only_wasi_and_its_siblings() {
    check(
        "gateway",
        env!("BLOCKLIST_EDGE_GATEWAY_WASM"),
        &[
            "blocklist:ratelimit/ratelimit",
            "blocklist:compiler/compiler",
            "blocklist:edge-cache/purge",
            "fermyon:spin/redis",
        ],
        &["wasi:http/incoming-handler"],
    );
}

#[test]
fn compile_consumer_imports_only_wasi_and_its_siblings() {
    check(
        "compile-consumer",
        env!("BLOCKLIST_EDGE_COMPILE_CONSUMER_WASM"),
        &[
            "blocklist:compiler/compiler",
            "blocklist:edge-cache/purge",
            "fermyon:spin/redis",
            "fermyon:spin/redis-types",
        ],
        // The Redis trigger's handler, and the runner route's where jobs run through HTTP
        // (`job_runner = http`, spin-http.toml).
        &["fermyon:spin/inbound-redis", "wasi:http/incoming-handler"],
    );
}

#[test]
fn compiler_imports_only_wasi() {
    check("compiler", env!("BLOCKLIST_EDGE_COMPILER_WASM"), &[], &["blocklist:compiler/compiler"]);
}

#[test]
fn ratelimit_imports_only_wasi() {
    check("ratelimit", env!("BLOCKLIST_EDGE_RATELIMIT_WASM"), &[], &["blocklist:ratelimit/ratelimit"]);
}

#[test]
fn the_dashboard_imports_only_wasi() {
    check("ui", env!("BLOCKLIST_EDGE_UI_WASM"), &[], &["wasi:http/incoming-handler"]);
}

#[test]
fn edge_cache_none_imports_only_wasi() {
    check("edge-cache-none", env!("BLOCKLIST_EDGE_EDGE_CACHE_NONE_WASM"), &[], &["blocklist:edge-cache/purge"]);
}

#[test]
fn the_fastly_parts_import_fastly_wasi_and_their_siblings() {
    check_on(
        "gateway-fastly",
        env!("BLOCKLIST_EDGE_GATEWAY_FASTLY_WASM"),
        &["fastly:compute/http-req", "fastly:compute/http-resp", "fastly:compute/http-body"],
        &[
            "blocklist:ratelimit/ratelimit",
            "blocklist:compiler/compiler",
            "blocklist:edge-cache/purge",
            "fermyon:spin/redis",
        ],
        &["fastly:compute/http-incoming"],
    );
    check_on(
        "fastly-storage",
        env!("BLOCKLIST_EDGE_FASTLY_STORAGE_WASM"),
        &["fastly:compute/kv-store", "fastly:compute/config-store"],
        &[],
        &["wasi:keyvalue/store", "wasi:keyvalue/atomics", "wasi:keyvalue/batch", "wasi:config/store"],
    );
    check(
        "fastly-unavailable",
        env!("BLOCKLIST_EDGE_FASTLY_UNAVAILABLE_WASM"),
        &[],
        &["blocklist:compiler/compiler", "fermyon:spin/redis"],
    );
}

/// The Fastly build (`blocklist-edge compose --fastly`) imports only Fastly's interfaces and
/// WASI's clocks, io, random and cli, which Fastly's `service` world offers, and exports
/// Fastly's entry point.
#[test]
fn the_fastly_build_imports_only_fastly_and_wasi_clocks_io_random_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gateway-fastly.wasm");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_blocklist-edge"))
        .args(["compose", "--fastly", "-o"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "compose --fastly");
    let (imported, exported) = world(out.to_str().unwrap());
    println!("gateway for Fastly Compute:");
    for i in &imported {
        println!("  import {i}");
        let allowed = ["fastly:compute/", "wasi:clocks/", "wasi:io/", "wasi:random/", "wasi:cli/"];
        assert!(allowed.iter().any(|p| i.starts_with(p)), "the Fastly build imports {i}");
    }
    for needed in
        ["fastly:compute/kv-store@0.1.0", "fastly:compute/config-store@0.1.0", "fastly:compute/http-resp@0.1.0"]
    {
        assert!(imported.contains(needed), "the Fastly build does not import {needed}");
    }
    assert_eq!(exported, BTreeSet::from(["fastly:compute/http-incoming@0.1.0".to_owned()]));
}
