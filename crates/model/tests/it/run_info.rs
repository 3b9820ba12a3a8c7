//! `RunInfo`: what a run folder or a transformers folder says of its model, truthfully
//! (no `124M` or `last` for models that are none of these).

use serde_json::json;
use spam_model::{ClassifierConfig, ModelSize, RunInfo, TokenPosition};

use crate::common::{hf_tiny_dir, save_tiny_run, tiny_gpt2_vocab};

/// A run's `config.json` with these model settings.
fn write_config(dir: &std::path::Path, model: serde_json::Value) {
    std::fs::write(
        dir.join("config.json"),
        json!({ "model": model }).to_string(),
    )
    .expect("write config.json");
}

/// The architecture of `tiny_gpt2_vocab(2)`, as a run writes it.
fn tiny_architecture() -> serde_json::Value {
    serde_json::to_value(tiny_gpt2_vocab(2)).expect("architecture as JSON")
}

#[test]
fn a_run_with_an_explicit_architecture_says_that_architecture() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The settings alone (no saved model): the architecture overrides the `size` setting.
    write_config(
        dir.path(),
        json!({
            "weights": "random",
            "size": "124M",
            "token_position": "last",
            "trainable": "last_block",
            "architecture": tiny_architecture(),
        }),
    );
    let info = RunInfo::read(dir.path());
    assert_eq!(
        info.size.as_deref(),
        Some("custom (2 layers, width 16, 2 heads)")
    );
    assert_eq!(info.base_weights.as_deref(), Some("random"));
    assert_eq!(info.token_position.as_deref(), Some("last"));

    // With the saved model, its own `classifier.json` decides the size and token position.
    save_tiny_run(dir.path(), TokenPosition::First, 32);
    for path in [dir.path().to_path_buf(), dir.path().join("model")] {
        let info = RunInfo::read(&path);
        assert_eq!(
            info.size.as_deref(),
            Some("custom (2 layers, width 16, 2 heads)"),
            "{path:?}"
        );
        assert_eq!(info.token_position.as_deref(), Some("first"), "{path:?}");
        assert_eq!(info.trainable.as_deref(), Some("last_block"), "{path:?}");
    }
}

#[test]
fn a_run_from_a_checkpoint_takes_no_size_from_the_size_setting() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A checkpoint brings its own size: the `size` setting (here its default) says nothing.
    write_config(
        dir.path(),
        json!({ "weights": "models/gpt2/355M", "size": "124M", "token_position": "last" }),
    );
    let info = RunInfo::read(dir.path());
    assert_eq!(info.size, None);
    assert_eq!(info.base_weights.as_deref(), Some("models/gpt2/355M"));
    // Random weights of a published size: that size.
    write_config(dir.path(), json!({ "weights": "random", "size": "355M" }));
    assert_eq!(RunInfo::read(dir.path()).size.as_deref(), Some("355M"));
}

#[test]
fn a_transformers_folder_says_only_what_it_knows() {
    // A GPT2ForSequenceClassification folder: no run settings, read at `flexible`.
    let info = RunInfo::read(&hf_tiny_dir());
    assert_eq!(
        info,
        RunInfo {
            base_weights: None,
            size: Some("custom (2 layers, width 16, 2 heads)".into()),
            token_position: Some("flexible".into()),
            trainable: None,
            test_accuracy: None,
        }
    );
    // The Predictor reads such a folder at `flexible` too.
    let model = spam_model::Classifier::load_transformers(&hf_tiny_dir(), tch::Device::Cpu)
        .expect("load the hf_tiny fixture");
    assert_eq!(model.config.token_position, TokenPosition::Flexible);
}

#[test]
fn the_loaded_model_overrides_what_files_claim() {
    let claimed = RunInfo {
        base_weights: Some("random".into()),
        size: Some("124M".into()),
        token_position: Some("last".into()),
        trainable: Some("all".into()),
        test_accuracy: Some(0.5),
    };
    let mut tiny = ClassifierConfig::new(tiny_gpt2_vocab(2), 2);
    tiny.token_position = TokenPosition::Pooled;
    let info = claimed.clone().with_model(&tiny);
    assert_eq!(
        info.size.as_deref(),
        Some("custom (2 layers, width 16, 2 heads)")
    );
    assert_eq!(info.token_position.as_deref(), Some("pooled"));
    assert_eq!(
        (info.base_weights, info.trainable, info.test_accuracy),
        (
            claimed.base_weights,
            claimed.trainable,
            claimed.test_accuracy
        )
    );
    let medium = ClassifierConfig::spam(ModelSize::S355M);
    assert_eq!(
        RunInfo::default().with_model(&medium).size.as_deref(),
        Some("355M")
    );
}
