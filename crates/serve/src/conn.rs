//! The accept loop and the life of each connection: a cap on open connections, the
//! header-read and idle timeouts, and graceful shutdown with a deadline.
//!
//! `axum::serve` has none of these (it waits for every connection at shutdown, however
//! stuck, and retries a failed accept once a second, logging each time), so connections
//! are served here with hyper's HTTP/1 server directly. Each connection runs as a task
//! beside a small monitor that knows its phase from the bytes read and the requests
//! answered:
//!
//! - *idle* (before the first byte of a request): closed after the idle timeout;
//! - *reading a head* (some bytes of a request, its headers not complete): closed after the
//!   header timeout, counted from its first byte, so a client that sends one byte a second
//!   cannot hold it open;
//! - *busy* (a request is being handled): the request timeout of the routes applies.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// The connection limits of [`crate::ServeOptions`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in progress finish within `limits.shutdown_timeout`, and drops the connections
/// still open after it.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(REFUSALS_AT_ONCE));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut accept_errors = AcceptErrors::default();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    // Small JSON answers: send each at once rather than wait to fill a packet.
                    let _ = stream.set_nodelay(true);
                    match Arc::clone(&slots).try_acquire_owned() {
                        Ok(slot) => {
                            let conn = connection(stream, app.clone(), limits, stop_rx.clone(), slot);
                            connections.spawn(conn);
                        }
                        Err(_) => refuse(stream, &refusals, limits.max_connections),
                    }
                }
                Err(e) => {
                    accept_errors.report(&e);
                    // Out of descriptors (or another transient error): wait for some to be
                    // freed rather than spin, but stay responsive to the shutdown.
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_RETRY) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = connections.len();
    tracing::debug!(
        open,
        "stopped accepting; finishing the requests in progress"
    );
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "closing the connections still open after the shutdown deadline of {:.1} s",
            limits.shutdown_timeout.as_secs_f64()
        );
        connections.shutdown().await;
    }
}

/// How long the accept loop waits after a failed accept (out of descriptors, say).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Refusals being written at once; beyond them a connection over the cap is closed at once.
const REFUSALS_AT_ONCE: usize = 64;

/// How long a refused client may take to send its request before its socket is closed
/// (read and discarded so that the close does not reset the connection before the client
/// has read the answer).
const REFUSAL_LINGER: Duration = Duration::from_millis(500);

/// Answers a connection over the cap with `503` and closes it: in a task of its own that
/// waits for the client to close (so that the close does not reset the connection before
/// the client has read the answer), or, with [`REFUSALS_AT_ONCE`] such tasks already
/// running, at once as well as it can.
fn refuse(stream: TcpStream, refusals: &Arc<Semaphore>, max_connections: usize) {
    tracing::debug!(max_connections, "refusing a connection over the cap");
    let body = format!(
        r#"{{"error":"the server has its maximum of {max_connections} open connections; try again later"}}"#
    );
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nretry-after: 1\r\n\r\n{body}",
        body.len()
    );
    let Ok(permit) = Arc::clone(refusals).try_acquire_owned() else {
        // Read what the client has sent already (closing with unread bytes would reset the
        // connection), answer into the socket's buffer, close.
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let _ = stream.try_write(response.as_bytes());
        return;
    };
    let mut stream = stream;
    tokio::spawn(async move {
        let _permit = permit;
        let write = async {
            stream.write_all(response.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 4096];
            let mut left = 64 * 1024usize;
            while left > 0 {
                let n = tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await?;
                if n == 0 {
                    break;
                }
                left = left.saturating_sub(n);
            }
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, write).await;
    });
}

/// Serves one connection until it closes, times out, or the shutdown asks it to finish.
async fn connection(
    stream: TcpStream,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Tracked {
        inner: stream,
        state: Arc::clone(&state),
    });
    let service = {
        let state = Arc::clone(&state);
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let busy = Busy::start(Arc::clone(&state));
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(Body::new)).await;
                drop(busy);
                response
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The monitor below does hyper's header timeout, with an idle timeout beside it.
    builder.header_read_timeout(None);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = state.deadline(&limits);
        let expire = async {
            match deadline {
                Some((at, _)) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection ended: {e}");
                }
                return;
            }
            () = expire => {
                if let Some((at, why)) = state.deadline(&limits)
                    && at <= Instant::now()
                {
                    tracing::debug!("closing a connection: {why}");
                    return;
                }
            }
            () = state.changed.notified() => {}
            // A closed channel means the server is gone: finish as for a shutdown.
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Where a connection is in its request cycle, for its timeouts.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request since this instant.
    Idle(Instant),
    /// Reading a request's head, whose first byte came at this instant.
    Head(Instant),
    /// This many requests are being handled.
    Busy(usize),
}

#[derive(Debug)]
struct ConnState {
    phase: Mutex<Phase>,
    /// Wakes the monitor when the phase moves its deadline earlier.
    changed: Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // The phase is plain data: a panic elsewhere leaves it valid.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self, limits: &ConnLimits) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Idle(since) => Some((since + limits.idle_timeout, "idle timeout")),
            Phase::Head(since) => Some((
                since + limits.header_timeout,
                "request headers not received within the header timeout",
            )),
            Phase::Busy(_) => None,
        }
    }

    fn on_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.changed.notify_one();
        }
    }
}

/// Marks a connection busy while one of its requests is handled.
struct Busy(Arc<ConnState>);

impl Busy {
    fn start(state: Arc<ConnState>) -> Self {
        {
            let mut phase = state.phase();
            *phase = match *phase {
                Phase::Busy(n) => Phase::Busy(n + 1),
                _ => Phase::Busy(1),
            };
        }
        state.changed.notify_one();
        Self(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut phase = self.0.phase();
            *phase = match *phase {
                Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
                _ => Phase::Idle(Instant::now()),
            };
        }
        self.0.changed.notify_one();
    }
}

/// A TCP stream that tells its connection's state when bytes arrive.
struct Tracked {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.on_read();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Logs failed accepts at most once per [`AcceptErrors::EVERY`], with the count since.
#[derive(Debug, Default)]
struct AcceptErrors {
    last: Option<Instant>,
    hidden: u64,
}

impl AcceptErrors {
    const EVERY: Duration = Duration::from_secs(30);

    fn report(&mut self, e: &io::Error) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now < t + Self::EVERY) {
            self.hidden += 1;
            return;
        }
        tracing::warn!(
            "could not accept a connection: {e} ({} more since the last report); \
             new clients wait until descriptors are freed (lower the connection cap or \
             raise the open-file limit)",
            self.hidden
        );
        self.last = Some(now);
        self.hidden = 0;
    }
}
