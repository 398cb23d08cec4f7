//! A connection's socket that records whether its client accepts the bytes the server writes,
//! so that a client that stops reading is found and disconnected.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An optional instant that threads share without a lock: nanoseconds since an origin, or
/// none.
#[derive(Debug)]
pub(super) struct AtomicMark {
    origin: Instant,
    nanos: AtomicU64,
}

impl AtomicMark {
    const NONE: u64 = u64::MAX;

    pub(super) fn new() -> AtomicMark {
        AtomicMark { origin: Instant::now(), nanos: AtomicU64::new(Self::NONE) }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(Self::NONE - 1)
    }

    /// Marks now.
    pub(super) fn set(&self) {
        self.nanos.store(self.now(), Ordering::Relaxed);
    }

    /// Marks now unless a mark is set.
    pub(super) fn set_if_none(&self) {
        let _ = self.nanos.compare_exchange(Self::NONE, self.now(), Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Removes the mark; returns the time since it, if there was one.
    pub(super) fn take(&self) -> Option<Duration> {
        let at = self.nanos.swap(Self::NONE, Ordering::Relaxed);
        self.since(at)
    }

    /// The time since the mark, if there is one.
    pub(super) fn elapsed(&self) -> Option<Duration> {
        self.since(self.nanos.load(Ordering::Relaxed))
    }

    fn since(&self, at: u64) -> Option<Duration> {
        (at != Self::NONE).then(|| Duration::from_nanos(self.now().saturating_sub(at)))
    }
}

/// Whether a connection's writes are stuck: since when its socket has refused bytes the server
/// had to write (a write returned `Pending`), with no write accepted since.
#[derive(Debug)]
pub(super) struct WriteProgress {
    stalled: AtomicMark,
}

impl WriteProgress {
    /// A connection that has not stalled.
    pub(super) fn new() -> WriteProgress {
        WriteProgress { stalled: AtomicMark::new() }
    }

    /// Records the outcome of a write to the socket.
    pub(super) fn record<T>(&self, write: &Poll<T>) {
        if write.is_pending() {
            self.stalled.set_if_none();
        } else {
            self.stalled.take();
        }
    }

    /// How long the connection has been stalled, if it is.
    pub(super) fn stalled_for(&self) -> Option<Duration> {
        self.stalled.elapsed()
    }

    /// Resolves once the connection has been stalled for `timeout` without a byte accepted.
    pub(super) async fn stalled(&self, timeout: Duration) {
        loop {
            let wait = match self.stalled_for() {
                Some(stalled) if stalled >= timeout => return,
                Some(stalled) => timeout - stalled,
                None => timeout,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// A connection's socket that records in [`WriteProgress`] whether its writes are accepted.
pub(super) struct ProgressIo<T> {
    pub(super) io: T,
    pub(super) progress: Arc<WriteProgress>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ProgressIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ProgressIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progress.record(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progress.record(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    #[test]
    fn write_progress_times_a_stall_and_forgets_it_on_progress() {
        let progress = WriteProgress::new();
        assert_eq!(progress.stalled_for(), None);
        progress.record(&Poll::<()>::Pending);
        std::thread::sleep(Duration::from_millis(20));
        progress.record(&Poll::<()>::Pending);
        assert!(progress.stalled_for().unwrap() >= Duration::from_millis(20), "the first refusal counts");
        progress.record(&Poll::Ready(()));
        assert_eq!(progress.stalled_for(), None);

        progress.record(&Poll::<()>::Pending);
        let started = Instant::now();
        runtime().block_on(progress.stalled(Duration::from_millis(100)));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(100) && took < Duration::from_millis(400), "{took:?}");
    }
}
