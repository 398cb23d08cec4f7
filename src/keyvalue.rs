//! The host's `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over [`keyvalue_sqlite`],
//! [`keyvalue_memory`] and [`keyvalue_redis`]: the stores and their operations here, the
//! interface the guests call in [`guest`].
//!
//! Named stores map to a backend (see [`KvStores`]): a bucket in a SQLite database file for
//! durable state (or on Redis/Valkey, `--kv-url`), or a bounded in-memory store for node-local
//! state that may be lost (the cache and the rate limiter's counters). Unlike Spin 4.0.2's
//! backends, compare-and-swap reports exactly what happened, and `increment` on a key holding a
//! value returns an error instead of breaking the store.

use crate::bindings::wasi::keyvalue::store;
use crate::failpoints;
use keyvalue_memory::MemoryStore;
use keyvalue_sqlite::Store;
use std::collections::HashMap;
use std::sync::Arc;

mod guest;
pub use guest::{KvView, add_to_linker};

/// Where a named store keeps its keys.
#[derive(Clone)]
pub enum Backend {
    /// A bucket (named after the store) in a SQLite database file: durable, and shared by every
    /// process that opens the file.
    Sqlite(Arc<Store>),
    /// This process's memory, bounded, least recently used keys evicted first.
    Memory(Arc<MemoryStore>),
    /// A bucket (named after the store) on a Redis/Valkey server: durable as the server is, and
    /// shared by every host that uses it (`--kv-url`).
    Redis(Arc<keyvalue_redis::Store>),
}

/// The key-value stores a component may open, by name.
#[derive(Default)]
pub struct KvStores {
    stores: HashMap<String, Backend>,
}

impl KvStores {
    /// Makes store `name` available, backed by `backend`.
    pub fn insert(&mut self, name: &str, backend: Backend) {
        self.stores.insert(name.to_owned(), backend);
    }

    /// The backend of store `name`.
    pub fn get(&self, name: &str) -> Option<&Backend> {
        self.stores.get(name)
    }

    /// Store `name` opened, for host code (the edge cache charges its answers to the rate
    /// limiter's counters in `default`).
    pub fn open(&self, name: &str) -> Option<Bucket> {
        self.stores.get(name).map(|backend| Bucket { backend: backend.clone(), name: name.to_owned() })
    }
}

/// The rate limiter's protocol (`sliding_window::check`) on a bucket: the host charges answers
/// from its edge cache to the same counters the ratelimit component keeps there.
impl sliding_window::Counters for &Bucket {
    type Error = String;

    fn increment(&mut self, key: &str, delta: i64) -> Result<i64, String> {
        Bucket::increment(self, key, delta).map_err(|e| match e {
            KvError::NoSuchStore => format!("no key-value store named {:?}", self.name),
            KvError::Other(m) => m,
        })
    }

    fn delete(&mut self, key: &str) {
        let _ = Bucket::delete(self, key);
    }
}

/// An open bucket: `wasi:keyvalue/store.bucket`.
#[derive(Clone)]
pub struct Bucket {
    backend: Backend,
    name: String,
}

/// A pending compare-and-swap: `wasi:keyvalue/atomics.cas`.
pub struct Cas {
    bucket: Bucket,
    key: String,
    value: Option<Vec<u8>>,
    version: Option<i64>,
}

/// The error type of the store interface, as host code sees it.
pub enum KvError {
    NoSuchStore,
    Other(String),
}

impl From<keyvalue_sqlite::Error> for KvError {
    fn from(e: keyvalue_sqlite::Error) -> Self {
        KvError::Other(e.to_string())
    }
}

impl From<keyvalue_redis::Error> for KvError {
    fn from(e: keyvalue_redis::Error) -> Self {
        KvError::Other(e.to_string())
    }
}

impl From<keyvalue_memory::Error> for KvError {
    fn from(e: keyvalue_memory::Error) -> Self {
        KvError::Other(e.to_string())
    }
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Other(e.to_string())
    }
}

/// A SQLite read on tokio's blocking pool: SQLite waits on the disk (and, rarely, on a lock
/// past a checkpoint), which must not hold one of the few async workers that run every request.
async fn read<R: Send + 'static>(
    db: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<R, keyvalue_sqlite::Error> + Send + 'static,
) -> Result<R, KvError> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || f(&db)).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(KvError::Other(format!("a key-value read failed: {e}"))),
    }
}

/// A call to the Redis store on tokio's blocking pool (the store's calls wait on the network).
async fn remote<R: Send + 'static>(
    db: &Arc<keyvalue_redis::Store>,
    f: impl FnOnce(&keyvalue_redis::Store) -> Result<R, keyvalue_redis::Error> + Send + 'static,
) -> Result<R, KvError> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || f(&db)).await {
        Ok(r) => Ok(r?),
        Err(e) => Err(KvError::Other(format!("a key-value call failed: {e}"))),
    }
}

