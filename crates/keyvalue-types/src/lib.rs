//! What the blocklist-edge key-value stores answer alike (`keyvalue-sqlite`, `keyvalue-memory`,
//! `keyvalue-redis`, each of which re-exports these): a value read with its version for
//! compare-and-swap, and a page of keys.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// A value and the version it was read at, for a store's `compare_and_swap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The value (a counter reads as its 8-byte little-endian encoding); `None` if absent.
    pub value: Option<Vec<u8>>,
    /// The version of that value; `None` if absent.
    pub version: Option<i64>,
}

/// One page of a store's `list_keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPage {
    /// Keys in ascending order.
    pub keys: Vec<String>,
    /// Pass this back to get the next page; `None` on the last page.
    pub cursor: Option<String>,
}

/// Keys per page of a store's `list_keys`.
pub const LIST_PAGE: usize = 1000;
