//! The host's `wasi:config/store@0.2.0-draft-2024-09-27`: the same interface Spin serves its
//! application variables through, here filled from the host's flags.

use crate::bindings::wasi::config::store;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Configuration values visible to components, by key.
pub type Variables = Arc<BTreeMap<String, String>>;

/// What host functions see.
pub struct ConfigView<'a>(pub &'a Variables);

impl store::Host for ConfigView<'_> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, store::Error>> {
        Ok(Ok(self.0.get(&key).cloned()))
    }

    fn get_all(&mut self) -> wasmtime::Result<Result<Vec<(String, String)>, store::Error>> {
        Ok(Ok(self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }
}

struct HasConfig;

impl HasData for HasConfig {
    type Data<'a> = ConfigView<'a>;
}

/// Adds `wasi:config/store` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> ConfigView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasConfig>(linker, view)
}
