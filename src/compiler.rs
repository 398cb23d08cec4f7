//! Running the compile component (`blocklist:edge/compiler`) in this host.

use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "blocklist:edge/compile-runner",
        exports: { default: async },
    });
}

pub use bindings::exports::blocklist::edge::compiler::{CompileError, Compiled, SourceFile};

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    outbound: crate::outbound::Outbound,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// A compiled compile component, ready to run.
pub struct Runner {
    engine: Engine,
    pre: bindings::CompileRunnerPre<State>,
    memory_bytes: usize,
}

impl Runner {
    /// Compiles the component; each run may grow its memory to `memory_bytes`.
    pub fn new(component: &[u8], memory_bytes: usize) -> Result<Runner> {
        let mut config = Config::new();
        config.epoch_interruption(false);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let component = crate::wasm_cache::component(&engine, component).context("compiling the compile component")?;
        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        let pre =
            linker.instantiate_pre(&component).map_err(anyhow::Error::from).context("linking the compile component")?;
        let pre = bindings::CompileRunnerPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export blocklist:edge/compiler")?;
        Ok(Runner { engine, pre, memory_bytes })
    }

    /// Runs one compile in a fresh instance.
    pub async fn compile(
        &self,
        configuration: &str,
        files: &[SourceFile],
        last_modified: &str,
        timeout: Duration,
    ) -> Result<Result<Compiled, CompileError>> {
        let state = State {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(self.memory_bytes).trap_on_grow_failure(true).build(),
            // The command line compiles the user's own configuration: its URLs may be fetched.
            outbound: crate::outbound::Outbound::any(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let instance = self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from)?;
        let call = instance.blocklist_edge_compiler().call_compile(&mut store, configuration, files, last_modified);
        let result = tokio::time::timeout(timeout, call).await.context("the compile ran past its deadline")?;
        result.map_err(anyhow::Error::from).context("the compile component trapped")
    }
}
