//! spam-serve's integration tests, one binary (each old test file is a module).

mod browser;
mod common;
mod connections;
mod http;
mod info;
mod safety;
mod tei;
