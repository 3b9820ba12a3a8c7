//! Serving a fine-tuned GPT-2 classifier over HTTP.
//!
//! `spam-cli serve --model RUN_DIR [--addr 127.0.0.1:8000]` runs [`serve_blocking`]:
//!
//! - `POST /v1/classify` with `{"text": "..."}` or `{"texts": ["...", ...]}` answers
//!   `{"model": {"labels": ["ham", "spam"]}, "results": [{"text": "...", "label": "spam",
//!   "probabilities": {"ham": 0.02, "spam": 0.98}}]}` (one result per text, in order);
//! - `GET /healthz` answers `{"status": "ok", "labels": [...]}`;
//! - `GET /` is a self-contained page to type a message and see `spam (98.2%)` or
//!   `ham (...)`; `/?text=...` classifies that text as soon as the page loads.
//!
//! Every error is JSON `{"error": "..."}` with a 4xx status for a bad request (malformed
//! JSON, wrong types, an empty text, too many texts, a body over the size limit, invalid
//! UTF-8, a POST that is not `Content-Type: application/json` (415), an unknown route, a
//! `Host` that is not the server's (421), more than one `Host` header (400, on every
//! server)) and 5xx when the server cannot answer (timeout, model failure, too many
//! connections). A 500 carries a generic message and the request id (also in the
//! `x-request-id` header of every answer); the detail goes to the log.
//!
//! The model runs on one worker thread that owns the [`Predictor`] ([`spawn_worker`]):
//! requests that arrive together are classified together in one batch, up to
//! [`ServeOptions::max_batch`] texts. If the model fails, the worker stops and `/healthz`
//! answers 503. The server listens on loopback by default and then answers only requests
//! whose `Host` names it (`localhost`, `127.0.0.1`, `[::1]` with its port, or
//! [`ServeOptions::allowed_hosts`]), so that a web page cannot reach it through DNS
//! rebinding; POSTs must be JSON, which a cross-site form cannot send. It limits the body
//! size, the texts per request, the characters per text, the requests in flight and the
//! open connections (more get an immediate 503), bounds each request in time, closes
//! connections that send their headers too slowly or sit idle, and shuts down gracefully on
//! Ctrl-C or SIGTERM: requests in progress get [`ServeOptions::shutdown_timeout`], then the
//! connections left are dropped; a second signal stops at once.
//!
//! ```no_run
//! use std::path::Path;
//! use spam_serve::{ServeOptions, serve_blocking};
//! use spam_model::Predictor;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let predictor = Predictor::load(Path::new("runs/spam"), tch::Device::Cpu)?;
//! serve_blocking(predictor, ServeOptions::default(), |event| eprintln!("{event:?}"))?;
//! # Ok(()) }
//! ```
//!
//! For tests, [`router`] gives the routes over a [`WorkerHandle`], to serve on any listener.

#![warn(missing_docs)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use spam_model::Predictor;
use tokio::net::TcpListener;

mod api;
mod body;
mod conn;
mod error;
mod hosts;
mod request_id;
mod state;
mod tei;
mod worker;

pub use api::{
    ClassifyRequest, ClassifyResponse, ClassifyResult, INDEX_HTML, ModelInfo, parse_request, router,
};
pub use error::ApiError;
pub use worker::{WorkerError, WorkerHandle, WorkerOptions, spawn_worker, spawn_worker_with};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound (in use, no permission, not local).
    #[error("could not listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime could not start.
    #[error("could not start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// The HTTP server failed while serving.
    #[error("the HTTP server failed")]
    Server(#[source] std::io::Error),
}

/// What the server reports as it runs; the caller decides what to show (the library
/// never prints).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServeEvent {
    /// Listening on this address.
    Listening(SocketAddr),
    /// The address is reachable from other machines, and the API has no authentication.
    NotLoopback(SocketAddr),
    /// A shutdown signal arrived: requests in progress are being finished (within
    /// [`ServeOptions::shutdown_timeout`]; a second signal stops at once).
    ShuttingDown,
    /// A second signal arrived during the shutdown: the server stops without waiting.
    ForcedStop,
    /// The open-file limit of the process leaves room for fewer connections than
    /// [`ServeOptions::max_connections`]: the cap is lowered to `allowed`.
    ConnectionsCapped {
        /// The cap asked for.
        requested: usize,
        /// The cap used.
        allowed: usize,
        /// The process's open-file limit.
        open_files: u64,
    },
}

