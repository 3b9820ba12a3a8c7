//! The crate's error type. Every message names the file (and line, where there is one) or the URL,
//! and says what to do about it.
//!
//! A variant that wraps another error exposes it as its `source()` and leaves it out of its own
//! message, so a chain printed whole (anyhow's `{:#}`, as spam-cli prints) shows each cause once.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Everything that can go wrong while fetching, reading, splitting and encoding a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The input file does not exist.
    #[error(
        "{path}: no such file; check the path (for the SMS Spam Collection: fetch it with \
         `cargo xtask fetch --data`, or pass the path of `SMSSpamCollection` or of the UCI zip)"
    )]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
    },

    /// A path given as a file that is not a regular file (a FIFO, a device, a folder): never
    /// opened, so it cannot block or be read without end.
    #[error("{path}: not a regular file (a FIFO, a device or a folder); give the path of a file")]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },

    /// An I/O operation failed (the OS error is the `source()`).
    #[error("{path}: cannot {action}")]
    Io {
        /// File or directory concerned.
        path: PathBuf,
        /// What was being done ("read", "create", "rename into place", ...).
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A writer that needed a file path (see `write_atomic_via_path`) failed (what it said is
    /// the `source()`).
    #[error("{path}: cannot write")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What the writer said.
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The input file holds no data rows.
    #[error(
        "{path}: the file is empty (no data rows); check that it is the right file and that it was fully downloaded"
    )]
    Empty {
        /// The empty file.
        path: PathBuf,
    },

    /// A line of the SMS collection has no TAB between label and message.
    #[error(
        "{path}:{line}: no TAB between label and message; every line must be `ham<TAB>message` \
         or `spam<TAB>message` (fix or delete this line)"
    )]
    MissingTab {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },

    /// A label outside the expected set.
    #[error(
        "{path}:{line}: unknown label {label:?}; expected one of {expected:?} (fix or delete this line)"
    )]
    UnknownLabel {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The label found.
        label: String,
        /// The labels that are allowed.
        expected: Vec<String>,
    },

    /// Bytes that are not UTF-8.
    #[error(
        "{path}:{line}: invalid UTF-8; re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
    )]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },

    /// A quoted field that never closes (pandas-compatible SMS parsing, CSV/TSV tables).
    #[error(
        "{path}:{line}: a quoted field opens here and never closes, so everything after it would \
         be one text; close the quote (a quote inside a quoted field is written twice: `\"\"`) \
         or remove it{hint}"
    )]
    UnclosedQuote {
        /// The file.
        path: PathBuf,
        /// 1-based line where the quoted field opens.
        line: usize,
        /// What else the user can do, for this kind of file (may be empty).
        hint: &'static str,
    },

    /// A record with the wrong number of fields (pandas-compatible or table parsing).
    #[error(
        "{path}:{line}: expected {expected} fields, found {found}; fix the line or check the delimiter"
    )]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },

    /// A column asked for by name or index that the table does not have.
    #[error("{path}: no column {column}; the header has {available:?}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has.
        available: Vec<String>,
    },

    /// A CSV/TSV syntax error.
    #[error("{path}:{line}: cannot parse the table: {message}")]
    Table {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the CSV reader said.
        message: String,
    },

    /// Only one class in a dataset meant for classification.
    #[error(
        "{path}: every row has the label {label:?}; a classifier needs at least two classes (is this the right file?)"
    )]
    SingleClass {
        /// The file.
        path: PathBuf,
        /// The only label.
        label: String,
    },

    /// Too few rows for even one training batch.
    #[error(
        "{what} has {rows} rows, fewer than one batch of {batch_size}: use a larger dataset or \
         a smaller --batch-size (or a larger training share: `fractions` in a train --config file)"
    )]
    TooFewRows {
        /// Which data (a file or a split).
        what: String,
        /// Rows available.
        rows: usize,
        /// The batch size.
        batch_size: usize,
    },

    /// An option that makes no sense.
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// A download that failed on every URL.
    #[error(
        "could not download {dest}: {attempts}; check the network (or proxy), or download the file \
         by hand and give it to `cargo xtask fetch` with --from PATH",
        attempts = .attempts.join("; ")
    )]
    Download {
        /// Where the file was to go.
        dest: PathBuf,
        /// One line per URL tried, with its last error.
        attempts: Vec<String>,
    },

    /// The sha256 of a file is not the expected one.
    #[error(
        "{path}: sha256 is {actual}, expected {expected}; the file is corrupt or a different \
         version: delete it and fetch it again, or give the right file to `cargo xtask fetch` with --from PATH"
    )]
    Checksum {
        /// The file checked.
        path: PathBuf,
        /// The expected digest (hex).
        expected: String,
        /// The digest found (hex).
        actual: String,
    },

    /// A zip archive that cannot be read.
    #[error(
        "{path}: not a readable zip archive ({message}); download it again, or extract the file it holds and use that instead"
    )]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        message: String,
    },

    /// A zip entry whose path escapes the extraction directory.
    #[error(
        "{path}: entry {entry:?} has an unsafe path (absolute or with `..`); refusing to extract from this archive"
    )]
    ZipSlip {
        /// The archive.
        path: PathBuf,
        /// The offending entry name.
        entry: String,
    },

    /// The wanted member is not in the archive.
    #[error("{path}: the archive has no {member:?} (it holds {entries:?}); is this the right zip?")]
    ZipMember {
        /// The archive.
        path: PathBuf,
        /// The member looked for.
        member: String,
        /// What the archive holds.
        entries: Vec<String>,
    },

    /// A file that should be text but is an archive or other binary data.
    #[error("{path}: {what}, not a text file; {hint}")]
    NotText {
        /// The file.
        path: PathBuf,
        /// What it looks like ("a zip archive", "binary data (a NUL byte on line 3)").
        what: String,
        /// What to do about it.
        hint: &'static str,
    },

    /// A file that is not a readable Parquet file, or a Parquet column that cannot be used.
    #[error("{path}: {what}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        what: String,
    },

    /// A row of a columnar file (Parquet) that cannot be used.
    #[error("{path}: row {row}: {what}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 0-based row in the file (as `classify` writes it, and as pandas counts).
        row: u64,
        /// What is wrong and what to do.
        what: String,
    },

    /// A file name or pattern that names no file.
    #[error("{pattern}: {what}")]
    NoFiles {
        /// The path, folder or pattern given.
        pattern: PathBuf,
        /// What was looked for and what to do.
        what: String,
    },

    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
}

impl DataError {
    /// An I/O failure on `path` while doing `action`; a file that is not there, when
    /// opening it, is [`DataError::MissingFile`].
    pub fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound && action == "open" {
            DataError::MissingFile { path }
        } else {
            DataError::Io {
                path,
                action,
                source,
            }
        }
    }
}
