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
//! UTF-8, an unknown route) and 5xx when the server cannot answer (timeout, model failure).
//!
//! The model runs on one worker thread that owns the [`Predictor`] ([`spawn_worker`]):
//! requests that arrive together are classified together in one batch, up to
//! [`ServeOptions::max_batch`] texts. The server listens on loopback by default, limits the
//! body size, the texts per request, the characters per text and the requests in flight,
//! bounds each request in time, and shuts down gracefully on Ctrl-C or SIGTERM.
//!
//! ```no_run
//! use std::path::Path;
//! use spam_serve::{ServeOptions, serve_blocking};
//! use spam_train::Predictor;
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

use spam_train::Predictor;
use tokio::net::TcpListener;

mod api;
mod worker;

pub use api::{
    ApiError, ClassifyRequest, ClassifyResponse, ClassifyResult, INDEX_HTML, ModelInfo,
    parse_request, router,
};
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
    /// A shutdown signal arrived: requests in progress are being finished.
    ShuttingDown,
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
/// requests in progress are finished before it returns.
pub async fn serve(
    predictor: Predictor,
    opts: ServeOptions,
    on_event: impl Fn(ServeEvent) + Send + Sync + 'static,
) -> Result<(), ServeError> {
    let bind = |source| ServeError::Bind {
        addr: opts.addr,
        source,
    };
    let listener = TcpListener::bind(opts.addr).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    on_event(ServeEvent::Listening(addr));
    if !addr.ip().is_loopback() {
        on_event(ServeEvent::NotLoopback(addr));
        tracing::warn!(%addr, "listening on a non-loopback address");
    }
    tracing::info!(%addr, labels = ?predictor.label_names(), "serving");
    let worker = spawn_worker_with(predictor, opts.worker_options());
    let on_event = std::sync::Arc::new(on_event);
    let shutdown = {
        let on_event = std::sync::Arc::clone(&on_event);
        async move {
            shutdown_signal().await;
            on_event(ServeEvent::ShuttingDown);
        }
    };
    serve_on(listener, worker, &opts, shutdown).await?;
    tracing::info!("server stopped");
    Ok(())
}

/// Serves the routes on an already bound listener until `shutdown` completes, then
/// finishes the requests in progress and returns.
pub async fn serve_on(
    listener: TcpListener,
    worker: WorkerHandle,
    opts: &ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(worker, opts);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Server)
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

/// Completes on Ctrl-C, or on SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
