//! The HTTP server: one component instance per request, from a pre-instantiated component on
//! the pooling allocator, with a CPU deadline (epoch interruption), a wall-clock deadline and a
//! memory cap per request.

use crate::config::{ConfigView, Variables};
use crate::keyvalue::{KvStores, KvView};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder, Trap,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// How often the epoch advances; the CPU deadline is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits applied to every request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// CPU time a request's guest code may run before it is interrupted.
    pub deadline: Duration,
    /// Linear memory a request's instances may grow to, in bytes, all memories together.
    pub memory_bytes: usize,
    /// Requests handled at once; more wait for a slot.
    pub max_concurrency: usize,
    /// Time a client has to send a request's headers (slowloris protection).
    pub header_timeout: Duration,
}

/// The state of a store: one request (or one compile run).
pub struct RequestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    kv: Arc<KvStores>,
    vars: Variables,
    outbound: crate::outbound::Outbound,
    queue: Option<Arc<crate::jobs::JobQueue>>,
    /// Instances of lazily plugged components, by slot (see [`crate::lazy_plug`]).
    lazy: Vec<Option<wasmtime::component::Instance>>,
}

impl RequestState {
    /// State for a store whose memories may grow to `memory_bytes` in all.
    pub fn new(
        memory_bytes: usize,
        kv: Arc<KvStores>,
        vars: Variables,
        outbound: crate::outbound::Outbound,
    ) -> RequestState {
        RequestState {
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
        }
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
    pub fn with_queue(mut self, queue: Option<Arc<crate::jobs::JobQueue>>) -> RequestState {
        self.queue = queue;
        self
    }

    /// Replaces the WASI context (to give the component directories, say).
    pub fn with_wasi(mut self, wasi: WasiCtx) -> RequestState {
        self.wasi = wasi;
        self
    }

    /// The memory limiter, for `Store::limiter`.
    pub fn limits(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// A compiled, linked, pre-instantiated HTTP component and what its requests need.
pub struct Server {
    pre: ProxyPre<RequestState>,
    kv: Arc<KvStores>,
    vars: Variables,
    limits: Limits,
    slots: Semaphore,
    outbound: crate::outbound::Outbound,
    queue: Option<Arc<crate::jobs::JobQueue>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// SHA-256 (hex) of the token `GET /metrics` requires (the admin token); none: no metrics.
    metrics_token_sha256: Option<String>,
}

/// What `Server::new` needs besides the engine and the component.
pub struct ServerParts {
    pub kv: Arc<KvStores>,
    pub vars: Variables,
    pub limits: Limits,
    pub outbound: crate::outbound::Outbound,
    pub queue: Option<Arc<crate::jobs::JobQueue>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub metrics_token_sha256: Option<String>,
    /// Components (bytes) whose exports satisfy the component's remaining imports, each
    /// instantiated only when a request first calls it (see [`crate::lazy_plug`]).
    pub lazy_plugs: Vec<Vec<u8>>,
}

/// Adds everything this host provides to `linker`: WASI, wasi:http (outgoing), key-value,
/// configuration and the job queue (`fermyon:spin/redis`).
pub fn link_host(linker: &mut Linker<RequestState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::keyvalue::add_to_linker(linker, |s: &mut RequestState| KvView { stores: &s.kv, table: &mut s.table })?;
    crate::config::add_to_linker(linker, |s: &mut RequestState| ConfigView(&s.vars))?;
    crate::jobs::add_to_linker(linker, |s: &mut RequestState| crate::jobs::RedisView {
        queue: s.queue.as_ref(),
        table: &mut s.table,
    })?;
    Ok(())
}

/// The epoch deadline for a CPU budget of `deadline`: whole ticks, plus one, because the tick
/// in progress when the store starts may end at once; so a guest always gets its whole budget
/// (and at most one tick more).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread that lives as long as the process.
pub fn start_epoch_ticker(engine: Engine) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
}

/// The wasmtime engine, configured for serving: async, epoch interruption, pooling allocator.
pub fn engine(limits: &Limits) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    let n = u32::try_from(limits.max_concurrency).unwrap_or(u32::MAX);
    // A composed gateway is a handful of components, core instances, memories and tables.
    pool.total_component_instances(n.saturating_mul(4));
    pool.total_core_instances(n.saturating_mul(16));
    pool.total_memories(n.saturating_mul(4));
    pool.total_tables(n.saturating_mul(8));
    pool.max_memories_per_component(8);
    pool.max_memory_size(limits.memory_bytes);
    // Resetting a slot's memory is most of an instance's cost: batch the madvise calls, and
    // zero the first pages (the guest's stack and hot heap) with memset instead, so that the
    // next request does not page-fault them back in.
    pool.decommit_batch_size(32);
    pool.linear_memory_keep_resident(128 * 1024);
    pool.table_keep_resident(64 * 1024);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// The engine compile jobs run on: epoch interruption, instances allocated on demand (jobs are
/// few and may use much more memory than requests).
pub fn job_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    Ok(Engine::new(&config)?)
}

impl Server {
    /// Compiles `component` (bytes of an HTTP component) and links it to the host's interfaces.
    pub fn new(engine: &Engine, component: &[u8], parts: ServerParts) -> Result<Server> {
        let component = crate::wasm_cache::component(engine, component).context("compiling the component")?;
        let mut linker: Linker<RequestState> = Linker::new(engine);
        link_host(&mut linker)?;
        let host_linker = linker.clone();
        for (slot, plug) in parts.lazy_plugs.iter().enumerate() {
            let plug = crate::wasm_cache::component(engine, plug).context("compiling a plugged component")?;
            let plug = Arc::new(crate::lazy_plug::LazyPlug::new(engine, &host_linker, &plug)?);
            plug.add_to_linker(engine, &mut linker, &component, slot)?;
        }
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("linking the component to the host")?;
        let pre = ProxyPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/incoming-handler")?;
        let ServerParts { kv, vars, limits, outbound, queue, metrics, metrics_token_sha256, lazy_plugs: _ } = parts;
        let slots = Semaphore::new(limits.max_concurrency);
        Ok(Server { pre, kv, vars, limits, slots, outbound, queue, metrics, metrics_token_sha256 })
    }

