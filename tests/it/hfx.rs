//! End-to-end: `spam-cli export` of a tiny `flexible` run, then `classify` and `eval` on the
//! exported transformers folder give the run's own results; a `last` run is refused in one
//! line that says what to train instead.

use std::path::Path;

use spam_e2e::run_cli;

/// Trains a tiny random model (seconds) with `position` into `dir/run-POSITION`.
fn tiny_run(dir: &Path, position: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (config, csv) = spam_e2e::tiny_setup(dir, 1);
    let run = dir.join(format!("run-{position}"));
    let (code, _, stderr) = run_cli(&[
        "train",
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        csv.to_str().expect("utf-8"),
        "--token-position",
        position,
        "--out",
        run.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    (run, csv)
}

fn export(run: &Path, out: &Path) -> (i32, String, String) {
    run_cli(&[
        "export",
        "--model",
        run.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ])
}

#[test]
fn hfx_export_then_classify_and_eval_the_folder_like_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, csv) = tiny_run(dir.path(), "flexible");
    let out = dir.path().join("exported");
    let (code, stdout, stderr) = export(&run, &out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("largest logit change"), "{stdout}");
    for name in [
        "config.json",
        "model.safetensors",
        "vocab.json",
        "merges.txt",
        "README.md",
    ] {
        assert!(out.join(name).is_file(), "{name}");
    }
    // The model card tells the run's settings and metrics.
    let card = std::fs::read_to_string(out.join("README.md")).expect("model card");
    assert!(
        card.contains("| test | ") && !card.contains("unknown"),
        "{card}"
    );
    let texts = ["win cash now", "see you tomorrow friend", "ok"];

    let classify = |model: &Path| {
        spam_e2e::classify_jsonl(model, &texts, &["--device", "cpu"])
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json line"))
            .collect::<Vec<_>>()
    };
    let (a, b) = (classify(&run), classify(&out));
    assert_eq!(a.len(), texts.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x["label"], y["label"]);
        for name in ["ham", "spam"] {
            let (p, q) = (
                x["probabilities"][name].as_f64().expect("p"),
                y["probabilities"][name].as_f64().expect("q"),
            );
            assert!((p - q).abs() < 1e-6, "{x} vs {y}");
        }
    }
    let eval = |model: &Path| {
        let json = spam_e2e::eval_json(model, &csv, &["--device", "cpu"]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        v["confusion"].clone()
    };
    assert_eq!(eval(&run), eval(&out));

    // A second export into the same folder needs --overwrite.
    let (code, _, stderr) = export(&run, &out);
    assert_eq!(code, 1);
    assert!(stderr.contains("--overwrite"), "{stderr}");
}

#[test]
fn hfx_export_of_a_last_position_run_is_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, _) = tiny_run(dir.path(), "last");
    let out = dir.path().join("exported");
    let (code, _, stderr) = export(&run, &out);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`last` token position") && stderr.contains("--token-position flexible"),
        "{stderr}"
    );
    assert!(!out.exists());
}
