//! spam-data's integration tests, in one binary (one link instead of one per file): one module
//! per topic, helpers in `common`.

mod common;

mod atomic;
mod bad_input;
#[cfg(feature = "download")]
mod download;
mod fuzz;
mod hf_tokenizer;
mod hostile;
mod no_torch;
mod numpy_rng;
mod padding;
#[cfg(feature = "parquet")]
mod parquet;
mod reference;
mod settings;
mod table;
mod table_stream;
mod tokenizer;

// Records each thread's largest allocation, for the property tests in `fuzz`.
#[global_allocator]
static ALLOCATOR: spam_test_support::alloc_peak::PeakAlloc =
    spam_test_support::alloc_peak::PeakAlloc;
