//! spam-hub's integration tests, one binary (a module per topic).

#[cfg(feature = "download")]
mod download;
mod hub;
