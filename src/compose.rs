//! Composition (wac's `plug`, as a library): the gateway with the ratelimit and compiler
//! components, and the compile component with the compiler.

use anyhow::{Context, Result};
use wac_graph::{CompositionGraph, EncodeOptions, types::Package};

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
