//! Error type of the crate. Every checkpoint error names the file and, where there is one,
//! the tensor, and says what to do about it.
use std::path::PathBuf;

/// Result alias of the crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Errors from building, loading and saving models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: file not found ({what}); {hint}")]
    MissingFile {
        path: PathBuf,
        what: &'static str,
        hint: String,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{path}: tensor `{tensor}` needs bytes {start}..{end} but the file has only {len} bytes; \
         the file is truncated or does not belong to this index: download or convert it again"
    )]
    Truncated {
        path: PathBuf,
        tensor: String,
        start: u64,
        end: u64,
        len: u64,
    },

    #[error(
        "{path}: tensor `{tensor}` fails its crc32c check (index says {expected:#010x}, data gives \
         {actual:#010x}); the data file is corrupt: download it again"
    )]
    CrcMismatch {
        path: PathBuf,
        tensor: String,
        expected: u32,
        actual: u32,
    },

    #[error(
        "{path}: tensor `{tensor}` has shape {found:?} but the model expects {expected:?}; \
         the checkpoint is for another model size or is damaged"
    )]
    ShapeMismatch {
        path: PathBuf,
        tensor: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },

    #[error(
        "{path}: tensor `{tensor}` is missing; the checkpoint is incomplete or not a GPT-2 checkpoint"
    )]
    MissingTensor { path: PathBuf, tensor: String },

    #[error(
        "{path}: unexpected tensor `{tensor}` (not part of a GPT-2 model with this configuration); \
         check the model size"
    )]
    UnexpectedTensor { path: PathBuf, tensor: String },

    #[error(
        "{path}: tensor `{tensor}` has unsupported dtype {dtype}; only float32, float16, bfloat16 \
         and float64 weights can be loaded: convert the checkpoint to float32"
    )]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    #[error(
        "{path}: hyper-parameters disagree with the tensors: {detail}; fix or replace hparams.json"
    )]
    HparamsMismatch { path: PathBuf, detail: String },

    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error("{path}: {source}; the JSON file is malformed")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    #[error(
        "{path}: not a recognised weights location; pass an OpenAI checkpoint directory \
         (with model.ckpt.index), a model.safetensors file, or a directory containing one"
    )]
    UnknownWeights { path: PathBuf },

    #[error("{context}: {source}")]
    Torch {
        context: String,
        #[source]
        source: tch::TchError,
    },

    #[error("device: {0}")]
    Device(String),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            return Self::MissingFile {
                path,
                what: "no such file",
                hint: "check the path".to_string(),
            };
        }
        Self::Io { path, source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn torch(context: impl Into<String>, source: tch::TchError) -> Self {
        Self::Torch {
            context: context.into(),
            source,
        }
    }
}
