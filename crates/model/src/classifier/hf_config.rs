//! Our classifier settings from a transformers `config.json`: every key we read must have
//! its JSON type, and every value must be one we compute as transformers does, else the key
//! is named with what is wrong.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::settings::{ClassifierConfig, MAX_CLASSES, TokenPosition, Trainable};
use crate::config::{Config, END_OF_TEXT};
use crate::files::json_type;
use crate::gpt2::LAYER_NORM_EPS;

/// The transformers architecture an exported folder holds.
pub const HF_ARCHITECTURE: &str = "GPT2ForSequenceClassification";

/// A key of `config.json` and what is wrong with it.
pub(super) type Bad = (String, String);

fn bad<T>(key: &str, problem: impl Into<String>) -> Result<T, Bad> {
    Err((key.to_string(), problem.into()))
}

/// The keys of a `config.json`, read by type; a `null` is read as absent (transformers
/// writes `null` for settings left at their default).
struct Keys<'a>(&'a Map<String, Value>);

impl<'a> Keys<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn typed<T>(
        &self,
        key: &str,
        want: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, Bad> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match read(v) {
                Some(t) => Ok(Some(t)),
                None => bad(
                    key,
                    format!(
                        "is {}, not {want}; fix config.json or export the model again",
                        json_type(v)
                    ),
                ),
            },
        }
    }

    fn int(&self, key: &str) -> Result<Option<i64>, Bad> {
        self.typed(key, "an integer", Value::as_i64)
    }

    fn need(&self, key: &str) -> Result<i64, Bad> {
        self.int(key)?
            .map_or_else(|| bad(key, "is missing; a GPT-2 config.json has it"), Ok)
    }

    fn float(&self, key: &str) -> Result<Option<f64>, Bad> {
        self.typed(key, "a number", Value::as_f64)
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, Bad> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, Bad> {
        self.typed(key, "a string", Value::as_str)
    }
}

/// Our classifier settings from a transformers `config.json`, or the key we cannot build.
pub(super) fn classifier_config_from(map: &Map<String, Value>) -> Result<ClassifierConfig, Bad> {
    let keys = Keys(map);
    check_architecture(&keys)?;
    let model = model_config(&keys)?;
    check_computation(&keys, model.n_embd)?;
    let label_names = labels(&keys)?;
    let pad_id = match keys.int("pad_token_id")? {
        Some(p) => p,
        None => END_OF_TEXT,
    };
    if !(0..model.vocab_size).contains(&pad_id) {
        return bad(
            "pad_token_id",
            format!(
                "is {pad_id}{}, outside the vocabulary (0..{}); set it to the padding token's id",
                if keys.get("pad_token_id").is_none() {
                    " (GPT-2's, as it is missing)"
                } else {
                    ""
                },
                model.vocab_size
            ),
        );
    }
    Ok(ClassifierConfig {
        size: model.size(),
        model,
        num_classes: label_names.len() as i64,
        label_names,
        max_length: None,
        pad_id,
        token_position: TokenPosition::Flexible,
        trainable: Trainable::LastBlock,
        causal_mask: true,
        lora_merged: false,
        lora_split_qkv: true,
    })
}

/// `architectures` names [`HF_ARCHITECTURE`] and `model_type` (when there) is `gpt2`.
fn check_architecture(keys: &Keys) -> Result<(), Bad> {
    let names = keys.typed("architectures", "an array of names", Value::as_array)?;
    if !names.is_some_and(|a| a.iter().any(|s| s.as_str() == Some(HF_ARCHITECTURE))) {
        return bad(
            "architectures",
            format!(
                "does not name {HF_ARCHITECTURE}; only GPT-2 sequence classifiers can be loaded"
            ),
        );
    }
    if let Some(kind) = keys.str("model_type")?
        && kind != "gpt2"
    {
        return bad(
            "model_type",
            format!("is {kind:?}; only GPT-2 (\"gpt2\") models can be loaded"),
        );
    }
    Ok(())
}

/// The architecture's sizes (`n_positions`, else the older `n_ctx`).
fn model_config(keys: &Keys) -> Result<Config, Bad> {
    let n_ctx = match keys.int("n_positions")? {
        Some(n) => n,
        None => keys.need("n_ctx").map_err(|_| {
            (
                "n_positions".to_string(),
                "is missing; a GPT-2 config.json has it".to_string(),
            )
        })?,
    };
    Ok(Config {
        vocab_size: keys.need("vocab_size")?,
        n_ctx,
        n_embd: keys.need("n_embd")?,
        n_layer: keys.need("n_layer")?,
        n_head: keys.need("n_head")?,
        dropout: 0.0,
        qkv_bias: true,
    })
}

