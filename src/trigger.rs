//! The job trigger: workers that deliver the job queue's messages ([`crate::queue`]) to the
//! compile component's `fermyon:spin/inbound-redis` export — Spin's Redis-trigger contract,
//! with the guarantees Spin's pub/sub lacks.
//!
//! - **Durable**: a published message is stored before `publish` returns: in SQLite
//!   (`queue.sqlite3` in the data directory, the default) or in Redis/Valkey (`--redis-url`).
//! - **At-least-once, with retries**: a worker claims a message with a lease, calls the handler,
//!   acknowledges on `Ok`; on an error, a trap or the deadline the message comes back after an
//!   exponential backoff, and after the last attempt it is dead. A host killed mid-job loses
//!   nothing: the lease runs out and the message is delivered again.
//! - **Deduplicated**: a message is identified by its content; publishing one that is still
//!   pending does nothing, and publishing one that is dead brings it back (a replay).
//! - **Swept**: every `--sweep-interval-ms` the trigger hands the component a `{"type":"sweep"}`
//!   message directly, so that jobs whose messages were lost are published again and the
//!   retention collector takes its next step; then the queue's oldest dead messages beyond
//!   `--queue-dead-keep` are deleted.
//! - **Claims kept short**: while a compile job's delivery runs, the worker also renews the
//!   job's claim in the ledger ([`Trigger::with_ledger`]), so that the claim can be short and
//!   the job of a host that died is claimed again within seconds.
//! - **Drained on shutdown** ([`Trigger::drain`]): no new claims; running deliveries get a grace
//!   period, and those still running after it hand their message and claim back at once.

use crate::keyvalue::Bucket;
use crate::queue::{JobQueue, now_ms};
use crate::state::HostState;
use anyhow::{Context, Result};
use blocklist_model::keys::job_key;
use blocklist_model::ledger::{JobRecord, Message};
use jobqueue::{Failed, Policy};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

mod leases;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "blocklist:edge/compile-trigger",
        exports: { default: async },
    });
}

/// The message the sweeper hands the compile consumer.
pub const SWEEP_MESSAGE: &[u8] = br#"{"type":"sweep"}"#;

/// How the trigger runs jobs.
#[derive(Clone, Debug)]
pub struct TriggerConfig {
    /// Messages handled at once.
    pub workers: usize,
    /// CPU and wall-clock deadline of one delivery.
    pub deadline: Duration,
    /// Memory cap of one delivery, all memories together.
    pub memory_bytes: usize,
    pub policy: Policy,
    /// How long a claimed message stays invisible without renewal. A worker renews it every
    /// third of this while its delivery runs, so a running delivery is never handed to a second
    /// worker, and the message of a worker that died (or whose claim's reply was lost) comes
    /// back this soon.
    pub lease: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
    /// Dead messages the queue keeps; the sweeper deletes older ones.
    pub dead_keep: usize,
}

/// What became of a delivered message.
enum Settled {
    Acked,
    Retry(u64),
    Dead,
    LeaseLost,
}

/// The trigger: workers delivering queue messages to the compile consumer, and the sweeper.
pub struct Trigger {
    pre: bindings::CompileTriggerPre<HostState>,
    queue: Arc<JobQueue>,
    config: TriggerConfig,
    new_state: Box<dyn Fn(usize) -> HostState + Send + Sync>,
    metrics: Arc<crate::metrics::Metrics>,
    /// The ledger's store and the claim length kept while a job runs.
    ledger: Option<(Bucket, Duration)>,
    /// Set once the trigger is draining: workers claim nothing more.
    stop: tokio::sync::watch::Sender<bool>,
    /// The message each busy worker is delivering.
    running: Mutex<HashMap<usize, jobqueue::Message>>,
}

/// A sweep running longer than this is logged (and again each time this passes).
const SLOW_SWEEP: Duration = Duration::from_secs(5);

/// How long an idle worker waits before looking again (messages published by other hosts
/// sharing a Redis queue, and retries coming due, are found by looking).
const POLL: Duration = Duration::from_millis(200);

