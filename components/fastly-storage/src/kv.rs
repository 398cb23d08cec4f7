//! `wasi:keyvalue/{store,atomics,batch}` on Fastly's KV stores.

use std::rc::Rc;

use crate::exports::wasi::keyvalue::atomics::{self, CasError};
use crate::exports::wasi::keyvalue::batch;
use crate::exports::wasi::keyvalue::store::{self, BucketBorrow, Error, KeyResponse};
use crate::fastly::compute::http_body::{self, Body};
use crate::fastly::compute::kv_store::{self, Entry, InsertMode, InsertOptions, KvError, ListMode, ListOptions, Store};
use crate::fastly::compute::types::OpenError;

/// Fastly's limit on one value (25 MB).
pub const MAX_VALUE_BYTES: usize = 25_000_000;

/// How often an increment retries when another writer changed the counter in between.
const INCREMENT_ATTEMPTS: u32 = 64;

/// How much of a body one read asks for.
const READ_CHUNK: u32 = 256 * 1024;

/// A bucket: the KV store of the same name.
#[derive(Clone)]
pub struct Bucket {
    name: String,
    store: Rc<Store>,
}

fn other(message: String) -> Error {
    Error::Other(message)
}

fn kv_error(store: &str, what: &str, key: &str, e: KvError) -> Error {
    let why = match e {
        KvError::BadRequest => "bad request".to_owned(),
        KvError::PreconditionFailed => "precondition failed".to_owned(),
        KvError::PayloadTooLarge => "payload too large".to_owned(),
        KvError::InternalError => "internal error".to_owned(),
        KvError::TooManyRequests => "too many requests".to_owned(),
        KvError::GenericError => "error".to_owned(),
        KvError::Extra(_) => "error (extra)".to_owned(),
    };
    other(format!("Fastly KV store {store:?}: {what} {key:?}: {why}"))
}

fn check_key(key: &str) -> Result<(), Error> {
    match crate::keys::invalid(key) {
        Some(why) => Err(other(format!("{key:?} cannot be a Fastly KV key: {why}"))),
        None => Ok(()),
    }
}

/// The whole of `body`.
fn read_all(body: Body) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    loop {
        let chunk = http_body::read(&body, READ_CHUNK).map_err(|e| other(format!("reading a KV value: {e:?}")))?;
        if chunk.is_empty() {
            return Ok(out);
        }
        out.extend_from_slice(&chunk);
    }
}

/// A body holding `value`.
fn body_of(value: &[u8]) -> Result<Body, Error> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(other(format!(
            "a value of {} bytes is over Fastly KV's limit of {MAX_VALUE_BYTES} bytes",
            value.len()
        )));
    }
    let body = http_body::new().map_err(|e| other(format!("making a body: {e:?}")))?;
    let mut rest = value;
    while !rest.is_empty() {
        let n = http_body::write(&body, rest).map_err(|e| other(format!("writing a KV value: {e:?}")))? as usize;
        if n == 0 {
            return Err(other("writing a KV value: no progress".into()));
        }
        rest = &rest[n.min(rest.len())..];
    }
    Ok(body)
}

/// An entry's value (an entry without a body holds the empty value) and generation.
fn value_of(entry: Entry) -> Result<(Vec<u8>, u64), Error> {
    let generation = entry.generation();
    let value = match entry.take_body() {
        Some(body) => read_all(body)?,
        None => Vec::new(),
    };
    Ok((value, generation))
}

fn options(mode: InsertMode, if_generation_match: Option<u64>) -> InsertOptions<'static> {
    InsertOptions {
        background_fetch: false,
        if_generation_match,
        metadata: None,
        time_to_live_sec: None,
        mode,
        extra: None,
    }
}

/// How a conditional insert ended.
enum Conditional {
    Done,
    /// Another writer got there first.
    Lost,
}

impl Bucket {
    fn lookup(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, Error> {
        check_key(key)?;
        match self.store.lookup(key) {
            Ok(Some(entry)) => value_of(entry).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(kv_error(&self.name, "looking up", key, e)),
        }
    }

    /// Writes `value` if the entry still has `generation` (`None`: if it is still absent).
    fn insert_if(&self, key: &str, value: &[u8], generation: Option<u64>) -> Result<Conditional, Error> {
        check_key(key)?;
        let opts = match generation {
            Some(g) => options(InsertMode::Overwrite, Some(g)),
            None => options(InsertMode::Add, None),
        };
        match self.store.insert(key, body_of(value)?, &opts) {
            Ok(()) => Ok(Conditional::Done),
            Err(KvError::PreconditionFailed) => Ok(Conditional::Lost),
            Err(e) => Err(kv_error(&self.name, "writing", key, e)),
        }
    }
}

impl store::Guest for crate::Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, Error> {
        match Store::open(&identifier) {
            Ok(s) => Ok(store::Bucket::new(Bucket { name: identifier, store: Rc::new(s) })),
            Err(OpenError::NotFound) => Err(Error::NoSuchStore),
            Err(e) => Err(other(format!("opening Fastly KV store {identifier:?}: {e:?}"))),
        }
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lookup(&key)?.map(|(value, _)| value))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        check_key(&key)?;
        self.store
            .insert(&key, body_of(&value)?, &options(InsertMode::Overwrite, None))
            .map_err(|e| kv_error(&self.name, "writing", &key, e))
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        check_key(&key)?;
        self.store.delete(&key).map(|_| ()).map_err(|e| kv_error(&self.name, "deleting", &key, e))
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        check_key(&key)?;
        match self.store.lookup(&key) {
            Ok(entry) => Ok(entry.is_some()),
            Err(e) => Err(kv_error(&self.name, "looking up", &key, e)),
        }
    }

    fn list_keys(&self, cursor: Option<String>) -> Result<KeyResponse, Error> {
        let opts = ListOptions { mode: ListMode::Strong, cursor, limit: None, prefix: None, extra: None };
        let body = self.store.list(&opts).map_err(|e| kv_error(&self.name, "listing", "", e))?;
        let page: ListPage = serde_json::from_slice(&read_all(body)?)
            .map_err(|e| other(format!("Fastly KV store {:?}: a key listing that is not JSON: {e}", self.name)))?;
        let cursor = page.meta.next_cursor.filter(|c| !c.is_empty() && !page.data.is_empty());
        Ok(KeyResponse { keys: page.data, cursor })
    }
}

