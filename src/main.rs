//! `blocklist-edge`: the wasmtime-based host of the blocklist-edge components.
//!
//! `blocklist-edge up` serves the gateway (composed with the ratelimit component) on
//! 127.0.0.1:3000, with `wasi:keyvalue` on an embedded SQLite database: no service to start.

// Modules depend one way (tests/layout.rs checks it): the CLI (this file, its arguments in
// `cli`, the commands `up`, `compile_cmd` and `explain_cmd`) → the HTTP server and the job
// trigger → the host state → one module per host interface (`keyvalue`, `config`, `redis`,
// `outbound`, `purge`) → the job queue.
mod backup;
mod cli;
mod compile_cmd;
mod compiler;
mod compose;
mod config;
mod datadir;
mod engine;
mod explain_cmd;
mod failpoints;
mod fastly_export;
mod keyvalue;
mod lazy_plug;
mod metrics;
mod outbound;
mod purge;
mod queue;
mod redis;
mod server;
mod state;
mod trigger;
mod up;
mod wasm_cache;

/// Host bindings generated from the project's WIT (`wit/`, world `blocklist:edge/host`).
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "blocklist:edge/host",
        // Key-value and the job channel wait on SQLite, the disk or Redis: async, so that a
        // guest waiting on them frees its async worker (see src/keyvalue.rs, src/redis.rs).
        imports: {
            "wasi:keyvalue/store": async | trappable,
            "wasi:keyvalue/atomics": async | trappable,
            "wasi:keyvalue/batch": async | trappable,
            "fermyon:spin/redis": async | trappable,
            default: trappable,
        },
        with: {
            "wasi:keyvalue/store.bucket": crate::keyvalue::Bucket,
            "wasi:keyvalue/atomics.cas": crate::keyvalue::Cas,
            "fermyon:spin/redis.connection": crate::redis::Connection,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => crate::keyvalue::KvError,
        },
    });
}

/// mimalloc: faster than glibc's malloc for the compiler's many small strings, and leaner.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, ComponentArgs};

/// The components, built by build.rs from `components/` and embedded in the binary.
mod embedded {
    pub const GATEWAY: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_GATEWAY_WASM"));
    pub const RATELIMIT: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_RATELIMIT_WASM"));
    pub const COMPILER: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_COMPILER_WASM"));
    pub const COMPILE_CONSUMER: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_COMPILE_CONSUMER_WASM"));
    pub const UI: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_UI_WASM"));
    pub const GATEWAY_FASTLY: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_GATEWAY_FASTLY_WASM"));
    pub const FASTLY_STORAGE: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_FASTLY_STORAGE_WASM"));
    pub const FASTLY_UNAVAILABLE: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_FASTLY_UNAVAILABLE_WASM"));
    pub const EDGE_CACHE_NONE: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_EDGE_CACHE_NONE_WASM"));
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up::run(*args),
        Command::Compile(args) => compile_cmd::run(args),
        Command::Explain(args) => explain_cmd::run(args),
        Command::Backup(args) => backup::backup(&args.data_dir, &args.output),
        Command::Restore(args) => backup::restore(&args.input, &args.data_dir, args.force),
        Command::ExportFastly(args) => fastly_export::run(&args),
        Command::Compose(args) => {
            let gateway = ComponentArgs::read(&args.components.gateway, embedded::GATEWAY)?;
            let ratelimit = ComponentArgs::read(&args.components.ratelimit, embedded::RATELIMIT)?;
            let bytes = match &args.wac {
                None if args.fastly => compose::gateway_fastly_wac(&compose::FastlyParts {
                    gateway: embedded::GATEWAY_FASTLY,
                    storage: embedded::FASTLY_STORAGE,
                    ratelimit: &ratelimit,
                    purge: embedded::EDGE_CACHE_NONE,
                    unavailable: embedded::FASTLY_UNAVAILABLE,
                })?,
                Some(path) => {
                    let source =
                        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                    compose::wac(&source, &[("blocklist:gateway", &gateway), ("blocklist:ratelimit", &ratelimit)])?
                }
                None => compose::gateway_wac(&gateway, &ratelimit)?,
            };
            std::fs::write(&args.output, bytes).with_context(|| format!("writing {}", args.output.display()))?;
            println!("wrote {}", args.output.display());
            Ok(())
        }
    }
}
