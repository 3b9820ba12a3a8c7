//! Fidelity with the chapter: `Weights::Chapter` is its random `GPTModel` bit for bit.
//!
//! `tests/fixtures/parity/initial.safetensors` holds the weights the chapter's own code
//! (llms-from-scratch, torch 2.13.0) gives a small GPT-2 (vocab 512, context 32, width 16,
//! 2 layers, 2 heads, qkv bias) under `torch.manual_seed(123)`, and the 2-class head it
//! builds after a second `torch.manual_seed(123)` (see `scripts/make_parity_fixtures.py`).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::path::Path;

use spam_model::{Classifier, ClassifierConfig, Config, Weights};
use tch::{Device, Tensor};

fn fixture() -> Vec<(String, Tensor)> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parity/initial.safetensors");
    Tensor::read_safetensors(path).expect("read the fixture")
}

#[test]
fn chapter_init_is_the_chapters_random_model_bit_for_bit() {
    let model = Classifier::new(
        ClassifierConfig::new(Config::tiny(), 2),
        &Weights::Chapter { seed: 123 },
        Device::Cpu,
        123,
    )
    .expect("classifier");
    let vars: HashMap<String, Tensor> = model.vs.variables().into_iter().collect();
    let expected = fixture();
    assert_eq!(
        expected.len(),
        vars.len(),
        "every variable is in the fixture"
    );
    for (name, want) in &expected {
        let ours = match name.strip_prefix("head.") {
            Some(rest) => format!("out_head.{rest}"),
            None => name.clone(),
        };
        let got = vars
            .get(&ours)
            .unwrap_or_else(|| panic!("no variable {ours}"));
        assert_eq!(got.size(), want.size(), "{name}: shape");
        assert!(
            got.equal(want),
            "{name}: not bit-identical to the chapter's tensor"
        );
    }
}

/// LoRA from `Weights::Chapter`: the adapters the chapter's experiments script adds right after
/// its new head (`replace_linear_with_lora`, rank 4, alpha 2 here), bit for bit, with as many
/// trainable parameters (adapters and head: the script builds the head after freezing).
#[test]
fn chapter_lora_adapters_are_the_chapters_bit_for_bit() {
    let mut config = ClassifierConfig::new(Config::tiny(), 2);
    config.trainable = spam_model::Trainable::Lora {
        rank: 4,
        alpha: 2.0,
    };
    let model = Classifier::new(config, &Weights::Chapter { seed: 123 }, Device::Cpu, 123)
        .expect("classifier");
    let vars: HashMap<String, Tensor> = model.vs.variables().into_iter().collect();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parity/lora_adapters.safetensors");
    let expected = Tensor::read_safetensors(path).expect("read the fixture");
    assert_eq!(
        expected.len(),
        2 * 4 + 3,
        "four adapters a block, the head's"
    );
    for (name, want) in &expected {
        let got = vars
            .get(name)
            .unwrap_or_else(|| panic!("no variable {name}"));
        assert_eq!(got.size(), want.size(), "{name}: shape");
        assert!(
            got.equal(want),
            "{name}: not bit-identical to the chapter's tensor"
        );
    }
    for (name, b) in vars.iter().filter(|(n, _)| n.ends_with(".lora_b")) {
        assert_eq!(
            b.abs().max().double_value(&[]),
            0.0,
            "{name} starts at zero"
        );
    }
    let trainable: usize = model.trainable_variables().iter().map(Tensor::numel).sum();
    assert_eq!(trainable, 2410, "the script's count for this model");
}

#[test]
fn chapter_init_depends_on_the_seed_and_gpt2_init_differs() {
    let build = |weights: Weights| {
        Classifier::new(
            ClassifierConfig::new(Config::tiny(), 2),
            &weights,
            Device::Cpu,
            123,
        )
        .expect("classifier")
    };
    let wte = |c: &Classifier| c.gpt.wte.copy();
    let a = build(Weights::Chapter { seed: 123 });
    let b = build(Weights::Chapter { seed: 124 });
    let g = build(Weights::Random { seed: 123 });
    assert!(wte(&a).equal(&wte(&build(Weights::Chapter { seed: 123 }))));
    assert!(!wte(&a).equal(&wte(&b)));
    assert!(!wte(&a).equal(&wte(&g)));
    // The chapter's embeddings are N(0, 1); GPT-2's are N(0, 0.02).
    assert!(wte(&a).std(true).double_value(&[]) > 0.9);
    assert!(wte(&g).std(true).double_value(&[]) < 0.03);
}

