//! OpenAI's GPT-2 checkpoints (TensorFlow tensor bundles), read in pure Rust.
//!
//! A bundle is `PREFIX.index` plus `PREFIX.data-SSSSS-of-NNNNN` shards. `sstable` decodes the
//! index's bytes, `read` finds and validates a checkpoint folder, and `write` (feature
//! `test-support`) writes bundles for tests.
mod read;
mod sstable;
#[cfg(feature = "test-support")]
mod write;

pub use read::{CheckpointFiles, HParams, OpenAiCheckpoint};
#[cfg(feature = "test-support")]
pub use write::{BundleTensor, write_bundle};
