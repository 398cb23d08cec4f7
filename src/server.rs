//! The HTTP server: one component instance per request, from a pre-instantiated component on
//! the pooling allocator, with a CPU deadline (epoch interruption, counting the guest's own
//! execution only), a wall-clock deadline for the response head, an idle bound on the body and
//! a memory cap per request. A client that stops reading is disconnected after the write
//! timeout, which ends its guest and returns its instance to the pool. In front of the
//! component, the edge cache ([`edge`]) answers what it holds without an instance.

use crate::config::Variables;
use crate::engine::start_epoch_ticker;
use crate::keyvalue::KvStores;
use crate::state::HostState;
use anyhow::{Context, Result};
use edge_cache::EdgeCache;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker, Resource};
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};

mod budget;
mod edge;
mod failure;
mod io;
mod metrics_endpoint;

use budget::{ExecutionMeter, IdleBody, Metered, execution_budget};
use failure::{Failure, json_response};
use io::{ProgressIo, WriteProgress};

/// Limits applied to every request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Execution time a request's guest may use before it is interrupted: time spent running
    /// (its code and the host calls it makes synchronously), not time spent waiting (see
    /// [`ExecutionMeter`]). Plus one second, it is also the wall-clock time a guest has to
    /// produce its response head, and the longest a response body may go without a byte while
    /// the client is ready for more.
    pub deadline: Duration,
    /// Linear memory a request's instances may grow to, in bytes, all memories together.
    pub memory_bytes: usize,
    /// Requests whose guest runs before producing its response head, at once; more wait for a
    /// slot. A request whose head is out (its body streaming) no longer holds one.
    pub max_concurrency: usize,
    /// Requests alive at once, including those streaming a body: each holds one store's share
    /// of the pooling allocator, which is sized from this. More are answered 503 with
    /// `Retry-After`.
    pub max_instances: usize,
    /// Time a client has to send a request's headers (slowloris protection).
    pub header_timeout: Duration,
    /// Time a connection may have bytes to write without its client accepting any; then it is
    /// closed, and a guest still streaming to it ends (its writes fail).
    pub write_timeout: Duration,
}

impl Limits {
    /// How long a guest may take to produce its response head, and a response body may stay
    /// without new bytes while the client waits: the CPU deadline plus one second. The CPU
    /// deadline stops a busy guest; this stops one stuck waiting on I/O.
    pub fn wall_deadline(&self) -> Duration {
        self.deadline + Duration::from_secs(1)
    }
}

/// A compiled, linked, pre-instantiated HTTP component and what its requests need.
pub struct Server {
    pre: ProxyPre<HostState>,
    /// The dashboard component, which answers `/` and `/ui/…` ([`Server::component_for`]).
    ui: Option<ProxyPre<HostState>>,
    kv: Arc<KvStores>,
    vars: Variables,
    limits: Limits,
    /// Requests whose guest runs before its response head ([`Limits::max_concurrency`]).
    slots: Semaphore,
    /// Requests alive, streaming ones included ([`Limits::max_instances`]).
    instances: Arc<Semaphore>,
    outbound: crate::outbound::Outbound,
    queue: Option<Arc<crate::queue::JobQueue>>,
    metrics: Arc<crate::metrics::Metrics>,
    /// SHA-256 (hex) of the token `GET /metrics` requires (the admin token); none: no metrics.
    metrics_token_sha256: Option<String>,
    /// The response cache in front of the component ([`edge`]), if it has one.
    cache: Option<Arc<EdgeCache>>,
    purges: Arc<crate::purge::Purges>,
    /// The rate limiter's counters (store `default`), which answers from the cache are charged
    /// to.
    limit_counters: Option<crate::keyvalue::Bucket>,
}

/// What `Server::new` needs besides the engine and the component.
pub struct ServerParts {
    pub kv: Arc<KvStores>,
    pub vars: Variables,
    pub limits: Limits,
    pub outbound: crate::outbound::Outbound,
    pub queue: Option<Arc<crate::queue::JobQueue>>,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub metrics_token_sha256: Option<String>,
    /// Components (bytes) whose exports satisfy the component's remaining imports, each
    /// instantiated only when a request first calls it (see [`crate::lazy_plug`]).
    pub lazy_plugs: Vec<Vec<u8>>,
    /// The dashboard component (bytes), served at `/` and `/ui/…`; none: no dashboard.
    pub ui: Option<Vec<u8>>,
    /// The response cache in front of the component; none: every request runs it.
    pub edge_cache: Option<Arc<EdgeCache>>,
    /// Where the component's purges go (that cache, and the other hosts' when shared).
    pub purges: Arc<crate::purge::Purges>,
}

/// `component` linked by `linker` and checked to export `wasi:http/incoming-handler` (`what`
/// names it in errors).
fn proxy(linker: &Linker<HostState>, component: &Component, what: &str) -> Result<ProxyPre<HostState>> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("linking {what} to the host"))?;
    ProxyPre::new(pre)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("{what} does not export wasi:http/incoming-handler"))
}

