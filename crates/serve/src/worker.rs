//! The model worker: one thread that owns the [`Predictor`] and batches requests.
//!
//! libtorch modules are not meant to be shared across async tasks, so the predictor lives
//! on a dedicated OS thread. Requests reach it over a bounded channel; each time the worker
//! wakes up it drains whatever jobs are waiting (up to [`WorkerOptions::max_batch`] texts,
//! lingering at most [`WorkerOptions::batch_wait`] for more) and classifies them in one
//! [`Predictor::classify`] call, then answers every job through its own oneshot channel.
//!
//! When the model fails (a libtorch error, a panic) the worker stops: the model's state is
//! unknown after that, so the requests of that batch get the failure, later ones
//! [`WorkerError::Unavailable`], and [`WorkerHandle::is_alive`] turns false (the health
//! check answers 503, and a supervisor can restart the server).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use spam_model::{Prediction, Predictor};
use tokio::sync::{mpsc, oneshot};

/// How the worker batches requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOptions {
    /// Most texts classified in one call (a single request with more is run on its own).
    pub max_batch: usize,
    /// How long the worker waits for more requests once it has one, when the batch is not full.
    pub batch_wait: Duration,
    /// Requests that may wait for the worker; senders wait for room beyond that.
    pub queue_capacity: usize,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            max_batch: 64,
            batch_wait: Duration::from_millis(1),
            queue_capacity: 1024,
        }
    }
}

/// Why the worker could not classify a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The worker thread is gone (it stopped, or the server is shutting down).
    #[error("the model worker has stopped")]
    Stopped,
    /// The model failed on the batch this request was part of. The text is the detail
    /// for the log (libtorch's message, maybe with a backtrace), not for clients.
    #[error("the model failed to classify this batch: {0}")]
    Failed(String),
    /// The model failed on an earlier batch, so the worker stopped.
    #[error("the model is unavailable: it failed on an earlier request")]
    Unavailable,
}

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Prediction>, WorkerError>>,
}

/// A cheap, cloneable handle to the model worker. The worker thread ends when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    tx: mpsc::Sender<Job>,
    labels: Arc<[String]>,
    threshold: Option<f64>,
    precision: spam_model::Precision,
    model: Arc<spam_model::ClassifierConfig>,
    failed: Arc<AtomicBool>,
    /// Set when the worker thread has ended.
    ended: Arc<AtomicBool>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("texts", &self.texts.len())
            .finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// The model's class names, in class order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The decision threshold the model's labels use (stored with the run or set), if any.
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// The number format the model computes in.
    pub fn precision(&self) -> spam_model::Precision {
        self.precision
    }

    /// The settings of the model the worker classifies with (its size, token position, ...).
    pub fn model_config(&self) -> &spam_model::ClassifierConfig {
        &self.model
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Whether the worker stopped because the model failed.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// A flag set when the worker thread has ended, which does not keep it running.
    pub(crate) fn ended_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.ended)
    }

    fn gone(&self) -> WorkerError {
        if self.has_failed() {
            WorkerError::Unavailable
        } else {
            WorkerError::Stopped
        }
    }

    /// Classifies `texts` (in order), batched with whatever other requests are waiting.
    /// Waits for room in the queue when it is full; cancel by dropping the future.
    pub async fn classify(&self, texts: Vec<String>) -> Result<Vec<Prediction>, WorkerError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { texts, reply })
            .await
            .map_err(|_| self.gone())?;
        rx.await.map_err(|_| self.gone())?
    }
}

/// Starts the worker thread with the default [`WorkerOptions`] (batches of up to 64 texts).
pub fn spawn_worker(predictor: Predictor) -> WorkerHandle {
    spawn_worker_with(predictor, WorkerOptions::default())
}

/// Starts the worker thread with explicit batching options.
pub fn spawn_worker_with(predictor: Predictor, options: WorkerOptions) -> WorkerHandle {
    let labels: Arc<[String]> = predictor.label_names().to_vec().into();
    let threshold = predictor.threshold();
    let precision = predictor.precision();
    let model = Arc::new(predictor.model.config.clone());
    let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
    let failed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&failed);
    let ended = Arc::new(AtomicBool::new(false));
    let on_end = SetOnDrop(Arc::clone(&ended));
    let spawned = thread::Builder::new()
        .name("spam-serve-model".into())
        .spawn(move || {
            let _on_end = on_end;
            run(predictor, rx, options, &flag);
        });
    if let Err(e) = spawned {
        // The receiver was moved into the closure and dropped with it: every request will
        // get `WorkerError::Stopped`, and the health check reports it.
        tracing::error!("could not start the model worker thread: {e}");
    }
    WorkerHandle {
        tx,
        labels,
        threshold,
        precision,
        model,
        failed,
        ended,
    }
}

/// Sets its flag when dropped: when the worker thread ends, however it ends (or when it
/// could not start).
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

fn run(
    predictor: Predictor,
    mut rx: mpsc::Receiver<Job>,
    options: WorkerOptions,
    failed: &AtomicBool,
) {
    let max_batch = options.max_batch.max(1);
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(job) => job,
            None => match rx.blocking_recv() {
                Some(job) => job,
                None => break,
            },
        };
        let mut batch = vec![first];
        let mut n_texts = batch[0].texts.len();
        let deadline = Instant::now() + options.batch_wait;
        while n_texts < max_batch {
            match rx.try_recv() {
                Ok(job) if job.reply.is_closed() => {}
                Ok(job) if n_texts + job.texts.len() > max_batch => {
                    carry = Some(job);
                    break;
                }
                Ok(job) => {
                    n_texts += job.texts.len();
                    batch.push(job);
                }
                Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_micros(100));
                }
                Err(_) => break,
            }
        }
        // Requests whose client gave up (timeout, disconnect) need no work.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        if let Err(detail) = process(&predictor, batch, failed) {
            tracing::error!("the model failed; the worker stops: {detail}");
            break;
        }
    }
    tracing::debug!("model worker stopped");
}

/// Classifies one batch and answers its jobs; `Err` with the detail when the model failed,
/// after setting `failed` (before the answers, so that whoever reads one and asks again
/// sees the failure).
fn process(predictor: &Predictor, batch: Vec<Job>, failed: &AtomicBool) -> Result<(), String> {
    let texts: Vec<&str> = batch
        .iter()
        .flat_map(|job| job.texts.iter().map(String::as_str))
        .collect();
    let outcome = catch_unwind(AssertUnwindSafe(|| predictor.classify(&texts)));
    match outcome {
        Ok(predictions) if predictions.len() == texts.len() => {
            let mut predictions = predictions.into_iter();
            for job in batch {
                let mine: Vec<Prediction> = predictions.by_ref().take(job.texts.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
            Ok(())
        }
        Ok(predictions) => {
            let message = format!(
                "{} predictions for {} texts",
                predictions.len(),
                texts.len()
            );
            failed.store(true, Ordering::Release);
            for job in batch {
                let _ = job.reply.send(Err(WorkerError::Failed(message.clone())));
            }
            Err(message)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error")
                .to_string();
            failed.store(true, Ordering::Release);
            for job in batch {
                let _ = job.reply.send(Err(WorkerError::Failed(message.clone())));
            }
            Err(format!("the model panicked: {message}"))
        }
    }
}
