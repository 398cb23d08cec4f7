//! `blocklist-edge`: the wasmtime-based host of the blocklist-edge components.
//!
//! `blocklist-edge up` serves the gateway (composed with the ratelimit component) on
//! 127.0.0.1:3000, with `wasi:keyvalue` on an embedded SQLite database: no service to start.

// Modules depend one way (tests/layout.rs checks it): the CLI (this file, `compile_cmd`) →
// the HTTP server and the job trigger → the host state → one module per host interface
// (`keyvalue`, `config`, `redis`, `outbound`, `purge`) → the job queue.
mod compile_cmd;
mod compiler;
mod compose;
mod config;
mod engine;
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
mod wasm_cache;

/// Host bindings generated from the project's WIT (`wit/`, world `blocklist:edge/host`).
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "blocklist:edge/host",
        imports: { default: trappable },
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

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyvalue::Backend;
use keyvalue_memory::MemoryStore;

/// Memory for the rate limiter's counters when they are kept in memory: about 150 bytes per
/// counter and two live counters per active user, so some 200,000 users at once; past that the
/// least recently used counters (those of idle users) are evicted.
const RATE_LIMIT_STORE_BYTES: usize = 64 * 1024 * 1024;

/// Where the rate limiter's counters live (`--rate-limit-store`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum RateLimitStore {
    /// In this process's memory.
    Memory,
    /// In the data directory's database, shared by the processes that use it.
    Data,
}

/// The components, built by build.rs from `components/` and embedded in the binary.
mod embedded {
    pub const GATEWAY: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_GATEWAY_WASM"));
    pub const RATELIMIT: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_RATELIMIT_WASM"));
    pub const COMPILER: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_COMPILER_WASM"));
    pub const COMPILE: &[u8] = include_bytes!(env!("BLOCKLIST_EDGE_COMPILE_WASM"));
}

#[derive(Parser)]
#[command(
    name = "blocklist-edge",
    version,
    about = "Edge pipeline for ad-block and DNS blocklists, on WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Up(Box<UpArgs>),
    /// Write the gateway composed with the ratelimit component (by `composition/gateway.wac`)
    /// to a file: one component without a `blocklist:ratelimit/ratelimit` import, for `up --gateway`
    /// or Spin.
    Compose(ComposeArgs),
    /// Compile a blocklist, as AdGuard's hostlist-compiler does (same flags, same output).
    Compile(compile_cmd::CompileArgs),
}

#[derive(clap::Args)]
struct ComponentArgs {
    /// The gateway component (.wasm); default: the one built into this binary.
    #[arg(long, env = "BLOCKLIST_EDGE_GATEWAY")]
    gateway: Option<PathBuf>,
    /// The ratelimit component (.wasm) plugged into the gateway; default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_RATELIMIT")]
    ratelimit: Option<PathBuf>,
    /// The compiler component (.wasm) plugged into the gateway and the compile component;
    /// default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILER")]
    compiler: Option<PathBuf>,
    /// The compile component (.wasm): the job consumer; default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILE")]
    compile: Option<PathBuf>,
}

