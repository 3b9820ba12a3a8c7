//! transformers' GPT2ForSequenceClassification folders: loading one saved by transformers
//! (fixture from scripts/hf_fixtures.py), exporting ours and loading it back, the folded head
//! bias, merged LoRA adapters, and the positions that cannot be exported.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;

use serde_json::Value;
use spam_model::{Classifier, ClassifierConfig, Config, TokenPosition, Trainable, Weights};
use tch::{Device, Kind, Tensor};

fn fixture() -> PathBuf {
    crate::common::hf_tiny_dir()
}

fn rows(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn max_diff(a: &Tensor, b: &[Vec<f64>]) -> f64 {
    let b = Tensor::from_slice(&b.concat())
        .view([b.len() as i64, -1])
        .to_kind(Kind::Float);
    (a - b).abs().max().double_value(&[])
}

#[test]
fn hfx_a_model_saved_by_transformers_gives_its_logits() {
    let e: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("expected.json")).unwrap())
            .unwrap();
    assert!(spam_model::is_transformers_dir(&fixture()));
    let model = Classifier::load_transformers(&fixture(), Device::Cpu).unwrap();
    assert_eq!(model.config.label_names, ["ham", "spam", "other"]);
    assert_eq!(model.config.pad_id, 299);
    assert_eq!(model.config.token_position, TokenPosition::Flexible);

    let (seqs, padded) = crate::common::hf_tiny_padded_batch(&e);
    let expected = rows(&e["logits"]);
    for (seq, want) in seqs.iter().zip(&expected) {
        let ids = Tensor::from_slice(seq).unsqueeze(0);
        let got = tch::no_grad(|| model.forward(&ids, None, false));
        let d = max_diff(&got, std::slice::from_ref(want));
        assert!(d < 1e-4, "{seq:?}: logits differ by {d}");
    }
    // A right-padded batch: transformers reads the last non-padding token, as `flexible` does.
    let ids = padded;
    let lengths = model.lengths_from_padding(&ids);
    let got = tch::no_grad(|| model.forward(&ids, Some(&lengths), false));
    let d = max_diff(&got, &rows(&e["padded_batch_logits"]));
    assert!(d < 1e-4, "padded batch: logits differ by {d}");
}

fn tiny(position: TokenPosition, trainable: Trainable) -> Classifier {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.pad_id = 0;
    cc.token_position = position;
    cc.trainable = trainable;
    Classifier::new(cc, &Weights::Random { seed: 11 }, Device::Cpu, 13).unwrap()
}

/// Logits of both models on a right-padded batch of random tokens.
fn both_logits(a: &Classifier, b: &Classifier) -> (Tensor, Tensor) {
    let ids = Tensor::randint_low(1, 512, [4, 12], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[12i64, 5, 1, 9]);
    let mask = Tensor::arange(12, (Kind::Int64, Device::Cpu))
        .unsqueeze(0)
        .lt_tensor(&lengths.unsqueeze(1));
    let ids = ids * &mask; // pad id 0 after each length
    tch::no_grad(|| {
        (
            a.forward(&ids, Some(&lengths), false),
            b.forward(&ids, Some(&b.lengths_from_padding(&ids)), false),
        )
    })
}

/// The largest |value| of the classifier head's bias.
fn head_bias_size(model: &Classifier) -> f64 {
    let bias = model.head.bias.as_ref().unwrap();
    bias.abs().max().double_value(&[])
}

#[test]
fn hfx_export_and_load_back_gives_the_same_logits_with_the_bias_folded() {
    let model = tiny(TokenPosition::Flexible, Trainable::LastBlock);
    let bias = head_bias_size(&model);
    assert!(bias > 1e-3, "the head needs a bias for this test: {bias}");
    let dir = tempfile::tempdir().unwrap();
    let export = model.save_transformers(dir.path()).unwrap();
    // The fold is exact up to float64 rounding for a head of full row rank.
    assert!(export.bias_residual < 1e-9, "{}", export.bias_residual);
    let names: Vec<&str> = export.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"score.weight"), "{names:?}");
    assert!(
        names.contains(&"transformer.h.1.attn.c_attn.weight"),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("out_head")),
        "{names:?}"
    );

    let back = Classifier::load_transformers(dir.path(), Device::Cpu).unwrap();
    assert_eq!(back.config.label_names, ["ham", "spam"]);
    assert_eq!(head_bias_size(&back), 0.0);
    let (ours, theirs) = both_logits(&model, &back);
    // The bound the float32 fold keeps: logits within 1e-5, probabilities closer still.
    let d = (&ours - &theirs).abs().max().double_value(&[]);
    assert!(d < 1e-5, "logits differ by {d}");
    let p = (ours.softmax(-1, Kind::Double) - theirs.softmax(-1, Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    assert!(p < 1e-6, "probabilities differ by {p}");
}

#[test]
fn hfx_lora_adapters_are_merged_into_the_export() {
    let model = tiny(
        TokenPosition::Flexible,
        Trainable::Lora {
            rank: 2,
            alpha: 4.0,
        },
    );
    // B starts at zero: give the adapters an effect.
    tch::no_grad(|| {
        for (name, t) in model.vs.variables() {
            if name.ends_with(".lora_b") {
                t.shallow_clone().copy_(&(Tensor::randn_like(&t) * 0.5));
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    model.save_transformers(dir.path()).unwrap();
    let back = Classifier::load_transformers(dir.path(), Device::Cpu).unwrap();
    assert!(back.vs.variables().keys().all(|n| !n.contains("lora")));
    let (ours, theirs) = both_logits(&model, &back);
    let d = (&ours - &theirs).abs().max().double_value(&[]);
    assert!(d < 1e-4, "logits differ by {d}");
}

#[test]
fn hfx_positions_transformers_cannot_express_are_refused_with_what_to_train() {
    for position in [
        TokenPosition::Last,
        TokenPosition::First,
        TokenPosition::Pooled,
    ] {
        let model = tiny(position, Trainable::LastBlock);
        let err = model.to_transformers().unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{position}` token position"))
                && err.contains("--token-position flexible"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
    let mut model = tiny(TokenPosition::Flexible, Trainable::LastBlock);
    model.config.causal_mask = false;
    let err = model.to_transformers().unwrap_err().to_string();
    assert!(
        err.contains("without the causal mask") && err.contains("--token-position flexible"),
        "{err}"
    );
}

#[test]
fn hfx_a_config_we_cannot_build_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture().join(name), dir.path().join(name)).unwrap();
    }
    let cfg_path = dir.path().join("config.json");
    let original = std::fs::read_to_string(&cfg_path).unwrap();
    for (from, to, key) in [
        ("\"gelu_new\"", "\"relu\"", "activation_function"),
        ("\"1\": \"spam\"", "\"7\": \"spam\"", "id2label"),
        ("\"n_embd\": 16", "\"n_embd\": 32", "wte.weight"),
    ] {
        assert!(original.contains(from), "{from}");
        std::fs::write(&cfg_path, original.replace(from, to)).unwrap();
        let err = Classifier::load_transformers(dir.path(), Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
}
