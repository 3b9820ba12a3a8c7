//! xtask's integration tests, one binary (each old test file is a module).

mod fetch_weights;
mod tidy;
