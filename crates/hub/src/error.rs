//! Errors of the hub client: a malformed id, a snapshot not in the cache, a download that
//! failed, a dataset without Parquet files, and the downloader's and file system's own errors
//! (as their `source()`).

use std::path::PathBuf;

use crate::kind::RepoKind;

/// Result alias of the crate.
pub type Result<T, E = HubError> = std::result::Result<T, E>;

/// What can go wrong finding or fetching a snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// A hub id that does not parse (the message says the syntax).
    #[error("invalid option: {0}")]
    InvalidId(String),

    /// Hub weights or a hub dataset that are not in the cache and were not downloaded
    /// (offline, or a build without the `download` feature).
    #[error("{id} is not in the Hugging Face cache {cache} ({why}); {hint}")]
    NotCached {
        /// The hub id asked for.
        id: String,
        /// The cache folder looked in.
        cache: PathBuf,
        /// What the cache lacks.
        why: String,
        /// What to do about it.
        hint: String,
    },

    /// A hub file that could not be downloaded into the cache.
    #[error(
        "{id}: could not download {file} ({url}) into the Hugging Face cache {cache}: {why}; \
         check the network (HF_ENDPOINT for a mirror, HF_TOKEN for a private or gated \
         repository), or copy the snapshot into the cache from a machine that has it{}",
        .kind.local_alternative()
    )]
    Download {
        /// The hub id asked for.
        id: String,
        /// The file in the repository.
        file: String,
        /// The URL tried.
        url: String,
        /// The cache folder.
        cache: PathBuf,
        /// What went wrong (boxed: keeps the error, and every `Result` of it, small).
        why: Box<str>,
        /// A model or a dataset (what else the message offers).
        kind: RepoKind,
    },

    /// A dataset whose revision holds no Parquet file (nor, for the default `main`, the hub's
    /// converted branch `refs/convert/parquet`).
    #[error(
        "{repo} has no Parquet files at {revision}{}; name a revision that has them \
         (ORG/NAME@REVISION)",
        if *.tried_converted { " (nor on refs/convert/parquet)" } else { "" }
    )]
    NoParquet {
        /// `ORG/NAME`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// Whether `refs/convert/parquet` was asked for too.
        tried_converted: bool,
    },

    /// The token file cannot be used (the reason never quotes its content).
    #[error(
        "the token file {} cannot be used: {why}; fix it, or set HF_TOKEN, or point \
         HF_TOKEN_PATH at a file holding the token",
        path.display()
    )]
    TokenFile {
        /// The file (`HF_TOKEN_PATH`, else `$HF_HOME/token`).
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },

    /// spam-data's downloader or file writes failed.
    #[error(transparent)]
    Data(#[from] spam_data::DataError),
}
