//! End-to-end: the binary as a user runs it.

use std::path::{Path, PathBuf};

use spam_e2e::{root, run_cli, sms_collection};

mod best;
mod hfx;
mod hub;
mod logs;
mod precision;
mod run_dirs;

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
    // A folder where the data file belongs: the OS error once, after the path.
    let folder = dir.path().to_str().expect("utf-8");
    let (code, _, stderr) = run_cli(&["prepare", "--data", folder, "--out", out]);
    assert_ne!(code, 0);
    assert_eq!(stderr.matches("(os error").count(), 1, "{stderr}");
    assert!(stderr.contains("cannot open"), "{stderr}");
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

// ----- untrusted model folders and weights (issue 15): exit 1 with one line, never a panic

/// Runs `spam-cli` with `args`, killed after `limit` (a server that should have refused its
/// model, a generation without bound): returns (exit code, stdout, stderr), code -1 if killed.
fn run_cli_within(args: &[&str], limit: std::time::Duration) -> (i32, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(spam_e2e::spam_cli())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not start spam-cli");
    let start = std::time::Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `args` failed with exit code 1 and a one-line `error:` message.
fn assert_refused(case: &str, args: &[&str]) -> String {
    let (code, stdout, stderr) = run_cli_within(args, std::time::Duration::from_secs(60));
    let what = format!("{case}: {args:?}\nstdout: {stdout}\nstderr: {stderr}");
    assert_eq!(code, 1, "{what}");
    assert!(!stderr.contains("panicked"), "{what}");
    assert!(!stderr.contains("backtrace"), "{what}");
    assert_eq!(stderr.trim().lines().count(), 1, "{what}");
    assert!(stderr.starts_with("error: "), "{what}");
    assert!(!stdout.contains("Serving on"), "{what}");
    stderr
}

/// A 60-message sample of the SMS collection and a tiny classifier trained on it through the
/// CLI (seconds): returns (sample file, run directory).
fn tiny_run(dir: &Path) -> (PathBuf, PathBuf) {
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

/// The safetensors header of `file` and the bytes after it.
fn read_st(file: &Path) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    let bytes = std::fs::read(file).expect("read");
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    (header, bytes[8 + n..].to_vec())
}

fn write_st(file: &Path, header: &serde_json::Map<String, serde_json::Value>, data: &[u8]) {
    let mut h = serde_json::to_vec(header).expect("json");
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    std::fs::write(file, out).expect("write");
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

/// Damaged copies of the safetensors folder `good` (file `model.safetensors`): truncated, a
/// tensor missing, NaN weights, two tensors sharing bytes, a shape of 8e12 elements, offsets
/// far past the end.
fn damaged_weights(good: &Path, into: &Path) -> Vec<(String, PathBuf)> {
    let (header, data) = read_st(&good.join("model.safetensors"));
    let offsets = |h: &serde_json::Map<String, serde_json::Value>, name: &str| -> (usize, usize) {
        let o = &h[name]["data_offsets"];
        (
            o[0].as_u64().expect("offset") as usize,
            o[1].as_u64().expect("offset") as usize,
        )
    };
    type Edit = Box<dyn Fn(&mut serde_json::Map<String, serde_json::Value>, &mut Vec<u8>)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("truncated", Box::new(|_, d| d.truncate(d.len() / 2))),
        (
            "missing tensor",
            Box::new(|h, _| {
                h.remove("ln_f.bias");
            }),
        ),
        (
            "NaN weights",
            Box::new(move |h, d| {
                let (start, _) = offsets(h, "h.1.mlp.c_fc.weight");
                d[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            }),
        ),
        (
            "overlapping offsets",
            Box::new(move |h, _| {
                let at = h["ln_f.weight"]["data_offsets"].clone();
                h["ln_f.bias"]["data_offsets"] = at;
            }),
        ),
        (
            "huge tensor",
            Box::new(|h, _| {
                h["wpe.weight"]["shape"] = serde_json::json!([1_000_000_000_000i64, 8]);
            }),
        ),
        (
            "offsets past the end",
            Box::new(|h, _| {
                h["wte.weight"]["data_offsets"] = serde_json::json!([0, 1_000_000_000_000_000i64]);
            }),
        ),
    ];
    edits
        .into_iter()
        .enumerate()
        .map(|(i, (name, edit))| {
            let dir = into.join(format!("weights-{i}"));
            copy_folder(good, &dir);
            let (mut h, mut d) = (header.clone(), data.clone());
            edit(&mut h, &mut d);
            write_st(&dir.join("model.safetensors"), &h, &d);
            (name.to_string(), dir)
        })
        .collect()
}

/// Every model-reading subcommand refuses a tampered model folder or checkpoint with exit
/// code 1 and one line. Before: pad ids outside the vocabulary and a huge n_ctx panicked
/// (101), a huge n_layer aborted (134), NaN weights classified as `spam,NaN,NaN`, overlapping
/// offsets loaded.
#[test]
fn tampered_models_and_weights_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (sample, run) = tiny_run(tmp.path());
    let sample = sample.to_str().expect("utf-8");
    let test_csv = run.join("data/test.csv");
    let test_csv = test_csv.to_str().expect("utf-8");

    // Model folders: each number of classifier.json negative, huge and of the wrong type,
    // then the weights damaged.
    let mut folders: Vec<(String, PathBuf)> = Vec::new();
    let config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("model/classifier.json")).expect("classifier.json"),
    )
    .expect("json");
    let pointers = [
        "/model/vocab_size",
        "/model/n_ctx",
        "/model/n_embd",
        "/model/n_layer",
        "/model/n_head",
        "/model/dropout",
        "/num_classes",
        "/max_length",
        "/pad_id",
    ];
    for pointer in pointers {
        for value in [
            serde_json::json!(-5),
            serde_json::json!(1_000_000_000_000i64),
            serde_json::json!("x"),
        ] {
            let dir = tmp.path().join(format!("m{}", folders.len()));
            copy_folder(&run.join("model"), &dir);
            let mut c = config.clone();
            *c.pointer_mut(pointer).expect("key") = value.clone();
            std::fs::write(dir.join("classifier.json"), c.to_string()).expect("write");
            folders.push((format!("{pointer} = {value}"), dir));
        }
    }
    folders.extend(damaged_weights(
        &run.join("model"),
        &tmp.path().join("models"),
    ));
    for (case, dir) in &folders {
        let d = dir.to_str().expect("utf-8");
        let stderr = assert_refused(case, &["classify", "--model", d, "--device", "cpu", "hi"]);
        assert!(
            stderr.contains(d),
            "{case}: the folder is not named: {stderr}"
        );
        assert_refused(
            case,
            &["eval", "--model", d, "--data", test_csv, "--device", "cpu"],
        );
        assert_refused(
            case,
            &[
                "serve",
                "--model",
                d,
                "--addr",
                "127.0.0.1:0",
                "--device",
                "cpu",
            ],
        );
    }

    // A backbone checkpoint (the trained model without its head, vocabulary 50257) read by
    // `generate` and `train --weights`: good, then each damage.
    let backbone = tmp.path().join("backbone");
    std::fs::create_dir_all(&backbone).expect("mkdir");
    let (mut header, data) = read_st(&run.join("model/model.safetensors"));
    header.retain(|k, _| !k.starts_with("out_head."));
    write_st(&backbone.join("model.safetensors"), &header, &data);
    std::fs::write(backbone.join("config.json"), r#"{"n_head": 2}"#).expect("config.json");
    let generate = |w: &str| {
        vec![
            "generate".to_string(),
            "--weights".into(),
            w.into(),
            "--prompt".into(),
            "Hello".into(),
            "--max-new-tokens".into(),
            "3".into(),
            "--device".into(),
            "cpu".into(),
        ]
    };
    let out = tmp.path().join("train-out");
    let train = |w: &str| {
        vec![
            "train".to_string(),
            "--weights".into(),
            w.into(),
            "--data".into(),
            sample.into(),
            "--padding".into(),
            "fixed:20".into(),
            "--epochs".into(),
            "1".into(),
            "--device".into(),
            "cpu".into(),
            "--quiet".into(),
            // The good backbone's run is there already: each damaged one must fail on its
            // weights, not on the folder.
            "--overwrite".into(),
            "--out".into(),
            out.to_str().expect("utf-8").into(),
        ]
    };
    let as_strs = |v: &[String]| {
        v.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{1}")
    };
    let good = backbone.to_str().expect("utf-8");
    for args in [generate(good), train(good)] {
        let joined = as_strs(&args);
        let args: Vec<&str> = joined.split('\u{1}').collect();
        let (code, stdout, stderr) = run_cli(&args);
        assert_eq!(code, 0, "the good backbone: {args:?}\n{stdout}\n{stderr}");
    }
    for (case, dir) in damaged_weights(&backbone, &tmp.path().join("backbones")) {
        let d = dir.to_str().expect("utf-8");
        for args in [generate(d), train(d)] {
            let joined = as_strs(&args);
            let args: Vec<&str> = joined.split('\u{1}').collect();
            let stderr = assert_refused(&case, &args);
            assert!(
                stderr.contains(d),
                "{case}: the weights are not named: {stderr}"
            );
        }
    }
}

