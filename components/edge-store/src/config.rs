//! Settings from `wasi:config/store`: Spin variables under Spin, the host's flags on the
//! blocklist-edge host.
//!
//! [`Values::load`] reads them all with one `get-all` call (a request reads some twenty: one
//! host call instead of twenty), then [`Values::get`] parses each. Where the store cannot be
//! listed (a Fastly config store, through the storage adapter), `get-all` fails and each value
//! is read with `get` when asked for.

use crate::StoreError;

/// The configuration.
pub enum Values {
    /// Every value, read at once.
    All(Vec<(String, String)>),
    /// A store that cannot be listed: each value is read when asked for.
    OneByOne,
}

impl Values {
    /// Reads every configuration value, or settles for reading them one by one where the
    /// store cannot list them.
    pub fn load() -> Result<Values, StoreError> {
        Ok(match crate::wasi::config::store::get_all() {
            Ok(all) => Values::All(all),
            Err(_) => Values::OneByOne,
        })
    }

    /// The value of `key` parsed as `T`; `default` when it is unset or blank.
    pub fn get<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, StoreError> {
        let read;
        let value = match self {
            Values::All(all) => all.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()),
            Values::OneByOne => {
                read = crate::wasi::config::store::get(key)
                    .map_err(|e| StoreError::internal(format!("reading configuration value {key:?}: {e:?}")))?;
                read.as_deref()
            }
        };
        match value.map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v.parse().map_err(|_| StoreError::internal(format!("configuration value {key:?} is not valid"))),
        }
    }
}
