//! `fermyon:spin/redis@2.0.0` on this host: `publish` to the job queue, the one operation the
//! components use (the job channel); the others answer an error that says so.

use crate::bindings::fermyon::spin2_0_0::redis;
use crate::queue::JobQueue;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

/// `fermyon:spin/redis.connection` on this host: a handle on the job queue.
pub struct Connection;

/// What the `fermyon:spin/redis` host functions see.
pub struct RedisView<'a> {
    pub queue: Option<&'a Arc<JobQueue>>,
    pub table: &'a mut ResourceTable,
}

const UNSUPPORTED: &str = "the blocklist-edge host implements only `publish` (to its job queue)";

fn unsupported<T>() -> wasmtime::Result<Result<T, redis::Error>> {
    Ok(Err(redis::Error::Other(UNSUPPORTED.into())))
}

impl redis::Host for RedisView<'_> {}

impl redis::HostConnection for RedisView<'_> {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, redis::Error>> {
        let Some(queue) = self.queue else {
            return Ok(Err(redis::Error::Other("this host runs no job queue".into())));
        };
        if address != queue.address {
            return Ok(Err(redis::Error::Other(format!(
                "this host publishes only to its job queue, {:?}; not to {address:?}",
                queue.address
            ))));
        }
        Ok(Ok(self.table.push(Connection)?))
    }

    async fn publish(
        &mut self,
        _conn: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), redis::Error>> {
        let Some(queue) = self.queue.cloned() else {
            return Ok(Err(redis::Error::Other("this host runs no job queue".into())));
        };
        // The backend waits on the disk or the network: on the blocking pool, so that the
        // async workers go on with other requests meanwhile.
        let r = tokio::task::spawn_blocking(move || queue.publish(&channel, &payload).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(format!("publishing failed: {e}")));
        Ok(r.map_err(redis::Error::Other))
    }

    async fn get(
        &mut self,
        _: Resource<Connection>,
        _: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, redis::Error>> {
        unsupported()
    }
    async fn set(
        &mut self,
        _: Resource<Connection>,
        _: String,
        _: Vec<u8>,
    ) -> wasmtime::Result<Result<(), redis::Error>> {
        unsupported()
    }
    async fn incr(&mut self, _: Resource<Connection>, _: String) -> wasmtime::Result<Result<i64, redis::Error>> {
        unsupported()
    }
    async fn del(&mut self, _: Resource<Connection>, _: Vec<String>) -> wasmtime::Result<Result<u32, redis::Error>> {
        unsupported()
    }
    async fn sadd(
        &mut self,
        _: Resource<Connection>,
        _: String,
        _: Vec<String>,
    ) -> wasmtime::Result<Result<u32, redis::Error>> {
        unsupported()
    }
    async fn smembers(
        &mut self,
        _: Resource<Connection>,
        _: String,
    ) -> wasmtime::Result<Result<Vec<String>, redis::Error>> {
        unsupported()
    }
    async fn srem(
        &mut self,
        _: Resource<Connection>,
        _: String,
        _: Vec<String>,
    ) -> wasmtime::Result<Result<u32, redis::Error>> {
        unsupported()
    }
    async fn execute(
        &mut self,
        _: Resource<Connection>,
        _: String,
        _: Vec<redis::RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<redis::RedisResult>, redis::Error>> {
        unsupported()
    }
    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

struct HasRedis;

impl HasData for HasRedis {
    type Data<'a> = RedisView<'a>;
}

/// Adds `fermyon:spin/redis@2.0.0` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> RedisView<'_>,
) -> wasmtime::Result<()> {
    redis::add_to_linker::<_, HasRedis>(linker, view)
}
