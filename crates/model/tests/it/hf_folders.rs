//! transformers folders that were accepted and answered wrongly (issue class 11), and the
//! files of a model folder read without a bound (class 14): each is now refused at load,
//! naming the file and the key. Each test failed before the change that refuses it.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use spam_test_support::special_files::mkfifo;
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};
use spam_model::{Classifier, ClassifierConfig, Config, ModelError, Predictor, Weights};
use tch::Device;

/// A copy of the transformers-written fixture (vocabulary 300, classes ham, spam, other).
pub(crate) fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_dir(&crate::common::hf_tiny_dir(), dir.path());
    dir
}

/// Rewrites the folder's `config.json` through `edit`.
pub(crate) fn edit_config(dir: &Path, edit: impl FnOnce(&mut Map<String, Value>)) {
    let path = dir.join("config.json");
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(value.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// An error and its causes, as spam-cli prints them (`{:#}`).
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn load_err(dir: &Path) -> (ModelError, String) {
    let err = Classifier::load_transformers(dir, Device::Cpu).unwrap_err();
    let text = chain(&err);
    assert!(!text.contains('\n'), "{text}");
    (err, text)
}

#[test]
fn hff_two_classes_of_one_name_are_refused() {
    let dir = folder();
    edit_config(dir.path(), |c| {
        c.insert(
            "id2label".to_string(),
            json!({"0": "ham", "1": "spam", "2": "spam"}),
        );
    });
    let (err, text) = load_err(dir.path());
    assert!(
        matches!(&err, ModelError::TransformersConfig { key, .. } if key == "id2label"),
        "{err:?}"
    );
    assert!(
        text.contains("config.json") && text.contains("\"spam\"") && text.contains("1 and 2"),
        "{text}"
    );
}

/// The fixture with one class: `score.weight` cut to its first row.
fn one_class_folder(with_id2label: bool) -> tempfile::TempDir {
    let dir = folder();
    let weights = dir.path().join("model.safetensors");
    let file = spam_model::SafeTensorsFile::open(&weights).unwrap();
    let tensors: Vec<(String, tch::Tensor)> = file
        .tensors
        .iter()
        .map(|(name, raw)| {
            let t = raw.to_tensor().unwrap();
            let t = if name == "score.weight" {
                t.narrow(0, 0, 1)
            } else {
                t
            };
            (name.clone(), t)
        })
        .collect();
    drop(file);
    spam_model::write_safetensors_atomic(&weights, &tensors, Some(BTreeMap::new())).unwrap();
    edit_config(dir.path(), |c| {
        c.remove("label2id");
        c.insert("num_labels".to_string(), json!(1));
        if with_id2label {
            c.insert("id2label".to_string(), json!({"0": "LABEL_0"}));
        } else {
            c.remove("id2label");
        }
    });
    dir
}

#[test]
fn hff_one_label_is_refused_as_transformers_reads_it_as_regression() {
    for (with_id2label, key) in [(true, "id2label"), (false, "num_labels")] {
        let dir = one_class_folder(with_id2label);
        let (err, text) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::TransformersConfig { key: k, .. } if k == key),
            "{key}: {err:?}"
        );
        assert!(text.contains("regression"), "{text}");
    }
    // And ours is not exported as one.
    let cc = ClassifierConfig::new(Config::tiny(), 1);
    let model = Classifier::new(cc, &Weights::Random { seed: 1 }, Device::Cpu, 2).unwrap();
    let err = model.to_transformers().unwrap_err().to_string();
    assert!(
        err.contains("1 class") && err.contains("two or more"),
        "{err}"
    );
}

#[test]
fn hff_multi_label_and_regression_problem_types_are_refused() {
    for kind in ["multi_label_classification", "regression", "ranking"] {
        let dir = folder();
        edit_config(dir.path(), |c| {
            c.insert("problem_type".to_string(), json!(kind));
        });
        let (err, text) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::TransformersConfig { key, .. } if key == "problem_type"),
            "{kind}: {err:?}"
        );
        assert!(
            text.contains(kind) && text.contains("single_label_classification"),
            "{text}"
        );
    }
    // The one transformers' softmax answers is fine, as is null.
    for kind in [json!("single_label_classification"), Value::Null] {
        let dir = folder();
        edit_config(dir.path(), |c| {
            c.insert("problem_type".to_string(), kind);
        });
        Classifier::load_transformers(dir.path(), Device::Cpu).unwrap();
    }
}

