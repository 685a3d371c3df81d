//! Client connection limits an edge needs and Pingora lacks: at most `max_connections` open, a
//! deadline for the whole head of every request (not only the first, and not per read, so a
//! client trickling a byte at a time is cut off), and an idle timeout between requests.
//!
//! [`GuardedApp`] wraps the proxy's `ServerApp`: it takes a connection permit (or closes the
//! connection at once) and hands the proxy a [`Guarded`] stream. The request path pays no timer
//! and no clock read for this: each connection has a [`ConnState`] whose phase the stream and the
//! proxy's hooks advance with plain atomics (waiting → head started → in request → waiting), and
//! one sweeper task looks at every connection a few times a second. A connection that stayed in
//! `waiting` past the idle timeout, or in `head started` past the header timeout, is marked
//! expired and its pending read woken; the read then fails with `TimedOut`, which closes the
//! connection. A deadline is so enforced to within one sweep (a tenth of the shorter timeout,
//! 50 ms to 1 s). The hooks reach the state through a task-local, since a connection's requests
//! all run in the task that `process_new` runs in.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use atomic_waker::AtomicWaker;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::admin::Metrics;
use crate::snapshot::ConnectionLimits;

tokio::task_local! {
    /// The state of the connection whose request the current task is serving.
    static CONN: Arc<ConnState>;
}

/// Marks the head of the current request as read: no deadline until the request is done.
pub fn head_done() {
    let _ = CONN.try_with(|c| c.enter(IN_REQUEST));
}

/// Marks the current request as finished: the connection waits for the next one (idle timeout).
pub fn request_done() {
    let _ = CONN.try_with(|c| c.enter(WAITING));
}

/// No request in progress, no byte of the next head yet: the idle timeout runs.
const WAITING: u8 = 0;
/// Some bytes of a head arrived: the header timeout runs.
const HEAD_STARTED: u8 = 1;
/// A head was read; the request is being served: no deadline.
const IN_REQUEST: u8 = 2;

/// Where a connection is between requests, shared by its stream, the proxy's hooks and the
/// sweeper.
pub struct ConnState {
    phase: AtomicU8,
    /// Bumped on every phase change, so the sweeper tells a phase it saw before from a new one.
    epoch: AtomicU64,
    /// Set by the sweeper once a deadline passed; the next read fails.
    expired: AtomicBool,
    /// The read waiting for bytes, woken when the connection expires.
    reader: AtomicWaker,
}

impl ConnState {
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(WAITING),
            epoch: AtomicU64::new(0),
            expired: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        }
    }

    fn enter(&self, phase: u8) {
        self.phase.store(phase, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::Relaxed);
    }

    /// The timeout of the current phase, if it has one.
    fn timeout(&self, limits: &ConnectionLimits) -> Option<(Duration, Closed)> {
        match self.phase.load(Ordering::Relaxed) {
            WAITING => Some((limits.idle_timeout, Closed::Idle)),
            HEAD_STARTED => Some((limits.header_timeout, Closed::HeaderTimeout)),
            _ => None,
        }
    }
}

/// Why the gateway closed a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    Idle,
    HeaderTimeout,
}

impl Closed {
    fn label(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::HeaderTimeout => "header_timeout",
        }
    }
}

/// One open connection as the sweeper tracks it.
struct Tracked {
    conn: Weak<ConnState>,
    /// The epoch seen at the last sweep, and since when it has not changed.
    epoch: u64,
    since: Instant,
}

/// The proxy app behind the connection limits.
pub struct GuardedApp<A> {
    inner: Arc<A>,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
    tracked: Arc<Mutex<Vec<Tracked>>>,
    sweeper: Once,
}

impl<A> GuardedApp<A> {
    pub fn new(inner: A, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(inner),
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            metrics,
            tracked: Arc::new(Mutex::new(Vec::new())),
            sweeper: Once::new(),
        }
    }

    /// Starts the sweeper on the runtime of the first connection; it ends with the app.
    fn start_sweeper(&self) {
        self.sweeper.call_once(|| {
            let sweeper = Sweeper {
                tracked: Arc::downgrade(&self.tracked),
                limits: self.limits,
                metrics: self.metrics.clone(),
            };
            tokio::spawn(sweeper.run());
        });
    }
}

/// Expires connections that sat in one phase past its timeout.
struct Sweeper {
    tracked: Weak<Mutex<Vec<Tracked>>>,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
}

