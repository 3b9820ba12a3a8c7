//! Parity with the reference PyTorch implementations on checkpoints written by TensorFlow and
//! by transformers themselves (`tests/fixtures/tiny`, made by `scripts/make_fixtures.py`):
//! the chapter's `GPTModel` loaded with its own TensorFlow-checkpoint loader, and
//! transformers' `GPT2LMHeadModel`. Logits within 1e-4, same greedy tokens and top-10 ids.
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::*;
use spam_model::{
    BundleTensor, GenerateOptions, LanguageModel, OpenAiCheckpoint, Weights, generate, write_bundle,
};
use tch::Device;

const TOL: f64 = 1e-4;

fn sources(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("openai", dir.join("openai")),
        ("hf", dir.join("hf/model.safetensors")),
        ("hf-dir", dir.join("hf")),
        ("hub", dir.join("hub/model.safetensors")),
    ]
}

fn check_logits(lm: &LanguageModel, e: &serde_json::Value, what: &str) -> (f64, f64) {
    let ids = input_ids(e);
    let out = tch::no_grad(|| lm.gpt.forward(&ids, false));
    let out = if e["last_position_only"].as_bool() == Some(true) {
        out.narrow(1, out.size()[1] - 1, 1)
    } else {
        out
    };
    let chapter = max_abs(&out, &logits(e, "chapter_logits"));
    let hf = max_abs(&out, &logits(e, "hf_logits"));
    println!("{what}: max |diff| vs chapter {chapter:.3e}, vs transformers {hf:.3e}");
    assert!(chapter < TOL, "{what}: chapter logits differ by {chapter}");
    assert!(hf < TOL, "{what}: transformers logits differ by {hf}");
    (chapter, hf)
}

fn check_greedy(lm: &LanguageModel, e: &serde_json::Value, what: &str) -> Vec<i64> {
    let g = &e["greedy"];
    let prompt = i64s(&g["prompt_ids"]);
    let want = i64s(&g["generated_ids"]);
    let opts = GenerateOptions {
        max_new_tokens: want.len(),
        ..GenerateOptions::default()
    };
    let out = generate(&lm.gpt, &prompt, &opts);
    assert_eq!(out.generated_ids, want, "{what}: greedy tokens");
    for (i, (step, exp)) in out
        .steps
        .iter()
        .zip(g["steps"].as_array().expect("steps"))
        .enumerate()
    {
        assert_eq!(
            step.top_ids,
            i64s(&exp["top_ids"]),
            "{what}: top-10 ids at step {i}"
        );
        for (a, b) in step.top_logits.iter().zip(f32s(&exp["top_logits"])) {
            assert!(
                (a - b).abs() < TOL as f32,
                "{what}: top logits at step {i}: {a} vs {b}"
            );
        }
    }
    out.generated_ids
}

#[test]
fn tiny_checkpoints_match_the_references() {
    let dir = tiny_dir();
    let e = expected(&dir);
    for (what, path) in sources(&dir) {
        let weights = Weights::detect(&path).expect("detect");
        match what {
            "openai" => assert!(matches!(weights, Weights::OpenAi(_))),
            _ => assert!(matches!(weights, Weights::SafeTensors(_))),
        }
        let lm = LanguageModel::load(&weights, Device::Cpu)
            .unwrap_or_else(|err| panic!("{what}: {err}"));
        assert_eq!(
            lm.config.n_embd,
            e["hparams"]["n_embd"].as_i64().unwrap_or_default()
        );
        assert_eq!(
            lm.config.n_head,
            e["hparams"]["n_head"].as_i64().unwrap_or_default()
        );
        check_logits(&lm, &e, what);
        check_greedy(&lm, &e, what);
    }
}

#[test]
fn tensorflow_bundle_is_read_exactly() {
    let dir = tiny_dir();
    let ckpt = OpenAiCheckpoint::open(&dir.join("openai")).expect("open");
    assert_eq!(ckpt.hparams.n_layer, 2);
    // 2 + 12 per block + 2 tensors, OpenAI names, leading 1 dropped from `w`.
    assert_eq!(ckpt.tensors.tensors.len(), 2 + 12 * 2 + 2);
    let w = ckpt.tensors.get("h.1.mlp.c_fc.weight").expect("c_fc");
    assert_eq!(w.key, "model/h1/mlp/c_fc/w");
    assert_eq!(w.file_shape, vec![1, 32, 128]);
    assert_eq!(w.shape, vec![32, 128]);
    // Same values as the transformers file.
    let st = spam_model::SafeTensorsFile::open(&dir.join("hf/model.safetensors"))
        .expect("safetensors")
        .into_gpt2_source();
    for (name, raw) in &ckpt.tensors.tensors {
        let other = st.get(name).unwrap_or_else(|| panic!("{name} in hf file"));
        let d = max_abs(
            &raw.to_tensor().expect("tensor"),
            &other.to_tensor().expect("tensor"),
        );
        assert_eq!(d, 0.0, "{name}");
    }
}

#[test]
fn bundle_writer_round_trips() {
    // Our writer's output reads back to the same model (the bad-checkpoint tests use it).
    let dir = tiny_dir();
    let ckpt = OpenAiCheckpoint::open(&dir.join("openai")).expect("open");
    let tmp = tempfile::tempdir().expect("tempdir");
    let tensors: Vec<BundleTensor<'_>> = ckpt
        .tensors
        .tensors
        .values()
        .map(|r| BundleTensor {
            name: r.key.clone(),
            dtype: 1,
            shape: r.file_shape.clone(),
            data: r.bytes(),
        })
        .collect();
    write_bundle(&tmp.path().join("model.ckpt"), &tensors).expect("write");
    std::fs::copy(
        dir.join("openai/hparams.json"),
        tmp.path().join("hparams.json"),
    )
    .expect("copy");
    let lm = LanguageModel::from_path(tmp.path(), Device::Cpu).expect("load written bundle");
    check_logits(&lm, &expected(&dir), "rewritten bundle");
}

/// The manual full-size check: `scripts/make_fixtures.sh full` writes GPT-2 124M-shaped
/// random checkpoints (TensorFlow and hub safetensors) and the chapter's outputs into
/// `models/parity-124m`; run with
/// `cargo test --release -p spam-model --test it parity:: -- --ignored --nocapture`.
#[test]
#[ignore = "needs models/parity-124m from `scripts/make_fixtures.sh full`"]
fn full_size_124m_parity_and_load_time() {
    let dir = std::env::var_os("SPAM_MODEL_PARITY_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/parity-124m"));
    let e = expected(&dir);
    for (what, path) in [
        ("openai", dir.join("openai")),
        ("hub", dir.join("hub/model.safetensors")),
    ] {
        let weights = Weights::detect(&path).expect("detect");
        let mut times = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let lm = LanguageModel::load(&weights, Device::Cpu).expect("load");
            times.push(start.elapsed().as_secs_f64());
            drop(lm);
        }
        println!("{what}: load times (s) {times:.3?} (first may be cold)");
        let lm = LanguageModel::load(&weights, Device::Cpu).expect("load");
        check_logits(&lm, &e, what);
        check_greedy(&lm, &e, what);
        let g = &e["greedy"];
        println!(
            "{what}: greedy {:?} == chapter {:?}",
            i64s(&g["generated_ids"]),
            i64s(&g["generated_ids"])
        );
    }
}
