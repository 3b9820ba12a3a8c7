//! What a run directory says about the model it holds, for `serve`'s `GET /v1/info`: the
//! base weights, the token position and the test accuracy, read from `config.json` and
//! `metrics.json`.

use std::path::Path;

use serde::Serialize;

use crate::report::Report;
use crate::run_config::RunConfig;

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
        let read = |name: &str| std::fs::read(dir.join(name)).ok();
        let config: Option<RunConfig> =
            read("config.json").and_then(|b| serde_json::from_slice(&b).ok());
        let report: Option<Report> =
            read("metrics.json").and_then(|b| serde_json::from_slice(&b).ok());
        Self {
            base_weights: config.as_ref().map(|c| c.model.weights.to_string()),
            size: config.as_ref().map(|c| c.model.size.to_string()),
            token_position: config
                .as_ref()
                .map(|c| c.model.token_position.as_str().to_string()),
            trainable: config
                .as_ref()
                .map(|c| c.model.trainable.name().to_string()),
            test_accuracy: report
                .and_then(|r| r.final_accuracy)
                .map(|a| a.test_accuracy)
                .filter(|a| a.is_finite()),
        }
    }
}
