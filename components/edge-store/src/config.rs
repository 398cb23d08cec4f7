//! Settings from `wasi:config/store`: Spin variables under Spin, the host's flags on the
//! blocklist-edge host.

use crate::StoreError;

/// The value of `key` parsed as `T`; `default` when it is unset or blank.
pub fn value<T: std::str::FromStr>(key: &str, default: T) -> Result<T, StoreError> {
    match crate::wasi::config::store::get(key) {
        Ok(None) => Ok(default),
        Ok(Some(v)) if v.trim().is_empty() => Ok(default),
        Ok(Some(v)) => {
            v.trim().parse().map_err(|_| StoreError::internal(format!("configuration value {key:?} is not valid")))
        }
        Err(e) => Err(StoreError::internal(format!("reading configuration {key:?}: {e:?}"))),
    }
}
