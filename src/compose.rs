//! Composition, through the wac libraries:
//!
//! - [`gateway_wac`]: the gateway with the ratelimit component, as `composition/gateway.wac`
//!   describes it (the artifact `blocklist-edge compose` writes; `wac compose` builds the same
//!   from the same file);
//! - [`gateway_fastly_wac`]: the gateway for Fastly Compute, as
//!   `composition/gateway-fastly.wac` describes it (`blocklist-edge compose --fastly`);
//! - [`plug`]: wac's `plug`, which `up` uses to satisfy a component's imports with other
//!   components' exports (the gateway's ratelimit and compiler, the compile consumer's
//!   compiler).

use anyhow::{Context, Result, anyhow};
use wac_graph::{CompositionGraph, EncodeOptions, types::BorrowedPackageKey, types::Package};

/// `composition/gateway.wac`: the gateway with the ratelimit component plugged in.
pub const GATEWAY_WAC: &str = include_str!("../composition/gateway.wac");

/// Evaluates a WAC document (`source`) with `packages` (name as the document uses it, component
/// bytes), giving the composed component.
pub fn wac(source: &str, packages: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let document = wac_parser::Document::parse(source).map_err(|e| anyhow!("parsing the WAC document: {e}"))?;
    let mut map = indexmap::IndexMap::new();
    for (name, bytes) in packages {
        map.insert(BorrowedPackageKey::from_name_and_version(name, None), bytes.to_vec());
    }
    let resolution = document.resolve(map).map_err(|e| anyhow!("resolving the WAC document: {e}"))?;
    resolution.encode(EncodeOptions::default()).map_err(|e| anyhow!("encoding the composition: {e}"))
}

/// The gateway with the ratelimit component plugged in, by `composition/gateway.wac`.
pub fn gateway_wac(gateway: &[u8], ratelimit: &[u8]) -> Result<Vec<u8>> {
    wac(GATEWAY_WAC, &[("blocklist:gateway", gateway), ("blocklist:ratelimit", ratelimit)])
}

/// `composition/gateway-fastly.wac`: the gateway for Fastly Compute.
pub const GATEWAY_FASTLY_WAC: &str = include_str!("../composition/gateway-fastly.wac");

/// The components of the Fastly build.
pub struct FastlyParts<'a> {
    /// The gateway's Fastly shell (`components/gateway-fastly`).
    pub gateway: &'a [u8],
    /// The storage adapter (`components/fastly-storage`).
    pub storage: &'a [u8],
    /// The ratelimit component.
    pub ratelimit: &'a [u8],
    /// The purge of a host without an edge cache (`components/edge-cache-none`).
    pub purge: &'a [u8],
    /// What Fastly has no counterpart for (`components/fastly-unavailable`).
    pub unavailable: &'a [u8],
}

/// The gateway for Fastly Compute, by `composition/gateway-fastly.wac`.
pub fn gateway_fastly_wac(parts: &FastlyParts) -> Result<Vec<u8>> {
    wac(
        GATEWAY_FASTLY_WAC,
        &[
            ("blocklist:gateway-fastly", parts.gateway),
            ("blocklist:fastly-storage", parts.storage),
            ("blocklist:ratelimit", parts.ratelimit),
            ("blocklist:edge-cache-none", parts.purge),
            ("blocklist:fastly-unavailable", parts.unavailable),
        ],
    )
}

/// Plugs each of `plugs` (name, component) whose exports the `socket` imports into it,
/// producing one component without those imports. A socket that imports none of them is
/// returned unchanged.
pub fn plug(socket: &[u8], plugs: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let gw = Package::from_bytes("blocklist:socket", None, socket.to_vec(), graph.types_mut())
        .context("the socket is not a valid component")?;
    let imports: Vec<String> = graph.types()[gw.ty()].imports.keys().cloned().collect();
    let gw = graph.register_package(gw)?;
    let mut used = Vec::new();
    for (name, bytes) in plugs {
        let p = Package::from_bytes(&format!("blocklist:{name}"), None, bytes.to_vec(), graph.types_mut())
            .with_context(|| format!("the {name} component is not a valid component"))?;
        let exports_imported = graph.types()[p.ty()].exports.keys().any(|e| imports.contains(e));
        if exports_imported {
            used.push(graph.register_package(p)?);
        }
    }
    if used.is_empty() {
        return Ok(socket.to_vec());
    }
    wac_graph::plug(&mut graph, used, gw).context("plugging components into the gateway")?;
    let bytes = graph.encode(EncodeOptions::default()).context("encoding the composition")?;
    Ok(bytes)
}
