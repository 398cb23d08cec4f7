//! Settings from `wasi:config/store`: Spin variables under Spin, the host's flags on the
//! blocklist-edge host.
//!
//! [`Values::load`] reads them all with one `get-all` call (a request reads some twenty: one
//! host call instead of twenty), then [`Values::get`] parses each.

use crate::StoreError;

/// A snapshot of the configuration.
pub struct Values(Vec<(String, String)>);

impl Values {
    /// Reads every configuration value.
    pub fn load() -> Result<Values, StoreError> {
        crate::wasi::config::store::get_all()
            .map(Values)
            .map_err(|e| StoreError::internal(format!("reading the configuration: {e:?}")))
    }

    /// The value of `key` parsed as `T`; `default` when it is unset or blank.
    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, StoreError> {
        match self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| StoreError::internal(format!("configuration value {key:?} is not valid"))),
        }
    }
}