impl Server {
    /// Compiles `component` (bytes of an HTTP component) and links it to the host's interfaces.
    pub fn new(engine: &Engine, component: &[u8], parts: ServerParts) -> Result<Server> {
        let component = crate::wasm_cache::component(engine, component).context("compiling the component")?;
        let mut linker: Linker<HostState> = Linker::new(engine);
        crate::state::link_host(&mut linker)?;
        let host_linker = linker.clone();
        for (slot, plug) in parts.lazy_plugs.iter().enumerate() {
            let plug = crate::wasm_cache::component(engine, plug).context("compiling a plugged component")?;
            let plug = Arc::new(crate::lazy_plug::LazyPlug::new(engine, &host_linker, &plug)?);
            plug.add_to_linker(engine, &mut linker, &component, slot)?;
        }
        let pre = proxy(&linker, &component, "the component")?;
        let ui = match &parts.ui {
            None => None,
            Some(bytes) => {
                let ui = crate::wasm_cache::component(engine, bytes).context("compiling the dashboard component")?;
                Some(proxy(&host_linker, &ui, "the dashboard component")?)
            }
        };
        let ServerParts {
            kv,
            vars,
            limits,
            outbound,
            queue,
            metrics,
            metrics_token_sha256,
            lazy_plugs: _,
            ui: _,
            edge_cache,
            purges,
        } = parts;
        let slots = Semaphore::new(limits.max_concurrency);
        let instances = Arc::new(Semaphore::new(limits.max_instances));
        let limit_counters = kv.open("default");
        Ok(Server {
            pre,
            ui,
            kv,
            vars,
            limits,
            slots,
            instances,
            outbound,
            queue,
            metrics,
            metrics_token_sha256,
            cache: edge_cache,
            purges,
            limit_counters,
        })
    }

