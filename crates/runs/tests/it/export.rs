//! `export_run`: a run's model as a transformers folder, read back by the Predictor with the
//! same probabilities; positions transformers cannot express and occupied folders refused.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use spam_model::Predictor;
use spam_model::TokenPosition;
use spam_runs::{ExportOptions, export_run};

/// A run directory holding a tiny model with GPT-2's vocabulary.
fn run(position: TokenPosition) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::common::save_tiny_run(dir.path(), position, 12);
    dir
}

fn export(model: &Path, out: &Path, overwrite: bool) -> anyhow::Result<spam_runs::ExportSummary> {
    export_run(&ExportOptions {
        model: model.to_path_buf(),
        out: out.to_path_buf(),
        overwrite,
    })
}

const TEXTS: [&str; 5] = [
    "Hi, are we still on for tonight?",
    "WINNER!! You have won a £1000 prize, call 09061701461 now to claim",
    "ok",
    "",
    "A longer message that runs past the twelve tokens the model reads, so it is cut there",
];

#[test]
fn hfx_an_export_classifies_like_the_run_it_came_from() {
    let run = run(TokenPosition::Flexible);
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("hf");
    let done = export(run.path(), &folder, false).unwrap();
    assert!(done.bias_residual < 1e-9, "{}", done.bias_residual);
    assert_eq!(done.label_names, ["ham", "spam"]);
    for name in &done.files {
        assert!(folder.join(name).is_file(), "{name}");
    }
    let card = std::fs::read_to_string(folder.join("README.md")).unwrap();
    assert!(
        card.contains("flexible") && card.contains("ham / spam"),
        "{card}"
    );

    let ours = Predictor::load(run.path(), tch::Device::Cpu).unwrap();
    let theirs = Predictor::load(&folder, tch::Device::Cpu).unwrap();
    assert_eq!(theirs.max_length(), 12);
    assert_eq!(theirs.label_names(), ours.label_names());
    let (a, b) = (ours.classify(&TEXTS), theirs.classify(&TEXTS));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.index, y.index);
        for (p, q) in x.probabilities.iter().zip(&y.probabilities) {
            assert!((p - q).abs() < 1e-6, "{x:?} vs {y:?}");
        }
    }
}

#[test]
fn hfx_positions_transformers_cannot_read_are_refused_before_writing() {
    for position in [
        TokenPosition::Last,
        TokenPosition::First,
        TokenPosition::Pooled,
    ] {
        let run = run(position);
        let out = tempfile::tempdir().unwrap();
        let folder = out.path().join("hf");
        let err = format!("{:#}", export(run.path(), &folder, false).unwrap_err());
        assert!(err.contains("--token-position flexible"), "{err}");
        assert!(!folder.exists());
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "staging left behind"
        );
    }
}

#[test]
fn hfx_an_occupied_folder_is_refused_and_an_earlier_export_replaced_with_overwrite() {
    let run = run(TokenPosition::Flexible);
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("hf");
    export(run.path(), &folder, false).unwrap();
    let err = export(run.path(), &folder, false).unwrap_err().to_string();
    assert!(err.contains("--overwrite"), "{err}");
    export(run.path(), &folder, true).unwrap();
    std::fs::write(folder.join("notes.txt"), "mine").unwrap();
    let err = export(run.path(), &folder, true).unwrap_err().to_string();
    assert!(err.contains("notes.txt"), "{err}");
    assert!(folder.join("notes.txt").is_file());
}
