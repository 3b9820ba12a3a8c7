//! spam-train's integration tests, one binary (each old test file is a module).

mod best;
mod chapter;
mod common;
mod engines;
mod experiments;
mod export;
mod hub;
mod logs;
mod parity;
mod precision;
mod predict;
mod reliability;
mod run_dir;
mod train;