    /// Serves HTTP/1.1 on `listener` until `stop` turns true; then accepts no more connections,
    /// lets requests in flight finish (each connection closes after its current response) for
    /// up to `grace`, and cuts what is left.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut stop: tokio::sync::watch::Receiver<bool>,
        grace: Duration,
    ) -> Result<()> {
        start_epoch_ticker(self.pre.engine().clone());
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // Finished connections leave the set as they go.
            while connections.try_join_next().is_some() {}
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.wait_for(|s| *s) => break,
            };
            let _ = stream.set_nodelay(true);
            connections.spawn(self.clone().connection(stream, peer, stop.clone()));
        }
        drop(listener);
        let open = connections.len();
        let drained = tokio::time::timeout(grace, async { while connections.join_next().await.is_some() {} }).await;
        match drained {
            Ok(()) => tracing::info!(connections = open, "HTTP server stopped; requests in flight finished"),
            Err(_) => {
                tracing::warn!(
                    cut = connections.len(),
                    grace_ms = grace.as_millis() as u64,
                    "HTTP server stopped; connections still busy after the grace period were cut"
                );
                connections.abort_all();
            }
        }
        Ok(())
    }

    /// Serves one connection until it ends, or until its client has accepted no bytes for the
    /// write timeout while the server had some to write: then the connection is dropped, and
    /// with it any response body in flight (so its guest's writes fail and the guest ends).
    /// Once `stop` turns true, the connection finishes the request in flight and closes.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let (header_timeout, write_timeout) = (self.limits.header_timeout, self.limits.write_timeout);
        let progress = Arc::new(WriteProgress::new());
        let io = hyper_util::rt::TokioIo::new(ProgressIo { io: stream, progress: progress.clone() });
        // Once per connection: every request on it comes from the same peer.
        let client_addr = hyper::header::HeaderValue::from_str(&peer.to_string()).ok();
        let server = self.clone();
        let service = hyper::service::service_fn(move |req| {
            let (server, client_addr) = (server.clone(), client_addr.clone());
            async move { Ok::<_, std::convert::Infallible>(server.handle(req, client_addr, peer.ip()).await) }
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
            .serve_connection(io, service);
        let mut conn = std::pin::pin!(conn);
        let mut closing = false;
        loop {
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = progress.stalled(write_timeout) => {
                    self.metrics.write_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, timeout_ms = write_timeout.as_millis() as u64, "closed a connection whose client stopped reading");
                    return;
                }
                _ = stop.wait_for(|s| *s), if !closing => {
                    // Shutting down: the response in flight is finished, then the connection
                    // closes (an idle one closes now).
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }

    /// A store for one request, interrupted once `meter` has counted the CPU deadline.
    fn new_store(&self, meter: Arc<ExecutionMeter>) -> Store<HostState> {
        let state = HostState::new(self.limits.memory_bytes, self.kv.clone(), self.vars.clone(), self.outbound.clone())
            .with_queue(self.queue.clone())
            .with_purges(self.purges.clone());
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| s.limits());
        // The first deadline is the first yield (see `execution_budget`).
        store.set_epoch_deadline(crate::engine::YIELD_TICKS);
        store.epoch_deadline_callback(execution_budget(meter, self.limits.deadline));
        store
    }

    /// The component that answers `path`: the dashboard's for `/` and `/ui…` (when there is
    /// one), the gateway's for everything else.
    fn component_for(&self, path: &str) -> &ProxyPre<HostState> {
        let dashboard = path == "/" || path == "/ui" || path.starts_with("/ui/");
        match &self.ui {
            Some(ui) if dashboard => ui,
            _ => &self.pre,
        }
    }

    /// A place among the live instances, or the 503 that says there is none.
    fn instance_place(&self) -> Result<OwnedSemaphorePermit, Failure> {
        self.instances.clone().try_acquire_owned().map_err(|_| {
            Failure::Busy(format!("all {} instances are busy; try again shortly", self.limits.max_instances))
        })
    }

    /// The header that tells the guest the client's address (`ip:port`), as Spin names it.
    pub const CLIENT_ADDR_HEADER: &'static str = "spin-client-addr";

    /// Answers one request from the client at `client_addr` (the connection's peer, as the
    /// value of [`Self::CLIENT_ADDR_HEADER`]) and `client_ip`: from the edge cache when it can,
    /// else in a fresh instance of the component. Host-side failures become JSON 5xx responses;
    /// `GET /metrics` is answered by the host itself.
    pub async fn handle(
        &self,
        mut req: hyper::Request<hyper::body::Incoming>,
        client_addr: Option<hyper::header::HeaderValue>,
        client_ip: std::net::IpAddr,
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
        let cache_key = self.cache.as_ref().and_then(|cache| {
            edge_cache::request_key(req.method(), req.uri(), req.headers()).map(|key| (cache.clone(), key))
        });
        let (response, outcome) = match cache_key {
            Some((cache, key)) => self.through_cache(&cache, key, req, client_ip, started).await,
            None => match self.run(req, started).await {
                Ok(mut r) => {
                    // What components tell the cache is not for clients, cached or not.
                    edge_cache::strip_internal(r.headers_mut());
                    (r, edge::Outcome::Bypass)
                }
                Err(failure) => (self.failure_response(failure), edge::Outcome::Bypass),
            },
        };
        let elapsed = started.elapsed();
        self.metrics.response(response.status().as_u16(), elapsed);
        tracing::info!(
            %method,
            %path,
            status = response.status().as_u16(),
            micros = elapsed.as_micros() as u64,
            cache = outcome.as_str(),
            "request"
        );
        response
    }

    /// The host's answer for a request the component could not answer.
    fn failure_response(&self, failure: Failure) -> hyper::Response<HyperOutgoingBody> {
        if matches!(failure, Failure::Busy(_)) {
            self.metrics.busy_refusals.fetch_add(1, Ordering::Relaxed);
        }
        failure.into_response()
    }

    /// Runs the guest on `req` in a fresh instance and returns its response once the head is
    /// out; the body streams from the guest's task, which keeps the instance until it ends.
    async fn run(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        started: Instant,
    ) -> Result<hyper::Response<HyperOutgoingBody>, Failure> {
        let Ok(_slot) = self.slots.acquire().await else {
            return Err(Failure::Unavailable("the server is shutting down".into()));
        };
        let place = self.instance_place()?;
        let pre = self.component_for(req.uri().path()).clone();
        let meter = Arc::new(ExecutionMeter::new());
        let mut store = self.new_store(meter.clone());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)
            .map_err(|e| Failure::Internal(format!("{e:#}")))?;
        let out =
            store.data_mut().http().new_response_outparam(sender).map_err(|e| Failure::Internal(format!("{e:#}")))?;
        let metrics = self.metrics.clone();
        let entered = move || metrics.instantiation.record(started.elapsed());
        let guest = Lease { store, _place: place }.handle(pre, req, out, entered);
        let task = tokio::spawn(Metered::new(meter, guest));
        let abort = task.abort_handle();
        let wall = self.limits.wall_deadline();
        match tokio::time::timeout(wall, receiver).await {
            Ok(Ok(Ok(resp))) => Ok(resp.map(|body| IdleBody::new(body, wall).boxed_unsync())),
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

/// A request's store and its place among the live instances ([`Limits::max_instances`]):
/// the place is given back only after the store, and with it the instance's pool slots, is
/// gone (fields drop in order), whether the guest ended or its task was aborted.
struct Lease {
    store: Store<HostState>,
    _place: OwnedSemaphorePermit,
}

impl Lease {
    /// Instantiates the component in the store and has it handle `req`, answering on `out`;
    /// calls `entered` once instantiated. The future owns the whole lease: the place is held
    /// until the guest is done (or the future dropped), not just until the response head.
    async fn handle(
        mut self,
        pre: ProxyPre<HostState>,
        req: Resource<HostIncomingRequest>,
        out: Resource<HostResponseOutparam>,
        entered: impl FnOnce(),
    ) -> wasmtime::Result<()> {
        let proxy = pre.instantiate_async(&mut self.store).await?;
        entered();
        proxy.wasi_http_incoming_handler().call_handle(&mut self.store, req, out).await
    }
}

/// Binds `addr`, returning the listener and the address actually bound (for port 0).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
