//! End-to-end: the binary as a user runs it.

use std::path::{Path, PathBuf};

use spam_e2e::{root, run_cli, sms_collection};

fn sha256_of(path: &Path) -> String {
    use std::process::Command;
    // sha256sum keeps this crate free of hashing dependencies.
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn help_lists_the_subcommands() {
    let (code, stdout, _) = run_cli(&["--help"]);
    assert_eq!(code, 0);
    for cmd in [
        "prepare",
        "train",
        "eval",
        "classify",
        "generate",
        "experiments",
        "serve",
    ] {
        assert!(stdout.contains(cmd), "--help lacks {cmd}: {stdout}");
    }
}

#[test]
fn runs_from_any_directory() {
    // The rpath to libtorch is absolute, so the binary starts from outside the project.
    let out = std::process::Command::new(spam_e2e::spam_cli())
        .arg("--version")
        .current_dir(std::env::temp_dir())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("could not start spam-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("spam-cli "));
}

#[test]
fn prepare_writes_the_chapters_files_byte_for_byte() {
    let reference: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("crates/data/tests/fixtures/chapter_reference.json"))
            .expect("fixture"),
    )
    .expect("json");
    let out = tempfile::tempdir().expect("tempdir");
    let data = sms_collection();
    let (code, stdout, stderr) = run_cli(&[
        "prepare",
        "--data",
        data.to_str().expect("utf-8 path"),
        "--out",
        out.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Read 5572 rows (ham 4825, spam 747)"),
        "{stdout}"
    );
    assert!(stdout.contains("Train: 1045 rows"), "{stdout}");
    assert!(stdout.contains("Validation: 149 rows"), "{stdout}");
    assert!(stdout.contains("Test: 300 rows"), "{stdout}");
    assert!(stdout.contains("Padded length: 120 tokens"), "{stdout}");
    for split in ["train", "validation", "test"] {
        let want = reference[split]["sha256"]
            .as_str()
            .expect("sha256 in fixture");
        assert_eq!(
            sha256_of(&out.path().join(format!("{split}.csv"))),
            want,
            "{split}.csv differs from pandas'"
        );
    }
}

#[test]
fn user_errors_are_one_line_without_a_panic() {
    let cases: [&[&str]; 4] = [
        &[
            "prepare",
            "--data",
            "/nonexistent/SMSSpamCollection",
            "--out",
            "/tmp/x",
        ],
        &[
            "train",
            "--data",
            "/nonexistent/file",
            "--weights",
            "random",
        ],
        &["classify", "--model", "/nonexistent/run", "hello"],
        &[
            "generate",
            "--weights",
            "/nonexistent/ckpt",
            "--prompt",
            "hi",
        ],
    ];
    for args in cases {
        let (code, _, stderr) = run_cli(args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(!stderr.contains("RUST_BACKTRACE"), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: more than one line: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            stderr.contains("/nonexistent"),
            "{args:?} does not name the path: {stderr}"
        );
    }
}

#[test]
fn data_errors_say_each_cause_once_and_what_the_file_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let out = out.to_str().expect("utf-8");
    // A folder without Parquet files where the data file belongs: refused before anything is
    // opened, said once, after the path.
    let folder = dir.path().to_str().expect("utf-8");
    let (code, _, stderr) = run_cli(&["prepare", "--data", folder, "--out", out]);
    assert_ne!(code, 0);
    assert_eq!(
        stderr.matches("must hold Parquet files").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains(folder), "{stderr}");
    // A zip where a table belongs: said so, not "invalid UTF-8".
    let zip = dir.path().join("reviews.csv");
    std::fs::write(&zip, b"PK\x03\x04 not really a zip").expect("write");
    let (code, _, stderr) = run_cli(&[
        "prepare",
        "--data",
        zip.to_str().expect("utf-8"),
        "--format",
        "table",
        "--out",
        out,
    ]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("reviews.csv: a zip archive, not a text file"),
        "{stderr}"
    );
}

#[test]
fn missing_data_and_weights_say_how_to_get_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(spam_e2e::spam_cli())
        .arg("train")
        .current_dir(dir.path())
        .output()
        .expect("spam-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cargo xtask fetch --data") && stderr.contains("--data PATH"),
        "{stderr}"
    );

    let data = sms_collection();
    let out = std::process::Command::new(spam_e2e::spam_cli())
        .args(["train", "--data", data.to_str().expect("utf-8")])
        .current_dir(dir.path())
        // An empty hub cache: the default weights would otherwise come from one that has GPT-2.
        .env("HF_HUB_CACHE", dir.path().join("hub-cache"))
        .output()
        .expect("spam-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cargo xtask fetch --weights") && stderr.contains("--weights random"),
        "{stderr}"
    );
}

