//! A key-value store on a Redis (or Valkey) server: named buckets, values, counters and
//! compare-and-swap, with exactly the semantics of `keyvalue-sqlite`, so that any number of hosts
//! can share the durable stores (the published lists, the rate limiter's counters).
//!
//! # Guarantees
//!
//! - **Counters and values never mix.** A key holds either a value (bytes) or a counter (an
//!   `i64`). [`Store::increment`] on a key that holds a value is an error
//!   ([`Error::NotACounter`]) and changes nothing; an increment past the range of an `i64` is
//!   [`Error::Overflow`] and changes nothing; [`Store::set`] on a counter turns it into a value.
//!   [`Store::get`] of a counter returns its 8-byte little-endian encoding, as `keyvalue-sqlite`
//!   does.
//! - **Compare-and-swap is exact.** Every write (set, increment, swap, batch set) gives the key a
//!   fresh version: 64 random bits made by the client (as `keyvalue-sqlite` does), so a key
//!   deleted and written again, or written with the same bytes, never gets back a version
//!   someone read before (but with probability 2⁻⁶⁴). [`Store::compare_and_swap`] succeeds
//!   only if the version is still the one read, and a swap on a key read as absent succeeds
//!   only if it is still absent, and it reports what happened: `true` exactly when it wrote.
//!   (Spin 4.0.2's Redis backend reports failure on uncontested swaps; this one does not.)
//! - **Every operation is atomic** with respect to every client of the server, in any process:
//!   each write is one Lua script (Redis runs a script to completion before any other command),
//!   each read one command or one `MULTI` block. [`Store::set_many`] and
//!   [`Store::delete_many`] are one script each, so a batch is seen whole or not at all, and
//!   [`Store::get_many`] reads all its keys at one instant. (This is stricter than
//!   `keyvalue-sqlite`, whose `get_many` reads key by key.)
//! - **Keys are listed in ascending byte order** (the order of Rust's `str` and of SQLite's
//!   `BINARY` collation), a page ([`LIST_PAGE`] keys) at a time, with a cursor that stays valid
//!   while keys are added and removed.
//!
//! Durability is the server's: with `appendonly yes` and `appendfsync always` a write that
//! returned survives a crash of the server; with the defaults the last second, or everything
//! (no persistence), may be lost.
//!
//! # Key layout
//!
//! Every key of bucket `b` starts with `{prefix}:kv:{n}:{b}:`, where `prefix` is given to
//! [`Store::open`] and `n` is the length of `b` in bytes. The length makes the bucket's name
//! unambiguous whatever it contains (`a:k:b` and `a`'s key `b:…` cannot meet), so buckets never
//! collide, and two stores whose prefixes differ never share a key unless one prefix is the
//! other followed by `:` and more (keep such prefixes apart).
//!
//! | key                          | type       | contents                                             |
//! |------------------------------|------------|------------------------------------------------------|
//! | `{prefix}:kv:{n}:{b}:k:{key}`| hash       | one entry: fields `kind`, `value`, `version`          |
//! | `{prefix}:kv:{n}:{b}:i`      | sorted set | the bucket's index: every key of the bucket, score 0 |
//!
//! An entry's `kind` is `v` (a value: `value` holds its bytes) or `c` (a counter: `value` holds
//! it in decimal, so that `HINCRBY` adds to it exactly and refuses to overflow). `version` is the
//! version in decimal (compared as a string by the scripts, never as a Lua number, which could
//! not hold 64 bits). A key is present exactly when its hash exists; every script that creates
//! or removes a hash adds its key to, or removes it from, the index in the same script, so the
//! index holds exactly the bucket's keys. All members of the index have the same score, so
//! `ZRANGEBYLEX` lists them in byte order: [`Store::list_keys`] is one `ZRANGEBYLEX` after the
//! cursor (exclusive), which is why a page after a key that was deleted meanwhile still starts
//! in the right place.
//!
//! All the keys a script touches are passed as `KEYS`; to run on Redis Cluster, give a prefix
//! with a hash tag (`{edge}`) so all keys share a slot.
//!
//! # Connections
//!
//! [`Store::open`] only validates the URL: it does not connect, so a host can start while the
//! server is down. A store keeps up to [`MAX_IDLE`] idle connections; an operation takes one
//! (or connects), and puts it back only if the operation succeeded. Any error drops the
//! connection it happened on and every idle one (after a timeout a connection may be out of
//! step with the server; after a restart all of them are dead), and is returned as
//! [`Error::Redis`]; the next operation connects again, so a restarted server is picked up
//! without restarting the process. Scripts are sent as `EVALSHA` and loaded again when the
//! server does not know them (after a restart). Connecting, reading and writing time out after
//! [`Store::TIMEOUT`], so a dead server never blocks a caller for long.
//!
//! # Messages between the store's clients
//!
//! [`Store::publish`] and [`Store::listen`] carry short messages between every client of the
//! store (Redis pub/sub, on channel `{prefix}:ch:{name}`), for example so that hosts sharing
//! the store tell each other which of their cached answers are no longer exact. Pub/sub is
//! fire-and-forget: a client that is not connected misses what is published meanwhile, which
//! [`Store::listen`] makes visible (it returns when its connection is lost) so that its caller
//! can treat everything it might have missed as changed.
//!
//! An [`Error::Redis`] does not say whether the server ran the operation: a write may have
//! happened. Retrying a read, `set`, `delete` or a batch is harmless; an `increment` retried may
//! count twice, and a `compare_and_swap` retried after its write happened reports `false` (the
//! version is no longer the one read), so read again before swapping again.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use keyvalue_types::{KeyPage, LIST_PAGE, Versioned};
use redis::{Client, Connection, ConnectionLike, RedisError, RedisResult, Script, Value};
use scripts::{COUNTER, Scripts, VALUE};
use std::sync::Mutex;