/// Weights whose vocabulary or context cannot hold the data, and a generation longer than the
/// context, are refused up front. Before: `train` panicked on an index out of range (101) and
/// `generate` ran without bound, printing nothing.
#[test]
fn weights_that_cannot_read_the_data_and_unbounded_generation_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(sms_collection()).expect("SMS collection");
    let sample = tmp.path().join("sample.tsv");
    std::fs::write(
        &sample,
        text.lines().take(60).collect::<Vec<_>>().join("\n") + "\n",
    )
    .expect("sample");
    // The model crate's tiny checkpoint: vocabulary 128, context 24.
    let tiny = root().join("crates/model/tests/fixtures/tiny/hub/model.safetensors");
    let tiny = tiny.to_str().expect("utf-8");
    let stderr = assert_refused(
        "vocabulary 128",
        &[
            "train",
            "--weights",
            tiny,
            "--data",
            sample.to_str().expect("utf-8"),
            "--padding",
            "fixed:20",
            "--device",
            "cpu",
            "--out",
            tmp.path().join("run").to_str().expect("utf-8"),
        ],
    );
    assert!(stderr.contains(tiny) && stderr.contains("128"), "{stderr}");
    let stderr = assert_refused(
        "unbounded generation",
        &[
            "generate",
            "--weights",
            tiny,
            "--prompt-ids",
            "1,2",
            "--max-new-tokens",
            "1000000000",
            "--device",
            "cpu",
        ],
    );
    assert!(
        stderr.contains("1000000000") && stderr.contains("24"),
        "{stderr}"
    );
}

