//! Errors print each cause once (issue 15): a variant that wraps an OS or parser error keeps
//! it as its `source()` only, so spam-cli's `{:#}` does not repeat it.

use std::path::Path;

use spam_model::{Classifier, ModelError};
use tch::Device;

/// How spam-cli prints an error: anyhow's `{:#}`, the whole cause chain on one line.
fn as_cli_prints(err: ModelError) -> String {
    format!("{:#}", anyhow::Error::from(err))
}

fn load_err(dir: &Path) -> ModelError {
    match Classifier::load(dir, Device::Cpu) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn an_os_error_appears_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The "folder" is a file: reading classifier.json inside it fails with an OS error (not a
    // directory). A folder as classifier.json is refused before any OS call (NotAFile).
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").expect("write");
    let err = load_err(&file);
    assert!(matches!(err, ModelError::Io { .. }), "{err:?}");
    let msg = as_cli_prints(err);
    assert_eq!(msg.matches("(os error").count(), 1, "{msg}");
    assert!(msg.contains("classifier.json"), "{msg}");
}

#[test]
fn a_json_error_appears_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("classifier.json"), "{\"model\": ").expect("write");
    let err = load_err(dir.path());
    assert!(matches!(err, ModelError::Json { .. }), "{err:?}");
    let msg = as_cli_prints(err);
    assert_eq!(msg.matches("EOF while parsing").count(), 1, "{msg}");
    assert!(
        msg.contains("classifier.json: the JSON file is malformed"),
        "{msg}"
    );
}

#[test]
fn a_folder_as_classifier_json_is_refused_before_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("classifier.json")).expect("mkdir");
    let err = load_err(dir.path());
    assert!(matches!(err, ModelError::NotAFile { .. }), "{err:?}");
    assert!(as_cli_prints(err).contains("classifier.json: not a regular file"));
}
