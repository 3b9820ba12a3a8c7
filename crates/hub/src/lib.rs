//! Weights by Hugging Face hub id (`openai-community/gpt2`, `gpt2-medium@main`): found in the
//! local hub cache without network, or downloaded into it. Ids name a model repository
//! ([`HubId::parse`]) or a dataset repository ([`HubId::parse_dataset`], [`RepoKind`]).
//!
//! The cache is the one the hub's own libraries use (`HF_HUB_CACHE`, `HF_HOME`, ...), so a
//! repository they downloaded is found here and the other way round; the environment is read
//! as they read it (`HF_ENDPOINT`, `HF_TOKEN`, `HF_TOKEN_PATH`, `HF_HUB_OFFLINE`). Downloads
//! (feature `download`, on by default) go through spam-data's resumable, checked downloader.
//! See `cache` for the layout and the rules.

#![warn(missing_docs)]

mod cache;
mod error;
#[cfg(feature = "download")]
mod fetch;
mod kind;
mod resolve;

pub use cache::{
    GPT2_HUB_ALIASES, GPT2_HUB_FILES, HUB_ENDPOINT, HubId, HubOptions, HubProgress, HubSnapshot,
    MAX_TOKEN_FILE_BYTES, find_cached, is_commit_hash,
};
pub use error::{HubError, Result};
pub use kind::RepoKind;
pub use resolve::resolve_hub;
// The token type the options hold (spam-data's, which sends it).
pub use spam_data::BearerToken;