/// Where and how to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Address to listen on (default `127.0.0.1:8000`, loopback only).
    pub addr: SocketAddr,
    /// Largest request body accepted (default 1 MiB); larger ones get 413.
    pub max_body_bytes: usize,
    /// Most texts in one request (default 256).
    pub max_texts: usize,
    /// Most characters in one text (default 10,000; the model reads only its first tokens).
    pub max_text_chars: usize,
    /// Time allowed for one request, from its arrival to its answer (default 30 s); past it
    /// the answer is 503.
    pub request_timeout: Duration,
    /// Most texts the worker classifies in one batch (default 64).
    pub max_batch: usize,
    /// How long the worker waits for more requests to fill a batch (default 1 ms).
    pub batch_wait: Duration,
    /// Requests handled at once (default 1024); more wait for a slot within their timeout.
    pub max_in_flight: usize,
    /// Open connections at most (default 1024); more are answered `503` and closed. [`serve`]
    /// raises the process's open-file limit to fit, or lowers this to what the limit allows.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from its first byte (default 10 s);
    /// past it the connection is closed.
    pub header_timeout: Duration,
    /// Time a connection may wait for its next request (default 60 s); then it is closed.
    pub idle_timeout: Duration,
    /// Time the requests in progress get to finish after a shutdown signal (default 10 s);
    /// then the connections still open are dropped.
    pub shutdown_timeout: Duration,
    /// Host names (optionally `name:port`) answered besides the loopback names, when
    /// listening on loopback; `*` answers any `Host`. On another address the `Host` is
    /// checked only when this is not empty (default: empty).
    pub allowed_hosts: Vec<String>,
    /// What `GET /v1/info` and the page say about the run being served (read from its run
    /// directory with [`spam_model::RunInfo::read`]; empty by default). Its size and token
    /// position are replaced by the served model's ([`spam_model::RunInfo::with_model`]).
    pub info: spam_model::RunInfo,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8000)),
            max_body_bytes: 1 << 20,
            max_texts: 256,
            max_text_chars: 10_000,
            request_timeout: Duration::from_secs(30),
            max_batch: 64,
            batch_wait: Duration::from_millis(1),
            max_in_flight: 1024,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(10),
            allowed_hosts: Vec::new(),
            info: spam_model::RunInfo::default(),
        }
    }
}

impl ServeOptions {
    /// The worker's batching options implied by these options.
    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions {
            max_batch: self.max_batch,
            batch_wait: self.batch_wait,
            queue_capacity: self.max_in_flight.max(1),
        }
    }
}

/// Binds `opts.addr`, reports [`ServeEvent::Listening`], and serves until Ctrl-C or SIGTERM;
/// requests in progress get [`ServeOptions::shutdown_timeout`] to finish, and a second
/// signal returns at once.
pub async fn serve(
    predictor: Predictor,
    mut opts: ServeOptions,
    on_event: impl Fn(ServeEvent) + Send + Sync + 'static,
) -> Result<(), ServeError> {
    let bind = |source| ServeError::Bind {
        addr: opts.addr,
        source,
    };
    // Listen for signals before serving, so that none is missed.
    let mut signals = Signals::new();
    if let Some(open_files) = fit_open_file_limit(opts.max_connections) {
        let allowed = open_files_for_connections(open_files);
        if allowed < opts.max_connections {
            on_event(ServeEvent::ConnectionsCapped {
                requested: opts.max_connections,
                allowed,
                open_files,
            });
            tracing::warn!(
                open_files,
                "the open-file limit allows {allowed} connections, not {}",
                opts.max_connections
            );
            opts.max_connections = allowed;
        }
    }
    let listener = TcpListener::bind(opts.addr).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    on_event(ServeEvent::Listening(addr));
    if !addr.ip().is_loopback() {
        on_event(ServeEvent::NotLoopback(addr));
        tracing::warn!(%addr, "listening on a non-loopback address");
    }
    tracing::info!(%addr, labels = ?predictor.label_names(), "serving");
    let worker = spawn_worker_with(predictor, opts.worker_options());
    let worker_ended = worker.ended_flag();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = serve_on(listener, worker, &opts, async move {
        let _ = stopped.await;
    });
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = signals.next() => {}
    }
    on_event(ServeEvent::ShuttingDown);
    tracing::info!("shutting down");
    let _ = stop.send(());
    let finish = async {
        server.await?;
        // The process may exit as soon as this returns: let the model finish the batch it
        // is on, so that libtorch is not torn down under it (within a second deadline).
        let deadline = tokio::time::Instant::now() + opts.shutdown_timeout;
        while !worker_ended.load(std::sync::atomic::Ordering::Acquire)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok::<(), ServeError>(())
    };
    tokio::select! {
        result = finish => result?,
        () = signals.next() => {
            on_event(ServeEvent::ForcedStop);
            tracing::warn!("second signal: stopping without waiting for requests in progress");
            return Ok(());
        }
    }
    tracing::info!("server stopped");
    Ok(())
}