mod messages;
mod scripts;
use std::time::Duration;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `increment` on a key that holds a value, not a counter.
    #[error("key {0:?} holds a value, not a counter")]
    NotACounter(String),
    /// `increment` would overflow an `i64`.
    #[error("incrementing key {0:?} would overflow")]
    Overflow(String),
    /// The server could not be reached, timed out or answered with an error (or the URL given to
    /// [`Store::open`] is invalid). The operation may or may not have happened; the next one
    /// connects again.
    #[error("redis: {0}")]
    Redis(String),
}

/// Idle connections a [`Store`] keeps at most (as many operations run at once as there are
/// callers; connections beyond this are closed once used).
pub const MAX_IDLE: usize = 16;

/// A key-value store on a Redis or Valkey server, holding any number of buckets under a prefix
/// (see the crate's documentation for the layout, the guarantees and the connection handling).
/// Share it behind an `Arc`: operations from several threads run in parallel, each on a
/// connection of its own.
pub struct Store {
    client: Client,
    prefix: String,
    idle: Mutex<Vec<Connection>>,
    scripts: Scripts,
}

impl Store {
    /// How long connecting, and each read or write, may take before the operation fails with
    /// [`Error::Redis`].
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// A store on the server at `url` (`redis://[user:password@]host[:port][/db]`), its keys
    /// starting with `prefix` (e.g. `blocklist-edge`), so several applications can share a
    /// server.
    ///
    /// This only checks the URL; it does not connect (the first operation does), so it succeeds
    /// while the server is down.
    pub fn open(url: &str, prefix: &str) -> Result<Store, Error> {
        let client = Client::open(url).map_err(|e| Error::Redis(format!("invalid URL: {e}")))?;
        Ok(Store { client, prefix: prefix.to_owned(), idle: Mutex::new(Vec::new()), scripts: Scripts::new() })
    }

    /// The prefix of every key of the store.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Connects (if no connection is idle) and checks that the server answers, e.g. when a host
    /// starts.
    pub fn ping(&self) -> Result<(), Error> {
        self.with_connection(|c| redis::cmd("PING").query::<String>(c)).map(drop)
    }

    /// The common start of the names of bucket `bucket`'s keys.
    fn bucket_base(&self, bucket: &str) -> String {
        format!("{}:kv:{}:{}", self.prefix, bucket.len(), bucket)
    }

    /// The name of the hash holding `key` of `bucket`.
    fn entry(&self, bucket: &str, key: &str) -> String {
        format!("{}:k:{}", self.bucket_base(bucket), key)
    }

    /// The name of the sorted set indexing the keys of `bucket`.
    fn index(&self, bucket: &str) -> String {
        format!("{}:i", self.bucket_base(bucket))
    }

