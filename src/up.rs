//! `blocklist-edge up`: builds the stores, the job queue, the engines, the HTTP server and the
//! job trigger from the command line's arguments, once, and serves.

use crate::cli::{RateLimitStore, SyncMode, UpArgs};
use crate::datadir;
use crate::engine;
use crate::keyvalue;
use crate::keyvalue::Backend;
use crate::metrics;
use crate::outbound;
use crate::purge;
use crate::queue;
use crate::server;
use crate::state;
use crate::trigger;
use anyhow::{Context, Result, bail};
use blocklist_model::variables;
use keyvalue_memory::MemoryStore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Memory for the rate limiter's counters when they are kept in memory: about 150 bytes per
/// counter and two live counters per active user, so some 200,000 users at once; past that the
/// least recently used counters (those of idle users) are evicted.
const RATE_LIMIT_STORE_BYTES: usize = 64 * 1024 * 1024;

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

/// Builds everything `up` serves with, once, and serves until SIGINT or SIGTERM.
pub fn run(args: UpArgs) -> Result<()> {
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
    vars.insert(variables::ADMIN_TOKEN_SHA256.to_owned(), admin.unwrap_or_default());
    vars.insert(variables::RATE_LIMIT_REQUESTS.to_owned(), args.rate_limit.to_string());
    vars.insert(variables::RATE_LIMIT_WINDOW_SECS.to_owned(), args.rate_window_secs.to_string());
    vars.insert(variables::AUTH_FAILURE_LIMIT.to_owned(), args.auth_failure_limit.to_string());
    vars.insert(variables::MAX_BODY_BYTES.to_owned(), args.max_body_bytes.to_string());
    vars.insert(variables::MAX_LISTS_PER_USER.to_owned(), args.max_lists_per_user.to_string());
    vars.insert(variables::COMPILE_DEDUPE_SECS.to_owned(), args.compile_dedupe_secs.to_string());
    vars.insert(variables::CACHE_TTL_SECS.to_owned(), args.cache_ttl_secs.to_string());
    vars.insert(variables::MAX_PREVIEW_BYTES.to_owned(), args.max_preview_bytes.to_string());
    vars.insert(variables::SUBSCRIPTION_RATE_LIMIT.to_owned(), args.subscription_rate_limit.to_string());
    vars.insert(variables::SUBSCRIPTION_ADDRESS_LIMIT.to_owned(), args.subscription_address_limit.to_string());
    vars.insert(variables::SUBSCRIPTION_MAX_AGE_SECS.to_owned(), args.subscription_max_age_secs.to_string());
    vars.insert(variables::SUBSCRIPTION_EXPIRES_HOURS.to_owned(), args.subscription_expires_hours.to_string());
    vars.insert(variables::PUBLIC_BASE_URL.to_owned(), args.public_base_url.clone());

    // The data directory checked (a missing, empty or damaged store refuses the start) and its
    // store opened; the lock it holds marks the directory in use until the process ends.
    let sync = match args.sync {
        SyncMode::Full => keyvalue_sqlite::Synchronous::Full,
        SyncMode::Normal => keyvalue_sqlite::Synchronous::Normal,
    };
    let data_dir = datadir::open_for_up(
        &args.data_dir,
        &datadir::StartOptions {
            synchronous: sync,
            reinitialize: args.reinitialize,
            accept_data_loss: args.accept_data_loss,
            embedded_queue: args.redis_url.is_none(),
            check_within: Duration::from_secs(args.integrity_check_secs),
        },
    )?;
    let queue = Arc::new(match &args.redis_url {
        Some(url) => queue::JobQueue::redis(url, &args.job_channel)?,
        None => queue::JobQueue::embedded(&args.data_dir.join(datadir::QUEUE), &args.job_channel, sync)?,
    });
    let job_deadline = Duration::from_millis(args.job_deadline_ms.max(1));
    // A claim in the ledger outlives the attempt (deadline + the wall-clock backstop): a running
    // attempt is never claimed twice. The queue's lease is short and renewed while a delivery
    // runs (see trigger::TriggerConfig::lease).
    let ledger_lease = LEDGER_CLAIM;
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
        dead_keep: args.queue_dead_keep,
    };
    for (key, value) in [
        (variables::JOB_QUEUE_ADDRESS, queue.address.clone()),
        (variables::JOB_QUEUE_CHANNEL, queue.channel.clone()),
        (variables::JOB_MAX_ATTEMPTS, trigger_config.policy.max_attempts.to_string()),
        (variables::JOB_BACKOFF_MS, trigger_config.policy.base_backoff_ms.to_string()),
        (variables::JOB_BACKOFF_MAX_MS, trigger_config.policy.max_backoff_ms.to_string()),
        (variables::JOB_LEASE_MS, ledger_lease.as_millis().to_string()),
        (variables::JOB_REQUEUE_AFTER_MS, args.job_requeue_after_ms.to_string()),
        // This host sweeps from a timer; from the request path too only if asked.
        (variables::REQUEST_SWEEP_SECS, args.request_sweep_secs.to_string()),
        // This host delivers messages from its queue.
        (variables::JOB_RUNNER, "redis".to_owned()),
        (variables::JOB_RETENTION_PER_LIST, args.job_retention_per_list.max(1).to_string()),
        (variables::JOB_RETENTION_MS, args.job_retention_secs.saturating_mul(1000).to_string()),
        (variables::RETENTION_GRACE_MS, args.retention_grace_ms.to_string()),
        (variables::REFRESH_MIN_INTERVAL_SECS, args.refresh_min_interval_secs.max(1).to_string()),
        (variables::VERSIONS_KEPT, args.versions_kept.max(1).to_string()),
        (variables::PUBLISH_GUARD_MAX_SHRINK_PERCENT, args.publish_guard_max_shrink_percent.min(100).to_string()),
        (variables::PUBLISH_GUARD_MIN_RULES, args.publish_guard_min_rules.to_string()),
        (variables::WEBHOOK_MAX_ATTEMPTS, args.webhook_max_attempts.to_string()),
        (variables::WEBHOOK_BACKOFF_MS, args.webhook_backoff_ms.to_string()),
        (variables::WEBHOOK_BACKOFF_MAX_MS, args.webhook_backoff_max_ms.to_string()),
    ] {
        vars.insert(key.to_owned(), value);
    }
    // The durable store: the data directory's database, or a Redis/Valkey server.
    let shared_store = match &args.kv_url {
        None => None,
        Some(url) => {
            let store =
                keyvalue_redis::Store::open(url, &args.kv_prefix).with_context(|| format!("--kv-url {url:?}"))?;
            store.ping().with_context(|| format!("the key-value server at --kv-url {url:?} does not answer"))?;
            Some(Arc::new(store))
        }
    };
    let durable = match &shared_store {
        None => Backend::Sqlite(data_dir.store.clone()),
        Some(store) => Backend::Redis(store.clone()),
    };
    let mut kv = keyvalue::KvStores::default();
    // `default` holds only the rate limiter's window counters.
    kv.insert(
        "default",
        match args.rate_limit_store {
            RateLimitStore::Memory => Backend::Memory(Arc::new(MemoryStore::new(RATE_LIMIT_STORE_BYTES))),
            RateLimitStore::Data => durable.clone(),
        },
    );
    kv.insert("lists", durable);
    let node_cache = Arc::new(MemoryStore::new(args.cache_mib.max(1) * 1024 * 1024));
    kv.insert("cache", Backend::Memory(node_cache.clone()));

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
    let ledger = kv.open("lists").ok_or_else(|| anyhow::anyhow!("no lists store"))?;
    let (kv, vars) = (Arc::new(kv), Arc::new(vars));
    let metrics = Arc::new(metrics::Metrics::default());
    let edge_cache =
        (args.edge_cache_mib > 0).then(|| Arc::new(edge_cache::EdgeCache::new(args.edge_cache_mib * 1024 * 1024)));
    // Hosts sharing their store share their edge caches' purges.
    let purges = Arc::new(match shared_store {
        None => purge::Purges::local(edge_cache.clone()),
        Some(store) => {
            purge::Purges::shared(edge_cache.clone(), node_cache, store).context("starting the purge threads")?
        }
    });
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
            ui: (!args.no_ui).then(|| args.components.ui()).transpose()?,
            edge_cache,
            purges: purges.clone(),
        },
    )?);
    let job_engine = engine::job_engine()?;
    let trigger_queue = queue.clone();
    let new_state = Box::new(move |memory_bytes| {
        state::HostState::new(memory_bytes, kv.clone(), vars.clone(), outbound.clone())
            .with_queue(Some(trigger_queue.clone()))
            .with_purges(purges.clone())
    });
    let trigger = Arc::new(
        trigger::Trigger::new(
            &job_engine,
            &args.components.consumer()?,
            queue.clone(),
            trigger_config,
            new_state,
            metrics,
        )?
        .with_ledger(ledger, ledger_lease),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let (listener, local) = server::bind(args.listen).await?;
        trigger.start();
        println!("blocklist-edge listening on http://{local}");
        if !args.no_ui {
            println!("dashboard: http://{local}/ui/");
        }
        tracing::info!(%local, data_dir = %args.data_dir.display(), service = %data_dir.service.id, sync = ?args.sync, queue = %queue.address, "serving");
        let grace = Duration::from_millis(args.shutdown_grace_ms);
        let stopping = tokio::sync::watch::Sender::new(false);
        let (serving, draining) = tokio::join!(server.serve(listener, stopping.subscribe(), grace), async {
            shutdown_signal().await;
            tracing::info!(grace_ms = grace.as_millis() as u64, "shutting down: finishing what is in flight");
            stopping.send_replace(true);
            trigger.drain(grace).await;
        });
        let () = draining;
        serving
    })
}

/// How far ahead of now a running job's claim in the ledger is kept: the trigger renews it
/// every third of this while the job's delivery runs, so a host that dies mid-job leaves a
/// claim that runs out this soon (and the sweeper publishes the job again).
const LEDGER_CLAIM: Duration = Duration::from_secs(10);

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
