//! `blocklist:edge-cache/purge` for a host with no edge cache in front of its components
//! (Spin): there is nothing to purge, so every purge succeeds at once. Spin plugs it into the
//! gateway and the compile component as a component dependency (spin.toml); the blocklist-edge
//! host implements the interface itself, on its cache.

wit_bindgen::generate!({
    world: "edge-cache-none",
    path: "../../wit",
    generate_all,
});

use exports::blocklist::edge_cache::purge::Guest;

struct Component;

impl Guest for Component {
    fn purge_surrogate_key(_key: String) -> Result<(), String> {
        Ok(())
    }
}

export!(Component);
