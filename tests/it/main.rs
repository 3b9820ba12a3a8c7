//! spam-e2e's end-to-end tests, one binary: the `spam-cli` binary driven as a user would,
//! one module per topic (`cli` also holds `tiny_run`, the tiny trained run others start from).

mod array_jobs;
mod best;
mod cli;
mod hfx;
mod hub;
mod logs;
mod parquet;
mod precision;
mod run_dirs;
mod stdin;
mod sweep;
mod untrusted;
