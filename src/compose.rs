//! Composition of the gateway with the ratelimit component (wac's `plug`, as a library).

use anyhow::{Context, Result};
use wac_graph::{CompositionGraph, EncodeOptions, types::Package};

/// The interface the ratelimit component exports and the gateway imports (any version).
const RATELIMIT_INTERFACE: &str = "blocklist:edge/ratelimit@";

/// Plugs `ratelimit`'s exports into the matching imports of `gateway`, producing one component
/// that no longer imports `blocklist:edge/ratelimit`. A gateway that does not import it is
/// returned unchanged.
pub fn plug_ratelimit(gateway: &[u8], ratelimit: &[u8]) -> Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let gw = Package::from_bytes("blocklist:gateway", None, gateway.to_vec(), graph.types_mut())
        .context("the gateway is not a valid component")?;
    let imports_ratelimit = graph.types()[gw.ty()].imports.keys().any(|k| k.starts_with(RATELIMIT_INTERFACE));
    if !imports_ratelimit {
        return Ok(gateway.to_vec());
    }
    let gw = graph.register_package(gw)?;
    let rl = Package::from_bytes("blocklist:ratelimit", None, ratelimit.to_vec(), graph.types_mut())
        .context("the ratelimit component is not a valid component")?;
    let rl = graph.register_package(rl)?;
    wac_graph::plug(&mut graph, vec![rl], gw).context("plugging ratelimit into the gateway")?;
    let bytes = graph.encode(EncodeOptions::default()).context("encoding the composition")?;
    Ok(bytes)
}