/// The operations the guests call, one per method, on whichever backend the bucket has: async,
/// so that no SQLite call runs on an async worker. Reads run on the blocking pool ([`read`]);
/// writes are handed to the store's writer thread, which commits concurrent writes together,
/// and are awaited until their commit has returned (`keyvalue_sqlite`'s group commit). The
/// in-memory backend answers in place (no I/O, short locks).
impl Bucket {
    async fn get_async(&self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let value = match &self.backend {
            Backend::Sqlite(db) => {
                let (name, k) = (self.name.clone(), key.clone());
                read(db, move |db| db.get(&name, &k)).await?
            }
            Backend::Memory(m) => m.get(&key),
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), key.clone());
                remote(db, move |db| db.get(&name, &k)).await?
            }
        };
        failpoints::after_read(&self.name, [key.as_str()]).await;
        Ok(value)
    }

    async fn get_versioned_async(&self, key: String) -> Result<(Option<Vec<u8>>, Option<i64>), KvError> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => {
                let name = self.name.clone();
                let r = read(db, move |db| db.get_versioned(&name, &key)).await?;
                (r.value, r.version)
            }
            Backend::Memory(m) => {
                let r = m.get_versioned(&key);
                (r.value, r.version)
            }
            Backend::Redis(db) => {
                let name = self.name.clone();
                let r = remote(db, move |db| db.get_versioned(&name, &key)).await?;
                (r.value, r.version)
            }
        })
    }

    async fn set_async(&self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.set_async(&self.name, &key, value).await?,
            Backend::Memory(m) => m.set(&key, &value)?,
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), key.clone());
                remote(db, move |db| db.set(&name, &k, &value)).await?
            }
        }
        failpoints::after_write(&self.name, [key.as_str()]);
        Ok(())
    }

    async fn delete_async(&self, key: String) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.delete_async(&self.name, &key).await?,
            Backend::Memory(m) => m.delete(&key),
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), key.clone());
                remote(db, move |db| db.delete(&name, &k)).await?
            }
        }
        failpoints::after_write(&self.name, [key.as_str()]);
        Ok(())
    }

    async fn exists_async(&self, key: String) -> Result<bool, KvError> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => {
                let name = self.name.clone();
                read(db, move |db| db.exists(&name, &key)).await?
            }
            Backend::Memory(m) => m.exists(&key),
            Backend::Redis(db) => {
                let name = self.name.clone();
                remote(db, move |db| db.exists(&name, &key)).await?
            }
        })
    }

    async fn list_keys_async(&self, cursor: Option<String>) -> Result<store::KeyResponse, KvError> {
        let (keys, cursor) = match &self.backend {
            Backend::Sqlite(db) => {
                let name = self.name.clone();
                let p = read(db, move |db| db.list_keys(&name, cursor.as_deref())).await?;
                (p.keys, p.cursor)
            }
            Backend::Memory(m) => {
                let p = m.list_keys(cursor.as_deref());
                (p.keys, p.cursor)
            }
            Backend::Redis(db) => {
                let name = self.name.clone();
                let p = remote(db, move |db| db.list_keys(&name, cursor.as_deref())).await?;
                (p.keys, p.cursor)
            }
        };
        Ok(store::KeyResponse { keys, cursor })
    }

    async fn increment_async(&self, key: String, delta: i64) -> Result<i64, KvError> {
        Ok(match &self.backend {
            // Reading a counter (delta 0) writes nothing: a read.
            Backend::Sqlite(db) if delta == 0 => {
                let name = self.name.clone();
                read(db, move |db| db.increment(&name, &key, 0)).await?
            }
            Backend::Sqlite(db) => db.increment_async(&self.name, &key, delta).await?,
            Backend::Memory(m) => m.increment(&key, delta)?,
            Backend::Redis(db) => {
                let name = self.name.clone();
                remote(db, move |db| db.increment(&name, &key, delta)).await?
            }
        })
    }

    async fn compare_and_swap_async(&self, key: &str, expected: Option<i64>, value: Vec<u8>) -> Result<bool, KvError> {
        let swapped = match &self.backend {
            Backend::Sqlite(db) => db.compare_and_swap_async(&self.name, key, expected, value).await?,
            Backend::Memory(m) => m.compare_and_swap(key, expected, &value)?,
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), key.to_owned());
                remote(db, move |db| db.compare_and_swap(&name, &k, expected, &value)).await?
            }
        };
        if swapped {
            failpoints::after_write(&self.name, [key]);
        }
        Ok(swapped)
    }

    async fn get_many_async(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let values = match &self.backend {
            Backend::Sqlite(db) => {
                let (name, k) = (self.name.clone(), keys.to_vec());
                read(db, move |db| db.get_many(&name, &k)).await?
            }
            Backend::Memory(m) => m.get_many(keys),
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), keys.to_vec());
                remote(db, move |db| db.get_many(&name, &k)).await?
            }
        };
        failpoints::after_read(&self.name, keys.iter().map(String::as_str)).await;
        Ok(values)
    }

    async fn set_many_async(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        match &self.backend {
            Backend::Sqlite(db) => db.set_many_async(&self.name, pairs).await?,
            Backend::Memory(m) => m.set_many(&pairs)?,
            Backend::Redis(db) => {
                let name = self.name.clone();
                remote(db, move |db| db.set_many(&name, &pairs)).await?
            }
        }
        failpoints::after_write(&self.name, keys.iter().map(String::as_str));
        Ok(())
    }

    async fn delete_many_async(&self, keys: Vec<String>) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.delete_many_async(&self.name, keys.clone()).await?,
            Backend::Memory(m) => m.delete_many(&keys),
            Backend::Redis(db) => {
                let (name, k) = (self.name.clone(), keys.clone());
                remote(db, move |db| db.delete_many(&name, &k)).await?
            }
        }
        failpoints::after_write(&self.name, keys.iter().map(String::as_str));
        Ok(())
    }
}