/// The keys that change what GPT-2 computes hold GPT-2's values.
fn check_computation(keys: &Keys, n_embd: i64) -> Result<(), Bad> {
    let activation = keys.str("activation_function")?.unwrap_or("gelu_new");
    if !matches!(activation, "gelu_new" | "gelu_pytorch_tanh") {
        return bad(
            "activation_function",
            format!("is {activation:?}; only GPT-2's tanh GELU (`gelu_new`) can be loaded"),
        );
    }
    let eps = keys.float("layer_norm_epsilon")?.unwrap_or(LAYER_NORM_EPS);
    if (eps - LAYER_NORM_EPS).abs() > 1e-12 {
        return bad(
            "layer_norm_epsilon",
            format!("is {eps}; only GPT-2's {LAYER_NORM_EPS} can be loaded"),
        );
    }
    for (key, default) in [
        ("scale_attn_weights", true),
        ("scale_attn_by_inverse_layer_idx", false),
    ] {
        let found = keys.bool(key)?.unwrap_or(default);
        if found != default {
            return bad(
                key,
                format!("is {found}; only GPT-2's attention ({key}: {default}) can be loaded"),
            );
        }
    }
    if let Some(inner) = keys.int("n_inner")?
        && Some(inner) != n_embd.checked_mul(4)
    {
        return bad(
            "n_inner",
            format!("is {inner}; only GPT-2's MLP width (4 x n_embd = 4 x {n_embd}) can be loaded"),
        );
    }
    Ok(())
}

/// The class names: from `id2label`, else `LABEL_0`, ... for `num_labels` classes (two when
/// neither is there); refused when transformers would not read them as single-label classes.
fn labels(keys: &Keys) -> Result<Vec<String>, Bad> {
    match keys.str("problem_type")? {
        None | Some("single_label_classification") => {}
        Some(kind @ ("multi_label_classification" | "regression")) => {
            return bad(
                "problem_type",
                format!(
                    "is {kind:?}: transformers reads this model's outputs as {}, not as the \
                     probabilities of one class (a softmax), which is all we compute; only \
                     single-label classifiers (\"single_label_classification\") can be loaded",
                    if kind == "regression" {
                        "a score"
                    } else {
                        "independent yes/no probabilities (a sigmoid each)"
                    }
                ),
            );
        }
        Some(other) => {
            return bad(
                "problem_type",
                format!(
                    "is {other:?}, not a problem type transformers knows; only single-label \
                     classifiers (\"single_label_classification\") can be loaded"
                ),
            );
        }
    }
    let num_labels = keys.int("num_labels")?;
    let names = match keys.typed(
        "id2label",
        "an object of class index -> name",
        Value::as_object,
    )? {
        Some(map) => id2label(map)?,
        None => {
            let n = num_labels.unwrap_or(2);
            if !(1..=MAX_CLASSES).contains(&n) {
                return bad(
                    "num_labels",
                    format!("is {n}; a classifier has 2 to {MAX_CLASSES} classes"),
                );
            }
            (0..n).map(|i| format!("LABEL_{i}")).collect()
        }
    };
    if names.len() < 2 {
        let key = if keys.get("id2label").is_some() {
            "id2label"
        } else {
            "num_labels"
        };
        return bad(
            key,
            format!(
                "gives {} class: transformers reads a one-label model as regression (a score, \
                 not class probabilities), which cannot be served; only classifiers of two or \
                 more classes can be loaded",
                names.len()
            ),
        );
    }
    Ok(names)
}

/// `id2label`'s names in class order: keys `0, 1, ...`, each name a string used once.
fn id2label(map: &Map<String, Value>) -> Result<Vec<String>, Bad> {
    if map.len() as i64 > MAX_CLASSES {
        return bad(
            "id2label",
            format!(
                "has {} classes; a classifier has at most {MAX_CLASSES}",
                map.len()
            ),
        );
    }
    let mut by_index: BTreeMap<usize, &str> = BTreeMap::new();
    for (k, name) in map {
        let i = k.parse::<usize>().map_err(|_| {
            (
                "id2label".to_string(),
                format!("key {k:?} is not a class index"),
            )
        })?;
        let Some(name) = name.as_str() else {
            return bad(
                "id2label",
                format!("{k:?} is {}, not a string", json_type(name)),
            );
        };
        if by_index.insert(i, name).is_some() {
            return bad("id2label", format!("names class {i} twice"));
        }
    }
    if by_index.keys().copied().ne(0..by_index.len()) {
        return bad("id2label", "keys are not 0, 1, ... (one per class)");
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (&i, &name) in &by_index {
        if let Some(j) = first.insert(name, i) {
            return bad(
                "id2label",
                format!(
                    "names classes {j} and {i} both {name:?}; each class needs a name of its own \
                     (predictions are reported by name, and one class's probability would be \
                     lost): rename one in id2label and label2id"
                ),
            );
        }
    }
    Ok(by_index.into_values().map(str::to_string).collect())
}