    /// Runs `f` on a connection (an idle one, or a new one), which is kept for later only if
    /// `f` succeeded; any error also drops the idle connections.
    fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T, Error> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) if conn.is_open() => conn,
            _ => self.connect()?,
        };
        match f(&mut conn) {
            Ok(out) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                Ok(out)
            }
            Err(e) => {
                // After a timeout a reply may still be coming on this connection; after a
                // restart of the server the idle ones are dead too.
                self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
                Err(Error::Redis(e.to_string()))
            }
        }
    }

    fn connect(&self) -> Result<Connection, Error> {
        let fail =
            |e: RedisError| Error::Redis(format!("connecting to {}: {e}", self.client.get_connection_info().addr()));
        let conn = self.client.get_connection_with_timeout(Self::TIMEOUT).map_err(fail)?;
        conn.set_read_timeout(Some(Self::TIMEOUT)).map_err(fail)?;
        conn.set_write_timeout(Some(Self::TIMEOUT)).map_err(fail)?;
        Ok(conn)
    }

    /// Runs a single-key write script (KEYS: the entry and the bucket's index; ARGV: `key`, then
    /// `args`).
    fn run_on_key(&self, script: &Script, bucket: &str, key: &str, args: &[&[u8]]) -> Result<Value, Error> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.entry(bucket, key)).key(self.index(bucket)).arg(key);
        for a in args {
            invocation.arg(*a);
        }
        self.with_connection(|c| invocation.invoke::<Value>(c))
    }

    /// The value at `key`, or `None`.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_versioned(bucket, key)?.value)
    }

    /// The value at `key` with its version, for a later [`Store::compare_and_swap`].
    pub fn get_versioned(&self, bucket: &str, key: &str) -> Result<Versioned, Error> {
        let entry = self.entry(bucket, key);
        let fields: Vec<Option<Vec<u8>>> =
            self.with_connection(|c| redis::cmd("HMGET").arg(&entry).arg("kind").arg("value").arg("version").query(c))?;
        decode(key, fields)
    }

    /// Sets `key` to `value` (replacing a value or a counter).
    pub fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<(), Error> {
        let version = new_version().to_string();
        self.run_on_key(&self.scripts.set, bucket, key, &[value, version.as_bytes()]).map(drop)
    }

    /// Deletes `key`; deleting an absent key is not an error.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<(), Error> {
        self.run_on_key(&self.scripts.delete, bucket, key, &[]).map(drop)
    }

    /// Whether `key` exists.
    pub fn exists(&self, bucket: &str, key: &str) -> Result<bool, Error> {
        let entry = self.entry(bucket, key);
        self.with_connection(|c| redis::cmd("EXISTS").arg(&entry).query(c))
    }

    /// Every key of `bucket`, in key order, read a page ([`Store::list_keys`]) at a time (for
    /// tools and tests that look at a whole store).
    pub fn all_keys(&self, bucket: &str) -> Result<Vec<String>, Error> {
        keyvalue_types::all_keys(|cursor| self.list_keys(bucket, cursor))
    }

    /// Up to [`LIST_PAGE`] keys after `cursor` (the previous page's cursor), in key order.
    pub fn list_keys(&self, bucket: &str, cursor: Option<&str>) -> Result<KeyPage, Error> {
        let index = self.index(bucket);
        let start: Vec<u8> = match cursor {
            // Exclusive: the keys after the cursor, whether or not it is still a key.
            Some(c) => [b"(", c.as_bytes()].concat(),
            None => b"-".to_vec(),
        };
        let mut keys: Vec<String> = self.with_connection(|c| {
            redis::cmd("ZRANGEBYLEX").arg(&index).arg(start).arg("+").arg("LIMIT").arg(0).arg(LIST_PAGE + 1).query(c)
        })?;
        let cursor = if keys.len() > LIST_PAGE {
            keys.truncate(LIST_PAGE);
            keys.last().cloned()
        } else {
            None
        };
        Ok(KeyPage { keys, cursor })
    }

    /// Adds `delta` to the counter at `key` (an absent key counts from 0) and returns the new
    /// value. `delta = 0` reads a counter and creates nothing.
    pub fn increment(&self, bucket: &str, key: &str, delta: i64) -> Result<i64, Error> {
        let (delta, version) = (delta.to_string(), new_version().to_string());
        match self.run_on_key(&self.scripts.increment, bucket, key, &[delta.as_bytes(), version.as_bytes()])? {
            Value::BulkString(n) => parse_i64(&n).ok_or_else(|| malformed(key, "counter")),
            Value::Int(1) => Err(Error::NotACounter(key.to_owned())),
            Value::Int(2) => Err(Error::Overflow(key.to_owned())),
            other => Err(Error::Redis(format!("the increment script answered {other:?}"))),
        }
    }

    /// Sets `key` to `value` if its version is still `expected` (`None`: if it is still
    /// absent). Returns whether the swap happened.
    pub fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<i64>,
        value: &[u8],
    ) -> Result<bool, Error> {
        let expected = expected.map(|v| v.to_string()).unwrap_or_default();
        let version = new_version().to_string();
        let args: [&[u8]; 3] = [expected.as_bytes(), value, version.as_bytes()];
        match self.run_on_key(&self.scripts.compare_and_swap, bucket, key, &args)? {
            Value::Int(n) => Ok(n == 1),
            other => Err(Error::Redis(format!("the compare-and-swap script answered {other:?}"))),
        }
    }

    /// The values of `keys`, in order, all read at one instant (one `MULTI` block).
    pub fn get_many(&self, bucket: &str, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for k in keys {
            pipe.cmd("HMGET").arg(self.entry(bucket, k)).arg("kind").arg("value").arg("version");
        }
        let rows: Vec<Vec<Option<Vec<u8>>>> = self.with_connection(|c| pipe.query(c))?;
        if rows.len() != keys.len() {
            return Err(Error::Redis(format!("{} keys read, {} answers", keys.len(), rows.len())));
        }
        keys.iter().zip(rows).map(|(k, fields)| Ok(decode(k, fields)?.value)).collect()
    }

    /// Sets every pair, atomically (one script: every other client sees all of them or none).
    /// Of pairs with the same key, the last one stands.
    pub fn set_many(&self, bucket: &str, pairs: &[(String, Vec<u8>)]) -> Result<(), Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut invocation = self.scripts.set_many.prepare_invoke();
        invocation.key(self.index(bucket));
        for (k, v) in pairs {
            invocation.key(self.entry(bucket, k)).arg(k).arg(v.as_slice()).arg(new_version());
        }
        self.with_connection(|c| invocation.invoke::<Value>(c)).map(drop)
    }

    /// Deletes every key, atomically (one script).
    pub fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut invocation = self.scripts.delete_many.prepare_invoke();
        invocation.key(self.index(bucket));
        for k in keys {
            invocation.key(self.entry(bucket, k)).arg(k);
        }
        self.with_connection(|c| invocation.invoke::<Value>(c)).map(drop)
    }
}