/// A page of `list`'s answer: `{"data": [keys], "meta": {"next_cursor": …}}`.
#[derive(serde::Deserialize)]
struct ListPage {
    data: Vec<String>,
    #[serde(default)]
    meta: ListMeta,
}

#[derive(serde::Deserialize, Default)]
struct ListMeta {
    next_cursor: Option<String>,
}

/// A compare-and-swap handle: the value and generation read when it was made.
pub struct Cas {
    bucket: Bucket,
    key: String,
    read: Option<(Vec<u8>, u64)>,
}

impl Cas {
    fn read(bucket: &Bucket, key: String) -> Result<Cas, Error> {
        let read = bucket.lookup(&key)?;
        Ok(Cas { bucket: bucket.clone(), key, read })
    }
}

impl atomics::GuestCas for Cas {
    fn new(bucket: BucketBorrow<'_>, key: String) -> Result<atomics::Cas, Error> {
        Cas::read(bucket.get::<Bucket>(), key).map(atomics::Cas::new)
    }

    fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.read.as_ref().map(|(value, _)| value.clone()))
    }
}

impl atomics::Guest for crate::Component {
    type Cas = Cas;

    fn increment(bucket: BucketBorrow<'_>, key: String, delta: i64) -> Result<i64, Error> {
        let bucket = bucket.get::<Bucket>();
        for _ in 0..INCREMENT_ATTEMPTS {
            let read = bucket.lookup(&key)?;
            let current = match &read {
                None => 0,
                Some((value, _)) => std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .ok_or_else(|| other(format!("{key:?} holds no counter (not a decimal number)")))?,
            };
            if delta == 0 {
                return Ok(current);
            }
            let next = current
                .checked_add(delta)
                .ok_or_else(|| other(format!("incrementing {key:?} by {delta} overflows")))?;
            match bucket.insert_if(&key, next.to_string().as_bytes(), read.map(|(_, g)| g))? {
                Conditional::Done => return Ok(next),
                Conditional::Lost => continue,
            }
        }
        Err(other(format!(
            "incrementing {key:?}: other writers changed it {INCREMENT_ATTEMPTS} times in a row; try again"
        )))
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), CasError> {
        let cas: Cas = cas.into_inner();
        let generation = cas.read.as_ref().map(|(_, g)| *g);
        match cas.bucket.insert_if(&cas.key, &value, generation).map_err(CasError::StoreError)? {
            Conditional::Done => Ok(()),
            // A fresh handle on what is there now, for the caller's next attempt.
            Conditional::Lost => {
                let fresh = Cas::read(&cas.bucket, cas.key).map_err(CasError::StoreError)?;
                Err(CasError::CasFailed(atomics::Cas::new(fresh)))
            }
        }
    }
}

impl batch::Guest for crate::Component {
    fn get_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        let bucket = bucket.get::<Bucket>();
        // All lookups in flight at once, then awaited in order.
        let mut pending = Vec::with_capacity(keys.len());
        for key in &keys {
            check_key(key)?;
            let handle = bucket.store.lookup_async(key).map_err(|e| other(format!("looking up {key:?}: {e:?}")))?;
            pending.push(handle);
        }
        let mut out = Vec::with_capacity(keys.len());
        for (key, handle) in keys.into_iter().zip(pending) {
            let value = match kv_store::await_lookup(handle) {
                Ok(Some(entry)) => Some(value_of(entry)?.0),
                Ok(None) => None,
                Err(e) => return Err(kv_error(&bucket.name, "looking up", &key, e)),
            };
            out.push((key, value));
        }
        Ok(out)
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let bucket = bucket.get::<Bucket>();
        let mut pending = Vec::with_capacity(key_values.len());
        for (key, value) in &key_values {
            check_key(key)?;
            let handle = bucket
                .store
                .insert_async(key, body_of(value)?, &options(InsertMode::Overwrite, None))
                .map_err(|e| other(format!("writing {key:?}: {e:?}")))?;
            pending.push(handle);
        }
        for ((key, _), handle) in key_values.iter().zip(pending) {
            kv_store::await_insert(handle).map_err(|e| kv_error(&bucket.name, "writing", key, e))?;
        }
        Ok(())
    }

    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<(), Error> {
        let bucket = bucket.get::<Bucket>();
        let mut pending = Vec::with_capacity(keys.len());
        for key in &keys {
            check_key(key)?;
            let handle = bucket.store.delete_async(key).map_err(|e| other(format!("deleting {key:?}: {e:?}")))?;
            pending.push(handle);
        }
        for (key, handle) in keys.iter().zip(pending) {
            kv_store::await_delete(handle).map_err(|e| kv_error(&bucket.name, "deleting", key, e))?;
        }
        Ok(())
    }
}
