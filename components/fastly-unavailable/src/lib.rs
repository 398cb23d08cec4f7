//! The interfaces the gateway imports that Fastly Compute has no counterpart for, for the
//! Fastly build (`composition/gateway-fastly.wac`):
//!
//! - `fermyon:spin/redis`: Fastly offers no Redis and no outbound TCP, so there is no job
//!   channel to publish compile jobs on;
//! - `blocklist:compiler/compiler`: the compiler fetches URL sources through `wasi:http`, which
//!   Fastly does not offer.
//!
//! The Fastly gateway is read-only and runs no compiler (its shell says so in its `Platform`),
//! so it refuses every route that would reach these with a 501 before calling. Should a call
//! arrive anyway, it answers an error that names what is missing: nothing here pretends to work.

wit_bindgen::generate!({
    world: "fastly-unavailable",
    path: "../../wit",
    generate_all,
});

use exports::blocklist::compiler::compiler::{
    CompileError, Compiled, ExplainError, Explanation, FetchError, FetchOutcome, Guest as CompilerGuest, SourceFile,
    Validators,
};
use exports::fermyon::spin2_0_0::redis::{
    Error as RedisError, Guest as RedisGuest, GuestConnection, Payload, RedisParameter, RedisResult,
};

const NO_COMPILER: &str = "Fastly Compute runs no compiler (it fetches sources with wasi:http, which Fastly does not offer): \
     compile on a blocklist-edge host or on Spin";
const NO_REDIS: &str = "Fastly Compute has no Redis: there is no job channel here; \
     compile jobs run on a blocklist-edge host or on Spin";

struct Component;

impl CompilerGuest for Component {
    fn compile(
        _configuration: String,
        _files: Vec<SourceFile>,
        _last_modified: String,
    ) -> Result<Compiled, CompileError> {
        Err(CompileError::Source(NO_COMPILER.into()))
    }

    fn fetch_source(_url: String, _validators: Validators) -> Result<FetchOutcome, FetchError> {
        Err(FetchError { status: None, message: NO_COMPILER.into() })
    }

    fn explain(_configuration: String, _files: Vec<SourceFile>, _name: String) -> Result<Explanation, ExplainError> {
        Err(ExplainError::Compile(CompileError::Source(NO_COMPILER.into())))
    }

    fn compile_files(_configuration: String, _output: String, _last_modified: String) -> Result<u32, CompileError> {
        Err(CompileError::Source(NO_COMPILER.into()))
    }
}

impl RedisGuest for Component {
    type Connection = Connection;
}

/// A Redis connection, which can never be opened here: [`GuestConnection::open`] always fails,
/// so the methods below are never reached; each answers the same error all the same.
pub struct Connection;

fn no_redis<T>() -> Result<T, RedisError> {
    Err(RedisError::Other(NO_REDIS.into()))
}

impl GuestConnection for Connection {
    fn open(_address: String) -> Result<exports::fermyon::spin2_0_0::redis::Connection, RedisError> {
        no_redis()
    }
    fn publish(&self, _channel: String, _payload: Payload) -> Result<(), RedisError> {
        no_redis()
    }
    fn get(&self, _key: String) -> Result<Option<Payload>, RedisError> {
        no_redis()
    }
    fn set(&self, _key: String, _value: Payload) -> Result<(), RedisError> {
        no_redis()
    }
    fn incr(&self, _key: String) -> Result<i64, RedisError> {
        no_redis()
    }
    fn del(&self, _keys: Vec<String>) -> Result<u32, RedisError> {
        no_redis()
    }
    fn sadd(&self, _key: String, _values: Vec<String>) -> Result<u32, RedisError> {
        no_redis()
    }
    fn smembers(&self, _key: String) -> Result<Vec<String>, RedisError> {
        no_redis()
    }
    fn srem(&self, _key: String, _values: Vec<String>) -> Result<u32, RedisError> {
        no_redis()
    }
    fn execute(&self, _command: String, _arguments: Vec<RedisParameter>) -> Result<Vec<RedisResult>, RedisError> {
        no_redis()
    }
}

export!(Component);
