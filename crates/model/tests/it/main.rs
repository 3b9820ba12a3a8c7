//! spam-model's integration tests, in one binary: one module per area (linking libtorch
//! into one test executable instead of five saves link time and disk).
mod bad_checkpoints;
mod common;
mod error_chain;
mod fuzz;
mod fuzz_hf;
mod hf;
mod hf_folders;
mod last_position;
mod libtorch;
mod lora;
mod model;
mod parity;
mod precision;
mod predict;
mod run_info;
mod untrusted;

// Records each thread's largest allocation, for the property tests in `fuzz`.
#[global_allocator]
static ALLOCATOR: spam_test_support::alloc_peak::PeakAlloc =
    spam_test_support::alloc_peak::PeakAlloc;
