//! What bounds a request's guest in time: its execution (CPU) time, metered across its task's
//! polls and checked at each epoch deadline, and the idle time of its response body.

use super::io::AtomicMark;
use crate::engine::{deadline_ticks, yield_then_continue};
use crate::state::HostState;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use wasmtime::{StoreContextMut, UpdateDeadline};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The time a request's guest has spent executing: the time inside its task's `poll` (the
/// guest's code, and the host calls it makes synchronously), not the time the task waits (on a
/// slow client, a socket, a timer). The CPU deadline is counted in it.
#[derive(Debug)]
pub(super) struct ExecutionMeter {
    /// Nanoseconds spent in finished polls.
    spent: AtomicU64,
    /// The start of the poll in progress.
    polling: AtomicMark,
}

impl ExecutionMeter {
    /// A meter at zero.
    pub(super) fn new() -> ExecutionMeter {
        ExecutionMeter { spent: AtomicU64::new(0), polling: AtomicMark::new() }
    }

    pub(super) fn enter(&self) {
        self.polling.set();
    }

    pub(super) fn exit(&self) {
        if let Some(d) = self.polling.take() {
            self.spent.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// The execution time so far, the poll in progress included.
    pub(super) fn spent(&self) -> Duration {
        Duration::from_nanos(self.spent.load(Ordering::Relaxed)) + self.polling.elapsed().unwrap_or_default()
    }
}

/// A future whose polls an [`ExecutionMeter`] times.
pub(super) struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<ExecutionMeter>,
}

impl<F: Future> Metered<F> {
    pub(super) fn new(meter: Arc<ExecutionMeter>, inner: F) -> Metered<F> {
        Metered { inner: Box::pin(inner), meter }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        self.meter.enter();
        let polled = self.inner.as_mut().poll(cx);
        self.meter.exit();
        polled
    }
}

/// The epoch-deadline callback of a request's store: at each epoch deadline (every
/// [`YIELD_TICKS`] of running), the guest yields to the async runtime and then goes on if `meter`
/// has counted less than `budget` (time spent waiting does not count), and is interrupted
/// (`Trap::Interrupt`) otherwise. Yielding is what keeps a long guest (a preview compiling a
/// big list) from holding one of the few async workers, and the requests queued behind it,
/// until it ends.
pub(super) fn execution_budget(
    meter: Arc<ExecutionMeter>,
    budget: Duration,
) -> impl FnMut(StoreContextMut<'_, HostState>) -> wasmtime::Result<UpdateDeadline> + Send + Sync + 'static {
    move |_| {
        Ok(match budget.checked_sub(meter.spent()) {
            Some(left) if !left.is_zero() => yield_then_continue(deadline_ticks(left)),
            _ => UpdateDeadline::Interrupt,
        })
    }
}

/// A guest's response body that ends in an error once the guest has produced no bytes for
/// `idle` while the connection was ready for more (a guest stuck after its response head).
/// Time the client takes to read does not count: the clock runs only from a poll that found
/// nothing, and a stalled connection does not poll its body.
pub(super) struct IdleBody {
    inner: HyperOutgoingBody,
    idle: Duration,
    /// When the body, asked for a frame, last had none; reset by each frame.
    waiting: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl IdleBody {
    pub(super) fn new(inner: HyperOutgoingBody, idle: Duration) -> IdleBody {
        IdleBody { inner, idle, waiting: None }
    }
}

impl Body for IdleBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = None;
            return Poll::Ready(frame);
        }
        let idle = this.idle;
        let waiting = this.waiting.get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
        match waiting.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                tracing::warn!(
                    idle_ms = idle.as_millis() as u64,
                    "a response body produced nothing for too long; ended"
                );
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::HttpResponseTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::time::Instant;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// Busy for `d` of wall time, without yielding.
    fn spin(d: Duration) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn the_meter_counts_time_inside_poll_not_time_waiting() {
        let meter = Arc::new(ExecutionMeter::new());
        let task = Metered::new(meter.clone(), async {
            spin(Duration::from_millis(30));
            tokio::time::sleep(Duration::from_millis(300)).await;
            spin(Duration::from_millis(30));
        });
        runtime().block_on(task);
        let spent = meter.spent();
        assert!(spent >= Duration::from_millis(60), "{spent:?}");
        assert!(spent < Duration::from_millis(200), "counted waiting: {spent:?}");
    }

    /// A body that never has a frame.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = wasmtime_wasi_http::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[test]
    fn a_silent_body_ends_in_an_error_after_its_idle_bound_and_a_live_one_streams() {
        runtime().block_on(async {
            let idle = Duration::from_millis(100);
            let started = Instant::now();
            let mut silent = IdleBody::new(Silent.boxed_unsync(), idle);
            let frame = silent.frame().await;
            assert!(matches!(frame, Some(Err(wasmtime_wasi_http::Error::HttpResponseTimeout))), "{frame:?}");
            assert!(started.elapsed() >= idle);

            let full = Full::new(Bytes::from_static(b"body")).map_err(|never| match never {}).boxed_unsync();
            let body = IdleBody::new(full, idle);
            assert_eq!(body.size_hint().exact(), Some(4));
            assert_eq!(body.collect().await.unwrap().to_bytes(), "body");
        });
    }
}
