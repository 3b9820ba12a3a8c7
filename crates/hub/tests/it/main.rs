//! spam-hub's integration tests, one binary (a module per topic).

mod datasets;
#[cfg(feature = "download")]
mod download;
mod hub;
