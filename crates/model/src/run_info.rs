//! What a run directory says about the model it holds, for `serve`'s `GET /v1/info`: the
//! base weights, the token position and the test accuracy, read from `config.json` and
//! `metrics.json`.

use std::path::Path;

use serde::Serialize;

use serde_json::Value;

/// A run's settings and result that a page showing the model wants; `None` where the run
/// directory does not say (a bare `model/` folder, a run of an older version).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInfo {
    /// The backbone's weights the run started from (`random` or a checkpoint path).
    pub base_weights: Option<String>,
    /// The model size (`124M`, ...).
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
    /// Reads the run directory `path` (or the one holding `path`, a `model/` folder). Files
    /// that are missing or unreadable leave their fields `None`: the model still serves.
    pub fn read(path: &Path) -> Self {
        let dir = if path.join("config.json").is_file() || path.join("metrics.json").is_file() {
            path
        } else {
            spam_data::parent_dir(path)
        };
        // Read loosely (JSON values, not the runs layer's typed settings): a server needs no
        // trainer, and a field this version does not know is simply absent.
        let read = |name: &str| -> Option<Value> {
            serde_json::from_slice(&std::fs::read(dir.join(name)).ok()?).ok()
        };
        let config = read("config.json");
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
        let test_accuracy = read("metrics.json")
            .and_then(|m| m.get("final")?.get("test_accuracy")?.as_f64())
            .filter(|a| a.is_finite());
        Self {
            base_weights: text("weights"),
            size: text("size"),
            token_position: text("token_position"),
            // `lora:RANK:ALPHA` is the mode `lora`.
            trainable: text("trainable")
                .map(|t| t.split(':').next().unwrap_or_default().to_string()),
            test_accuracy,
        }
    }
}
