//! Running the compiler component (`blocklist:compiler/compiler`) in this host.

use crate::state::HostState as State;
use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, Store};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "blocklist:edge/compile-runner",
        exports: { default: async },
    });
}

pub use bindings::exports::blocklist::compiler::compiler::CompileError;

/// A compiled compiler component, ready to run.
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
        let component = crate::wasm_cache::component(&engine, component).context("compiling the compiler component")?;
        let mut linker: Linker<State> = Linker::new(&engine);
        crate::state::link_host(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("linking the compiler component")?;
        let pre = bindings::CompileRunnerPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export blocklist:compiler/compiler")?;
        Ok(Runner { engine, pre, memory_bytes })
    }

    /// Runs `compile-files` in a fresh instance that sees `workdir` (read-only) as its working
    /// directory and `outdir` (writable) as `/out`; the list is written to `/out/{out_name}`.
    pub async fn compile_files(
        &self,
        configuration: &str,
        workdir: &std::path::Path,
        outdir: &std::path::Path,
        out_name: &str,
        last_modified: &str,
        timeout: Duration,
    ) -> Result<Result<u32, CompileError>> {
        use wasmtime_wasi::{FsPerms, WasiCtx};
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        wasi.preopened_dir(workdir, ".", FsPerms::ReadOnly).map_err(anyhow::Error::from)?;
        wasi.preopened_dir(outdir, "/out", FsPerms::ReadWrite).map_err(anyhow::Error::from)?;
        let state = State::new(
            self.memory_bytes,
            Default::default(),
            Default::default(),
            crate::outbound::Outbound::unrestricted(),
        )
        .with_wasi(wasi.build());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| s.limits());
        let instance = self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from)?;
        let output = format!("/out/{out_name}");
        let call = instance.blocklist_compiler_compiler().call_compile_files(
            &mut store,
            configuration,
            &output,
            last_modified,
        );
        let result = tokio::time::timeout(timeout, call).await.context("the compile ran past its deadline")?;
        result.map_err(anyhow::Error::from).context("the compiler component trapped")
    }
}
