//! The data model (crate `blocklist-model`: records, key layout, timestamps), with what needs
//! the platform: fresh random ids (`wasi:random`) and the time (`wasi:clocks`).

pub use blocklist_model::keys::*;
pub use blocklist_model::records::*;
pub use blocklist_model::time::rfc3339;

/// A fresh random id with `prefix`.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", hex::encode(crate::wasi::random::random::get_random_bytes(ID_HEX_LEN as u64 / 2)))
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    let now = crate::wasi::clocks::wall_clock::now();
    now.seconds.saturating_mul(1000).saturating_add(u64::from(now.nanoseconds / 1_000_000))
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    rfc3339(now_ms())
}

/// The list `id`, if it exists and no delete has begun on it (a list being deleted is gone for
/// every reader and writer; see [`ListRecord::deleted_at`]).
pub fn live_list(lists: &crate::kv::Kv, id: &str) -> Result<Option<ListRecord>, crate::StoreError> {
    Ok(lists.get_json::<ListRecord>(&list_key(id))?.filter(|l| l.deleted_at.is_none()))
}
