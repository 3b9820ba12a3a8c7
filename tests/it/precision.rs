//! End-to-end: `--precision bf16` (issue 19) for train, classify and eval, and the values
//! the flag accepts.

use spam_e2e::{run_cli, tiny_setup};

#[test]
fn bf16_train_classify_and_eval() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (config, csv) = tiny_setup(tmp.path(), 2);
    let run = tmp.path().join("run");
    let (code, stdout, stderr) = run_cli(&[
        "train",
        "--config",
        &config.display().to_string(),
        "--data",
        &csv.display().to_string(),
        "--precision",
        "bf16",
        "--out",
        &run.display().to_string(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("bf16 mixed precision: not exact"),
        "the compute path line says bf16:\n{stdout}"
    );
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(run.join(name)).expect(name)).expect("json")
    };
    assert_eq!(read("config.json")["train"]["precision"], "bf16");
    assert_eq!(read("metrics.json")["exact"], false);

    // The model computes in the precision asked of each command, not the one it trained in.
    let model = run.display().to_string();
    let texts = [
        "win a prize now call 7 to claim cash",
        "see you tomorrow friend",
    ];
    let classify = |precision: &str| -> Vec<serde_json::Value> {
        spam_e2e::classify_jsonl(&run, &texts, &["--precision", precision])
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    let (exact, bf16) = (classify("fp32"), classify("BF16"));
    assert_eq!(exact.len(), 2);
    for (a, b) in exact.iter().zip(&bf16) {
        assert_eq!(a["label"], b["label"], "{a} vs {b}");
        let (p, q) = (
            a["probabilities"]["spam"].as_f64().expect("probability"),
            b["probabilities"]["spam"].as_f64().expect("probability"),
        );
        assert!((p - q).abs() < 0.02, "{a} vs {b}");
    }

    let eval = |precision: &str| -> serde_json::Value {
        serde_json::from_str(&spam_e2e::eval_json(
            &run,
            &csv,
            &["--precision", precision],
        ))
        .expect("eval JSON")
    };
    let (exact, bf16) = (eval("fp32"), eval("bf16"));
    assert_eq!(bf16["examples"], 80);
    let accuracy = |m: &serde_json::Value| m["accuracy"].as_f64().expect("accuracy");
    assert!(
        (accuracy(&exact) - accuracy(&bf16)).abs() <= 0.05,
        "{exact}\n{bf16}"
    );

    // --resume takes the precision from the run: the flag is refused there.
    let (code, _, stderr) = run_cli(&["train", "--resume", &model, "--precision", "fp32"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("--precision"), "{stderr}");
}

#[test]
fn an_unknown_precision_lists_the_accepted_ones() {
    for command in ["train", "classify", "eval", "serve"] {
        let (code, _, stderr) = run_cli(&[command, "--precision", "fp16"]);
        assert_eq!(code, 2, "{command}: {stderr}");
        assert!(
            stderr.contains("fp16") && stderr.contains("fp32") && stderr.contains("bf16"),
            "{command}: {stderr}"
        );
    }
}

/// `generate --precision bf16`: the first step's top-10 logits stay within bf16's rounding of
/// the fp32 ones (the tiny fixture checkpoint, both runs through the CLI).
#[test]
fn generate_in_bf16_stays_near_fp32() {
    let weights = spam_e2e::root().join("crates/model/tests/fixtures/tiny/hf");
    let step = |precision: &str| -> serde_json::Value {
        let (code, stdout, stderr) = run_cli(&[
            "generate",
            "--weights",
            weights.to_str().expect("utf-8"),
            "--prompt-ids",
            "1,2,3,4",
            "--max-new-tokens",
            "1",
            "--json",
            "--device",
            "cpu",
            "--precision",
            precision,
        ]);
        assert_eq!(code, 0, "{stderr}");
        let got: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        got["steps"][0].clone()
    };
    let (fp32, bf16) = (step("fp32"), step("bf16"));
    let logits = |s: &serde_json::Value| -> Vec<f64> {
        s["top_logits"]
            .as_array()
            .expect("logits")
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect()
    };
    let (a, b) = (logits(&fp32), logits(&bf16));
    assert_eq!(a.len(), 10);
    // The largest logit is the same token, and the ten largest values agree to bf16 rounding.
    assert_eq!(fp32["top_ids"][0], bf16["top_ids"][0]);
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 0.02 * x.abs().max(1.0), "{x} vs {y}");
    }
    assert_ne!(a, b, "bf16 really computed in bf16");
}
