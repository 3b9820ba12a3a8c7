//! End-to-end: issue 18's items 1-3 as a user meets them: split files, `--split`, the best
//! model, class weights and the threshold from flags, and the AUCs of `eval`.

use std::path::Path;

use spam_e2e::run_cli;

/// A tiny random model (TOML) and split files in `dir`: a run takes seconds.
fn tiny_files(dir: &Path) -> std::path::PathBuf {
    let mut train = String::from("text,label\n");
    for i in 0..30 {
        if i % 3 == 2 {
            train.push_str(&format!("win a prize now call {i} to claim cash,spam\n"));
        } else {
            train.push_str(&format!("hello friend see you at {i} tomorrow,ham\n"));
        }
    }
    std::fs::write(dir.join("train.csv"), train).expect("train");
    std::fs::write(
        dir.join("validation.csv"),
        "text,label\nhello there see you,ham\nwin cash now,spam\ncall me later,ham\nprize call now,spam\n",
    )
    .expect("validation");
    let config = dir.join("tiny.toml");
    spam_e2e::write_tiny_config(&config, 1, 2);
    config
}

#[test]
fn best_flags_reach_the_run_config_and_the_threshold_flips_classify() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tiny_files(tmp.path());
    let run = tmp.path().join("run");
    let p = |name: &str| tmp.path().join(name).display().to_string();
    let (code, stdout, stderr) = run_cli(&[
        "train",
        "--config",
        &config.display().to_string(),
        "--train-file",
        &p("train.csv"),
        "--validation-file",
        &p("validation.csv"),
        "--metric-for-best",
        "val_accuracy",
        "--early-stopping",
        "3",
        "--early-stopping-threshold",
        "0.01",
        "--class-weights",
        "auto",
        "--threshold",
        "0.001",
        "--out",
        &run.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("split files as given"), "{stdout}");
    assert!(stdout.contains("Test accuracy: none"), "{stdout}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config.json"))
            .expect("json");
    let train = &saved["train"];
    assert_eq!(train["metric_for_best"], "val_accuracy");
    assert_eq!(train["early_stopping_threshold"], 0.01);
    assert_eq!(train["class_weights"], "auto");
    assert_eq!(train["threshold"], 0.001);
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).expect("metrics"))
            .expect("json");
    assert_eq!(metrics["best"]["metric"], "val_accuracy");
    assert!(metrics["best"]["step"].is_u64());
    // 20 ham and 10 spam: auto weights 30 / (2 * 20) and 30 / (2 * 10).
    assert_eq!(metrics["class_weights"], serde_json::json!([0.75, 1.5]));
    assert!(metrics["per_split"]["validation"]["roc_auc"].is_f64());

    // The stored threshold makes everything spam; a flag overrides it.
    let model = run.display().to_string();
    let (code, stdout, _) = run_cli(&["classify", "--model", &model, "hello friend"]);
    assert_eq!(code, 0);
    assert!(
        stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("hello friend,spam")),
        "{stdout}"
    );
    let (code, stdout, _) = run_cli(&[
        "classify",
        "--model",
        &model,
        "--threshold",
        "0.999",
        "hello friend",
    ]);
    assert_eq!(code, 0);
    assert!(
        stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("hello friend,ham")),
        "{stdout}"
    );
    let (code, stdout, stderr) = run_cli(&[
        "eval",
        "--model",
        &model,
        "--data",
        &p("validation.csv"),
        "--format",
        "table",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ROC AUC: ") && stdout.contains("PR AUC"),
        "{stdout}"
    );
    let (code, _, stderr) = run_cli(&["classify", "--model", &model, "--threshold", "2", "x"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--threshold"), "{stderr}");
}

#[test]
fn best_split_fractions_flag_and_data_dir() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = tiny_files(tmp.path());
    let csv = tmp.path().join("all.csv");
    let mut text = String::from("text,label\n");
    for i in 0..50 {
        text.push_str(&format!("hello friend see you at {i} tomorrow,ham\n"));
        text.push_str(&format!("win a prize now call {i} to claim cash,spam\n"));
    }
    std::fs::write(&csv, text).expect("csv");
    let out = tmp.path().join("prepared");
    let (code, stdout, stderr) = run_cli(&[
        "prepare",
        "--data",
        &csv.display().to_string(),
        "--format",
        "table",
        "--split",
        "0.5,0.2",
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Train: 50 rows") && stdout.contains("Validation: 20 rows"),
        "{stdout}"
    );
    // Again into the same folder: refused without --overwrite, replaced with it; never over
    // its own input.
    let args = |extra: &[&str]| {
        let mut a = vec![
            "prepare".to_string(),
            "--format".into(),
            "table".into(),
            "--split".into(),
            "0.5,0.2".into(),
            "--out".into(),
            out.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run_args = |a: Vec<String>| run_cli(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let data = csv.display().to_string();
    let (code, _, stderr) = run_args(args(&["--data", &data]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("not empty") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    let (code, _, stderr) = run_args(args(&["--data", &data, "--overwrite"]));
    assert_eq!(code, 0, "{stderr}");
    let own = out.join("train.csv").display().to_string();
    let before = std::fs::read(out.join("train.csv")).expect("train.csv");
    let (code, _, stderr) = run_args(args(&["--data", &own, "--overwrite"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("would replace the input"), "{stderr}");
    assert_eq!(std::fs::read(out.join("train.csv")).expect("kept"), before);

    // prepare's folder trains as given: 50 / 20 / 30 rows.
    let run = tmp.path().join("run");
    let (code, stdout, stderr) = run_cli(&[
        "train",
        "--config",
        &config.display().to_string(),
        "--data-dir",
        &out.display().to_string(),
        "--out",
        &run.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("train 50 / validation 20 / test 30"),
        "{stdout}"
    );
    let (code, _, stderr) =
        run_cli(&["prepare", "--data", "x.csv", "--split", "0.5", "--out", "y"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("0.5"), "{stderr}");

    // An empty validation (or training) split is refused when the flag is read.
    for bad in ["1,0", "0,0.5", "0.8,0.3"] {
        let (code, _, stderr) =
            run_cli(&["prepare", "--data", "x.csv", "--split", bad, "--out", "y"]);
        assert_ne!(code, 0, "{bad}");
        assert!(stderr.contains("must each be above 0"), "{bad}: {stderr}");
    }
    // Flags that split files would silently ignore are refused with them.
    let train = out.join("train.csv").display().to_string();
    let dir = out.display().to_string();
    for extra in [["--data", "x.csv"], ["--split", "0.6,0.2"]] {
        for files in [
            vec!["--train-file", train.as_str()],
            vec!["--data-dir", dir.as_str()],
        ] {
            let mut args = vec!["train"];
            args.extend(&files);
            args.extend(extra);
            let (code, _, stderr) = run_cli(&args);
            assert_eq!(code, 2, "{args:?}: {stderr}");
            assert!(
                stderr.contains("cannot be used with") && stderr.contains(extra[0]),
                "{args:?}: {stderr}"
            );
        }
    }
}
