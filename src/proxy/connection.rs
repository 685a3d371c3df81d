//! Client connection limits an edge needs and Pingora lacks: at most `max_connections` open, a
//! deadline for the whole head of every request (not only the first, and not per read, so a
//! client trickling a byte at a time is cut off), and an idle timeout between requests.
//!
//! [`GuardedApp`] wraps the proxy's `ServerApp`: it takes a connection permit (or closes the
//! connection at once), and hands the proxy a [`Guarded`] stream whose reads fail with `TimedOut`
//! past the current deadline. The proxy marks the phases through a task-local [`ConnState`]
//! (`head_done` when a head has been parsed, `request_done` when a request is finished), since a
//! connection's requests all run in the task that `process_new` runs in.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType,
};
use pingora::server::ShutdownWatch;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

use crate::admin::Metrics;
use crate::snapshot::ConnectionLimits;

tokio::task_local! {
    /// The state of the connection whose request the current task is serving.
    static CONN: Arc<ConnState>;
}

/// Marks the head of the current request as read: no deadline until the request is done.
pub fn head_done() {
    let _ = CONN.try_with(|c| c.phase.store(IN_REQUEST, Ordering::Relaxed));
}

/// Marks the current request as finished: the connection waits for the next one (idle timeout).
pub fn request_done() {
    let _ = CONN.try_with(|c| c.await_head());
}

const IN_REQUEST: u64 = u64::MAX;
const NO_BYTE: u64 = u64::MAX;

/// Where a connection is between requests, shared by its stream and the proxy's hooks.
pub struct ConnState {
    limits: ConnectionLimits,
    started: Instant,
    /// `IN_REQUEST`, or the time (ms since `started`) the wait for the next head began.
    phase: AtomicU64,
    /// Time of the first byte of the head being read, or `NO_BYTE`.
    first_byte: AtomicU64,
}

impl ConnState {
    fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            started: Instant::now(),
            phase: AtomicU64::new(0),
            first_byte: AtomicU64::new(NO_BYTE),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn await_head(&self) {
        self.first_byte.store(NO_BYTE, Ordering::Relaxed);
        self.phase.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The deadline of the read in progress, and what passing it means; `None` inside a request.
    fn deadline(&self) -> Option<(Instant, Closed)> {
        let waiting_since = self.phase.load(Ordering::Relaxed);
        if waiting_since == IN_REQUEST {
            return None;
        }
        let at = |ms: u64, limit: Duration| self.started + Duration::from_millis(ms) + limit;
        Some(match self.first_byte.load(Ordering::Relaxed) {
            NO_BYTE => (at(waiting_since, self.limits.idle_timeout), Closed::Idle),
            first => (at(first, self.limits.header_timeout), Closed::HeaderTimeout),
        })
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

/// The proxy app behind the connection limits.
pub struct GuardedApp<A> {
    inner: Arc<A>,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl<A> GuardedApp<A> {
    pub fn new(inner: A, limits: ConnectionLimits, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Arc::new(inner),
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            metrics,
        }
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
        self.metrics.connections_open.inc();
        let state = Arc::new(ConnState::new(self.limits));
        let guarded = Guarded {
            inner: stream,
            state: state.clone(),
            sleep: None,
            metrics: self.metrics.clone(),
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

/// A client stream whose reads honour the connection's current deadline.
pub struct Guarded {
    inner: Stream,
    state: Arc<ConnState>,
    /// The timer of the current deadline, re-armed when the deadline moves.
    sleep: Option<Pin<Box<Sleep>>>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for Guarded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Guarded {
    /// Polls the deadline timer; `Ready` once `at` has passed. The timer is re-armed only when
    /// the deadline moves earlier (a head's first byte) or when it fires before the (later) real
    /// deadline, so a busy keep-alive connection, whose idle deadline moves later with every
    /// request, costs no timer update per request.
    fn poll_deadline(&mut self, cx: &mut Context<'_>, at: Instant) -> Poll<()> {
        let sleep = match &mut self.sleep {
            Some(sleep) => {
                if sleep.deadline() > at {
                    sleep.as_mut().reset(at);
                }
                sleep
            }
            None => self.sleep.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        loop {
            match sleep.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if Instant::now() >= at => return Poll::Ready(()),
                Poll::Ready(()) => sleep.as_mut().reset(at),
            }
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some((at, why)) = this.state.deadline() else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before
                    && this.state.first_byte.load(Ordering::Relaxed) == NO_BYTE
                {
                    let now = this.state.now_ms();
                    this.state.first_byte.store(now, Ordering::Relaxed);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.poll_deadline(cx, at) {
                Poll::Ready(()) => {
                    this.metrics.connection_closed(why.label());
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("client {}", why.label()),
                    )))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

use std::future::Future;

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
