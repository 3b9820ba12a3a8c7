//! spam-train's integration tests, one binary (each old test file is a module).

mod chapter;
mod common;
mod engines;
mod parity;
mod train;
