//! The host's `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) over [`keyvalue_sqlite`].
//!
//! Named stores map to a database file and a bucket in it (see [`KvStores`]). Unlike Spin 4.0.2's
//! backends, compare-and-swap reports exactly what happened, and `increment` on a key holding a
//! value returns an error instead of breaking the store.

use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use keyvalue_sqlite::{Error as DbError, Store};
use std::collections::HashMap;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// The key-value stores a component may open, by name.
#[derive(Default)]
pub struct KvStores {
    stores: HashMap<String, Arc<Store>>,
}

impl KvStores {
    /// Makes store `name` available, backed by `db` (the bucket in the file is `name`).
    pub fn insert(&mut self, name: &str, db: Arc<Store>) {
        self.stores.insert(name.to_owned(), db);
    }

    /// The backing database of store `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Store>> {
        self.stores.get(name)
    }
}

/// An open bucket: `wasi:keyvalue/store.bucket`.
pub struct Bucket {
    db: Arc<Store>,
    name: String,
}

/// A pending compare-and-swap: `wasi:keyvalue/atomics.cas`.
pub struct Cas {
    db: Arc<Store>,
    bucket: String,
    key: String,
    value: Option<Vec<u8>>,
    version: Option<i64>,
}

/// The error type of the store interface, as host code sees it.
pub enum KvError {
    NoSuchStore,
    Other(String),
}

impl From<DbError> for KvError {
    fn from(e: DbError) -> Self {
        KvError::Other(e.to_string())
    }
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Other(e.to_string())
    }
}

/// What host functions see of a request's state.
pub struct KvView<'a> {
    pub stores: &'a KvStores,
    pub table: &'a mut ResourceTable,
}

impl KvView<'_> {
    fn bucket(&self, b: &Resource<Bucket>) -> Result<(Arc<Store>, String), KvError> {
        let b = self.table.get(b)?;
        Ok((b.db.clone(), b.name.clone()))
    }
}

impl store::Host for KvView<'_> {
    fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        let db = self.stores.get(&identifier).ok_or(KvError::NoSuchStore)?.clone();
        Ok(self.table.push(Bucket { db, name: identifier })?)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            KvError::NoSuchStore => store::Error::NoSuchStore,
            KvError::Other(m) => store::Error::Other(m),
        })
    }
}

impl store::HostBucket for KvView<'_> {
    fn get(&mut self, b: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.get(&name, &key)?)
    }

    fn set(&mut self, b: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.set(&name, &key, &value)?)
    }

    fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.delete(&name, &key)?)
    }

    fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.exists(&name, &key)?)
    }

    fn list_keys(&mut self, b: Resource<Bucket>, cursor: Option<String>) -> Result<store::KeyResponse, KvError> {
        let (db, name) = self.bucket(&b)?;
        let page = db.list_keys(&name, cursor.as_deref())?;
        Ok(store::KeyResponse { keys: page.keys, cursor: page.cursor })
    }

    fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    fn increment(&mut self, b: Resource<Bucket>, key: String, delta: i64) -> Result<i64, KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.increment(&name, &key, delta)?)
    }

    fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let c = self.table.get(&cas)?;
        match c.db.compare_and_swap(&c.bucket, &c.key, c.version, &value) {
            Ok(true) => {
                self.table.delete(cas)?;
                Ok(Ok(()))
            }
            Ok(false) => {
                // Hand the guest a fresh `cas` at the current version, as the interface says:
                // it can look at `current` and try again.
                let (db, bucket, key) = (c.db.clone(), c.bucket.clone(), c.key.clone());
                match db.get_versioned(&bucket, &key) {
                    Ok(now) => {
                        let c = self.table.get_mut(&cas)?;
                        c.value = now.value;
                        c.version = now.version;
                        Ok(Err(atomics::CasError::CasFailed(cas)))
                    }
                    Err(e) => {
                        self.table.delete(cas)?;
                        Ok(Err(atomics::CasError::StoreError(store::Error::Other(e.to_string()))))
                    }
                }
            }
            Err(e) => {
                self.table.delete(cas)?;
                Ok(Err(atomics::CasError::StoreError(store::Error::Other(e.to_string()))))
            }
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    fn new(&mut self, b: Resource<Bucket>, key: String) -> Result<Resource<Cas>, KvError> {
        let (db, bucket) = self.bucket(&b)?;
        let read = db.get_versioned(&bucket, &key)?;
        Ok(self.table.push(Cas { db, bucket, key, value: read.value, version: read.version })?)
    }

    fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.table.get(&cas)?.value.clone())
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    fn get_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let (db, name) = self.bucket(&b)?;
        let values = db.get_many(&name, &keys)?;
        Ok(keys.into_iter().zip(values).collect())
    }

    fn set_many(&mut self, b: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.set_many(&name, &key_values)?)
    }

    fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        let (db, name) = self.bucket(&b)?;
        Ok(db.delete_many(&name, &keys)?)
    }
}

struct HasKv;

impl HasData for HasKv {
    type Data<'a> = KvView<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<_, HasKv>(linker, view)?;
    atomics::add_to_linker::<_, HasKv>(linker, view)?;
    batch::add_to_linker::<_, HasKv>(linker, view)?;
    Ok(())
}
