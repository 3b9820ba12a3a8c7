//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder of committed fixtures.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The real SMS Spam Collection: `$SPAM_SHARED_DIR/datasets/sms_spam_collection/SMSSpamCollection`,
/// by default in the `shared` folder beside the workspace. Panics with a clear message if absent.
pub fn real_sms() -> PathBuf {
    let shared = std::env::var_os("SPAM_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = shared.join("datasets/sms_spam_collection/SMSSpamCollection");
    assert!(
        path.is_file(),
        "the real SMS Spam Collection is needed at {} (set SPAM_SHARED_DIR to the folder holding \
         datasets/, or fetch it with `cargo xtask fetch --data`)",
        path.display()
    );
    path
}

/// `chapter_reference.json`, written by scripts/make_fixtures.py.
pub fn reference() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("chapter_reference.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture json")
}

/// sha256 hex of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    spam_data::download::sha256_hex(bytes)
}
