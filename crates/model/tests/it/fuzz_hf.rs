//! Property tests over the transformers-folder loader (`Classifier::load_transformers`):
//! arbitrary and mutated `config.json` values and types, `id2label` maps, and tokenizer files.
//! Each folder must load or be refused with an error naming it, never panic, and never ask
//! for far more memory than its files hold; what loads has two or more classes of distinct
//! names. Run more cases with `PROPTEST_CASES`, as for `fuzz`.

use proptest::prelude::*;
use spam_test_support::mutate::{mutate, mutation};

use crate::fuzz::{bounded, config, interesting_i64};

/// Keys of a transformers `config.json` the loader reads, and a few it does not.
const HF_KEYS: [&str; 20] = [
    "architectures",
    "model_type",
    "vocab_size",
    "n_positions",
    "n_ctx",
    "n_embd",
    "n_layer",
    "n_head",
    "n_inner",
    "activation_function",
    "layer_norm_epsilon",
    "scale_attn_weights",
    "scale_attn_by_inverse_layer_idx",
    "pad_token_id",
    "num_labels",
    "id2label",
    "label2id",
    "problem_type",
    "torch_dtype",
    "use_cache",
];

/// Any JSON value, leaning to the ones a config holds (and to extremes).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        interesting_i64().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        "[a-z_0-9]{0,8}".prop_map(Value::from),
        prop::sample::select(vec![
            "gpt2",
            "GPT2ForSequenceClassification",
            "gelu_new",
            "relu",
            "regression",
            "single_label_classification",
            "multi_label_classification",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[0-9a-z]{0,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `id2label` maps: class-index-like keys (and some that are not), names that may repeat.
fn id2label() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        4 => (0u32..4).prop_map(|i| i.to_string()),
        1 => prop::sample::select(vec!["01", "-1", "+1", " 0", "99999999999999999999", "x"])
            .prop_map(str::to_string),
    ];
    let name = prop_oneof![
        4 => prop::sample::select(vec!["ham", "spam", "other", ""]).prop_map(serde_json::Value::from),
        1 => json_value(),
    ];
    prop::collection::btree_map(key, name, 0..5)
        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
}

/// A copy of the transformers fixture whose `config.json` is `config`, plus `extra` files.
fn hf_folder(config: &[u8], extra: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = crate::common::hf_tiny_dir();
    std::fs::copy(
        fixture.join("model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .expect("copy");
    std::fs::write(dir.path().join("config.json"), config).expect("write");
    for (name, bytes) in extra {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

fn hf_fixture_config() -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(crate::common::hf_tiny_dir().join("config.json"))
        .expect("read the fixture's config.json");
    serde_json::from_str(&text).expect("parse the fixture's config.json")
}

/// GPT-2's tokenizer, which the loader derives once per process, derived outside the
/// allocation bound (it is no input's doing).
fn warm_gpt2_tokenizer() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        let (vocab, merges) = spam_data::gpt2_vocab_and_merges().expect("GPT-2's files");
        let config = std::fs::read(crate::common::hf_tiny_dir().join("config.json")).expect("read");
        let dir = hf_folder(
            &config,
            &[
                ("vocab.json", vocab.as_bytes()),
                ("merges.txt", merges.as_bytes()),
            ],
        );
        spam_model::Classifier::load_transformers(dir.path(), tch::Device::Cpu)
            .expect("GPT-2's tokenizer files are accepted");
    });
}

/// Loads the folder within the allocation bound; what loads keeps the loader's promises.
fn load_hf(dir: &std::path::Path, input_len: usize) {
    warm_gpt2_tokenizer();
    let loaded = bounded((4 << 20) + 16 * input_len, || {
        spam_model::Classifier::load_transformers(dir, tch::Device::Cpu)
    });
    match loaded {
        Ok(model) => {
            let names = &model.config.label_names;
            assert!(names.len() >= 2, "{names:?}");
            assert_eq!(names.len() as i64, model.config.num_classes);
            let distinct: std::collections::HashSet<&String> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "{names:?}");
        }
        Err(e) => {
            let text = e.to_string();
            assert!(text.contains(&dir.display().to_string()), "{text}");
        }
    }
}

fn hf_config_with(edits: &[(&str, serde_json::Value)]) -> Vec<u8> {
    let mut config = hf_fixture_config();
    for (key, value) in edits {
        config.insert((*key).to_string(), value.clone());
    }
    serde_json::to_vec(&config).expect("encode")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn transformers_config_with_arbitrary_values(
        edits in prop::collection::vec((prop::sample::select(HF_KEYS.to_vec()), json_value()), 0..6),
    ) {
        let bytes = hf_config_with(&edits);
        let dir = hf_folder(&bytes, &[]);
        load_hf(dir.path(), bytes.len());
    }

    #[test]
    fn transformers_config_with_arbitrary_labels(
        labels in prop::option::weighted(0.8, id2label()),
        num_labels in prop::option::weighted(0.5, interesting_i64()),
        problem in prop::option::weighted(0.3, json_value()),
    ) {
        let mut edits = Vec::new();
        edits.extend(labels.map(|l| ("id2label", l)));
        edits.extend(num_labels.map(|n| ("num_labels", serde_json::json!(n))));
        edits.extend(problem.map(|p| ("problem_type", p)));
        let mut config: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&hf_config_with(&edits)).expect("parse");
        if !edits.iter().any(|(k, _)| *k == "id2label") {
            config.remove("id2label");
        }
        let bytes = serde_json::to_vec(&config).expect("encode");
        let dir = hf_folder(&bytes, &[]);
        load_hf(dir.path(), bytes.len());
    }

    #[test]
    fn transformers_config_mutated(m in prop::collection::vec(mutation(), 1..6)) {
        let original = std::fs::read(crate::common::hf_tiny_dir().join("config.json")).expect("read");
        let bytes = mutate(original, &m);
        let dir = hf_folder(&bytes, &[]);
        load_hf(dir.path(), bytes.len());
    }

    #[test]
    fn transformers_tokenizer_files(
        vocab in prop::option::of(json_value()),
        merges in prop::option::of("(#version: 0.2\n)?([a-zĠ]{1,3} [a-zĠ]{1,3}\n){0,4}"),
        tokenizer in prop::option::of(json_value()),
        tokenizer_config in prop::option::of(json_value()),
    ) {
        let config = std::fs::read(crate::common::hf_tiny_dir().join("config.json")).expect("read");
        let texts: Vec<(&str, Vec<u8>)> = [
            ("vocab.json", vocab.map(|v| v.to_string().into_bytes())),
            ("merges.txt", merges.map(String::into_bytes)),
            ("tokenizer.json", tokenizer.map(|v| serde_json::json!({"model": v}).to_string().into_bytes())),
            ("tokenizer_config.json", tokenizer_config.map(|v| v.to_string().into_bytes())),
        ]
        .into_iter()
        .filter_map(|(name, bytes)| Some((name, bytes?)))
        .collect();
        let extra: Vec<(&str, &[u8])> = texts.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        let dir = hf_folder(&config, &extra);
        let len = config.len() + texts.iter().map(|(_, b)| b.len()).sum::<usize>();
        load_hf(dir.path(), len);
    }
}
