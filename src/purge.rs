//! The host's `blocklist:edge-cache/purge`: components purge the edge cache in front of them
//! (see `edge_cache`) by surrogate key when the data an answer was made from changes.

use crate::bindings::blocklist::edge_cache::purge;
use edge_cache::EdgeCache;
use wasmtime::component::{HasData, Linker};

/// What host functions see: the host's edge cache, if it has one (without one, a purge has
/// nothing to do and succeeds).
pub struct PurgeView<'a>(pub Option<&'a EdgeCache>);

impl purge::Host for PurgeView<'_> {
    fn purge_surrogate_key(&mut self, key: String) -> wasmtime::Result<Result<(), String>> {
        if let Some(cache) = self.0 {
            let removed = cache.purge(&key);
            tracing::debug!(%key, removed, "edge cache purged");
        }
        Ok(Ok(()))
    }
}

struct HasPurge;

impl HasData for HasPurge {
    type Data<'a> = PurgeView<'a>;
}

/// Adds `blocklist:edge-cache/purge` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> PurgeView<'_>,
) -> wasmtime::Result<()> {
    purge::add_to_linker::<_, HasPurge>(linker, view)
}
