//! spam-data's integration tests, in one binary (one link instead of one per file): one module
//! per topic, helpers in `common`.

mod common;

mod bad_input;
mod download;
mod no_torch;
mod numpy_rng;
mod padding;
mod reference;
mod table;
mod tokenizer;