#[test]
fn hff_a_value_of_the_wrong_json_type_is_refused_naming_the_key() {
    let cases = [
        ("pad_token_id", json!("299")),
        ("layer_norm_epsilon", json!("1e-05")),
        ("activation_function", json!(5)),
        ("scale_attn_weights", json!("yes")),
        ("scale_attn_by_inverse_layer_idx", json!(1)),
        ("n_inner", json!("64")),
        ("id2label", json!(["ham", "spam", "other"])),
        ("num_labels", json!("3")),
        ("problem_type", json!(1)),
        ("model_type", json!(["gpt2"])),
        ("n_positions", json!(32.5)),
    ];
    for (key, value) in cases {
        let dir = folder();
        edit_config(dir.path(), |c| {
            c.insert(key.to_string(), value.clone());
        });
        let (err, text) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::TransformersConfig { key: k, .. } if k == key),
            "{key} = {value}: {err:?}"
        );
        assert!(
            text.contains("not a") && text.contains("config.json"),
            "{text}"
        );
    }
}

#[test]
fn hff_a_config_of_another_model_is_refused_naming_the_key() {
    for (key, value) in [
        ("model_type", json!("bert")),
        ("architectures", json!(["GPT2LMHeadModel"])),
    ] {
        let dir = folder();
        edit_config(dir.path(), |c| {
            c.insert(key.to_string(), value.clone());
        });
        let (err, _) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::TransformersConfig { key: k, .. } if k == key),
            "{key}: {err:?}"
        );
    }
    // A missing padding id falls back to GPT-2's, outside this vocabulary: named.
    let dir = folder();
    edit_config(dir.path(), |c| {
        c.remove("pad_token_id");
    });
    let (_, text) = load_err(dir.path());
    assert!(
        text.contains("`pad_token_id`") && text.contains("50256"),
        "{text}"
    );
}

/// The predictor reports what is wrong with a transformers `config.json`, never that the
/// folder lacks our `classifier.json`.
#[test]
fn hff_the_predictor_reports_a_broken_config_json_as_such() {
    type Breaker<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Breaker); 4] = [
        ("malformed", &|d| {
            std::fs::write(d.join("config.json"), "{\"architectures\": [").unwrap();
        }),
        ("architectures", &|d| {
            edit_config(d, |c| {
                c.insert("architectures".to_string(), json!(["GPT2LMHeadModel"]));
            });
        }),
        ("model_type", &|d| {
            edit_config(d, |c| {
                c.insert("model_type".to_string(), json!("llama"));
            });
        }),
        ("n_embd", &|d| {
            edit_config(d, |c| {
                c.insert("n_embd".to_string(), json!("16"));
            });
        }),
    ];
    for (what, break_it) in cases {
        let dir = folder();
        break_it(dir.path());
        let err = Predictor::load(dir.path(), Device::Cpu).unwrap_err();
        let text = chain(&err);
        assert!(
            text.contains("config.json")
                && text.contains(what)
                && !text.contains("classifier.json"),
            "{what}: {text}"
        );
    }
}

// ---- tokenizer files ----

fn gpt2_vocab_and_merges() -> (String, String) {
    spam_data::gpt2_vocab_and_merges().unwrap()
}

/// A `tokenizer.json` with these vocabulary and merges texts.
fn tokenizer_json(vocab: &str, merges: &str) -> String {
    let vocab: Value = serde_json::from_str(vocab).unwrap();
    let merges: Vec<&str> = merges.lines().skip(1).collect();
    json!({
        "version": "1.0",
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
        "model": {"type": "BPE", "vocab": vocab, "merges": merges},
    })
    .to_string()
}

#[test]
fn hff_gpt2_tokenizer_files_are_accepted() {
    let dir = folder();
    spam_data::write_gpt2_tokenizer_files(dir.path(), 32).unwrap();
    let (vocab, merges) = gpt2_vocab_and_merges();
    std::fs::write(
        dir.path().join("tokenizer.json"),
        tokenizer_json(&vocab, &merges),
    )
    .unwrap();
    Classifier::load_transformers(dir.path(), Device::Cpu).unwrap();
    // transformers' own layout of vocab.json: pretty, sorted keys.
    let sorted: BTreeMap<String, u64> = serde_json::from_str(&vocab).unwrap();
    std::fs::write(
        dir.path().join("vocab.json"),
        serde_json::to_string_pretty(&sorted).unwrap(),
    )
    .unwrap();
    let model = Classifier::load_transformers(dir.path(), Device::Cpu).unwrap();
    assert_eq!(model.config.label_names, ["ham", "spam", "other"]);
}