impl ComponentArgs {
    fn read(path: &Option<PathBuf>, builtin: &'static [u8]) -> Result<std::borrow::Cow<'static, [u8]>> {
        Ok(match path {
            Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?.into(),
            None => builtin.into(),
        })
    }

    /// The HTTP component's bytes: the gateway composed with the ratelimit component (which
    /// every request calls); the compiler is plugged in lazily by the server (see
    /// [`ComponentArgs::compiler`]).
    fn composed(&self) -> Result<Vec<u8>> {
        let gateway = Self::read(&self.gateway, embedded::GATEWAY)?;
        let ratelimit = Self::read(&self.ratelimit, embedded::RATELIMIT)?;
        compose::plug(&gateway, &[("ratelimit", &ratelimit)])
    }

    /// The compiler component's bytes.
    fn compiler(&self) -> Result<Vec<u8>> {
        Ok(Self::read(&self.compiler, embedded::COMPILER)?.into_owned())
    }

    /// The composed job consumer's bytes: compile + compiler.
    fn consumer(&self) -> Result<Vec<u8>> {
        let compile = Self::read(&self.compile, embedded::COMPILE)?;
        let compiler = Self::read(&self.compiler, embedded::COMPILER)?;
        compose::plug(&compile, &[("compiler", &compiler)])
    }
}

#[derive(clap::Args)]
struct ComposeArgs {
    #[command(flatten)]
    components: ComponentArgs,
    /// Where to write the composed component.
    #[arg(short, long)]
    output: PathBuf,
    /// A WAC document to evaluate instead of the built-in `composition/gateway.wac` (its
    /// packages `blocklist:gateway` and `blocklist:ratelimit` are the components given).
    #[arg(long)]
    wac: Option<PathBuf>,
}

#[derive(clap::Args)]
struct UpArgs {
    /// Address to listen on.
    #[arg(long, env = "BLOCKLIST_EDGE_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Directory of the embedded key-value databases (created if missing).
    #[arg(long, env = "BLOCKLIST_EDGE_DATA_DIR", default_value = ".blocklist-edge")]
    data_dir: PathBuf,
    /// The admin token. Only its SHA-256 is kept and handed to the gateway.
    #[arg(long, env = "BLOCKLIST_EDGE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// The admin token's SHA-256 (hex), instead of the token itself.
    #[arg(long, env = "BLOCKLIST_EDGE_ADMIN_TOKEN_SHA256", conflicts_with = "admin_token")]
    admin_token_sha256: Option<String>,
    /// Requests per user per window.
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_LIMIT", default_value_t = 100)]
    rate_limit: u32,
    /// The rate limit's window, in seconds.
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_WINDOW_SECS", default_value_t = 60)]
    rate_window_secs: u64,
    /// Failed authentications one client address may make per rate-limit window, then 429
    /// (0: no limit).
    #[arg(long, env = "BLOCKLIST_EDGE_AUTH_FAILURE_LIMIT", default_value_t = 30)]
    auth_failure_limit: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_body_bytes: usize,
    /// Lists one user may own.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_LISTS_PER_USER", default_value_t = 1000)]
    max_lists_per_user: usize,
    /// Seconds a compile request holds its list's dedupe lock.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILE_DEDUPE_SECS", default_value_t = 60)]
    compile_dedupe_secs: u64,
    /// Seconds a compiled list stays in the node-local cache.
    #[arg(long, env = "BLOCKLIST_EDGE_CACHE_TTL_SECS", default_value_t = 300)]
    cache_ttl_secs: u64,
    /// Memory for the node-local cache of compiled lists, in MiB (least recently used lists
    /// are evicted first).
    #[arg(long, env = "BLOCKLIST_EDGE_CACHE_MIB", default_value_t = 256)]
    cache_mib: usize,
    /// Memory for the edge cache in front of the components, in MiB (0: no cache). It answers
    /// what components mark cacheable (subscription files) without running them, until they
    /// purge it; one answer may take an eighth of it, larger ones are not kept.
    #[arg(long, env = "BLOCKLIST_EDGE_EDGE_CACHE_MIB", default_value_t = 64)]
    edge_cache_mib: usize,
    /// Where the rate limiter keeps its counters: `memory` (this process; exact for one host
    /// process, restarted windows on a restart) or `data` (the data directory's database, for
    /// several processes sharing one data directory).
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_LIMIT_STORE", value_enum, default_value_t = RateLimitStore::Memory)]
    rate_limit_store: RateLimitStore,
    /// Largest list `POST /v1/preview` answers, in bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_PREVIEW_BYTES", default_value_t = 1024 * 1024)]
    max_preview_bytes: usize,
    /// Fetches one subscription URL may serve per rate-limit window (0: no limit).
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_RATE_LIMIT", default_value_t = 600)]
    subscription_rate_limit: u32,
    /// Subscription fetches one client address may make per rate-limit window (0: no limit);
    /// many resolvers may share an address.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_ADDRESS_LIMIT", default_value_t = 300)]
    subscription_address_limit: u32,
    /// `Cache-Control: max-age` of subscription answers, in seconds.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_MAX_AGE_SECS", default_value_t = 3600)]
    subscription_max_age_secs: u64,
    /// How often subscribers should refetch (the `Expires` of the files), in hours.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_EXPIRES_HOURS", default_value_t = 24)]
    subscription_expires_hours: u32,
    /// The public URL of this service (e.g. `https://lists.example.com`), on which the API
    /// builds subscription URLs; default: the request's `Host`, over http.
    #[arg(long, env = "BLOCKLIST_EDGE_PUBLIC_BASE_URL", default_value = "")]
    public_base_url: String,
    /// Hosts components may reach over HTTP (comma-separated `host` or `host:port`; `*` for any).
    /// None by default.
    #[arg(long, env = "BLOCKLIST_EDGE_ALLOWED_OUTBOUND_HOSTS", default_value = "")]
    allowed_outbound_hosts: String,
    /// CPU deadline per request, in milliseconds: the guest's own execution, not time spent
    /// waiting on a slow client. Plus one second, also the time a guest has to produce its
    /// response head, and the longest a response body may go without new bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_DEADLINE_MS", default_value_t = 10_000)]
    deadline_ms: u64,
    /// Memory cap per request, in MiB.
    #[arg(long, env = "BLOCKLIST_EDGE_MEMORY_MIB", default_value_t = 128)]
    memory_mib: usize,
    /// Requests whose guest runs before producing its response head, at once; more wait.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_CONCURRENCY", default_value_t = 64)]
    max_concurrency: usize,
    /// Requests alive at once, including those streaming a response body (the size of the
    /// instance pool); more are answered 503 with Retry-After. Each reserves about 16 GiB of
    /// address space (not memory) for its linear memories.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_INSTANCES", default_value_t = 1024)]
    max_instances: usize,
    /// Time a connection may have response bytes to send without its client accepting any, in
    /// milliseconds; then it is closed (and its instance freed).
    #[arg(long, env = "BLOCKLIST_EDGE_WRITE_TIMEOUT_MS", default_value_t = 15_000)]
    write_timeout_ms: u64,
    /// Time a client has to send a request's headers, in milliseconds; a slower one is
    /// disconnected (slowloris).
    #[arg(long, env = "BLOCKLIST_EDGE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Redis/Valkey URL of the job queue (e.g. `redis://127.0.0.1:6379`); default: the embedded
    /// queue (`queue.sqlite3` in the data directory).
    #[arg(long, env = "BLOCKLIST_EDGE_REDIS_URL")]
    redis_url: Option<String>,
    /// The job channel: the queue's name (Spin: the Redis channel the compile component
    /// subscribes to).
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_CHANNEL", default_value = "blocklist-edge-jobs")]
    job_channel: String,
    /// Jobs run at once.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_WORKERS", default_value_t = 2)]
    job_workers: usize,
    /// Deadline of one compile attempt (CPU and wall clock), in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_DEADLINE_MS", default_value_t = 120_000)]
    job_deadline_ms: u64,
    /// Memory cap of one compile attempt, in MiB.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_MEMORY_MIB", default_value_t = 1024)]
    job_memory_mib: usize,
    /// Attempts before a job is dead (dead-letter list).
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_MAX_ATTEMPTS", default_value_t = 3)]
    job_max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each attempt.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_BACKOFF_MS", default_value_t = 1_000)]
    job_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_BACKOFF_MAX_MS", default_value_t = 300_000)]
    job_backoff_max_ms: u64,
    /// A queued job not claimed this long after its message is published again, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_REQUEUE_AFTER_MS", default_value_t = 30_000)]
    job_requeue_after_ms: u64,
    /// How often the sweeper looks for jobs to publish again, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_SWEEP_INTERVAL_MS", default_value_t = 5_000)]
    sweep_interval_ms: u64,
    /// Also have the gateway request a sweep from its request path at most every this many
    /// seconds (0: never), as it does under Spin, which has no timer.
    #[arg(long, env = "BLOCKLIST_EDGE_REQUEST_SWEEP_SECS", default_value_t = 0)]
    request_sweep_secs: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "BLOCKLIST_EDGE_LOG_JSON")]
    log_json: bool,
    #[command(flatten)]
    components: ComponentArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up(*args),
        Command::Compile(args) => compile_cmd::run(args),
        Command::Compose(args) => {
            let gateway = ComponentArgs::read(&args.components.gateway, embedded::GATEWAY)?;
            let ratelimit = ComponentArgs::read(&args.components.ratelimit, embedded::RATELIMIT)?;
            let bytes = match &args.wac {
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

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLOCKLIST_EDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn"));
    // Colours only for a terminal: a log file or collector gets plain `key=value` text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn admin_hash(args: &UpArgs) -> Result<Option<String>> {
    if let Some(token) = &args.admin_token {
        if token.len() < 16 {
            bail!("the admin token must be at least 16 characters");
        }
        return Ok(Some(hex::encode(Sha256::digest(token.as_bytes()))));
    }
    if let Some(hash) = &args.admin_token_sha256 {
        let hash = hash.trim().to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("--admin-token-sha256 must be 64 hex digits");
        }
        return Ok(Some(hash));
    }
    Ok(None)
}