/// `spam-cli train --config DIR/small.toml` (holding `config`) on the real SMS data into
/// `DIR/run`, plus `extra` arguments; checks it succeeds. Returns the run directory, its
/// `metrics.json` and what the run printed.
fn train_small(dir: &Path, config: &str, extra: &[&str]) -> (PathBuf, serde_json::Value, String) {
    let config_path = dir.join("small.toml");
    std::fs::write(&config_path, config).expect("config");
    let run = dir.join("run");
    let data = sms_collection();
    let mut args = vec![
        "train",
        "--config",
        config_path.to_str().expect("utf-8"),
        "--data",
        data.to_str().expect("utf-8"),
        "--out",
        run.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run_cli(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let metrics =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).expect("metrics.json"))
            .expect("json");
    (run, metrics, stdout)
}

/// The pipeline really learns: a small GPT-2-shaped model with random weights, trained
/// end to end through the CLI on the real SMS data, reaches 90% test accuracy; then the
/// run directory serves `eval` and `classify`.
#[test]
fn train_eval_classify_on_the_real_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (run, metrics, _) = train_small(
        dir.path(),
        r#"
[model]
weights = "random"
trainable = "all"
token_position = "flexible"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 256
n_embd = 64
n_layer = 2
n_head = 4
dropout = 0.0
qkv_bias = true

[data]
padding = "dynamic"

[train]
epochs = 3
optimizer = { lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.1 }
"#,
        &["--quiet"],
    );
    let test_accuracy = metrics["final"]["test_accuracy"]
        .as_f64()
        .expect("test accuracy");
    assert!(test_accuracy >= 0.90, "test accuracy {test_accuracy}");
    for f in [
        "loss.png",
        "accuracy.png",
        "config.json",
        "model/model.safetensors",
        "data/test.csv",
    ] {
        assert!(run.join(f).is_file(), "{f} missing from the run directory");
    }
    #[cfg(unix)]
    {
        // Every file of the run directory is as readable as config.json (written with
        // File::create), including those renamed into place from temporary files.
        use std::os::unix::fs::PermissionsExt;
        let mode = |f: &str| {
            run.join(f)
                .metadata()
                .expect("metadata")
                .permissions()
                .mode()
        };
        for f in [
            "loss.png",
            "accuracy.png",
            "model/model.safetensors",
            "metrics.json",
        ] {
            assert_eq!(mode(f), mode("config.json"), "{f}");
        }
    }

    let run_s = run.to_str().expect("utf-8");
    let test_csv = run.join("data/test.csv");
    let (code, stdout, stderr) = run_cli(&[
        "eval",
        "--model",
        run_s,
        "--data",
        test_csv.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let m: serde_json::Value = serde_json::from_str(&stdout).expect("eval json");
    assert_eq!(m["examples"], 300);
    let eval_accuracy = m["accuracy"].as_f64().expect("accuracy");
    assert!(
        (eval_accuracy - test_accuracy).abs() < 1e-9,
        "eval {eval_accuracy} vs train's {test_accuracy}"
    );

    let (code, stdout, stderr) = run_cli(&[
        "classify",
        "--model",
        run_s,
        "--format",
        "jsonl",
        "WINNER!! You have won a 1000 cash prize. Call 09061701461 now to claim",
        "Ok, see you at lunch tomorrow",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["label"], "spam", "{stdout}");
    assert_eq!(lines[1]["label"], "ham", "{stdout}");
    let p = lines[0]["probabilities"]["spam"]
        .as_f64()
        .expect("probability");
    assert!(p > 0.5 && p <= 1.0);
}

/// `train --cache-dir` keeps the frozen blocks' output in a file there, says so in
/// `metrics.json`, and leaves nothing behind.
#[test]
fn train_with_an_on_disk_cache_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().expect("utf-8");
    let (_, metrics, stdout) = train_small(
        dir.path(),
        r#"
[model]
weights = "random"
trainable = "last_block"
token_position = "flexible"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 256
n_embd = 32
n_layer = 2
n_head = 2
dropout = 0.0
qkv_bias = true

[data]
padding = "dynamic"

[train]
epochs = 1
"#,
        &["--cache-dir", cache_arg],
    );
    // The size line tells the architecture that ran, not the default `--size`.
    assert!(
        stdout.contains("Model: GPT-2 custom (2 layers, width 32, 2 heads) (random weights)"),
        "{stdout}"
    );
    let path = metrics["path"].as_str().expect("compute path");
    assert!(
        path.starts_with("cached") && path.contains("on disk in"),
        "{path}"
    );
    assert!(metrics["final"]["test_accuracy"].as_f64().is_some());
    let left: Vec<_> = std::fs::read_dir(&cache).expect("cache dir").collect();
    assert!(left.is_empty(), "left in the cache dir: {left:?}");
}

/// `generate --json` on checkpoints written by TensorFlow and by transformers gives the
/// chapter's greedy tokens, top-10 ids and logits (small fixtures of the model crate).
#[test]
fn generate_json_matches_the_chapters_model_on_both_formats() {
    let fixtures = root().join("crates/model/tests/fixtures/tiny");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let greedy = &expected["greedy"];
    let prompt: Vec<String> = greedy["prompt_ids"]
        .as_array()
        .expect("prompt ids")
        .iter()
        .map(|v| v.to_string())
        .collect();
    let n = greedy["generated_ids"]
        .as_array()
        .expect("generated")
        .len()
        .to_string();
    for source in [
        fixtures.join("openai"),
        fixtures.join("hub/model.safetensors"),
        fixtures.join("hf"),
    ] {
        let (code, stdout, stderr) = run_cli(&[
            "generate",
            "--weights",
            source.to_str().expect("utf-8"),
            "--prompt-ids",
            &prompt.join(","),
            "--max-new-tokens",
            &n,
            "--json",
            "--device",
            "cpu",
        ]);
        assert_eq!(code, 0, "{}: {stderr}", source.display());
        let got: serde_json::Value = serde_json::from_str(&stdout).expect("generate json");
        assert_eq!(got["prompt_ids"], greedy["prompt_ids"]);
        assert_eq!(
            got["generated_ids"],
            greedy["generated_ids"],
            "{}",
            source.display()
        );
        let steps = got["steps"].as_array().expect("steps");
        assert_eq!(
            steps.len(),
            greedy["steps"].as_array().expect("steps").len()
        );
        for (s, e) in steps.iter().zip(greedy["steps"].as_array().expect("steps")) {
            assert_eq!(s["top_ids"], e["top_ids"], "{}", source.display());
            for (a, b) in s["top_logits"]
                .as_array()
                .expect("logits")
                .iter()
                .zip(e["top_logits"].as_array().expect("l"))
            {
                let (a, b) = (a.as_f64().expect("f"), b.as_f64().expect("f"));
                assert!(
                    (a - b).abs() < 1e-4,
                    "{}: logit {a} vs {b}",
                    source.display()
                );
            }
        }
    }
}

/// A 60-message sample of the SMS collection and a tiny classifier trained on it through the
/// CLI (seconds): returns (sample file, run directory).
pub(crate) fn tiny_run(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(sms_collection()).expect("SMS collection");
    let sample = dir.join("sample.tsv");
    let lines: Vec<&str> = text.lines().take(60).collect();
    std::fs::write(&sample, lines.join("\n") + "\n").expect("sample");
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        r#"
[model]
weights = "random"
trainable = "all"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 64
n_embd = 8
n_layer = 2
n_head = 2
dropout = 0.0
qkv_bias = true

[data]
padding = "longest"

[train]
epochs = 1
"#,
    )
    .expect("config");
    let run = dir.join("run");
    let (code, stdout, stderr) = run_cli(&[
        "train",
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        sample.to_str().expect("utf-8"),
        "--out",
        run.to_str().expect("utf-8"),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    (sample, run)
}