/// The blocking forms host code uses (the trigger renewing a job's claim, from the blocking
/// pool; the edge cache charging the limiter's counters).
impl Bucket {
    /// Whether the bucket is in this process's memory (its calls never wait on I/O).
    pub fn is_memory(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    fn get_versioned(&self, key: &str) -> Result<(Option<Vec<u8>>, Option<i64>), KvError> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => {
                let r = db.get_versioned(&self.name, key)?;
                (r.value, r.version)
            }
            Backend::Memory(m) => {
                let r = m.get_versioned(key);
                (r.value, r.version)
            }
            Backend::Redis(db) => {
                let r = db.get_versioned(&self.name, key)?;
                (r.value, r.version)
            }
        })
    }

    fn delete(&self, key: &str) -> Result<(), KvError> {
        match &self.backend {
            Backend::Sqlite(db) => db.delete(&self.name, key)?,
            Backend::Memory(m) => m.delete(key),
            Backend::Redis(db) => db.delete(&self.name, key)?,
        }
        failpoints::after_write(&self.name, [key]);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        Ok(match &self.backend {
            Backend::Sqlite(db) => db.increment(&self.name, key, delta)?,
            Backend::Memory(m) => m.increment(key, delta)?,
            Backend::Redis(db) => db.increment(&self.name, key, delta)?,
        })
    }

    fn compare_and_swap(&self, key: &str, expected: Option<i64>, value: &[u8]) -> Result<bool, KvError> {
        let swapped = match &self.backend {
            Backend::Sqlite(db) => db.compare_and_swap(&self.name, key, expected, value)?,
            Backend::Memory(m) => m.compare_and_swap(key, expected, value)?,
            Backend::Redis(db) => db.compare_and_swap(&self.name, key, expected, value)?,
        };
        if swapped {
            failpoints::after_write(&self.name, [key]);
        }
        Ok(swapped)
    }
}

impl Bucket {
    /// Replaces the JSON record at `key` by what `step` makes of it, by compare-and-swap
    /// (read again and retried on a conflict): for host code that keeps a record up to date
    /// beside the guests (the trigger renewing a job's claim). Whether it wrote; a missing or
    /// undecodable record, or `step` answering `None`, leaves the key alone.
    pub fn update_json<T: serde::de::DeserializeOwned + serde::Serialize>(
        &self,
        key: &str,
        step: impl Fn(T) -> Option<T>,
    ) -> Result<bool, String> {
        let describe = |e: KvError| match e {
            KvError::NoSuchStore => format!("no key-value store named {:?}", self.name),
            KvError::Other(m) => m,
        };
        for _ in 0..16 {
            let (value, version) = self.get_versioned(key).map_err(describe)?;
            let Some(current) = value.and_then(|b| serde_json::from_slice::<T>(&b).ok()) else { return Ok(false) };
            let Some(next) = step(current) else { return Ok(false) };
            let bytes = serde_json::to_vec(&next).map_err(|e| e.to_string())?;
            if self.compare_and_swap(key, version, &bytes).map_err(describe)? {
                return Ok(true);
            }
        }
        Err(format!("{key}: too many concurrent updates"))
    }
}
