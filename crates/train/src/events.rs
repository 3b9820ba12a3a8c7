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
    /// The data were read, balanced, split and tokenized.
    DataReady {
        /// Rows read from the source.
        rows_read: usize,
        /// Rows after balancing (all rows without it).
        balanced_rows: usize,
        /// Rows per split.
        train: usize,
        /// Rows per split.
        validation: usize,
        /// Rows per split.
        test: usize,
        /// Padded length, `None` for dynamic padding.
        padded_len: Option<usize>,
        /// The splits are files used as given (no balancing, no splitting).
        from_files: bool,
    },
    /// The classifier was built.
    ModelReady {
        /// The size that runs (`124M`, or a custom architecture's shape).
        size: String,
        /// Pretrained weights (false: random).
        pretrained: bool,
        /// Parameters the optimizer updates.
        trainable_parameters: i64,
        /// The trainable mode's name (`last_block`, ...).
        trainable: String,
        /// The token position's name (`last`, ...).
        token_position: String,
        /// The device, as `Cpu` or `Cuda(0)`.
        device: String,
    },
    /// Bytes of a hub file downloaded so far (weights by hub id, not yet in the cache).
    WeightsDownload {
        /// The file in the repository (`model.safetensors`).
        file: String,
        /// Bytes on disk so far.
        downloaded: u64,
        /// The file's size, when known.
        total: Option<u64>,
    },
    /// Weights by hub id were found in the hub cache or downloaded into it.
    WeightsResolved {
        /// The id asked for (`openai-community/gpt2`).
        id: String,
        /// The commit its revision named.
        commit: String,
        /// The snapshot folder the weights are read from.
        dir: PathBuf,
        /// Whether anything was downloaded (false: all from the cache).
        downloaded: bool,
    },
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
    /// The run directory is complete.
    RunSaved {
        /// The run directory.
        dir: PathBuf,
    },
    /// `experiments`: a row of the table starts training.
    RowStarted {
        /// The row's number in the published table.
        number: usize,
        /// Its place among the rows asked for (1-based) and how many there are.
        position: (usize, usize),
        /// The row's setting.
        description: String,
    },
    /// `experiments`: a row already finished by an earlier invocation is reused.
    RowReused {
        /// The row's number in the published table.
        number: usize,
        /// Its run directory.
        dir: PathBuf,
    },
    /// A leftover of a killed run was removed (or put back) before this run started.
    StaleRemoved {
        /// What was removed.
        path: PathBuf,
        /// What it was.
        why: String,
    },
    /// `resume` applied a setting that differs from the run's `config.json`.
    ResumeChanged {
        /// The setting (`epochs`).
        setting: String,
        /// Its value in the run.
        from: String,
        /// Its value from now on.
        to: String,
    },
    /// The run failed after writing a checkpoint: its folder is kept, its destination is
    /// unchanged, and `resume` of the destination continues from the checkpoint.
    RunKept {
        /// The staging folder that holds the checkpoint.
        staging: PathBuf,
        /// The run directory it would have become.
        target: PathBuf,
    },
    /// The link to the newest run (`runs/latest`) points at this run.
    LatestLinked {
        /// The link.
        link: PathBuf,
        /// The run it points at.
        dir: PathBuf,
    },
    /// `loss.png` or `accuracy.png` could not be drawn; the run itself is complete, and
    /// `spam-cli plot RUN_DIR` draws them again from its `log.jsonl`.
    PlotNotWritten {
        /// The run folder (its staging name while it works).
        dir: PathBuf,
        /// Why.
        why: String,
    },
    /// The link to the newest run could not be updated; the run itself is complete.
    LatestNotLinked {
        /// The link.
        link: PathBuf,
        /// Why.
        why: String,
    },
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
