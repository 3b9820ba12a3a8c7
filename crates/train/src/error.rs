//! The errors of spam-train: one type for every public function, wrapping the lower
//! layers' own ([`DataError`], [`ModelError`]) so a caller can match on where it failed.

use std::error::Error as StdError;

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
    /// A setting is out of range or inconsistent with another; says which and what to do.
    #[error("{0}")]
    Settings(String),
    /// The training loss stopped being a finite number.
    #[error("{0}")]
    NonFiniteLoss(String),
    /// Raised by `stop_after_steps`, to simulate a kill in tests.
    #[error("stopped after the requested number of steps")]
    StoppedForTest,
    /// The run's stop flag was set (Ctrl-C): it stopped between two steps, after writing a
    /// checkpoint to resume from (when it has a run directory).
    #[error("{}", match checkpoint {
        Some(dir) => format!("interrupted; the checkpoint {} holds where the run stopped", dir.display()),
        None => "interrupted".to_string(),
    })]
    Interrupted {
        /// The checkpoint written, if any.
        checkpoint: Option<std::path::PathBuf>,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON could not be written or read.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Any other failure, with what was being done.
    #[error("{0}")]
    Other(String),
    /// A failure of a step, and what caused it.
    #[error("{message}")]
    Context {
        /// What was being done.
        message: String,
        /// What failed.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

/// `Result` with [`TrainError`].
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

impl TrainError {
    /// An error with just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Other(message.into())
    }
}

/// Adds what was being done to an error, as `anyhow::Context` does, keeping the type.
pub(crate) trait Context<T> {
    /// Wraps the error with `message`.
    fn context(self, message: impl Into<String>) -> Result<T>;
    /// Wraps the error with the message `f` makes (only on failure).
    fn with_context<M: Into<String>>(self, f: impl FnOnce() -> M) -> Result<T>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.map_err(|e| TrainError::Context {
            message: message.into(),
            source: Box::new(e),
        })
    }

    fn with_context<M: Into<String>>(self, f: impl FnOnce() -> M) -> Result<T> {
        self.map_err(|e| TrainError::Context {
            message: f().into(),
            source: Box::new(e),
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, message: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| TrainError::Other(message.into()))
    }

    fn with_context<M: Into<String>>(self, f: impl FnOnce() -> M) -> Result<T> {
        self.ok_or_else(|| TrainError::Other(f().into()))
    }
}

/// Returns early with [`TrainError::Other`] made from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::TrainError::Other(format!($($arg)*)))
    };
}
pub(crate) use bail;
