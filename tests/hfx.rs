//! End-to-end: `spam-cli export` of a tiny `flexible` run, then `classify` and `eval` on the
//! exported transformers folder give the run's own results; a `last` run is refused in one
//! line that says what to train instead.

use std::path::Path;

use spam_e2e::run_cli;

/// Trains a tiny random model (seconds) with `position` into `dir/run`.
fn tiny_run(dir: &Path, position: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let csv = dir.join("examples.csv");
    let mut text = String::from("text,label\n");
    for i in 0..20 {
        text.push_str(&format!("hello friend see you at {i} tomorrow,ham\n"));
        text.push_str(&format!("win a prize now call {i} to claim cash,spam\n"));
    }
    std::fs::write(&csv, text).expect("csv");
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        "[model]\nweights = \"random\"\ndevice = \"cpu\"\n\n[model.architecture]\n\
         vocab_size = 50257\nn_ctx = 64\nn_embd = 16\nn_layer = 1\nn_head = 2\ndropout = 0.0\n\
         qkv_bias = true\n\n[data]\nformat = \"table\"\n\n[train]\nepochs = 1\neval_freq = 3\n\
         eval_iter = 1\n",
    )
    .expect("config");
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

#[test]
fn hfx_export_then_classify_and_eval_the_folder_like_the_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, csv) = tiny_run(dir.path(), "flexible");
    let out = dir.path().join("exported");
    let (code, stdout, stderr) = run_cli(&[
        "export",
        "--model",
        run.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
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
        let mut args = vec!["classify", "--model", model.to_str().expect("utf-8")];
        args.extend(["--format", "jsonl", "--device", "cpu"]);
        args.extend(texts);
        let (code, stdout, stderr) = run_cli(&args);
        assert_eq!(code, 0, "{stderr}");
        stdout
            .lines()
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
        let (code, stdout, stderr) = run_cli(&[
            "eval",
            "--model",
            model.to_str().expect("utf-8"),
            "--data",
            csv.to_str().expect("utf-8"),
            "--format",
            "table",
            "--json",
            "--device",
            "cpu",
        ]);
        assert_eq!(code, 0, "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        v["confusion"].clone()
    };
    assert_eq!(eval(&run), eval(&out));

    // A second export into the same folder needs --overwrite.
    let (code, _, stderr) = run_cli(&[
        "export",
        "--model",
        run.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--overwrite"), "{stderr}");
}

#[test]
fn hfx_export_of_a_last_position_run_is_refused_in_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, _) = tiny_run(dir.path(), "last");
    let out = dir.path().join("exported");
    let (code, _, stderr) = run_cli(&[
        "export",
        "--model",
        run.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 1);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("`last` token position") && stderr.contains("--token-position flexible"),
        "{stderr}"
    );
    assert!(!out.exists());
}
