//! Error type of the crate. Every checkpoint error names the file and, where there is one,
//! the tensor, and says what to do about it. A variant that wraps another error exposes it as
//! its `source()` and leaves it out of its own message, so a chain printed whole (anyhow's
//! `{:#}`, as spam-cli prints) shows each cause once.
use std::path::PathBuf;

/// Result alias of the crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Errors from building, loading and saving models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file that should be there is not.
    #[error("{path}: file not found ({what}); {hint}")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// What it is.
        what: &'static str,
        /// What to do about it.
        hint: String,
    },

    /// Writing a file through spam-data's atomic writer failed.
    #[error(transparent)]
    Write(#[from] spam_data::DataError),

    /// Reading or writing a file failed (the OS error is the `source()`).
    #[error("{path}: cannot read or write")]
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// The I/O error.
        source: std::io::Error,
    },

    /// A tensor's bytes run past the end of its file.
    #[error(
        "{path}: tensor `{tensor}` needs bytes {start}..{end} but the file has only {len} bytes; \
         the file is truncated or does not belong to this index: download or convert it again"
    )]
    Truncated {
        /// The data file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Start of its byte range.
        start: u64,
        /// End of its byte range.
        end: u64,
        /// The file's length.
        len: u64,
    },

    /// A tensor's bytes fail their crc32c.
    #[error(
        "{path}: tensor `{tensor}` fails its crc32c check (index says {expected:#010x}, data gives \
         {actual:#010x}); the data file is corrupt: download it again"
    )]
    CrcMismatch {
        /// The data file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// The crc32c the index gives.
        expected: u32,
        /// The crc32c of the bytes.
        actual: u32,
    },

    /// A tensor's shape is not the model's.
    #[error(
        "{path}: tensor `{tensor}` has shape {found:?} but the model expects {expected:?}; \
         the checkpoint is for another model size or is damaged"
    )]
    ShapeMismatch {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// The model's shape.
        expected: Vec<i64>,
        /// The shape stored.
        found: Vec<i64>,
    },

    /// The checkpoint lacks a tensor the model needs.
    #[error(
        "{path}: tensor `{tensor}` is missing; the checkpoint is incomplete or not a GPT-2 checkpoint"
    )]
    MissingTensor {
        /// The checkpoint.
        path: PathBuf,
        /// The model's variable name.
        tensor: String,
    },

    /// The checkpoint has a tensor the model does not.
    #[error(
        "{path}: unexpected tensor `{tensor}` (not part of a GPT-2 model with this configuration); \
         check the model size"
    )]
    UnexpectedTensor {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
    },

    /// A tensor holds NaN or infinite numbers.
    #[error(
        "{path}: tensor `{tensor}` holds a NaN or infinite value (element {index}); the file is \
         damaged or comes from a run that diverged: use another checkpoint or train again"
    )]
    NonFinite {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Position (row-major) of the first bad element.
        index: usize,
    },

    /// A tensor's element type cannot be loaded.
    #[error(
        "{path}: tensor `{tensor}` has unsupported dtype {dtype}; only float32, float16, bfloat16 \
         and float64 weights can be loaded: convert the checkpoint to float32"
    )]
    UnsupportedDtype {
        /// The checkpoint file.
        path: PathBuf,
        /// The tensor's name in the file.
        tensor: String,
        /// Its element type, in the format's own words.
        dtype: String,
    },

    /// `hparams.json` disagrees with the tensors.
    #[error(
        "{path}: hyper-parameters disagree with the tensors: {detail}; fix or replace hparams.json"
    )]
    HparamsMismatch {
        /// The `hparams.json` file.
        path: PathBuf,
        /// What disagrees.
        detail: String,
    },

    /// A file is damaged or not in the expected format.
    #[error("{path}: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        detail: String,
    },

    /// A JSON file does not parse (the parser's message is the `source()`).
    #[error("{path}: the JSON file is malformed (fix or replace it)")]
    Json {
        /// The file.
        path: PathBuf,
        #[source]
        /// The parse error.
        source: serde_json::Error,
    },

    /// A configuration or argument is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// A weights path is neither an OpenAI checkpoint nor a safetensors file.
    #[error(
        "{path}: not a recognised weights location; pass an OpenAI checkpoint directory \
         (with model.ckpt.index), a model.safetensors file, or a directory containing one"
    )]
    UnknownWeights {
        /// The path given.
        path: PathBuf,
    },

    /// A libtorch call failed (libtorch's message is the `source()`).
    #[error("{context}")]
    Torch {
        /// What was being done.
        context: String,
        #[source]
        /// libtorch's error.
        source: tch::TchError,
    },

    /// A path that should hold a model does not exist.
    #[error("{} does not exist: pass a run directory written by `spam-cli train --out`", path.display())]
    NoModel {
        /// The path given.
        path: PathBuf,
    },

    /// A model whose embedding has fewer rows than the GPT-2 tokenizer has ids.
    #[error(
        "could not load the classifier in {}: its vocabulary has {vocab} tokens but the GPT-2 \
         tokenizer gives ids up to {}; train it with the GPT-2 vocabulary ({needed})",
        dir.display(), needed - 1
    )]
    VocabularyTooSmall {
        /// The model folder.
        dir: PathBuf,
        /// Its vocabulary size.
        vocab: i64,
        /// The tokenizer's vocabulary size.
        needed: usize,
    },

    /// A decision threshold outside (0, 1).
    #[error("--threshold must be a probability strictly between 0 and 1, got {value}")]
    BadThreshold {
        /// The threshold given.
        value: f64,
    },

    /// A decision threshold for a model that does not have two classes.
    #[error("--threshold needs a model of two classes; this one has {classes}")]
    ThresholdNeedsTwoClasses {
        /// The model's number of classes.
        classes: usize,
    },

    /// Labelled data with a label the model does not know.
    #[error(
        "{at}the data has a label `{label}` that the model does not know (its labels: {known})"
    )]
    UnknownLabel {
        /// Where the label first appears (`FILE:LINE: `, `FILE: row N: `), or empty.
        at: String,
        /// The label.
        label: String,
        /// The model's labels, comma-separated.
        known: String,
    },

    /// Loading a model folder failed (the cause is the `source()`).
    #[error("could not load the {what} in {}", dir.display())]
    Load {
        /// What was loaded (`classifier`, `transformers model`).
        what: &'static str,
        /// The folder.
        dir: PathBuf,
        /// Why.
        #[source]
        source: Box<ModelError>,
    },

    /// A transformers `config.json` with a key we cannot build or compute (the wrong JSON
    /// type, a value transformers computes differently from us, a model that is not GPT-2).
    #[error("{path}: `{key}` {problem}")]
    TransformersConfig {
        /// The `config.json`.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with it and what to do.
        problem: String,
    },

    /// A tokenizer file of a model folder that is not GPT-2's: texts would get other ids than
    /// the model was trained on.
    #[error(
        "{path}: {detail}; only GPT-2's tokenizer is supported: remove the folder's tokenizer \
         files or replace them with GPT-2's"
    )]
    UnsupportedTokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// How it differs from GPT-2's.
        detail: String,
    },

    /// GPT-2's own tokenizer files could not be derived to compare a folder's with (the
    /// cause is the `source()`).
    #[error("cannot derive GPT-2's tokenizer files to compare {path} with")]
    Gpt2Tokenizer {
        /// The folder's tokenizer file.
        path: PathBuf,
        /// Why.
        #[source]
        source: spam_data::DataError,
    },

    /// A file of a model folder that is not a regular file (a FIFO, a device, a folder).
    #[error("{path}: not a regular file; a model folder's files must be plain files")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },

    /// A settings or tokenizer file above the size such a file can have.
    #[error(
        "{path}: larger than {limit} bytes, the most a {what} may have; it is not one: \
         replace it"
    )]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// What it should be.
        what: &'static str,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The device asked for is not available.
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
