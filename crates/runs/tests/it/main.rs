//! spam-runs' integration tests, one binary (a module per topic).

mod best;
mod common;
mod experiments;
mod export;
mod hub;
mod logs;
mod names;
mod precision;
mod reliability;
mod run_dir;
mod scheduler;
mod sweep;
