//! The parts of xtask that its tests call directly; `main.rs` is the command line.

pub mod tidy;