/// Swaps the ids of two tokens in a vocabulary's text.
fn swap_ids(vocab: &str) -> String {
    let mut map: BTreeMap<String, u64> = serde_json::from_str(vocab).unwrap();
    let (a, b) = (map["a"], map["b"]);
    map.insert("a".into(), b);
    map.insert("b".into(), a);
    serde_json::to_string(&map).unwrap()
}

/// Swaps two merge lines.
fn swap_merges(merges: &str) -> String {
    let mut lines: Vec<&str> = merges.lines().collect();
    lines.swap(5, 6);
    lines.join("\n") + "\n"
}

#[test]
fn hff_a_tokenizer_that_is_not_gpt2s_is_refused_naming_the_file() {
    let (vocab, merges) = gpt2_vocab_and_merges();
    let cases: [(&str, Vec<(&str, String)>); 6] = [
        (
            "vocab.json",
            vec![
                ("vocab.json", swap_ids(&vocab)),
                ("merges.txt", merges.clone()),
            ],
        ),
        (
            "merges.txt",
            vec![
                ("vocab.json", vocab.clone()),
                ("merges.txt", swap_merges(&merges)),
            ],
        ),
        (
            "vocab.json",
            vec![
                ("vocab.json", r#"{"a": 0}"#.into()),
                ("merges.txt", merges.clone()),
            ],
        ),
        ("merges.txt", vec![("merges.txt", merges.clone())]),
        (
            "tokenizer.json",
            vec![(
                "tokenizer.json",
                tokenizer_json(&vocab, &swap_merges(&merges)),
            )],
        ),
        (
            "tokenizer.json",
            vec![("tokenizer.json", tokenizer_json(&swap_ids(&vocab), &merges))],
        ),
    ];
    for (file, files) in cases {
        let dir = folder();
        for (name, text) in &files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let (err, text) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::UnsupportedTokenizer { path, .. } if path.ends_with(file)),
            "{file}: {err:?}"
        );
        assert!(
            text.contains("only GPT-2's tokenizer is supported"),
            "{text}"
        );
    }
}

#[test]
fn hff_a_tokenizer_config_that_changes_the_ids_is_refused() {
    for (key, value) in [("add_prefix_space", true), ("add_bos_token", true)] {
        let dir = folder();
        std::fs::write(
            dir.path().join("tokenizer_config.json"),
            json!({"model_max_length": 32, key: value}).to_string(),
        )
        .unwrap();
        let (err, text) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::UnsupportedTokenizer { .. }) && text.contains(key),
            "{key}: {text}"
        );
    }
}

// ---- files that are no regular file, or too large ----

#[test]
fn hff_a_tokenizer_file_that_is_no_regular_file_is_refused() {
    for name in ["vocab.json", "tokenizer.json", "tokenizer_config.json"] {
        let dir = folder();
        let (vocab, merges) = gpt2_vocab_and_merges();
        if name == "vocab.json" {
            std::fs::write(dir.path().join("merges.txt"), &merges).unwrap();
        } else {
            std::fs::write(dir.path().join("vocab.json"), &vocab).unwrap();
            std::fs::write(dir.path().join("merges.txt"), &merges).unwrap();
        }
        mkfifo(&dir.path().join(name));
        let (err, _) = load_err(dir.path());
        assert!(
            matches!(&err, ModelError::NotAFile { path } if path.ends_with(name)),
            "{name}: {err:?}"
        );
    }
    // A link to a device is no regular file either.
    let dir = folder();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("tokenizer.json")).unwrap();
    let (err, _) = load_err(dir.path());
    assert!(matches!(err, ModelError::NotAFile { .. }), "{err:?}");
}

#[test]
fn hff_a_config_json_larger_than_the_limit_is_refused_naming_it() {
    let dir = folder();
    let file = std::fs::File::create(dir.path().join("config.json")).unwrap();
    file.set_len((64 << 20) + 1).unwrap(); // sparse: nothing is written
    let (err, text) = load_err(dir.path());
    assert!(
        matches!(err, ModelError::FileTooLarge { limit, .. } if limit == 64 << 20),
        "{err:?}"
    );
    assert!(text.contains("67108864 bytes"), "{text}");
}

/// Before: opening the FIFO blocked for ever (in the predictor, and in the loader).
#[test]
fn hff_a_config_json_that_is_a_fifo_is_refused_not_waited_on() {
    let dir = folder();
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    mkfifo(&dir.path().join("config.json"));
    let (err, _) = load_err(dir.path());
    assert!(matches!(err, ModelError::NotAFile { .. }), "{err:?}");
    let err = Predictor::load(dir.path(), Device::Cpu).unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains("not a regular file") && text.contains("config.json"),
        "{text}"
    );
}