/// `chapter_order.json`: the same model trained by the chapter's `train_classifier_simple` with
/// its shuffled `DataLoader` (see `scripts/make_parity_fixtures.py`). Trained here from
/// `Weights::Chapter` with `DataOrder::Chapter`, every step must take the chapter's batch:
/// the step losses, the periodic estimates (each a new shuffle of the training loader) and the
/// end-of-epoch accuracies all match.
#[test]
fn chapter_data_order_takes_the_chapters_batches() {
    use spam_model::PadTo;
    use spam_train::{AdamWConfig, DataOrder, RunOptions, TrainConfig, TrainData};

    let d = super::parity::data();
    let text = std::fs::read_to_string(super::parity::fixture_dir().join("chapter_order.json"))
        .expect("read chapter_order.json");
    let order: serde_json::Value = serde_json::from_str(&text).expect("parse");
    let padded = d["padded_length"].as_u64().unwrap() as usize;
    let mut config = ClassifierConfig::new(Config::tiny(), 2);
    config.pad_id = d["pad_id"].as_i64().unwrap();
    config.max_length = Some(padded);
    let model = Classifier::new(config, &Weights::Chapter { seed: 123 }, Device::Cpu, 123)
        .expect("classifier");
    let validation = super::parity::examples(&d["validation"]);
    let data = TrainData {
        train: super::parity::examples(&d["train"]),
        validation: validation.clone(),
        test: validation,
        pad: PadTo::Fixed(padded),
        pad_id: d["pad_id"].as_i64().unwrap(),
        label_names: vec!["class_0".into(), "class_1".into()],
    };
    let train_config = TrainConfig {
        epochs: 3,
        batch_size: 8,
        optimizer: AdamWConfig {
            lr: d["lr"].as_f64().unwrap(),
            weight_decay: d["weight_decay"].as_f64().unwrap(),
            ..AdamWConfig::default()
        },
        eval_freq: 5,
        eval_iter: 2,
        seed: 123,
        data_order: DataOrder::Chapter,
        final_eval: false,
        ..TrainConfig::default()
    };
    let report =
        spam_train::train(&model, &data, &train_config, &RunOptions::default()).expect("train");

    let close = |got: f64, want: f64| (got - want).abs() <= 1e-4 * want.abs().max(1e-12);
    let want = super::parity::f64s(&order["step_losses"]);
    assert_eq!(report.step_losses.len(), want.len());
    for (step, (&got, &want)) in report.step_losses.iter().zip(&want).enumerate() {
        assert!(
            close(got, want),
            "step {step}: loss {got} vs the chapter's {want}"
        );
    }
    let want = super::parity::f64s(&order["eval"]["train_losses"]);
    let got: Vec<f64> = report.evals.iter().map(|e| e.train_loss).collect();
    assert_eq!(got.len(), want.len());
    for (i, (&got, &want)) in got.iter().zip(&want).enumerate() {
        assert!(close(got, want), "estimate {i}: train loss {got} vs {want}");
    }
    let want = super::parity::f64s(&order["epoch_accuracy"]["train"]);
    let got: Vec<f64> = report.epochs.iter().map(|e| e.train_accuracy).collect();
    assert_eq!(got, want, "end-of-epoch train accuracies");
}

#[test]
fn seeded_order_differs_from_the_chapters() {
    use spam_train::{DataOrder, TrainConfig};
    // Only the names and defaults here; the batches themselves are checked above.
    assert_eq!(TrainConfig::default().data_order, DataOrder::Chapter);
    assert_eq!("seeded".parse::<DataOrder>(), Ok(DataOrder::Seeded));
    assert!("shuffled".parse::<DataOrder>().is_err());
}