impl Trigger {
    /// Compiles the compile consumer for `engine` (its own engine: epoch interruption, no
    /// pooling, so that jobs may use more memory than requests) and links it.
    pub fn new(
        engine: &Engine,
        component: &[u8],
        queue: Arc<JobQueue>,
        config: TriggerConfig,
        new_state: Box<dyn Fn(usize) -> HostState + Send + Sync>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Trigger> {
        let component = crate::wasm_cache::component(engine, component).context("compiling the compile consumer")?;
        let mut linker: Linker<HostState> = Linker::new(engine);
        crate::state::link_host(&mut linker)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("linking the compile consumer to the host")?;
        let pre = bindings::CompileTriggerPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the compile consumer does not export fermyon:spin/inbound-redis")?;
        let stop = tokio::sync::watch::Sender::new(false);
        Ok(Trigger { pre, queue, config, new_state, metrics, ledger: None, stop, running: Mutex::default() })
    }

    /// Renews, every third of `lease`, the ledger claim (in `ledger`, the `lists` store) of a
    /// compile job while its delivery runs; the guest's claims are as long as `lease` (the
    /// `job_lease_ms` it is configured with).
    pub fn with_ledger(mut self, ledger: Bucket, lease: Duration) -> Trigger {
        self.ledger = Some((ledger, lease));
        self
    }

    /// Stops the trigger: workers claim no more messages and the sweeper stops; deliveries
    /// still running get `grace` to finish, then each hands back its message (visible again at
    /// once) and its job's ledger claim (claimable at once), so that another worker, or this
    /// host restarted, takes the job without waiting for leases to run out.
    pub async fn drain(&self, grace: Duration) {
        self.stop.send_replace(true);
        let deadline = Instant::now() + grace;
        while !self.running.lock().unwrap().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let unfinished: Vec<jobqueue::Message> = self.running.lock().unwrap().values().cloned().collect();
        for msg in unfinished {
            let now = now_ms();
            if let Err(e) = self.queue.backend.extend(&msg, now, 0) {
                tracing::warn!(msg = %msg.job_id, error = %e, "could not hand back a message at shutdown");
            }
            self.release_claim(&msg).await;
            tracing::info!(msg = %msg.job_id, "delivery interrupted by the shutdown; handed back");
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Starts the workers and the sweeper on the current runtime.
    pub fn start(self: &Arc<Self>) {
        crate::engine::start_epoch_ticker(self.pre.engine().clone());
        for worker in 0..self.config.workers.max(1) {
            let t = self.clone();
            tokio::spawn(async move { t.work(worker).await });
        }
        let t = self.clone();
        tokio::spawn(async move { t.sweep().await });
    }

    async fn work(self: Arc<Self>, worker: usize) {
        let mut last_error_log: Option<Instant> = None;
        let mut stop = self.stop.subscribe();
        loop {
            if self.stopping() {
                return;
            }
            let wake = self.queue.published.notified();
            let t = self.clone();
            let claimed = tokio::task::spawn_blocking(move || {
                t.queue.backend.claim(&t.queue.channel, now_ms(), t.config.lease.as_millis() as u64)
            })
            .await;
            let msg = match claimed {
                Ok(Ok(Some(m))) => m,
                Ok(Ok(None)) => {
                    tokio::select! {
                        _ = tokio::time::timeout(POLL, wake) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
                Ok(Err(e)) => {
                    // The backend is down (a Redis restart): keep trying, log now and then.
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(worker, error = %e, "job queue unavailable; retrying");
                        last_error_log = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(worker, error = %e, "job queue task failed");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if self.stopping() {
                // Claimed as the drain began: handed back at once.
                let _ = self.queue.backend.extend(&msg, now_ms(), 0);
                return;
            }
            let started = Instant::now();
            self.running.lock().unwrap().insert(worker, msg.clone());
            let renewal = tokio::spawn(self.clone().renew(worker, msg.clone()));
            let outcome = self.deliver(worker, &msg.payload).await;
            renewal.abort();
            if let Err(e) = &outcome
                && !matches!(e, DeliveryError::HandlerError)
            {
                // The guest was stopped before it could settle its job (deadline, trap): its
                // attempt is over, and its claim ends now rather than when it would run out.
                self.release_claim(&msg).await;
            }
            let micros = started.elapsed().as_micros() as u64;
            let t = self.clone();
            let error = outcome.err().map(|e| e.to_string());
            let settled = tokio::task::spawn_blocking(move || {
                let r = match &error {
                    None => {
                        t.queue.backend.ack(&msg).map(|held| if held { Settled::Acked } else { Settled::LeaseLost })
                    }
                    Some(e) => t.queue.backend.fail(&msg, e, now_ms(), &t.config.policy).map(|f| match f {
                        Failed::RetryAt(at) => Settled::Retry(at),
                        Failed::Dead => Settled::Dead,
                        Failed::LeaseLost => Settled::LeaseLost,
                    }),
                };
                (msg, error, r)
            })
            .await;
            self.running.lock().unwrap().remove(&worker);
            let (msg, error, r) = match settled {
                Ok(x) => x,
                Err(e) => {
                    tracing::error!(worker, error = %e, "job queue task failed");
                    continue;
                }
            };
            let (id, attempt) = (&msg.job_id, msg.attempts);
            let error = error.unwrap_or_default();
            use crate::metrics::Delivery;
            self.metrics.delivery(match &r {
                Ok(Settled::Acked) => Delivery::Acked,
                Ok(Settled::Retry(_)) => Delivery::Retried,
                Ok(Settled::Dead) => Delivery::Dead,
                Ok(Settled::LeaseLost) => Delivery::LeaseLost,
                Err(_) => Delivery::Unsettled,
            });
            match r {
                Ok(Settled::Acked) => tracing::info!(worker, msg = %id, attempt, micros, "message handled"),
                Ok(Settled::LeaseLost) => {
                    tracing::warn!(worker, msg = %id, "lease lost before the message was settled")
                }
                Ok(Settled::Retry(at)) => {
                    let delay_ms = at.saturating_sub(now_ms());
                    tracing::warn!(worker, msg = %id, attempt, %error, delay_ms, "message failed; will retry");
                }
                Ok(Settled::Dead) => {
                    tracing::error!(worker, msg = %id, attempt, %error, "message failed for the last time: dead");
                }
                // The lease runs out and the message comes back: nothing is lost.
                Err(e) => tracing::warn!(worker, error = %e, "could not settle a message; it will be delivered again"),
            }
        }
    }

    async fn sweep(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.sweep_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.stopping() {
                return;
            }
            // A sweep that takes long holds up the next ones (retries, webhook deliveries,
            // scheduled refreshes): say so while it runs.
            let sweep = self.deliver(usize::MAX, SWEEP_MESSAGE);
            tokio::pin!(sweep);
            let started = Instant::now();
            let swept = loop {
                match tokio::time::timeout(SLOW_SWEEP, &mut sweep).await {
                    Ok(r) => break r,
                    Err(_) => tracing::warn!(
                        secs = started.elapsed().as_secs(),
                        "a sweep is still running; the next sweeps wait for it"
                    ),
                }
            };
            if let Err(e) = swept {
                tracing::warn!(error = %e, "sweep failed");
            }
            let (queue, keep) = (self.queue.clone(), self.config.dead_keep);
            match tokio::task::spawn_blocking(move || queue.prune_dead(keep)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => {
                    tracing::info!(deleted = n, kept = keep, "deleted the oldest dead messages of the job queue")
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "could not prune the job queue's dead messages"),
                Err(e) => tracing::warn!(error = %e, "pruning the job queue's dead messages failed"),
            }
        }
    }

    /// Delivers one message to a fresh instance of the compile consumer.
    async fn deliver(&self, worker: usize, payload: &[u8]) -> Result<(), DeliveryError> {
        let mut store = Store::new(self.pre.engine(), (self.new_state)(self.config.memory_bytes));
        store.limiter(|s| s.limits());
        // The deadline counts from here; until it, the guest yields at every epoch tick, so
        // that a long compile shares the async workers with the requests (jobs run on the
        // same runtime), and past it the guest is interrupted (`Trap::Interrupt`).
        let (started, deadline) = (Instant::now(), self.config.deadline);
        store.set_epoch_deadline(crate::engine::YIELD_TICKS);
        store.epoch_deadline_callback(move |_| {
            Ok(match deadline.checked_sub(started.elapsed()) {
                Some(left) if !left.is_zero() => {
                    crate::engine::yield_then_continue(crate::engine::deadline_ticks(left))
                }
                _ => wasmtime::UpdateDeadline::Interrupt,
            })
        });
        let pre = self.pre.clone();
        let payload = payload.to_vec();
        let call = async move {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.fermyon_spin_inbound_redis().call_handle_message(&mut store, &payload).await
        };
        // The CPU deadline stops a busy guest; this one stops a guest waiting on I/O.
        let wall = self.config.deadline + Duration::from_secs(1);
        match tokio::time::timeout(wall, call).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(_))) => Err(DeliveryError::HandlerError),
            Ok(Err(e)) => Err(match e.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => DeliveryError::Deadline(self.config.deadline),
                Some(t) => DeliveryError::Trap(*t),
                None => DeliveryError::Host(format!("{e:#}")),
            }),
            Err(_) => {
                tracing::debug!(worker, "delivery stopped at its wall-clock deadline");
                Err(DeliveryError::Deadline(self.config.deadline))
            }
        }
    }
}

/// Why a delivery failed (the queue records its text with the failed attempt).
#[derive(Debug)]
pub enum DeliveryError {
    /// The handler returned an error; the job's ledger entry says why.
    HandlerError,
    /// The handler ran past its deadline (CPU, or the wall-clock backstop).
    Deadline(Duration),
    /// The handler trapped.
    Trap(Trap),
    /// Instantiating or calling the component failed in the host.
    Host(String),
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::HandlerError => {
                f.write_str("the handler returned an error (the job's ledger entry says why)")
            }
            DeliveryError::Deadline(d) => write!(f, "the handler ran past its deadline of {d:?}"),
            DeliveryError::Trap(t) => write!(f, "the handler trapped: {t}"),
            DeliveryError::Host(e) => write!(f, "the handler failed: {e}"),
        }
    }
}

impl std::error::Error for DeliveryError {}
