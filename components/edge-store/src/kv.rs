//! Typed access to `wasi:keyvalue` buckets: JSON records, atomic read-modify-write, and values
//! split into chunks (Spin caps one value at 1 MB).

use crate::StoreError;
use crate::wasi::keyvalue::{atomics, batch, store};
use serde::{Serialize, de::DeserializeOwned};

/// Bytes per chunk of a large value: well under Spin's 1 MB cap on one value.
pub const CHUNK: usize = 512 * 1024;

/// An open bucket of the named store.
pub struct Kv {
    bucket: store::Bucket,
    name: &'static str,
}

/// What a read-modify-write step decides.
pub enum Update<R> {
    /// Leave the value as it is and return `R`.
    Keep(R),
    /// Write these bytes and return `R` once they are in.
    Write(Vec<u8>, R),
}

/// What a read-modify-write step on a JSON record decides ([`Kv::update_json`]).
pub enum JsonUpdate<T, R> {
    /// Leave the record as it is and return `R`.
    Keep(R),
    /// Write this record and return `R` once it is in.
    Write(T, R),
}

impl Kv {
    /// Opens the store `name`.
    pub fn open(name: &'static str) -> Result<Kv, StoreError> {
        let bucket = store::open(name).map_err(|e| storage(name, e))?;
        Ok(Kv { bucket, name })
    }

