//! What a run reports while it works, above the training loop: data and model ready, weights
//! resolved, run folders kept, linked or swept, experiment rows. The loop's own events come
//! wrapped as [`RunEvent::Train`]. Libraries never print: the caller (the CLI) decides what to
//! show.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// One thing a run reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RunEvent {
    /// The training loop's own event.
    Train(spam_train::Event),
    /// A run with a folder has started: its live log (`log.jsonl` in the staging folder, moved
    /// into the run folder when the run is complete). `tail -f` it, or `spam-cli plot` the
    /// run folder to draw its curves so far.
    LogStarted {
        /// The log file.
        path: PathBuf,
    },
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
        /// The class names by class index (of two, class 1 is the positive class).
        label_names: Vec<String>,
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
    /// `sweep`: a trial starts training.
    TrialStarted {
        /// The trial's index (0-based).
        index: usize,
        /// How many trials the sweep has.
        count: usize,
        /// Its settings, `key=value, ...`.
        settings: String,
        /// Its run folder.
        dir: PathBuf,
    },
    /// `sweep`: a trial an earlier process finished is reused; nothing is trained.
    TrialReused {
        /// The trial's index.
        index: usize,
        /// Its run folder.
        dir: PathBuf,
    },
    /// `sweep`: a trial whose process was stopped continues from its checkpoint.
    TrialResumed {
        /// The trial's index.
        index: usize,
        /// The staging folder it continues.
        from: PathBuf,
    },
    /// `sweep` of every trial: a trial failed; the sweep goes on with the next one.
    TrialFailed {
        /// The trial's index.
        index: usize,
        /// Its run folder.
        dir: PathBuf,
        /// The error, with its causes.
        error: String,
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

/// Where a run sends its [`RunEvent`]s: a callback, or nowhere.
#[derive(Clone, Default)]
pub struct RunEvents(Option<Arc<Callback>>);

type Callback = dyn Fn(&RunEvent) + Send + Sync;

impl RunEvents {
    /// Calls `f` with every event.
    pub fn new(f: impl Fn(&RunEvent) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Drops every event.
    pub fn none() -> Self {
        Self(None)
    }

    /// Sends one event.
    pub fn emit(&self, event: RunEvent) {
        tracing::debug!(?event, "run event");
        if let Some(f) = &self.0 {
            f(&event);
        }
    }

    /// The training loop's sink: its events reach this one as [`RunEvent::Train`].
    pub fn train(&self) -> spam_train::Events {
        match &self.0 {
            None => spam_train::Events::none(),
            Some(f) => {
                let f = Arc::clone(f);
                spam_train::Events::new(move |e| f(&RunEvent::Train(e.clone())))
            }
        }
    }
}

impl fmt::Debug for RunEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "RunEvents(callback)"
        } else {
            "RunEvents(none)"
        })
    }
}
