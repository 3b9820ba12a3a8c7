//! Parquet as users hold it: the hub's split layout (a ClassLabel in two shards) trains, evaluates
//! and classifies to the same numbers as the same rows as CSV, and a dataset by hub id comes from
//! the hub cache without network.

use std::path::{Path, PathBuf};
use std::process::Command;

use spam_e2e::{root, run_cli};

const COMMIT: &str = "fedcba9876543210fedcba9876543210fedcba98";

const TINY: &str = r#"
[model]
weights = "random"
trainable = "all"
token_position = "flexible"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 128
n_embd = 16
n_layer = 1
n_head = 2
dropout = 0.0
qkv_bias = true

[data]
padding = "dynamic"

[train]
epochs = 2
"#;

fn fixtures() -> PathBuf {
    root().join("crates/data/tests/fixtures/parquet")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// `spam-cli train --config TINY ARGS --out OUT --quiet`; the run's metrics.json.
fn train(dir: &Path, out: &str, args: &[&str], env: &[(&str, &Path)]) -> serde_json::Value {
    let config = dir.join("tiny.toml");
    std::fs::write(&config, TINY).expect("config");
    let out = dir.join(out);
    let mut cmd = Command::new(spam_e2e::spam_cli());
    cmd.args(["train", "--config", s(&config), "--out", s(&out), "--quiet"]);
    cmd.args(args);
    cmd.env_remove("HF_TOKEN").env_remove("HF_ENDPOINT");
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let output = cmd.output().expect("spam-cli");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    let metrics = std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json");
    serde_json::from_str(&metrics).expect("json")
}

/// The numbers of a run that must not depend on the file format.
fn numbers(m: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"data": m["data"], "final": m["final"], "per_split": m["per_split"],
        "step_losses": m["step_losses"]})
}

#[test]
fn train_eval_classify_on_the_hubs_parquet_equal_the_same_rows_as_csv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, csv) = (fixtures().join("hub"), fixtures().join("hub_csv"));
    let parquet = train(dir.path(), "parquet", &["--data-dir", s(&hub)], &[]);
    let split = |name: &str| csv.join(format!("{name}.csv")).display().to_string();
    let (train_csv, val_csv, test_csv) = (split("train"), split("validation"), split("test"));
    let from_csv = train(
        dir.path(),
        "csv",
        &[
            "--train-file",
            &train_csv,
            "--validation-file",
            &val_csv,
            "--test-file",
            &test_csv,
            "--format",
            "table",
        ],
        &[],
    );
    assert_eq!(parquet["data"]["train"], 48);
    assert_eq!(parquet["data"]["validation"], 12);
    assert_eq!(parquet["data"]["test"], 12);
    // The ClassLabel's names, in its order; the CSV's names sorted give the same.
    assert_eq!(
        parquet["data"]["label_names"],
        serde_json::json!(["ham", "spam"])
    );
    assert_eq!(numbers(&parquet), numbers(&from_csv));
    let weights = |run: &str| {
        std::fs::read(dir.path().join(run).join("model/model.safetensors")).expect("weights")
    };
    assert!(
        weights("parquet") == weights("csv"),
        "the same rows train the same weights"
    );

    // eval over a glob of the hub's shards = eval over the CSV.
    let run = dir.path().join("parquet");
    let glob = hub.join("data/test-*.parquet").display().to_string();
    let (code, on_parquet, stderr) = run_cli(&["eval", "--model", s(&run), "--data", &glob]);
    assert_eq!(code, 0, "{stderr}");
    let (code, on_csv, stderr) = run_cli(&["eval", "--model", s(&run), "--data", &test_csv]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        on_parquet.contains("Examples: 12") && on_parquet.contains("Accuracy:"),
        "{on_parquet}"
    );
    let tail = |out: &str| {
        out.lines()
            .filter(|l| !l.contains(".csv") && !l.contains(".parquet"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(tail(&on_parquet), tail(&on_csv));

    // classify: the only string column (`sms`) is the text, in both.
    let test_parquet = hub
        .join("data/test-00000-of-00001.parquet")
        .display()
        .to_string();
    let classify = |file: &str| {
        let (code, out, stderr) = run_cli(&[
            "classify",
            "--model",
            s(&run),
            "--file",
            file,
            "--format",
            "jsonl",
            "--text-column",
            "sms",
        ]);
        assert_eq!(code, 0, "{stderr}");
        out
    };
    let (a, b) = (classify(&test_parquet), classify(&test_csv));
    assert_eq!(a.lines().count(), 12);
    assert_eq!(a, b);
}

#[test]
fn a_dataset_by_hub_id_trains_from_the_cache_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub-cache");
    let repo = cache.join("datasets--acme--sms");
    let snapshot = repo.join("snapshots").join(COMMIT).join("data");
    std::fs::create_dir_all(&snapshot).expect("snapshot");
    for entry in std::fs::read_dir(fixtures().join("hub/data"))
        .expect("fixtures")
        .flatten()
    {
        std::fs::copy(entry.path(), snapshot.join(entry.file_name())).expect("copy");
    }
    std::fs::create_dir_all(repo.join("refs")).expect("refs");
    std::fs::write(repo.join("refs/main"), COMMIT).expect("ref");
    let env: [(&str, &Path); 2] = [("HF_HUB_CACHE", &cache), ("HF_HUB_OFFLINE", Path::new("1"))];
    let by_id = train(dir.path(), "by-id", &["--data-dir", "hf:acme/sms"], &env);
    let by_path = train(
        dir.path(),
        "by-path",
        &["--data-dir", s(&fixtures().join("hub"))],
        &[],
    );
    assert_eq!(
        by_id["data"]["label_names"],
        serde_json::json!(["ham", "spam"])
    );
    assert_eq!(numbers(&by_id), numbers(&by_path));
    // A dataset not in the cache, offline: says which and where.
    let mut cmd = Command::new(spam_e2e::spam_cli());
    let run = dir.path().join("by-id");
    cmd.args(["eval", "--model", s(&run), "--data", "hf:acme/other"]);
    cmd.env("HF_HUB_CACHE", &cache).env("HF_HUB_OFFLINE", "1");
    let out = cmd.output().expect("spam-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("acme/other") && stderr.contains("HF_HUB_OFFLINE"),
        "{stderr}"
    );
}
