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

/// Every key, read a page at a time through `page` (a store's `list_keys`: the previous page's
/// cursor in, the next page out), in key order.
pub fn all_keys<E>(mut page: impl FnMut(Option<&str>) -> Result<KeyPage, E>) -> Result<Vec<String>, E> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let next = page(cursor.as_deref())?;
        keys.extend(next.keys);
        match next.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(keys),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_keys_follows_the_cursor_to_the_last_page() {
        let pages = |cursor: Option<&str>| -> Result<KeyPage, ()> {
            Ok(match cursor {
                None => KeyPage { keys: vec!["a".into(), "b".into()], cursor: Some("b".into()) },
                Some("b") => KeyPage { keys: vec!["c".into()], cursor: None },
                Some(_) => return Err(()),
            })
        };
        assert_eq!(all_keys(pages), Ok(vec!["a".to_owned(), "b".into(), "c".into()]));
        assert_eq!(all_keys(|_| Err::<KeyPage, _>("down")), Err("down"));
    }
}
