//! `RUN_DIR/log.jsonl`: one JSON line per periodic evaluation and per epoch, written and
//! flushed as the run goes, so a run in progress (or a killed one, in its staging folder)
//! can be followed with `tail -f` and its plots redrawn from it (`spam-cli plot RUN_DIR`).
//!
//! The first line of a run (`"kind": "start"`) says how many training examples an epoch has
//! and the batch size, which place the points on the plots' epoch axis. A resume keeps the
//! lines up to its checkpoint (those after it are done again), adds a `"kind": "resume"` line
//! and appends from there.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spam_model::Precision;

use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::report::{EpochRecord, EvalRecord};

/// The log's file name in a run directory.
pub const LOG_FILE: &str = "log.jsonl";

/// One line of `log.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogLine {
    /// A run starts.
    Start {
        /// Training examples per epoch.
        train_examples: usize,
        /// Examples per batch.
        batch_size: usize,
        /// Epochs of the run.
        epochs: usize,
        /// The number format the run computes in (absent in older logs: fp32).
        #[serde(default)]
        precision: Precision,
        /// Whether the run computes fp32's numbers exactly (false with bf16 compute or a
        /// bf16 cache).
        #[serde(default = "exact_by_default")]
        exact: bool,
    },
    /// A run continues from a checkpoint.
    Resume {
        /// The step it continues from.
        step: usize,
        /// Epochs of the run from now on.
        epochs: usize,
    },
    /// A periodic loss estimate.
    Eval {
        /// Steps taken before it.
        step: usize,
        /// 1-based epoch it fell in.
        epoch: usize,
        /// Training examples seen before it.
        examples_seen: usize,
        /// Learning rate of the latest optimizer update (`None` before the first).
        lr: Option<f64>,
        /// Mean training loss over the estimate's batches.
        train_loss: f64,
        /// Mean validation loss over the estimate's batches.
        val_loss: f64,
        /// Global L2 norm of the gradients of the latest update (before clipping).
        grad_norm: Option<f64>,
        /// Seconds of training since the run began (across resumes).
        elapsed: f64,
    },
    /// The end-of-epoch accuracy estimate.
    Epoch {
        /// Steps taken by the epoch's end.
        step: usize,
        /// 1-based epoch.
        epoch: usize,
        /// Training examples seen by its end.
        examples_seen: usize,
        /// Learning rate of the latest optimizer update.
        lr: Option<f64>,
        /// Training accuracy estimate.
        train_accuracy: f64,
        /// Validation accuracy estimate.
        val_accuracy: f64,
        /// Global L2 norm of the gradients of the latest update (before clipping).
        grad_norm: Option<f64>,
        /// Seconds of training since the run began (across resumes).
        elapsed: f64,
    },
}

fn exact_by_default() -> bool {
    true
}

/// The training state a log line reports besides its record.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LineState {
    pub step: usize,
    pub lr: Option<f64>,
    pub grad_norm: Option<f64>,
}

/// An open `log.jsonl`, appended to and flushed line by line.
#[derive(Debug)]
pub(crate) struct RunLog {
    file: Mutex<File>,
    path: PathBuf,
    started: Instant,
    /// Elapsed seconds of the lines before this process (a resume).
    prior: f64,
}

impl RunLog {
    /// Starts the log of a fresh run in `dir` (replacing any).
    pub fn start(dir: &Path, train_examples: usize, config: &TrainConfig) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        spam_data::write_atomic(&path, b"")?;
        let log = Self::open(path, 0.0)?;
        log.write(&LogLine::Start {
            train_examples,
            batch_size: config.batch_size,
            epochs: config.epochs,
            precision: config.precision,
            exact: config.is_exact(),
        })?;
        Ok(log)
    }

    /// Continues the log in `dir` from `step` (the checkpoint's): lines of steps at or after
    /// it are dropped, since the resumed run does them again. A run without a log (an older
    /// version's) gets a new one.
    pub fn resume(dir: &Path, step: usize, epoch: usize, epochs: usize) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        let lines = if path.is_file() {
            read(&path)?
        } else {
            Vec::new()
        };
        let kept: Vec<&LogLine> = lines
            .iter()
            .filter(|l| match l {
                LogLine::Eval { step: s, .. } => *s < step,
                LogLine::Epoch { epoch: e, .. } => *e <= epoch,
                LogLine::Start { .. } | LogLine::Resume { .. } => true,
            })
            .collect();
        let prior = kept.iter().rev().find_map(|l| match l {
            LogLine::Eval { elapsed, .. } | LogLine::Epoch { elapsed, .. } => Some(*elapsed),
            _ => None,
        });
        let mut text = String::new();
        for line in &kept {
            text.push_str(&serde_json::to_string(line)?);
            text.push('\n');
        }
        // Rewritten whole (a new file): the run being resumed may share the old one by a link.
        spam_data::write_atomic(&path, text.as_bytes())?;
        let log = Self::open(path, prior.unwrap_or(0.0))?;
        log.write(&LogLine::Resume { step, epochs })?;
        Ok(log)
    }

    fn open(path: PathBuf, prior: f64) -> Result<Self> {
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::log_file("open", &path, e))?;
        Ok(Self {
            file: Mutex::new(file),
            path,
            started: Instant::now(),
            prior,
        })
    }

    fn elapsed(&self) -> f64 {
        self.prior + self.started.elapsed().as_secs_f64()
    }

    /// Appends the line of a periodic estimate.
    pub fn eval(&self, r: &EvalRecord, s: LineState) -> Result<()> {
        self.write(&LogLine::Eval {
            step: r.step,
            epoch: r.epoch,
            examples_seen: r.examples_seen,
            lr: s.lr,
            train_loss: r.train_loss,
            val_loss: r.val_loss,
            grad_norm: s.grad_norm,
            elapsed: self.elapsed(),
        })
    }

    /// Appends the line of an epoch's end.
    pub fn epoch(&self, r: &EpochRecord, s: LineState) -> Result<()> {
        self.write(&LogLine::Epoch {
            step: s.step,
            epoch: r.epoch,
            examples_seen: r.examples_seen,
            lr: s.lr,
            train_accuracy: r.train_accuracy,
            val_accuracy: r.val_accuracy,
            grad_norm: s.grad_norm,
            elapsed: self.elapsed(),
        })
    }

    fn write(&self, line: &LogLine) -> Result<()> {
        let mut text = serde_json::to_string(line)?;
        text.push('\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // One write per line, flushed to the file at once: a reader never sees half a line
        // for long, and a killed run loses nothing it logged.
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| TrainError::log_file("append to", &self.path, e))
    }
}

/// Reads the lines of a `log.jsonl`; a line that does not parse is an error naming it, except
/// a last line cut short by a kill, which is left out.
pub fn read_log(path: &Path) -> Result<Vec<LogLine>> {
    read(path)
}

fn read(path: &Path) -> Result<Vec<LogLine>> {
    let file = File::open(path).map_err(|e| TrainError::log_file("read", path, e))?;
    let raw: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<std::io::Result<_>>()
        .map_err(|e| TrainError::log_file("read", path, e))?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(text) {
            Ok(line) => out.push(line),
            Err(_) if i + 1 == raw.len() => {} // a line a kill cut short
            Err(e) => {
                return Err(TrainError::Log {
                    path: path.to_path_buf(),
                    message: format!(
                        "line {} of {} is not a log line ({e}): is it a run's log.jsonl?",
                        i + 1,
                        path.display()
                    ),
                    source: None,
                });
            }
        }
    }
    Ok(out)
}
