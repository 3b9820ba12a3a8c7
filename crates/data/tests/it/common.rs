//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder of committed fixtures.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The real SMS Spam Collection in the shared folder; panics with a clear message if absent.
pub use spam_test_support::sms_collection as real_sms;

/// `chapter_reference.json`, written by scripts/make_fixtures.py.
pub fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("chapter_reference.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// sha256 hex of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    spam_data::sha256_hex(bytes)
}