impl Sweeper {
    async fn run(self) {
        let every = (self.limits.header_timeout.min(self.limits.idle_timeout) / 10)
            .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(tracked) = self.tracked.upgrade() else {
                return;
            };
            let expired = match tracked.lock() {
                Ok(mut list) => self.sweep(&mut list, Instant::now()),
                Err(_) => return,
            };
            for (conn, why) in expired {
                conn.expired.store(true, Ordering::Relaxed);
                conn.reader.wake();
                self.metrics.connection_closed(why.label());
            }
        }
    }

    /// Forgets closed connections and takes out the overdue ones.
    fn sweep(&self, list: &mut Vec<Tracked>, now: Instant) -> Vec<(Arc<ConnState>, Closed)> {
        let mut expired = Vec::new();
        list.retain_mut(|t| {
            let Some(conn) = t.conn.upgrade() else {
                return false;
            };
            let epoch = conn.epoch.load(Ordering::Relaxed);
            if epoch != t.epoch {
                (t.epoch, t.since) = (epoch, now);
                return true;
            }
            match conn.timeout(&self.limits) {
                Some((limit, why)) if now.duration_since(t.since) >= limit => {
                    expired.push((conn, why));
                    false
                }
                _ => true,
            }
        });
        expired
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            // Dropping the stream closes it: nothing is read, nothing is served.
            self.metrics.connection_closed("over_limit");
            return None;
        };
        self.start_sweeper();
        self.metrics.connections_open.inc();
        let state = Arc::new(ConnState::new());
        if let Ok(mut list) = self.tracked.lock() {
            list.push(Tracked {
                conn: Arc::downgrade(&state),
                epoch: 0,
                since: Instant::now(),
            });
        }
        let guarded = Guarded {
            inner: stream,
            state: state.clone(),
        };
        let result = CONN
            .scope(state, self.inner.process_new(Box::new(guarded), shutdown))
            .await;
        self.metrics.connections_open.dec();
        result
    }

    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// A client stream whose reads fail once its connection expired.
pub struct Guarded {
    inner: Stream,
    state: Arc<ConnState>,
}

impl fmt::Debug for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .finish()
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let state = &this.state;
        let phase = state.phase.load(Ordering::Relaxed);
        if phase == IN_REQUEST {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if state.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client was too slow or idle too long",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) if phase == WAITING && buf.filled().len() > before => {
                state.enter(HEAD_STARTED);
            }
            Poll::Pending => state.reader.register(cx.waker()),
            _ => {}
        }
        result
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sweeper() -> Sweeper {
        Sweeper {
            tracked: Weak::new(),
            limits: ConnectionLimits {
                header_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 8,
            },
            metrics: Arc::new(Metrics::new().unwrap()),
        }
    }

    fn track(conn: &Arc<ConnState>, since: Instant) -> Tracked {
        Tracked {
            conn: Arc::downgrade(conn),
            epoch: conn.epoch.load(Ordering::Relaxed),
            since,
        }
    }

    #[tokio::test]
    async fn each_phase_expires_after_its_own_timeout_and_progress_resets_the_clock() {
        let s = sweeper();
        let t0 = Instant::now();
        let (idle, slow, busy) = (
            Arc::new(ConnState::new()),
            Arc::new(ConnState::new()),
            Arc::new(ConnState::new()),
        );
        slow.enter(HEAD_STARTED);
        busy.enter(IN_REQUEST);
        let mut list = vec![track(&idle, t0), track(&slow, t0), track(&busy, t0)];
        let labels =
            |v: Vec<(Arc<ConnState>, Closed)>| v.into_iter().map(|(_, w)| w).collect::<Vec<_>>();
        assert!(s.sweep(&mut list, t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(
            labels(s.sweep(&mut list, t0 + Duration::from_secs(10))),
            [Closed::HeaderTimeout]
        );
        // the idle one makes progress: its clock restarts from the sweep that saw it
        idle.enter(IN_REQUEST);
        idle.enter(WAITING);
        assert!(s.sweep(&mut list, t0 + Duration::from_secs(59)).is_empty());
        assert!(s.sweep(&mut list, t0 + Duration::from_secs(100)).is_empty());
        assert_eq!(
            labels(s.sweep(&mut list, t0 + Duration::from_secs(119))),
            [Closed::Idle]
        );
        // a request in progress never expires; a dropped connection is forgotten
        assert!(
            s.sweep(&mut list, t0 + Duration::from_secs(10_000))
                .is_empty()
        );
        assert_eq!(list.len(), 1);
        drop(busy);
        s.sweep(&mut list, t0 + Duration::from_secs(10_001));
        assert!(list.is_empty());
    }
}
