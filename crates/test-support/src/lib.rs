//! Helpers shared by the workspace's tests, so each test crate finds the shared data the same
//! way and download tests (spam-data's and the xtask's) run against the same server.
//!
//! * [`workspace_root`], [`shared_dir`] and [`sms_collection`]: the real SMS Spam Collection in
//!   the `shared` folder that CI places beside the clone (override: `SPAM_SHARED_DIR`);
//! * [`http_server`]: a tiny HTTP/1.1 server on 127.0.0.1 that honours `Range` and can drop,
//!   fail or hang on purpose;
//! * [`alloc_peak`]: an allocator that records the largest allocation, for property tests
//!   that check a parser never asks for absurd amounts of memory;
//! * [`mutate`]: structured mutations of valid inputs for those property tests;
//! * [`special_files`]: FIFOs, and a time bound for tests of readers that must not block.
//!
//! Test-only: never a dependency of a shipped crate, and never linked to libtorch.

#![warn(missing_docs)]

pub mod alloc_peak;
pub mod http_server;
pub mod mutate;
pub mod special_files;

use std::path::{Path, PathBuf};

/// Environment variable naming the shared input folder (the one holding `datasets/`).
pub const SHARED_DIR_ENV: &str = "SPAM_SHARED_DIR";

/// Where the SMS Spam Collection lives inside the shared folder.
pub const SMS_COLLECTION: &str = "datasets/sms_spam_collection/SMSSpamCollection";

/// The workspace root (this crate lives in `crates/test-support`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map_or_else(|| manifest.join("../.."), Path::to_path_buf)
}

/// The shared input folder: `$SPAM_SHARED_DIR`, by default `shared` beside the workspace root.
pub fn shared_dir() -> PathBuf {
    std::env::var_os(SHARED_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("..").join("shared"))
}

/// The real SMS Spam Collection in the shared folder. Panics with a message saying how to get
/// it when the file is absent, so a missing input reads as such and not as a parse failure.
pub fn sms_collection() -> PathBuf {
    let path = shared_dir().join(SMS_COLLECTION);
    assert!(
        path.is_file(),
        "the real SMS Spam Collection is needed at {} (set {SHARED_DIR_ENV} to the folder holding \
         datasets/, or fetch it with `cargo xtask fetch --data`)",
        path.display()
    );
    path
}
