//! What a run directory says about the model it holds, for `serve`'s `GET /v1/info`: the
//! base weights, the size, the token position and the test accuracy, read from
//! `config.json`, the model's `classifier.json` and `metrics.json`; and for a transformers
//! folder, what its `config.json` says.

use std::path::Path;

use serde::Serialize;

use serde_json::Value;

use crate::classifier::ClassifierConfig;
use crate::config::ModelSize;

/// A run's settings and result that a page showing the model wants; `None` where the run
/// directory does not say (a bare `model/` folder, a run of an older version, what a
/// transformers folder does not record).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInfo {
    /// The backbone's weights the run started from (`random` or a checkpoint path).
    pub base_weights: Option<String>,
    /// The model size: a published one (`124M`, ...) or, for another architecture,
    /// `custom (L layers, width W, H heads)`, the words a run prints.
    pub size: Option<String>,
    /// The token position the classifier reads (`last`, ...).
    pub token_position: Option<String>,
    /// What was trained (`last_block`, ...).
    pub trainable: Option<String>,
    /// Accuracy over the whole test split, in [0, 1].
    pub test_accuracy: Option<f64>,
}

// The accuracy is a finite number read from JSON: equality is total on it.
impl Eq for RunInfo {}

impl RunInfo {
    /// Reads the run directory `path` (or the one holding `path`, a `model/` folder), or a
    /// transformers `GPT2ForSequenceClassification` folder. Files that are missing or
    /// unreadable leave their fields `None`: the model still serves.
    ///
    /// The size and token position are the saved model's (`classifier.json`) when it can be
    /// read, else the run's settings: an explicit `model.architecture` is described as such
    /// (it overrides `size`), and a `size` is taken only with random weights (a checkpoint
    /// brings its own). A transformers folder says its size, and is read at the last
    /// non-padding token (`flexible`) as the [`crate::Predictor`] reads it; it records no
    /// base weights nor what was trained.
    pub fn read(path: &Path) -> Self {
        let dir = if path.join("config.json").is_file() || path.join("metrics.json").is_file() {
            path
        } else {
            spam_data::parent_dir(path)
        };
        // Read loosely (JSON values, not the runs layer's typed settings): a server needs no
        // trainer, and a field this version does not know is simply absent.
        let read = |file: &Path| -> Option<Value> {
            serde_json::from_slice(&std::fs::read(file).ok()?).ok()
        };
        let config = read(&dir.join("config.json"));
        let test_accuracy = read(&dir.join("metrics.json"))
            .and_then(|m| m.get("final")?.get("test_accuracy")?.as_f64())
            .filter(|a| a.is_finite());
        if let Some(config) = config.as_ref().filter(|c| is_transformers_config(c)) {
            return Self {
                size: dims_of(config).map(size_words),
                // What `Classifier::load_transformers` reads; only such a folder loads.
                token_position: crate::is_transformers_dir(dir).then(|| "flexible".to_string()),
                test_accuracy,
                ..Self::default()
            };
        }
        let model = config.as_ref().and_then(|c| c.get("model"));
        let text = |key: &str| -> Option<String> {
            let v = model?.get(key)?;
            match v {
                Value::String(s) => Some(s.clone()),
                // `trainable` may be written tagged (`{"lora": {...}}`): its name is the tag.
                Value::Object(o) => o.keys().next().cloned(),
                _ => None,
            }
        };
        let base_weights = text("weights");
        let saved = read(&crate::model_dir(path).join(crate::CONFIG_FILE));
        let size = saved
            .as_ref()
            .and_then(saved_size)
            .or_else(|| settings_size(model?, base_weights.as_deref()));
        let token_position = saved
            .as_ref()
            .and_then(|s| Some(s.get("token_position")?.as_str()?.to_string()))
            .or_else(|| text("token_position"));
        Self {
            base_weights,
            size,
            token_position,
            // `lora:RANK:ALPHA` is the mode `lora`.
            trainable: text("trainable")
                .map(|t| t.split(':').next().unwrap_or_default().to_string()),
            test_accuracy,
        }
    }

    /// This information with what the loaded model `config` says in place of what files
    /// claim: its size and the token position it reads.
    pub fn with_model(mut self, config: &ClassifierConfig) -> Self {
        let m = &config.model;
        self.size = Some(match config.size {
            Some(size) => size.to_string(),
            None => size_words((m.n_layer, m.n_embd, m.n_head)),
        });
        self.token_position = Some(config.token_position.as_str().to_string());
        self
    }
}

/// Whether `config` is a transformers `config.json` rather than a run's: it names
/// `architectures` or a `model_type`, and has no `model` object.
fn is_transformers_config(config: &Value) -> bool {
    !config.get("model").is_some_and(Value::is_object)
        && (config.get("architectures").is_some() || config.get("model_type").is_some())
}

/// `(n_layer, n_embd, n_head)` of an object holding them (a `Config`, or a transformers
/// `config.json`).
fn dims_of(v: &Value) -> Option<(i64, i64, i64)> {
    let n = |key: &str| v.get(key)?.as_i64();
    Some((n("n_layer")?, n("n_embd")?, n("n_head")?))
}

/// The published size with these dimensions, or the words a run prints for another
/// architecture (spam-runs' `ModelReady`): `custom (L layers, width W, H heads)`.
fn size_words((n_layer, n_embd, n_head): (i64, i64, i64)) -> String {
    let published = ModelSize::ALL.into_iter().find(|s| {
        let d = s.dims();
        (d.n_layer, d.n_embd, d.n_head) == (n_layer, n_embd, n_head)
    });
    match published {
        Some(size) => size.to_string(),
        None => format!("custom ({n_layer} layers, width {n_embd}, {n_head} heads)"),
    }
}

/// The size a saved `classifier.json` records: its published `size`, else its backbone's.
fn saved_size(saved: &Value) -> Option<String> {
    if let Some(size) = saved.get("size").and_then(Value::as_str) {
        return Some(size.to_string());
    }
    dims_of(saved.get("model")?).map(size_words)
}

/// The size a run's settings (`config.json`'s `model`) imply: an explicit `architecture`,
/// else `size` with random weights; `None` for a checkpoint, which brings its own.
fn settings_size(model: &Value, weights: Option<&str>) -> Option<String> {
    match model.get("architecture") {
        Some(arch) if !arch.is_null() => dims_of(arch).map(size_words),
        // A config without `weights` was written for the default, random weights.
        _ if weights.is_none_or(|w| w == "random") => {
            Some(model.get("size")?.as_str()?.to_string())
        }
        _ => None,
    }
}
