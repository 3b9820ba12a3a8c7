//! What a run reports while it works. Libraries never print: they send [`Event`]s to the
//! [`Events`] sink the caller passes in, and the caller (the CLI) decides what to show.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::report::{EpochRecord, EvalRecord, FinalAccuracy};

/// One thing that happened during a run, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The frozen-prefix cache starts computing rows for this many examples.
    CacheStarted {
        /// Examples whose rows are computed before the first step.
        examples: u64,
    },
    /// More examples' rows of the cache are computed.
    CacheProgress {
        /// Examples done since the last event.
        examples: u64,
    },
    /// The rows needed before the first step are computed.
    CacheFinished,
    /// Which computation path the run takes, and why.
    ComputePath(String),
    /// A run continues from a checkpoint.
    Resumed {
        /// The checkpoint folder.
        checkpoint: PathBuf,
        /// The epoch it continues in (0-based).
        epoch: usize,
        /// Steps already taken.
        step: usize,
    },
    /// An epoch starts.
    EpochStarted {
        /// 0-based epoch.
        epoch: usize,
        /// Epochs in the run.
        epochs: usize,
        /// Batches of the epoch already done (resume).
        first_batch: usize,
        /// Batches per epoch.
        batches: usize,
    },
    /// One training step ran.
    Step {
        /// Its training loss.
        loss: f64,
    },
    /// A periodic loss estimate.
    Evaluated(EvalRecord),
    /// The end-of-epoch accuracy estimate.
    EpochFinished(EpochRecord),
    /// The best evaluation's weights were put back into the model before the final metrics
    /// (runs with a best-model metric).
    BestKept(crate::best::BestRecord),
    /// Early stopping ended the run.
    EarlyStopped {
        /// Evaluations without improvement that stopped it.
        patience: usize,
        /// What did not improve: `validation loss` (the periodic estimate) or the best-model
        /// metric.
        metric: String,
    },
    /// The training loop ended (before the closing accuracy pass).
    TrainingFinished {
        /// Wall time of the loop in this process.
        seconds: f64,
    },
    /// Accuracy over the whole of each split.
    FinalAccuracy(FinalAccuracy),
}

/// Where a run's [`Event`]s go: a callback the caller installs, or nowhere (the default).
/// Cheap to clone; callable from any thread (the cache is built on several).
#[derive(Clone, Default)]
pub struct Events(Option<Arc<Callback>>);

/// The function events go to.
type Callback = dyn Fn(&Event) + Send + Sync;

impl Events {
    /// Events go to `f`.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Events go nowhere.
    pub fn none() -> Self {
        Self(None)
    }

    /// Sends `event` to the callback, if any (and to the `tracing` log at debug level).
    pub fn emit(&self, event: Event) {
        tracing::debug!(?event, "run event");
        if let Some(f) = &self.0 {
            f(&event);
        }
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Events(callback)"
        } else {
            "Events(none)"
        })
    }
}
