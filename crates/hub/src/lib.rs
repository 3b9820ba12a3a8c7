//! Weights and datasets by Hugging Face hub id: found in the local hub cache without network,
//! or downloaded into it.
//!
//! Models (`openai-community/gpt2`, `gpt2-medium@main`; [`HubId::parse`]) are resolved to a
//! snapshot holding named files ([`resolve_hub`]); datasets (`ORG/NAME[@REVISION]`,
//! [`HubId::parse_dataset`]) to the Parquet files of a revision ([`resolve_hub_dataset`]),
//! taken from the hub's converted branch ([`PARQUET_REVISION`]) when `main` holds none. The
//! crate does not read Parquet: it only puts the files in place.
//!
//! The cache is the one the hub's own libraries use (`HF_HUB_CACHE`, `HF_HOME`, ...), so a
//! repository they downloaded is found here and the other way round; the environment is read
//! as they read it (`HF_ENDPOINT`, `HF_TOKEN`, `HF_TOKEN_PATH`, `HF_HUB_OFFLINE`). Downloads
//! (feature `download`, on by default) go through spam-data's resumable, checked downloader.
//! See `cache` for the layout and the rules.

#![warn(missing_docs)]

mod cache;
mod dataset;
mod error;
#[cfg(feature = "download")]
mod fetch;
#[cfg(feature = "download")]
mod fetch_dataset;
mod kind;
mod resolve;

pub use cache::{
    DatasetSnapshot, GPT2_HUB_ALIASES, GPT2_HUB_FILES, HUB_ENDPOINT, HubId, HubOptions,
    HubProgress, HubSnapshot, MAX_TOKEN_FILE_BYTES, PARQUET_REVISION, find_cached, is_commit_hash,
};
pub use dataset::find_cached_dataset;
pub use error::{HubError, Result};
pub use kind::RepoKind;
pub use resolve::{resolve_hub, resolve_hub_dataset};
// The token type the options hold (spam-data's, which sends it).
pub use spam_data::BearerToken;