    fn err(&self, e: store::Error) -> StoreError {
        storage(self.name, e)
    }

    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(|e| self.err(e))
    }

    /// The values of those of `keys` that are present, by key, in one call to the store.
    pub fn get_many(&self, keys: &[String]) -> Result<std::collections::HashMap<String, Vec<u8>>, StoreError> {
        let found = batch::get_many(&self.bucket, keys).map_err(|e| self.err(e))?;
        Ok(found.into_iter().filter_map(|(k, v)| Some((k, v?))).collect())
    }

    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(|e| self.err(e))
    }

    pub fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(|e| self.err(e))
    }

    /// The record at `key`, or `None`. A record that does not parse is a storage error.
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::internal(format!("record {key:?} in store {:?} is corrupt: {e}", self.name))),
        }
    }

    pub fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::internal(e.to_string()))?;
        self.set(key, &bytes)
    }

    /// Atomically reads `key` and, as `step` decides, replaces it: compare-and-swap, retried on
    /// conflict. A swap that reports `cas-failed` while the stored bytes are exactly the ones it
    /// wrote counts as done: Spin 4.0.2's Redis backend reports every uncontested swap that way.
    /// Steps must therefore write bytes unique to the caller (an id) or idempotent ones.
    pub fn update<R>(&self, key: &str, mut step: impl FnMut(Option<&[u8]>) -> Update<R>) -> Result<R, StoreError> {
        for _ in 0..64 {
            let cas = atomics::Cas::new(&self.bucket, key).map_err(|e| self.err(e))?;
            let current = cas.current().map_err(|e| self.err(e))?;
            match step(current.as_deref()) {
                Update::Keep(r) => return Ok(r),
                Update::Write(bytes, r) => match atomics::swap(cas, &bytes) {
                    Ok(()) => return Ok(r),
                    Err(atomics::CasError::CasFailed(_)) => {
                        if self.get(key)?.as_deref() == Some(&bytes[..]) {
                            return Ok(r);
                        }
                    }
                    Err(atomics::CasError::StoreError(e)) => return Err(self.err(e)),
                },
            }
        }
        Err(StoreError::unavailable(format!("too much contention on {key:?}; try again")))
    }

    /// [`Kv::update`] on a JSON record: `step` sees the record (`None` if absent) and decides.
    /// A stored record that does not parse is an error, and nothing is written over it.
    pub fn update_json<T: Serialize + DeserializeOwned, R>(
        &self,
        key: &str,
        mut step: impl FnMut(Option<T>) -> JsonUpdate<T, R>,
    ) -> Result<R, StoreError> {
        let mut failed = None;
        let result = self.update(key, |cur| {
            let record = match cur.map(serde_json::from_slice::<T>).transpose() {
                Ok(r) => r,
                Err(e) => {
                    failed = Some(format!("record {key:?} in store {:?} is corrupt: {e}", self.name));
                    return Update::Keep(None);
                }
            };
            match step(record) {
                JsonUpdate::Keep(r) => Update::Keep(Some(r)),
                JsonUpdate::Write(next, r) => match serde_json::to_vec(&next) {
                    Ok(bytes) => Update::Write(bytes, Some(r)),
                    Err(e) => {
                        failed = Some(format!("record {key:?} could not be serialized: {e}"));
                        Update::Keep(None)
                    }
                },
            }
        })?;
        match (result, failed) {
            (Some(r), _) => Ok(r),
            (None, message) => Err(StoreError::internal(message.unwrap_or_default())),
        }
    }

    /// Adds `id` to the JSON array of ids at `key` (an index), unless it holds `max` ids
    /// already; whether `id` is in it afterwards.
    pub fn add_to_index(&self, key: &str, id: &str, max: usize) -> Result<bool, StoreError> {
        self.update_json(key, |ids: Option<Vec<String>>| {
            let mut ids = ids.unwrap_or_default();
            if ids.iter().any(|x| x == id) {
                return JsonUpdate::Keep(true);
            }
            if ids.len() >= max {
                return JsonUpdate::Keep(false);
            }
            ids.push(id.to_owned());
            JsonUpdate::Write(ids, true)
        })
    }

    /// Removes `id` from the JSON array of ids at `key` (an index), if it is there.
    pub fn remove_from_index(&self, key: &str, id: &str) -> Result<(), StoreError> {
        self.update_json(key, |ids: Option<Vec<String>>| {
            let mut ids = ids.unwrap_or_default();
            if !ids.iter().any(|x| x == id) {
                return JsonUpdate::Keep(());
            }
            ids.retain(|x| x != id);
            JsonUpdate::Write(ids, ())
        })
    }

    /// Stores `data` as chunks `{prefix}/0`, `{prefix}/1`, …; returns the number of chunks.
    pub fn put_chunks(&self, prefix: &str, data: &[u8]) -> Result<u32, StoreError> {
        let pairs: Vec<(String, Vec<u8>)> =
            data.chunks(CHUNK).enumerate().map(|(i, c)| (format!("{prefix}/{i}"), c.to_vec())).collect();
        let n = pairs.len() as u32;
        // Several chunks per call, without building one huge host call.
        for group in pairs.chunks(8) {
            batch::set_many(&self.bucket, group).map_err(|e| self.err(e))?;
        }
        Ok(n)
    }

    /// Reads `count` chunks written by [`Kv::put_chunks`]; `None` if any is missing. One `get`
    /// per chunk: Spin 4.0.2's Redis backend panics on `batch.get-many`.
    pub fn get_chunks(&self, prefix: &str, count: u32, expected_len: usize) -> Result<Option<Vec<u8>>, StoreError> {
        let mut out = Vec::with_capacity(expected_len);
        for i in 0..count {
            match self.get(&format!("{prefix}/{i}"))? {
                Some(v) => out.extend_from_slice(&v),
                None => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// One page of the bucket's keys from `cursor` (`None`: the first page), and the cursor of
    /// the next page (`None` after the last). Spin's backends answer every key in one page.
    pub fn list_keys(&self, cursor: Option<&str>) -> Result<(Vec<String>, Option<String>), StoreError> {
        let page = self.bucket.list_keys(cursor).map_err(|e| self.err(e))?;
        Ok((page.keys, page.cursor))
    }

    /// Deletes `count` chunks under `prefix`.
    pub fn delete_chunks(&self, prefix: &str, count: u32) -> Result<(), StoreError> {
        let keys: Vec<String> = (0..count).map(|i| format!("{prefix}/{i}")).collect();
        for group in keys.chunks(64) {
            batch::delete_many(&self.bucket, group).map_err(|e| self.err(e))?;
        }
        Ok(())
    }
}

fn storage(name: &str, e: store::Error) -> StoreError {
    match e {
        store::Error::NoSuchStore => StoreError::internal(format!("key-value store {name:?} is not configured")),
        store::Error::AccessDenied => StoreError::internal(format!("access to key-value store {name:?} denied")),
        store::Error::Other(m) => StoreError::unavailable(format!("key-value store {name:?}: {m}")),
    }
}