/// `classify` reading stdin answers each line as it arrives (so `tail -f | classify` works),
/// skips blank lines and warns once about a text longer than the model reads. Before: nothing
/// was printed until stdin closed, blank lines were classified and long texts silently cut.
#[test]
fn classify_streams_stdin_skips_blank_lines_and_warns_on_truncation() {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(tmp.path());
    let mut child = Command::new(spam_e2e::spam_cli())
        .args(["classify", "--model", run.to_str().expect("utf-8")])
        .args(["--format", "jsonl", "--device", "cpu"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spam-cli");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let limit = std::time::Duration::from_secs(60);
    writeln!(stdin, "Ok, see you at lunch").expect("write");
    stdin.flush().expect("flush");
    // The answer comes while stdin is still open.
    let first = rx.recv_timeout(limit);
    if first.is_err() {
        let _ = child.kill();
    }
    let first = first.expect("no answer before stdin closed").expect("line");
    let v: serde_json::Value = serde_json::from_str(&first).expect("jsonl");
    assert_eq!(v["text"], "Ok, see you at lunch");
    let long = "word ".repeat(200);
    writeln!(stdin, "\n   \n{long}\nlast one").expect("write");
    drop(stdin);
    let rest: Vec<String> = rx.iter().map(|l| l.expect("line")).collect();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let texts: Vec<String> = rest
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl");
            v["text"].as_str().expect("text").to_string()
        })
        .collect();
    assert_eq!(
        texts,
        [long.trim_end().to_string() + " ", "last one".to_string()]
    );
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("line 4 of stdin has 201 tokens"),
        "{stderr}"
    );
}

/// `classify < FILE` reads the whole file as one batch (repeated texts once, length-sorted
/// batches: the speed of `--file`), with the output and line numbers of the piped form.
#[test]
fn classify_of_stdin_redirected_from_a_file_answers_every_line_in_order() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(tmp.path());
    let long = "word ".repeat(200);
    let lines = [
        "Ok, see you at lunch",
        "",
        "WIN a prize",
        long.as_str(),
        "Ok, see you at lunch",
    ];
    let file = tmp.path().join("messages.txt");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let out = Command::new(spam_e2e::spam_cli())
        .args(["classify", "--model", run.to_str().expect("utf-8")])
        .args(["--format", "jsonl", "--device", "cpu"])
        .stdin(Stdio::from(std::fs::File::open(&file).expect("open")))
        .output()
        .expect("spam-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answers: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect();
    let texts: Vec<&str> = answers
        .iter()
        .map(|v| v["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, [lines[0], lines[2], lines[3], lines[4]]);
    // Each answer is what classifying the text alone gives.
    let alone = spam_e2e::classify_jsonl(&run, &[lines[2]], &["--device", "cpu"]);
    let alone: serde_json::Value = serde_json::from_str(&alone[0]).expect("jsonl");
    assert_eq!(answers[1]["label"], alone["label"]);
    for (name, p) in alone["probabilities"].as_object().expect("probabilities") {
        let q = answers[1]["probabilities"][name]
            .as_f64()
            .expect("probability");
        assert!(
            (p.as_f64().expect("probability") - q).abs() < 1e-5,
            "{alone} vs {}",
            answers[1]
        );
    }
    // A repeated text is computed once: the same answer, bit for bit.
    assert_eq!(answers[0], answers[3]);
    assert!(
        stderr.contains("line 4 of stdin has 201 tokens"),
        "{stderr}"
    );
}
