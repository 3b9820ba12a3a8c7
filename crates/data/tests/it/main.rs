//! spam-data's integration tests, in one binary (one link instead of one per file): one module
//! per topic, helpers in `common`.

mod common;

mod atomic;
mod bad_input;
#[cfg(feature = "download")]
mod download;
mod hostile;
mod no_torch;
mod numpy_rng;
mod padding;
mod reference;
mod settings;
mod table;
mod tokenizer;
