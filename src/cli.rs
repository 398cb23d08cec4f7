//! The command line: `up` (serve), `compose`, `compile`, `backup` and `restore`, with their
//! arguments and environment variables; and where each command gets the components' bytes.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the rate limiter's counters live (`--rate-limit-store`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RateLimitStore {
    /// In this process's memory.
    Memory,
    /// In the data directory's database, shared by the processes that use it.
    Data,
}

/// When a write is on the disk (`--sync`): SQLite's `synchronous` setting of both databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// Every commit is synced before it is answered: a 201 or 202 survives a crash of the
    /// operating system or a power cut.
    Full,
    /// Synced at checkpoints only: a write survives a crash of the process, but the last commits
    /// may be lost with the operating system or the power. Faster.
    Normal,
}

#[derive(Parser)]
#[command(
    name = "blocklist-edge",
    version,
    about = "Edge pipeline for ad-block and DNS blocklists, on WebAssembly components"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Up(Box<UpArgs>),
    /// Write the gateway composed with the ratelimit component (by `composition/gateway.wac`)
    /// to a file: one component without a `blocklist:ratelimit/ratelimit` import, for `up --gateway`
    /// or Spin.
    Compose(ComposeArgs),
    /// Compile a blocklist, as AdGuard's hostlist-compiler does (same flags, same output).
    Compile(crate::compile_cmd::CompileArgs),
    /// Explain what compiling a configuration does with a name: the source lines that mention
    /// it, what each exclusion, inclusion and transformation did to each, and which lines of the
    /// compiled list block it.
    Explain(crate::explain_cmd::ExplainArgs),
    /// Write a consistent copy of a data directory to a new directory, also while a host serves
    /// from it.
    Backup(BackupArgs),
    /// Put a backup in place in a data directory that no host is serving from.
    Restore(RestoreArgs),
    /// Write a data directory's `lists` store as Fastly KV store entries, with a `fastly.toml`
    /// for Viceroy that loads them (README, "On Fastly Compute").
    ExportFastly(crate::fastly_export::ExportArgs),
}

#[derive(clap::Args)]
pub struct BackupArgs {
    /// The data directory to back up.
    #[arg(long, env = "BLOCKLIST_EDGE_DATA_DIR", default_value = ".blocklist-edge")]
    pub data_dir: PathBuf,
    /// The directory to write the backup to; it must not exist.
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup (a directory written by `blocklist-edge backup`).
    #[arg(short, long)]
    pub input: PathBuf,
    /// The data directory to restore into (created if missing). No host may be serving from it.
    #[arg(long, env = "BLOCKLIST_EDGE_DATA_DIR", default_value = ".blocklist-edge")]
    pub data_dir: PathBuf,
    /// Restore even though the directory holds a service: its files are moved to
    /// `set-aside-<time>/` in it first, not deleted.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub struct ComponentArgs {
    /// The gateway component (.wasm); default: the one built into this binary.
    #[arg(long, env = "BLOCKLIST_EDGE_GATEWAY")]
    pub gateway: Option<PathBuf>,
    /// The ratelimit component (.wasm) plugged into the gateway; default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_RATELIMIT")]
    pub ratelimit: Option<PathBuf>,
    /// The compiler component (.wasm) plugged into the gateway and the compile consumer;
    /// default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILER")]
    pub compiler: Option<PathBuf>,
    /// The compile consumer component (.wasm): the job consumer; default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILE_CONSUMER")]
    pub compile_consumer: Option<PathBuf>,
    /// The dashboard component (.wasm), served at `/ui/`; default: the built-in one.
    #[arg(long, env = "BLOCKLIST_EDGE_UI")]
    pub ui: Option<PathBuf>,
}