    /// Serves HTTP/1.1 on `listener` until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        start_epoch_ticker(self.pre.engine().clone());
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => {
                    tracing::info!("shutting down");
                    return Ok(());
                }
            };
            let _ = stream.set_nodelay(true);
            let server = self.clone();
            tokio::spawn(async move {
                let header_timeout = server.limits.header_timeout;
                // Once per connection: every request on it comes from the same peer.
                let client_addr = hyper::header::HeaderValue::from_str(&peer.to_string()).ok();
                let service = hyper::service::service_fn(move |req| {
                    let (server, client_addr) = (server.clone(), client_addr.clone());
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req, client_addr).await) }
                });
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    // A client that trickles its headers is cut off (slowloris).
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    // Request line and headers together: 64 KiB, else 431 and the connection
                    // is closed. (The buffer cap alone did not bound them: a 100 KiB header
                    // was accepted.)
                    .max_header_size(64 * 1024)
                    .max_buf_size(64 * 1024)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }

    fn new_store(&self) -> Store<RequestState> {
        let state =
            RequestState::new(self.limits.memory_bytes, self.kv.clone(), self.vars.clone(), self.outbound.clone())
                .with_queue(self.queue.clone());
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| s.limits());
        store.set_epoch_deadline(deadline_ticks(self.limits.deadline));
        store.epoch_deadline_trap();
        store
    }

    /// Handles one request in a fresh instance; host-side failures become JSON 5xx responses.
    /// `GET /metrics` is answered by the host itself.
    /// The header that tells the guest the client's address (`ip:port`), as Spin names it.
    pub const CLIENT_ADDR_HEADER: &'static str = "spin-client-addr";

    /// Answers one request from the client at `client_addr` (the connection's peer, as the
    /// value of [`Self::CLIENT_ADDR_HEADER`]).
    pub async fn handle(
        &self,
        mut req: hyper::Request<hyper::body::Incoming>,
        client_addr: Option<hyper::header::HeaderValue>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let started = Instant::now();
        // The client's address comes from the connection, never from the client: any value it
        // sent is replaced.
        match client_addr {
            Some(v) => req.headers_mut().insert(Self::CLIENT_ADDR_HEADER, v),
            None => req.headers_mut().remove(Self::CLIENT_ADDR_HEADER),
        };
        if req.uri().path() == "/metrics" {
            return self.metrics_response(&req).await;
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let response = match self.run(req, started).await {
            Ok(r) => r,
            Err(failure) => failure.into_response(),
        };
        let elapsed = started.elapsed();
        self.metrics.response(response.status().as_u16(), elapsed);
        tracing::info!(%method, %path, status = response.status().as_u16(), micros = elapsed.as_micros() as u64, "request");
        response
    }

    async fn metrics_response(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let token = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let hash = token.map(|t| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes())));
        let allowed = match (&self.metrics_token_sha256, &hash) {
            (Some(want), Some(got)) => bool::from(subtle::ConstantTimeEq::ct_eq(want.as_bytes(), got.as_bytes())),
            _ => false,
        };
        if !allowed {
            return json_response(401, "unauthorized", "GET /metrics needs the admin token as a bearer token");
        }
        if req.method() != hyper::Method::GET {
            return json_response(405, "method_not_allowed", "method not allowed here; allowed: GET");
        }
        let depth = match &self.queue {
            Some(q) => {
                let q = q.clone();
                tokio::task::spawn_blocking(move || q.depth().ok()).await.ok().flatten()
            }
            None => None,
        };
        hyper::Response::builder()
            .status(200)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Full::new(Bytes::from(self.metrics.render(depth))).map_err(|never| match never {}).boxed_unsync())
            .expect("static response parts are valid")
    }

    async fn run(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        started: Instant,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(Failure::Unavailable("the server is shutting down".into()));
        };
        let mut store = self.new_store();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| Failure::Internal(format!("{e:#}")))?;
        let out =
            store.data_mut().http().new_response_outparam(sender).map_err(|e| Failure::Internal(format!("{e:#}")))?;
        let pre = self.pre.clone();
        let metrics = self.metrics.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            metrics.instantiation.record(started.elapsed());
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
        });
        let abort = task.abort_handle();
        // The CPU deadline stops a busy guest; this one stops a guest waiting on I/O.
        let wall = self.limits.deadline + Duration::from_secs(1);
        match tokio::time::timeout(wall, receiver).await {
            Ok(Ok(Ok(resp))) => Ok(resp),
            Ok(Ok(Err(code))) => Err(Failure::Internal(format!("the component answered with an error: {code:?}"))),
            Ok(Err(_)) => Err(match task.await {
                Ok(Ok(())) => Failure::Internal("the component did not produce a response".into()),
                Ok(Err(e)) => Failure::from_guest_error(e),
                Err(e) => Failure::Internal(format!("the request task failed: {e}")),
            }),
            Err(_) => {
                abort.abort();
                Err(Failure::Deadline)
            }
        }
    }
}

