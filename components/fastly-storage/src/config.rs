//! `wasi:config/store` on the Fastly config store named [`CONFIG_STORE`].

use crate::exports::wasi::config::store::{Error, Guest};
use crate::fastly::compute::config_store::Store;
use crate::fastly::compute::types;

/// The config store the settings are read from (a Fastly config store of this name; in
/// Viceroy, `[local_server.config_stores.blocklist_edge]` in `fastly.toml`).
pub const CONFIG_STORE: &str = "blocklist_edge";

/// The longest value read in one go; a longer one is read again at its length.
const FIRST_READ: u64 = 8 * 1024;

thread_local! {
    /// The config store, opened once per instance (a request reads some thirty values).
    static STORE: std::cell::OnceCell<Result<Store, String>> = const { std::cell::OnceCell::new() };
}

impl Guest for crate::Component {
    fn get(key: String) -> Result<Option<String>, Error> {
        STORE.with(|cell| {
            let store = cell
                .get_or_init(|| {
                    Store::open(CONFIG_STORE)
                        .map_err(|e| format!("opening the Fastly config store {CONFIG_STORE:?}: {e:?}"))
                })
                .as_ref()
                .map_err(|e| Error::Upstream(e.clone()))?;
            let read = |len| {
                store.get(&key, len).map_err(|e| (e, format!("reading {key:?} from config store {CONFIG_STORE:?}")))
            };
            match read(FIRST_READ) {
                Ok(value) => Ok(value),
                Err((types::Error::BufferLen(len), _)) => {
                    read(len).map_err(|(e, what)| Error::Upstream(format!("{what}: {e:?}")))
                }
                Err((e, what)) => Err(Error::Upstream(format!("{what}: {e:?}"))),
            }
        })
    }

    fn get_all() -> Result<Vec<(String, String)>, Error> {
        Err(Error::Upstream(format!(
            "a Fastly config store cannot be listed: read the keys of {CONFIG_STORE:?} one by one with get"
        )))
    }
}