impl ComponentArgs {
    pub fn read(path: &Option<PathBuf>, builtin: &'static [u8]) -> Result<std::borrow::Cow<'static, [u8]>> {
        Ok(match path {
            Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?.into(),
            None => builtin.into(),
        })
    }

    /// The HTTP component's bytes: the gateway composed with the ratelimit component (which
    /// every request calls); the compiler is plugged in lazily by the server (see
    /// [`ComponentArgs::compiler`]).
    pub fn composed(&self) -> Result<Vec<u8>> {
        let gateway = Self::read(&self.gateway, crate::embedded::GATEWAY)?;
        let ratelimit = Self::read(&self.ratelimit, crate::embedded::RATELIMIT)?;
        crate::compose::plug(&gateway, &[("ratelimit", &ratelimit)])
    }

    /// The compiler component's bytes.
    pub fn compiler(&self) -> Result<Vec<u8>> {
        Ok(Self::read(&self.compiler, crate::embedded::COMPILER)?.into_owned())
    }

    /// The dashboard component's bytes.
    pub fn ui(&self) -> Result<Vec<u8>> {
        Ok(Self::read(&self.ui, crate::embedded::UI)?.into_owned())
    }

    /// The composed job consumer's bytes: compile-consumer + compiler.
    pub fn consumer(&self) -> Result<Vec<u8>> {
        let compile = Self::read(&self.compile_consumer, crate::embedded::COMPILE_CONSUMER)?;
        let compiler = Self::read(&self.compiler, crate::embedded::COMPILER)?;
        crate::compose::plug(&compile, &[("compiler", &compiler)])
    }
}

#[derive(clap::Args)]
pub struct ComposeArgs {
    #[command(flatten)]
    pub components: ComponentArgs,
    /// Where to write the composed component.
    #[arg(short, long)]
    pub output: PathBuf,
    /// A WAC document to evaluate instead of the built-in `composition/gateway.wac` (its
    /// packages `blocklist:gateway` and `blocklist:ratelimit` are the components given).
    #[arg(long, conflicts_with = "fastly")]
    pub wac: Option<PathBuf>,
    /// Write the gateway for Fastly Compute instead, by `composition/gateway-fastly.wac`: the
    /// built-in Fastly shell of the gateway with the storage adapter, the ratelimit component
    /// (`--ratelimit`), `edge-cache-none` and `fastly-unavailable`; it imports only Fastly's and
    /// WASI's interfaces.
    #[arg(long)]
    pub fastly: bool,
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// Address to listen on.
    #[arg(long, env = "BLOCKLIST_EDGE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Directory of the embedded key-value databases (created and initialised if missing or
    /// empty; checked at every start).
    #[arg(long, env = "BLOCKLIST_EDGE_DATA_DIR", default_value = ".blocklist-edge")]
    pub data_dir: PathBuf,
    /// When a write is on the disk, for both databases of the data directory: `full` (an
    /// answered write survives a crash of the operating system or a power cut) or `normal` (it
    /// survives a crash of the process; the last writes may be lost with the machine; faster).
    #[arg(long = "sync", env = "BLOCKLIST_EDGE_SYNC", value_enum, default_value_t = SyncMode::Full)]
    pub sync: SyncMode,
    /// Start a new, empty service when the data directory's is missing or damaged (or an empty
    /// job queue when only `queue.sqlite3` is damaged); the files found are moved to
    /// `set-aside-<time>/` in the directory, not deleted. Does nothing on a healthy directory.
    #[arg(long)]
    pub reinitialize: bool,
    /// Serve what `data.sqlite3` holds though its write-ahead log was deleted after a process
    /// stopped without closing it (the writes committed since its last checkpoint are lost).
    #[arg(long)]
    pub accept_data_loss: bool,
    /// Longest the start-up integrity check (SQLite's `quick_check`) of each database may take,
    /// in seconds; past it the host starts with a warning. 0: no check.
    #[arg(long, env = "BLOCKLIST_EDGE_INTEGRITY_CHECK_SECS", default_value_t = 60)]
    pub integrity_check_secs: u64,
    /// The admin token. Only its SHA-256 is kept and handed to the gateway.
    #[arg(long, env = "BLOCKLIST_EDGE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// The admin token's SHA-256 (hex), instead of the token itself.
    #[arg(long, env = "BLOCKLIST_EDGE_ADMIN_TOKEN_SHA256", conflicts_with = "admin_token")]
    pub admin_token_sha256: Option<String>,
    /// Requests per user per window.
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// The rate limit's window, in seconds.
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_WINDOW_SECS", default_value_t = 60)]
    pub rate_window_secs: u64,
    /// Failed authentications one client address may make per rate-limit window, then 429
    /// (0: no limit).
    #[arg(long, env = "BLOCKLIST_EDGE_AUTH_FAILURE_LIMIT", default_value_t = 30)]
    pub auth_failure_limit: u32,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Lists one user may own.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_LISTS_PER_USER", default_value_t = 1000)]
    pub max_lists_per_user: usize,
    /// Seconds a compile request holds its list's dedupe lock.
    #[arg(long, env = "BLOCKLIST_EDGE_COMPILE_DEDUPE_SECS", default_value_t = 60)]
    pub compile_dedupe_secs: u64,
    /// Seconds a compiled list stays in the node-local cache.
    #[arg(long, env = "BLOCKLIST_EDGE_CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,
    /// Memory for the node-local cache of compiled lists, in MiB (least recently used lists
    /// are evicted first).
    #[arg(long, env = "BLOCKLIST_EDGE_CACHE_MIB", default_value_t = 256)]
    pub cache_mib: usize,
    /// Memory for the edge cache in front of the components, in MiB (0: no cache). It answers
    /// what components mark cacheable (subscription files) without running them, until they
    /// purge it; one answer may take an eighth of it, larger ones are not kept.
    #[arg(long, env = "BLOCKLIST_EDGE_EDGE_CACHE_MIB", default_value_t = 64)]
    pub edge_cache_mib: usize,
    /// Serve no dashboard: `/` and `/ui/…` then reach the gateway, which has no such route.
    #[arg(long, env = "BLOCKLIST_EDGE_NO_UI")]
    pub no_ui: bool,
    /// A Redis/Valkey server for the durable `lists` store instead of the data directory's
    /// database (`redis://host:port/db`): several hosts on one server share users, lists, jobs
    /// and artifacts. With `--rate-limit-store data`, the limiter's counters go there too (one
    /// exact limit for every host).
    #[arg(long, env = "BLOCKLIST_EDGE_KV_URL")]
    pub kv_url: Option<String>,
    /// The prefix of every key this service writes to `--kv-url` (several services may share
    /// one server).
    #[arg(long, env = "BLOCKLIST_EDGE_KV_PREFIX", default_value = "blocklist-edge")]
    pub kv_prefix: String,
    /// Where the rate limiter keeps its counters: `memory` (this process; exact for one host
    /// process, restarted windows on a restart) or `data` (the durable store: the data
    /// directory's database, or `--kv-url`, for several processes sharing it).
    #[arg(long, env = "BLOCKLIST_EDGE_RATE_LIMIT_STORE", value_enum, default_value_t = RateLimitStore::Memory)]
    pub rate_limit_store: RateLimitStore,
    /// Largest list `POST /v1/preview` answers, in bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_PREVIEW_BYTES", default_value_t = 1024 * 1024)]
    pub max_preview_bytes: usize,
    /// Fetches one subscription URL may serve per rate-limit window (0: no limit).
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_RATE_LIMIT", default_value_t = 600)]
    pub subscription_rate_limit: u32,
    /// Subscription fetches one client address may make per rate-limit window (0: no limit);
    /// many resolvers may share an address.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_ADDRESS_LIMIT", default_value_t = 300)]
    pub subscription_address_limit: u32,
    /// `Cache-Control: max-age` of subscription answers, in seconds.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_MAX_AGE_SECS", default_value_t = 3600)]
    pub subscription_max_age_secs: u64,
    /// How often subscribers should refetch (the `Expires` of the files), in hours.
    #[arg(long, env = "BLOCKLIST_EDGE_SUBSCRIPTION_EXPIRES_HOURS", default_value_t = 24)]
    pub subscription_expires_hours: u32,
    /// The public URL of this service (e.g. `https://lists.example.com`), on which the API
    /// builds subscription URLs; default: the request's `Host`, over http.
    #[arg(long, env = "BLOCKLIST_EDGE_PUBLIC_BASE_URL", default_value = "")]
    pub public_base_url: String,
    /// Hosts components may reach over HTTP (comma-separated `host` or `host:port`; `*` for any).
    /// None by default. Addresses off the public internet (loopback, private, link-local, …)
    /// are reached only through a host named here exactly, never through `*`.
    #[arg(long, env = "BLOCKLIST_EDGE_ALLOWED_OUTBOUND_HOSTS", default_value = "")]
    pub allowed_outbound_hosts: String,
    /// CPU deadline per request, in milliseconds: the guest's own execution, not time spent
    /// waiting on a slow client. Plus one second, also the time a guest has to produce its
    /// response head, and the longest a response body may go without new bytes.
    #[arg(long, env = "BLOCKLIST_EDGE_DEADLINE_MS", default_value_t = 10_000)]
    pub deadline_ms: u64,
    /// Memory cap per request, in MiB.
    #[arg(long, env = "BLOCKLIST_EDGE_MEMORY_MIB", default_value_t = 128)]
    pub memory_mib: usize,
    /// Requests whose guest runs before producing its response head, at once; more wait.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_CONCURRENCY", default_value_t = 64)]
    pub max_concurrency: usize,
    /// Requests alive at once, including those streaming a response body (the size of the
    /// instance pool); more are answered 503 with Retry-After. Each reserves about 16 GiB of
    /// address space (not memory) for its linear memories.
    #[arg(long, env = "BLOCKLIST_EDGE_MAX_INSTANCES", default_value_t = 1024)]
    pub max_instances: usize,
    /// Time a connection may have response bytes to send without its client accepting any, in
    /// milliseconds; then it is closed (and its instance freed).
    #[arg(long, env = "BLOCKLIST_EDGE_WRITE_TIMEOUT_MS", default_value_t = 15_000)]
    pub write_timeout_ms: u64,
    /// On SIGTERM or SIGINT: how long requests and job deliveries in flight may take to finish,
    /// in milliseconds, while nothing new is accepted; deliveries still running then hand their
    /// job back (another worker, or this host restarted, takes it at once).
    #[arg(long, env = "BLOCKLIST_EDGE_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
    /// Time a client has to send a request's headers, in milliseconds; a slower one is
    /// disconnected (slowloris).
    #[arg(long, env = "BLOCKLIST_EDGE_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Redis/Valkey URL of the job queue (e.g. `redis://127.0.0.1:6379`); default: the embedded
    /// queue (`queue.sqlite3` in the data directory).
    #[arg(long, env = "BLOCKLIST_EDGE_REDIS_URL")]
    pub redis_url: Option<String>,
    /// The job channel: the queue's name (Spin: the Redis channel the compile consumer
    /// subscribes to).
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_CHANNEL", default_value = "blocklist-edge-jobs")]
    pub job_channel: String,
    /// Jobs run at once.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_WORKERS", default_value_t = 2)]
    pub job_workers: usize,
    /// Deadline of one compile attempt (CPU and wall clock), in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_DEADLINE_MS", default_value_t = 120_000)]
    pub job_deadline_ms: u64,
    /// Memory cap of one compile attempt, in MiB.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_MEMORY_MIB", default_value_t = 1024)]
    pub job_memory_mib: usize,
    /// Attempts before a job is dead (dead-letter list).
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_MAX_ATTEMPTS", default_value_t = 3)]
    pub job_max_attempts: u32,
    /// Delay before the first retry, in milliseconds; it doubles with each attempt.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_BACKOFF_MS", default_value_t = 1_000)]
    pub job_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_BACKOFF_MAX_MS", default_value_t = 300_000)]
    pub job_backoff_max_ms: u64,
    /// A queued job not claimed this long after its message is published again, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_REQUEUE_AFTER_MS", default_value_t = 30_000)]
    pub job_requeue_after_ms: u64,
    /// How often the sweeper looks for jobs to publish again, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_SWEEP_INTERVAL_MS", default_value_t = 5_000)]
    pub sweep_interval_ms: u64,
    /// Also have the gateway request a sweep from its request path at most every this many
    /// seconds (0: never), as it does under Spin, which has no timer.
    #[arg(long, env = "BLOCKLIST_EDGE_REQUEST_SWEEP_SECS", default_value_t = 0)]
    pub request_sweep_secs: u64,
    /// Finished jobs kept per list (the newest); older ones are deleted when a job finishes.
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_RETENTION_PER_LIST", default_value_t = 100)]
    pub job_retention_per_list: usize,
    /// Finished jobs are deleted this long after they finished, in seconds (default 30 days).
    #[arg(long, env = "BLOCKLIST_EDGE_JOB_RETENTION_SECS", default_value_t = 30 * 86_400)]
    pub job_retention_secs: u64,
    /// Keys nothing refers to (left by a crash between two writes, or by a delete during a
    /// compile) are deleted once found so for this long, in milliseconds: longer than any
    /// request or compile attempt runs. The sweeper examines one page of keys per sweep.
    #[arg(long, env = "BLOCKLIST_EDGE_RETENTION_GRACE_MS", default_value_t = 3_600_000)]
    pub retention_grace_ms: u64,
    /// Dead messages the job queue keeps (the newest); older ones are deleted by the sweeper.
    /// The job ledger keeps its own record of dead jobs (`GET /v1/jobs?status=dead`).
    #[arg(long, env = "BLOCKLIST_EDGE_QUEUE_DEAD_KEEP", default_value_t = 1_000)]
    pub queue_dead_keep: usize,
    /// Attempts to deliver a webhook event before it is failed for good.
    #[arg(long, env = "BLOCKLIST_EDGE_WEBHOOK_MAX_ATTEMPTS", default_value_t = 15)]
    pub webhook_max_attempts: u32,
    /// Delay before a webhook delivery's second attempt, in milliseconds; it doubles with each
    /// attempt.
    #[arg(long, env = "BLOCKLIST_EDGE_WEBHOOK_BACKOFF_MS", default_value_t = 1_000)]
    pub webhook_backoff_ms: u64,
    /// Longest delay between attempts of a webhook delivery, in milliseconds.
    #[arg(long, env = "BLOCKLIST_EDGE_WEBHOOK_BACKOFF_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_backoff_max_ms: u64,
    /// The shortest refresh interval (`refreshIntervalSecs`) a list may have, in seconds.
    #[arg(long, env = "BLOCKLIST_EDGE_REFRESH_MIN_INTERVAL_SECS", default_value_t = 300)]
    pub refresh_min_interval_secs: u64,
    /// Published versions kept per list (for diffs and rollback).
    #[arg(long, env = "BLOCKLIST_EDGE_VERSIONS_KEPT", default_value_t = 5)]
    pub versions_kept: u32,
    /// The publish guard: a compile of an unchanged list (a scheduled refresh) whose result lost
    /// more than this share of the published list's rules, in percent, is held, not published
    /// (100: never); a list may set its own (`publishGuard`).
    #[arg(long, env = "BLOCKLIST_EDGE_PUBLISH_GUARD_MAX_SHRINK_PERCENT", default_value_t = 50)]
    pub publish_guard_max_shrink_percent: u32,
    /// The publish guard: such a compile with fewer rules than this is held (0: never).
    #[arg(long, env = "BLOCKLIST_EDGE_PUBLISH_GUARD_MIN_RULES", default_value_t = 0)]
    pub publish_guard_min_rules: u32,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "BLOCKLIST_EDGE_LOG_JSON")]
    pub log_json: bool,
    #[command(flatten)]
    pub components: ComponentArgs,
}