/// Why the host answers instead of the component.
enum Failure {
    /// The guest ran past its CPU or wall-clock deadline.
    Deadline,
    /// The guest trapped (a bug, an exhausted memory cap).
    Trap(String),
    Unavailable(String),
    Internal(String),
}

impl Failure {
    fn from_guest_error(e: wasmtime::Error) -> Failure {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::Deadline,
            Some(t) => Failure::Trap(t.to_string()),
            None => Failure::Trap(format!("{e:#}")),
        }
    }

    fn into_response(self) -> hyper::Response<HyperOutgoingBody> {
        let (status, code, message) = match self {
            Failure::Deadline => {
                (503, "deadline_exceeded", "the request ran past its deadline and was stopped".to_string())
            }
            Failure::Trap(detail) => {
                tracing::error!(%detail, "guest trapped");
                (500, "guest_trap", "the request failed inside the component".to_string())
            }
            Failure::Unavailable(m) => (503, "unavailable", m),
            Failure::Internal(detail) => {
                tracing::error!(%detail, "host error");
                (500, "internal", "internal error".to_string())
            }
        };
        json_response(status, code, &message)
    }
}

/// A JSON error response answered by the host.
fn json_response(status: u16, code: &str, message: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync())
        .expect("static response parts are valid")
}

/// Binds `addr`, returning the listener and the address actually bound (for port 0).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
