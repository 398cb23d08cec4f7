//! `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch) as the guests call it: each call finds
//! its bucket in the request's resource table and runs the matching [`Bucket`] operation.

use super::{Bucket, Cas, KvError, KvStores};
use crate::bindings::wasi::keyvalue::{atomics, batch, store};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// What host functions see of a request's state.
pub struct KvView<'a> {
    pub stores: &'a KvStores,
    pub table: &'a mut ResourceTable,
}

impl KvView<'_> {
    fn bucket(&self, b: &Resource<Bucket>) -> Result<&Bucket, KvError> {
        Ok(self.table.get(b)?)
    }
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        let backend = self.stores.get(&identifier).ok_or(KvError::NoSuchStore)?.clone();
        Ok(self.table.push(Bucket { backend, name: identifier })?)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            KvError::NoSuchStore => store::Error::NoSuchStore,
            KvError::Other(m) => store::Error::Other(m),
        })
    }
}

// Each call takes a copy of its bucket (an `Arc` and a name) out of the table, so that the
// future holds no borrow of it while it waits.
impl store::HostBucket for KvView<'_> {
    async fn get(&mut self, b: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket(&b)?.clone().get_async(key).await
    }

    async fn set(&mut self, b: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), KvError> {
        self.bucket(&b)?.clone().set_async(key, value).await
    }

    async fn delete(&mut self, b: Resource<Bucket>, key: String) -> Result<(), KvError> {
        self.bucket(&b)?.clone().delete_async(key).await
    }

    async fn exists(&mut self, b: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        self.bucket(&b)?.clone().exists_async(key).await
    }

    async fn list_keys(&mut self, b: Resource<Bucket>, cursor: Option<String>) -> Result<store::KeyResponse, KvError> {
        self.bucket(&b)?.clone().list_keys_async(cursor).await
    }

    async fn drop(&mut self, b: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(b)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(&mut self, b: Resource<Bucket>, key: String, delta: i64) -> Result<i64, KvError> {
        self.bucket(&b)?.clone().increment_async(key, delta).await
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let c = self.table.get(&cas)?;
        let (bucket, key, version) = (c.bucket.clone(), c.key.clone(), c.version);
        let swapped = match bucket.compare_and_swap_async(&key, version, value).await {
            // On a failed swap, hand the guest a fresh `cas` at the current version, as the
            // interface says: it can look at `current` and try again.
            Ok(false) => bucket.get_versioned_async(key).await.map(Some),
            Ok(true) => Ok(None),
            Err(e) => Err(e),
        };
        match swapped {
            Ok(None) => {
                self.table.delete(cas)?;
                Ok(Ok(()))
            }
            Ok(Some((value, version))) => {
                let c = self.table.get_mut(&cas)?;
                c.value = value;
                c.version = version;
                Ok(Err(atomics::CasError::CasFailed(cas)))
            }
            Err(e) => {
                self.table.delete(cas)?;
                let message = match e {
                    KvError::NoSuchStore => "no such store".to_owned(),
                    KvError::Other(m) => m,
                };
                Ok(Err(atomics::CasError::StoreError(store::Error::Other(message))))
            }
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    async fn new(&mut self, b: Resource<Bucket>, key: String) -> Result<Resource<Cas>, KvError> {
        let bucket = self.bucket(&b)?.clone();
        let (value, version) = bucket.get_versioned_async(key.clone()).await?;
        Ok(self.table.push(Cas { bucket, key, value, version })?)
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.table.get(&cas)?.value.clone())
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        b: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let values = self.bucket(&b)?.clone().get_many_async(&keys).await?;
        Ok(keys.into_iter().zip(values).collect())
    }

    async fn set_many(&mut self, b: Resource<Bucket>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        self.bucket(&b)?.clone().set_many_async(key_values).await
    }

    async fn delete_many(&mut self, b: Resource<Bucket>, keys: Vec<String>) -> Result<(), KvError> {
        self.bucket(&b)?.clone().delete_many_async(keys).await
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
