//! The data of every store this host runs — an HTTP request, a compile job's delivery, a CLI
//! compile — and the host interfaces linked into them: WASI, outgoing `wasi:http`, key-value,
//! configuration, the job channel and the edge cache's purge.

use crate::config::{ConfigView, Variables};
use crate::keyvalue::{KvStores, KvView};
use crate::purge::Purges;
use anyhow::Result;
use std::sync::Arc;
use wasmtime::StoreLimits;
use wasmtime::StoreLimitsBuilder;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The state of a store: one request, one job delivery or one CLI compile.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    kv: Arc<KvStores>,
    vars: Variables,
    outbound: crate::outbound::Outbound,
    queue: Option<Arc<crate::queue::JobQueue>>,
    /// Instances of lazily plugged components, by slot (see [`crate::lazy_plug`]).
    lazy: Vec<Option<wasmtime::component::Instance>>,
    /// Where `blocklist:edge-cache/purge` purges go (nowhere without it).
    purges: Option<Arc<Purges>>,
}

impl HostState {
    /// State for a store whose memories may grow to `memory_bytes` in all.
    pub fn new(
        memory_bytes: usize,
        kv: Arc<KvStores>,
        vars: Variables,
        outbound: crate::outbound::Outbound,
    ) -> HostState {
        HostState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(64)
                .trap_on_grow_failure(true)
                .build(),
            kv,
            vars,
            outbound,
            queue: None,
            lazy: Vec::new(),
            purges: None,
        }
    }

    /// Gives the store where its components' purges go (the host's edge cache, and the other
    /// hosts').
    pub fn with_purges(mut self, purges: Arc<Purges>) -> HostState {
        self.purges = Some(purges);
        self
    }

    /// The instance of the lazily plugged component in `slot`, once made.
    pub fn lazy_instance(&self, slot: usize) -> Option<wasmtime::component::Instance> {
        self.lazy.get(slot).copied().flatten()
    }

    /// Records the instance made for `slot`.
    pub fn set_lazy_instance(&mut self, slot: usize, instance: wasmtime::component::Instance) {
        if self.lazy.len() <= slot {
            self.lazy.resize(slot + 1, None);
        }
        self.lazy[slot] = Some(instance);
    }

    /// Gives the store the job queue (the target of `fermyon:spin/redis` `publish`).
    pub fn with_queue(mut self, queue: Option<Arc<crate::queue::JobQueue>>) -> HostState {
        self.queue = queue;
        self
    }

    /// Replaces the WASI context (to give the component directories, say).
    pub fn with_wasi(mut self, wasi: WasiCtx) -> HostState {
        self.wasi = wasi;
        self
    }

    /// The memory limiter, for `Store::limiter`.
    pub fn limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Adds everything this host provides to `linker`: WASI, wasi:http (outgoing), key-value,
/// configuration, the job queue (`fermyon:spin/redis`) and purging the edge cache.
pub fn link_host(linker: &mut Linker<HostState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::keyvalue::add_to_linker(linker, |s: &mut HostState| KvView { stores: &s.kv, table: &mut s.table })?;
    crate::config::add_to_linker(linker, |s: &mut HostState| ConfigView(&s.vars))?;
    crate::redis::add_to_linker(linker, |s: &mut HostState| crate::redis::RedisView {
        queue: s.queue.as_ref(),
        table: &mut s.table,
    })?;
    crate::purge::add_to_linker(linker, |s: &mut HostState| {
        crate::purge::PurgeView(s.purges.as_deref().unwrap_or(&crate::purge::NO_PURGES))
    })?;
    Ok(())
}
