//! Helpers for the workspace-level end-to-end tests: they drive the `spam-cli` binary as a
//! user would, so they need it built first (`spam_cli()` builds it on demand).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The shared input folder that CI places beside the clone (override: `SPAM_SHARED_DIR`).
pub use spam_test_support::shared_dir;

/// The real SMS Spam Collection; panics with a clear message when it is absent.
pub use spam_test_support::sms_collection;

/// Path of the `spam-cli` binary of the current profile, built once per test process.
pub fn spam_cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // CI passes the binary it built with the rest of the workspace.
        if let Some(bin) = std::env::var_os("SPAM_CLI_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--quiet", "-p", "spam-cli", "--bin", "spam-cli"])
            .status()
            .expect("could not run cargo to build spam-cli");
        assert!(status.success(), "building spam-cli failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug").join("spam-cli")
    })
}

/// Runs `spam-cli` with `args`, returning (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(spam_cli())
        .args(args)
        .output()
        .expect("could not start spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes a `--config` TOML for a tiny random model (1 block of width 16) on a labelled CSV
/// with dynamic padding, `epochs` epochs and an estimate every `eval_freq` steps: a run of it
/// takes seconds.
pub fn write_tiny_config(path: &Path, epochs: usize, eval_freq: usize) -> PathBuf {
    let toml = format!(
        r#"
[model]
weights = "random"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 64
n_embd = 16
n_layer = 1
n_head = 2
dropout = 0.0
qkv_bias = true

[data]
format = "table"
padding = "dynamic"

[train]
epochs = {epochs}
eval_freq = {eval_freq}
eval_iter = 1
"#
    );
    std::fs::write(path, toml).expect("writing the tiny model's config");
    path.to_path_buf()
}

/// A tiny random model's config ([`write_tiny_config`], an estimate every 3 steps) and a
/// labelled CSV of 80 rows in `dir`: 7 steps an epoch, a run takes seconds. (config, csv).
pub fn tiny_setup(dir: &Path, epochs: usize) -> (PathBuf, PathBuf) {
    let csv = dir.join("examples.csv");
    let mut text = String::from("text,label\n");
    for i in 0..40 {
        text.push_str(&format!("hello friend see you at {i} tomorrow,ham\n"));
        text.push_str(&format!("win a prize now call {i} to claim cash,spam\n"));
    }
    std::fs::write(&csv, text).expect("writing the tiny CSV");
    let config = write_tiny_config(&dir.join("tiny.toml"), epochs, 3);
    (config, csv)
}

/// `spam-cli classify --model MODEL --format jsonl EXTRA... TEXTS...`: its JSON lines, one a
/// text (panics, with stderr, when it fails).
pub fn classify_jsonl(model: &Path, texts: &[&str], extra: &[&str]) -> Vec<String> {
    let model = model.display().to_string();
    let mut args = vec!["classify", "--model", &model, "--format", "jsonl"];
    args.extend(extra);
    args.extend(texts);
    let (code, stdout, stderr) = run_cli(&args);
    assert_eq!(code, 0, "classify {extra:?}: {stdout}\n{stderr}");
    stdout.lines().map(str::to_string).collect()
}

/// `spam-cli eval --model MODEL --data CSV --format table --json EXTRA...`: its JSON (panics,
/// with stderr, when it fails).
pub fn eval_json(model: &Path, csv: &Path, extra: &[&str]) -> String {
    let (model, csv) = (model.display().to_string(), csv.display().to_string());
    let mut args = vec![
        "eval", "--model", &model, "--data", &csv, "--format", "table", "--json",
    ];
    args.extend(extra);
    let (code, stdout, stderr) = run_cli(&args);
    assert_eq!(code, 0, "eval {extra:?}: {stdout}\n{stderr}");
    stdout
}

/// The variables by which `spam-cli` finds its array-job task (Kubernetes Indexed Jobs,
/// Slurm arrays); a test that sets its own removes all of them first.
pub const SCHEDULER_VARS: [&str; 6] = [
    "JOB_COMPLETION_INDEX",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_MAX",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_ARRAY_TASK_COUNT",
];

/// `cmd` without any scheduler variable of the test's own environment.
pub fn without_scheduler_vars(cmd: &mut Command) -> &mut Command {
    for var in SCHEDULER_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// The number after `key` on the first line of `text` that holds it (`completions: 3`,
/// `--array=0-6`); panics naming the key when there is none.
pub fn number_after(text: &str, key: &str) -> usize {
    let line = text
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no {key}"));
    let rest = &line[line.find(key).unwrap_or(0) + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key} in {line:?}"))
}
