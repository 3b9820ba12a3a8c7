//! Shared helpers for the fixture-based tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::Tensor;

/// The committed tiny fixtures (see `scripts/make_fixtures.py`).
pub fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

pub fn expected(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("read expected.json");
    serde_json::from_str(&text).expect("parse expected.json")
}

pub fn i64s(v: &Value) -> Vec<i64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("float") as f32)
        .collect()
}

/// `input_ids` as a `[b, t]` tensor.
pub fn input_ids(e: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = e["input_ids"]
        .as_array()
        .expect("rows")
        .iter()
        .map(i64s)
        .collect();
    let t = rows[0].len() as i64;
    let flat: Vec<i64> = rows.concat();
    Tensor::from_slice(&flat).view([rows.len() as i64, t])
}

pub fn logits(e: &Value, key: &str) -> Tensor {
    let shape = i64s(&e["logits_shape"]);
    Tensor::from_slice(&f32s(&e[key])).view(shape.as_slice())
}

pub fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Copies a directory tree (fixtures into a tempdir before mutating them).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// The transformers-written classifier fixture (see `scripts/hf_fixtures.py`).
pub fn hf_tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf_tiny")
}

/// The hf_tiny fixture's sequences as one batch right-padded with its pad id (299):
/// `(sequences, ids [n, longest])`.
pub fn hf_tiny_padded_batch(e: &Value) -> (Vec<Vec<i64>>, Tensor) {
    let seqs: Vec<Vec<i64>> = e["sequences"]
        .as_array()
        .expect("sequences")
        .iter()
        .map(i64s)
        .collect();
    let width = seqs.iter().map(Vec::len).max().unwrap_or(0);
    let flat: Vec<i64> = seqs
        .iter()
        .flat_map(|s| {
            s.iter()
                .copied()
                .chain(std::iter::repeat_n(299, width - s.len()))
        })
        .collect();
    let ids = Tensor::from_slice(&flat).view([seqs.len() as i64, width as i64]);
    (seqs, ids)
}

/// A tiny architecture with GPT-2's vocabulary, so the GPT-2 tokenizer's ids fit: `n_layer`
/// blocks of width 16 and 2 heads, 64 positions, no dropout.
pub fn tiny_gpt2_vocab(n_layer: i64) -> spam_model::Config {
    spam_model::Config {
        vocab_size: 50257,
        n_ctx: 64,
        n_embd: 16,
        n_layer,
        n_head: 2,
        dropout: 0.0,
        qkv_bias: true,
    }
}

/// A random two-block ham/spam classifier of [`tiny_gpt2_vocab`] reading `position`, trained
/// on `max_length` tokens, saved as a run's `model/` folder in `dir`.
pub fn save_tiny_run(dir: &Path, position: spam_model::TokenPosition, max_length: usize) {
    let mut cc = spam_model::ClassifierConfig::new(tiny_gpt2_vocab(2), 2);
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.max_length = Some(max_length);
    cc.token_position = position;
    let model = spam_model::Classifier::new(
        cc,
        &spam_model::Weights::Random { seed: 3 },
        tch::Device::Cpu,
        5,
    )
    .expect("tiny classifier");
    model.save(&dir.join("model")).expect("save the tiny model");
}
