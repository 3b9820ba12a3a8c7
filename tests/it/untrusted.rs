//! Untrusted model folders and weights (issue 15): every model-reading subcommand exits 1
//! with one line, never a panic.

use std::path::{Path, PathBuf};

use spam_e2e::{root, run_cli, sms_collection};

use crate::cli::tiny_run;

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