/// An entry as `HMGET kind value version` returns it.
fn decode(key: &str, fields: Vec<Option<Vec<u8>>>) -> Result<Versioned, Error> {
    let [kind, value, version]: [Option<Vec<u8>>; 3] =
        fields.try_into().map_err(|f: Vec<_>| Error::Redis(format!("HMGET of 3 fields answered {}", f.len())))?;
    let Some(kind) = kind else { return Ok(Versioned { value: None, version: None }) };
    let version = version.as_deref().and_then(parse_i64).ok_or_else(|| malformed(key, "version"))?;
    let value = match kind.as_slice() {
        VALUE => value.unwrap_or_default(),
        COUNTER => {
            value.as_deref().and_then(parse_i64).ok_or_else(|| malformed(key, "counter"))?.to_le_bytes().to_vec()
        }
        _ => return Err(malformed(key, "kind")),
    };
    Ok(Versioned { value: Some(value), version: Some(version) })
}

fn parse_i64(decimal: &[u8]) -> Option<i64> {
    std::str::from_utf8(decimal).ok()?.parse().ok()
}

fn malformed(key: &str, field: &str) -> Error {
    Error::Redis(format!("key {key:?}: the entry's {field} is malformed (written by something else?)"))
}

/// A fresh compare-and-swap version: 64 random bits (fastrand's per-thread generator), so that
/// two hosts sharing a server, or a key deleted and written again, practically never reuse one.
fn new_version() -> i64 {
    fastrand::i64(..)
}
