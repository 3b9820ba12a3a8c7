//! The errors of spam-train: one type for every public function, wrapping the lower
//! layers' own ([`DataError`], [`ModelError`]) so a caller can match on where it failed.
//!
//! Every variant is a kind a caller can match: there is no catch-all. A variant that wraps
//! another error keeps it as its `source()` and out of its own message.

use std::path::{Path, PathBuf};

use spam_data::DataError;
use spam_model::ModelError;

/// Why a training, evaluation or prediction call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// Reading, parsing or preparing the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Building, loading or saving the model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A libtorch call failed.
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    /// A setting is out of range, or inconsistent with another setting, with the data (a
    /// training split smaller than one batch) or with the model (token ids beyond its
    /// vocabulary, rows longer than its context); says which and what to do.
    #[error("{0}")]
    Settings(String),
    /// The training loss stopped being a finite number.
    #[error("{0}")]
    NonFiniteLoss(String),
    /// The backward pass of a training step failed in libtorch.
    #[error("backward pass")]
    Backward(#[source] tch::TchError),
    /// The run's stop flag was set (Ctrl-C): it stopped between two steps, after writing a
    /// checkpoint to resume from (when it has a run directory).
    #[error("{}", match checkpoint {
        Some(dir) => format!("interrupted; the checkpoint {} holds where the run stopped", dir.display()),
        None => "interrupted".to_string(),
    })]
    Interrupted {
        /// The checkpoint written, if any.
        checkpoint: Option<PathBuf>,
    },
    /// A checkpoint could not be written, found, read or resumed from (a full disk, a
    /// checkpoint of another model); the message names the file and what happened.
    #[error("{message}")]
    Checkpoint {
        /// The checkpoint folder, or the file of it that failed.
        path: PathBuf,
        /// What failed, naming `path`.
        message: String,
        /// What caused it, if another error did.
        #[source]
        source: Option<Box<TrainError>>,
    },
    /// The run's log (`log.jsonl`) could not be opened, appended to or read, or holds a line
    /// that is not a log line.
    #[error("{message}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// What failed, naming `path`.
        message: String,
        /// The I/O error that caused it, if one did.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The file of an on-disk frozen-prefix cache (`cache_dir`) could not be made, written
    /// or read back (a full disk, say).
    #[error("{message}")]
    Cache {
        /// The directory the cache file is in.
        dir: PathBuf,
        /// What failed, naming `dir`.
        message: String,
        /// The I/O error that caused it.
        #[source]
        source: std::io::Error,
    },
    /// The trainer's own bookkeeping broke (a thread filling the prefix cache or running the
    /// closing pass died or lost work): a bug, not bad input; says what was found.
    #[error("{0}")]
    Internal(String),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON could not be written or read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`TrainError`].
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// A checkpoint failure at `path` with no underlying error.
    pub(crate) fn checkpoint(path: &Path, message: String) -> Self {
        Self::Checkpoint {
            path: path.to_path_buf(),
            message,
            source: None,
        }
    }

    /// A checkpoint failure at `path` caused by `source`.
    pub(crate) fn checkpoint_by(
        path: &Path,
        message: String,
        source: impl Into<TrainError>,
    ) -> Self {
        Self::Checkpoint {
            path: path.to_path_buf(),
            message,
            source: Some(Box::new(source.into())),
        }
    }

    /// `could not {what} {path}` of a checkpoint file, caused by `source`.
    pub(crate) fn checkpoint_file(what: &str, path: &Path, source: impl Into<TrainError>) -> Self {
        Self::checkpoint_by(path, format!("could not {what} {}", path.display()), source)
    }

    /// `could not {what} {path}` of the run's log, caused by `source`.
    pub(crate) fn log_file(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::Log {
            path: path.to_path_buf(),
            message: format!("could not {what} {}", path.display()),
            source: Some(source),
        }
    }

    /// A failure of the cache file in `dir`, with a `message` that names `dir`.
    pub(crate) fn cache_file(dir: &Path, message: String, source: std::io::Error) -> Self {
        Self::Cache {
            dir: dir.to_path_buf(),
            message,
            source,
        }
    }
}