/// Serves the routes on an already bound listener until `shutdown` completes, then
/// finishes the requests in progress (within [`ServeOptions::shutdown_timeout`], after
/// which the connections still open are dropped) and returns.
///
/// The `Host` check, when on, uses the listener's address (not `opts.addr`).
pub async fn serve_on(
    listener: TcpListener,
    worker: WorkerHandle,
    opts: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let local = listener.local_addr().map_err(ServeError::Server)?;
    let app = router(
        worker,
        &ServeOptions {
            addr: local,
            ..opts.clone()
        },
    );
    let limits = conn::ConnLimits {
        max_connections: opts.max_connections,
        header_timeout: opts.header_timeout,
        idle_timeout: opts.idle_timeout,
        shutdown_timeout: opts.shutdown_timeout,
    };
    conn::serve_connections(listener, app, limits, shutdown).await;
    Ok(())
}

/// [`serve`] on a new multi-threaded tokio runtime: what `spam-cli serve` calls.
pub fn serve_blocking(
    predictor: Predictor,
    opts: ServeOptions,
    on_event: impl Fn(ServeEvent) + Send + Sync + 'static,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("spam-serve")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(serve(predictor, opts, on_event))
}

/// Descriptors kept for everything but client connections (the listener, libtorch's
/// files, logs, the runtime).
const OTHER_OPEN_FILES: u64 = 128;

/// Client connections that fit in an open-file limit.
fn open_files_for_connections(open_files: u64) -> usize {
    usize::try_from(open_files.saturating_sub(OTHER_OPEN_FILES))
        .unwrap_or(usize::MAX)
        .max(1)
}

/// Raises the soft open-file limit (up to the hard one) so that `connections` fit, and
/// returns the limit in force; `None` when it cannot be read.
#[cfg(unix)]
fn fit_open_file_limit(connections: usize) -> Option<u64> {
    let wanted = u64::try_from(connections)
        .unwrap_or(u64::MAX)
        .saturating_add(OTHER_OPEN_FILES);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    // `rlim_t` is u64 on Linux and macOS, not on every Unix.
    #[allow(clippy::useless_conversion)]
    let current = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
    #[allow(clippy::useless_conversion)]
    let hard = u64::try_from(limit.rlim_max).unwrap_or(u64::MAX);
    let target = wanted.min(hard);
    if current >= wanted || target <= current {
        return Some(current);
    }
    let raised = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: setrlimit only reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        Some(target)
    } else {
        Some(current)
    }
}

#[cfg(not(unix))]
fn fit_open_file_limit(_connections: usize) -> Option<u64> {
    None
}

/// Ctrl-C and, on Unix, SIGTERM, listened for from creation on and as often as they come.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind, name: &str| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot listen for {name}: {e}");
                    None
                }
            };
            Self {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Completes at the next signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) {
                if let Some(s) = signal
                    && s.recv().await.is_some()
                {
                    return;
                }
                std::future::pending().await
            }
            tokio::select! {
                () = recv(&mut self.interrupt) => {}
                () = recv(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    }
}
