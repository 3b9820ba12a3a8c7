//! Training-loop parity with the chapter's PyTorch code.
//!
//! `tests/fixtures/parity/` was written by `scripts/make_parity_fixtures.py` with the
//! chapter's own `train_classifier_simple` (llms-from-scratch, torch 2.13.0) on a small GPT-2
//! (vocab 512, context 32, width 16, 2 layers, 2 heads), last block trainable, AdamW lr 5e-4 /
//! weight decay 0.1, batch 8, no shuffle, 3 epochs: `initial.safetensors` holds the weights
//! before training (Hugging Face GPT-2 names, plus the new head as `head.weight` / `head.bias`)
//! and `data.json` the examples and the loss of every training step. Here the same steps run
//! through our runner and optimizer, on both computation paths, and every step's loss must
//! match the recorded one.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use spam_model::PadTo;
use spam_model::{Classifier, ClassifierConfig, Config, Weights};
use spam_train::internals::{AdamW, Runner, RunnerOptions, loss_of};
use spam_train::{AdamWConfig, Engine, Examples, Split, TrainData};
use tch::{Device, Tensor};

pub(crate) fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity")
}

pub(crate) fn data() -> Value {
    let text = std::fs::read_to_string(fixture_dir().join("data.json")).expect("read data.json");
    serde_json::from_str(&text).expect("parse data.json")
}

pub(crate) fn examples(split: &Value) -> Examples {
    let ids = split["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        })
        .collect();
    let labels = split["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    Examples { ids, labels }
}

pub(crate) fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The classifier with the fixture's initial weights: the backbone through the safetensors
/// loader (from a backbone-only copy with a `config.json` giving `n_head`), then the head's
/// tensors copied into `out_head.*` by name.
fn load_classifier(d: &Value, dir: &Path) -> Classifier {
    let all = Tensor::read_safetensors(fixture_dir().join("initial.safetensors"))
        .expect("read safetensors");
    let (head, backbone): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(name, _)| name.starts_with("head."));
    let backbone_path = dir.join("model.safetensors");
    Tensor::write_safetensors(&backbone, &backbone_path).expect("write backbone");
    let n_head = d["model_config"]["n_heads"].as_i64().unwrap();
    std::fs::write(dir.join("config.json"), format!("{{\"n_head\": {n_head}}}")).unwrap();

    let mut config = ClassifierConfig::new(Config::tiny(), 2);
    config.pad_id = d["pad_id"].as_i64().unwrap();
    config.max_length = Some(d["padded_length"].as_u64().unwrap() as usize);
    let model = Classifier::new(
        config,
        &Weights::SafeTensors(backbone_path),
        Device::Cpu,
        123,
    )
    .expect("classifier");

    let vars: HashMap<String, Tensor> = model.vs.variables().into_iter().collect();
    tch::no_grad(|| {
        for (name, tensor) in &head {
            let target = format!("out_head.{}", name.strip_prefix("head.").unwrap());
            let mut var = vars
                .get(&target)
                .unwrap_or_else(|| panic!("no variable {target}"))
                .shallow_clone();
            var.copy_(tensor);
        }
    });
    model
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

fn run(engine: Engine) {
    let d = data();
    let tmp = tempfile::tempdir().unwrap();
    let model = load_classifier(&d, tmp.path());
    let train = examples(&d["train"]);
    let data = TrainData {
        train: train.clone(),
        validation: examples(&d["validation"]),
        test: examples(&d["validation"]),
        pad: PadTo::Fixed(d["padded_length"].as_u64().unwrap() as usize),
        pad_id: d["pad_id"].as_i64().unwrap(),
        label_names: vec!["class_0".into(), "class_1".into()],
    };
    let runner = Runner::new(&model, &data, &RunnerOptions::engine(engine)).expect("runner");
    if engine == Engine::Cached {
        assert!(runner.is_cached(), "{}", runner.describe());
    }

    // The forward pass before training: last-position logits of the first batch.
    let first: Vec<usize> = (0..8).collect();
    let logits =
        tch::no_grad(|| runner.forward(&runner.train_batch(&first).expect("batch"), false));
    let expected: Vec<Vec<f64>> = d["initial_last_logits_first_batch"]
        .as_array()
        .unwrap()
        .iter()
        .map(f64s)
        .collect();
    for (r, row) in expected.iter().enumerate() {
        for (c, &e) in row.iter().enumerate() {
            let got = logits.double_value(&[r as i64, c as i64]);
            assert!(
                (got - e).abs() < 1e-5,
                "{engine:?}: initial logit [{r},{c}] {got} vs PyTorch {e}"
            );
        }
    }

    let lr = d["lr"].as_f64().unwrap();
    let mut optimizer = AdamW::new(
        model.trainable_parameters(),
        AdamWConfig {
            lr,
            weight_decay: d["weight_decay"].as_f64().unwrap(),
            ..AdamWConfig::default()
        },
    );
    let expected = f64s(&d["step_losses"]);
    let batches = d["step_batches"].as_array().unwrap();
    assert_eq!(batches.len(), expected.len());
    let mut worst = 0.0f64;
    for (step, (indices, &want)) in batches.iter().zip(&expected).enumerate() {
        let indices: Vec<usize> = indices
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        let batch = runner.train_batch(&indices).expect("batch");
        let loss = loss_of(&runner.forward(&batch, true), &batch.labels, None);
        let got = loss.double_value(&[]);
        assert!(
            close(got, want, 1e-4),
            "{engine:?}: step {step} loss {got} vs PyTorch {want}"
        );
        worst = worst.max((got - want).abs() / want.abs());
        optimizer.backward(&loss).expect("backward");
        optimizer.step(lr);
        optimizer.zero_grad();
    }

    eprintln!(
        "{engine:?}: {} step losses match PyTorch, worst relative difference {worst:.2e}",
        expected.len()
    );

    // After training: accuracy over all of train and validation, as calc_accuracy_loader.
    let train_acc = runner.accuracy(Split::Train, None).expect("accuracy");
    let val_acc = runner.accuracy(Split::Validation, None).expect("accuracy");
    let want_train = d["final"]["train_accuracy"].as_f64().unwrap();
    let want_val = d["final"]["validation_accuracy"].as_f64().unwrap();
    assert!(
        (train_acc - want_train).abs() < 1e-9,
        "{engine:?}: train accuracy {train_acc} vs {want_train}"
    );
    assert!(
        (val_acc - want_val).abs() < 1e-9,
        "{engine:?}: validation accuracy {val_acc} vs {want_val}"
    );
}

#[test]
fn step_losses_match_pytorch_plain() {
    run(Engine::Plain);
}

#[test]
fn step_losses_match_pytorch_cached() {
    run(Engine::Cached);
}
