//! `wasi:config/store` on the Fastly config store named [`CONFIG_STORE`].

use crate::exports::wasi::config::store::{Error, Guest};
use crate::fastly::compute::config_store::Store;
use crate::fastly::compute::types;

/// The config store the settings are read from (a Fastly config store of this name; in
/// Viceroy, `[local_server.config_stores.blocklist_edge]` in `fastly.toml`).
pub const CONFIG_STORE: &str = "blocklist_edge";

/// The longest value read in one go; a longer one is read again at its length.
const FIRST_READ: u64 = 8 * 1024;

impl Guest for crate::Component {
    fn get(key: String) -> Result<Option<String>, Error> {
        let store = Store::open(CONFIG_STORE)
            .map_err(|e| Error::Upstream(format!("opening the Fastly config store {CONFIG_STORE:?}: {e:?}")))?;
        match store.get(&key, FIRST_READ) {
            Ok(value) => Ok(value),
            Err(types::Error::BufferLen(len)) => store
                .get(&key, len)
                .map_err(|e| Error::Upstream(format!("reading {key:?} from config store {CONFIG_STORE:?}: {e:?}"))),
            Err(e) => Err(Error::Upstream(format!("reading {key:?} from config store {CONFIG_STORE:?}: {e:?}"))),
        }
    }

    fn get_all() -> Result<Vec<(String, String)>, Error> {
        Err(Error::Upstream(format!(
            "a Fastly config store cannot be listed: read the keys of {CONFIG_STORE:?} one by one with get"
        )))
    }
}