fn up(args: UpArgs) -> Result<()> {
    init_logging(args.log_json);
    let admin = admin_hash(&args)?;
    if admin.is_none() {
        tracing::warn!(
            "no admin token configured (--admin-token or BLOCKLIST_EDGE_ADMIN_TOKEN): users cannot be created"
        );
    }
    if args.rate_limit == 0 || args.rate_window_secs == 0 {
        bail!("--rate-limit and --rate-window-secs must be at least 1");
    }
    let mut vars = BTreeMap::new();
    let admin_sha256 = admin.clone();
    vars.insert(blocklist_model::variables::ADMIN_TOKEN_SHA256.to_owned(), admin.unwrap_or_default());
    vars.insert(blocklist_model::variables::RATE_LIMIT_REQUESTS.to_owned(), args.rate_limit.to_string());
    vars.insert(blocklist_model::variables::RATE_LIMIT_WINDOW_SECS.to_owned(), args.rate_window_secs.to_string());
    vars.insert(blocklist_model::variables::AUTH_FAILURE_LIMIT.to_owned(), args.auth_failure_limit.to_string());
    vars.insert(blocklist_model::variables::MAX_BODY_BYTES.to_owned(), args.max_body_bytes.to_string());
    vars.insert(blocklist_model::variables::MAX_LISTS_PER_USER.to_owned(), args.max_lists_per_user.to_string());
    vars.insert(blocklist_model::variables::COMPILE_DEDUPE_SECS.to_owned(), args.compile_dedupe_secs.to_string());
    vars.insert(blocklist_model::variables::CACHE_TTL_SECS.to_owned(), args.cache_ttl_secs.to_string());
    vars.insert(blocklist_model::variables::MAX_PREVIEW_BYTES.to_owned(), args.max_preview_bytes.to_string());
    vars.insert(blocklist_model::variables::SUBSCRIPTION_RATE_LIMIT.to_owned(), args.subscription_rate_limit.to_string());
    vars.insert(blocklist_model::variables::SUBSCRIPTION_ADDRESS_LIMIT.to_owned(), args.subscription_address_limit.to_string());
    vars.insert(blocklist_model::variables::SUBSCRIPTION_MAX_AGE_SECS.to_owned(), args.subscription_max_age_secs.to_string());
    vars.insert(blocklist_model::variables::SUBSCRIPTION_EXPIRES_HOURS.to_owned(), args.subscription_expires_hours.to_string());
    vars.insert(blocklist_model::variables::PUBLIC_BASE_URL.to_owned(), args.public_base_url.clone());

    std::fs::create_dir_all(&args.data_dir).with_context(|| format!("creating {}", args.data_dir.display()))?;
    let queue = Arc::new(match &args.redis_url {
        Some(url) => queue::JobQueue::redis(url, &args.job_channel)?,
        None => queue::JobQueue::embedded(&args.data_dir.join("queue.sqlite3"), &args.job_channel)?,
    });
    let job_deadline = Duration::from_millis(args.job_deadline_ms.max(1));
    // A claim in the ledger outlives the attempt (deadline + the wall-clock backstop): a running
    // attempt is never claimed twice. The queue's lease is short and renewed while a delivery
    // runs (see trigger::TriggerConfig::lease).
    let ledger_lease = job_deadline + Duration::from_secs(3);
    let trigger_config = trigger::TriggerConfig {
        workers: args.job_workers.max(1),
        deadline: job_deadline,
        memory_bytes: args.job_memory_mib.max(1) * 1024 * 1024,
        policy: jobqueue::Policy {
            max_attempts: args.job_max_attempts.max(1),
            base_backoff_ms: args.job_backoff_ms,
            max_backoff_ms: args.job_backoff_max_ms.max(args.job_backoff_ms),
        },
        lease: Duration::from_secs(10),
        sweep_interval: Duration::from_millis(args.sweep_interval_ms.max(10)),
    };
    for (key, value) in [
        (blocklist_model::variables::JOB_QUEUE_ADDRESS, queue.address.clone()),
        (blocklist_model::variables::JOB_QUEUE_CHANNEL, queue.channel.clone()),
        (blocklist_model::variables::JOB_MAX_ATTEMPTS, trigger_config.policy.max_attempts.to_string()),
        (blocklist_model::variables::JOB_BACKOFF_MS, trigger_config.policy.base_backoff_ms.to_string()),
        (blocklist_model::variables::JOB_BACKOFF_MAX_MS, trigger_config.policy.max_backoff_ms.to_string()),
        (blocklist_model::variables::JOB_LEASE_MS, ledger_lease.as_millis().to_string()),
        (blocklist_model::variables::JOB_REQUEUE_AFTER_MS, args.job_requeue_after_ms.to_string()),
        // This host sweeps from a timer; from the request path too only if asked.
        (blocklist_model::variables::REQUEST_SWEEP_SECS, args.request_sweep_secs.to_string()),
    ] {
        vars.insert(key.to_owned(), value);
    }
    let durable =
        Arc::new(keyvalue_sqlite::Store::open(args.data_dir.join("data.sqlite3")).context("opening the data store")?);
    let mut kv = keyvalue::KvStores::default();
    // `default` holds only the rate limiter's window counters.
    kv.insert(
        "default",
        match args.rate_limit_store {
            RateLimitStore::Memory => Backend::Memory(Arc::new(MemoryStore::new(RATE_LIMIT_STORE_BYTES))),
            RateLimitStore::Data => Backend::Sqlite(durable.clone()),
        },
    );
    kv.insert("lists", Backend::Sqlite(durable));
    kv.insert("cache", Backend::Memory(Arc::new(MemoryStore::new(args.cache_mib.max(1) * 1024 * 1024))));

    let limits = server::Limits {
        deadline: Duration::from_millis(args.deadline_ms.max(1)),
        memory_bytes: args.memory_mib.max(1) * 1024 * 1024,
        max_concurrency: args.max_concurrency.max(1),
        max_instances: args.max_instances.max(1),
        header_timeout: Duration::from_millis(args.header_timeout_ms.max(1)),
        write_timeout: Duration::from_millis(args.write_timeout_ms.max(1)),
    };
    let engine = engine::serving_engine(limits.max_instances, limits.memory_bytes)?;
    let component = args.components.composed()?;
    let outbound = outbound::Outbound::new(&args.allowed_outbound_hosts);
    let (kv, vars) = (Arc::new(kv), Arc::new(vars));
    let metrics = Arc::new(metrics::Metrics::default());
    let edge_cache =
        (args.edge_cache_mib > 0).then(|| Arc::new(edge_cache::EdgeCache::new(args.edge_cache_mib * 1024 * 1024)));
    let server = Arc::new(server::Server::new(
        &engine,
        &component,
        server::ServerParts {
            kv: kv.clone(),
            vars: vars.clone(),
            limits,
            outbound: outbound.clone(),
            queue: Some(queue.clone()),
            metrics: metrics.clone(),
            metrics_token_sha256: admin_sha256.clone(),
            lazy_plugs: vec![args.components.compiler()?],
            edge_cache: edge_cache.clone(),
        },
    )?);
    let job_engine = engine::job_engine()?;
    let trigger_queue = queue.clone();
    let new_state = Box::new(move |memory_bytes| {
        state::HostState::new(memory_bytes, kv.clone(), vars.clone(), outbound.clone())
            .with_queue(Some(trigger_queue.clone()))
            .with_edge_cache(edge_cache.clone())
    });
    let trigger = Arc::new(trigger::Trigger::new(
        &job_engine,
        &args.components.consumer()?,
        queue.clone(),
        trigger_config,
        new_state,
        metrics,
    )?);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let (listener, local) = server::bind(args.listen).await?;
        trigger.start();
        println!("blocklist-edge listening on http://{local}");
        tracing::info!(%local, data_dir = %args.data_dir.display(), queue = %queue.address, "serving");
        server.serve(listener, shutdown_signal()).await
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
