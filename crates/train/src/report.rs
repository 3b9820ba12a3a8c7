//! What a run measured: the content of `metrics.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::PadTo;
use crate::config::TrainConfig;
use crate::metrics::SplitMetrics;
use crate::data::TrainData;

/// One periodic loss estimate (every `eval_freq` steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: usize,
    pub epoch: usize,
    pub examples_seen: usize,
    pub train_loss: f64,
    pub val_loss: f64,
}

/// The accuracy estimates at the end of an epoch (on `eval_iter` batches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub examples_seen: usize,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
}

/// Accuracy over the whole of each split after training, as fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalAccuracy {
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of the run (across resumes).
    pub total_seconds: f64,
    /// Building the frozen-prefix cache before the first step (0 on the plain path). On
    /// more than one CPU core that is the training split's rows: the others are computed
    /// alongside the steps and the final pass, inside their times.
    pub cache_seconds: f64,
    pub training_seconds: f64,
    pub final_eval_seconds: f64,
    pub seconds_per_step: f64,
}

/// Sizes of the data the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    pub padding: PadTo,
    pub label_names: Vec<String>,
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub config: TrainConfig,
    /// Which computation path ran, and why.
    pub path: String,
    pub data: DataSummary,
    pub evals: Vec<EvalRecord>,
    pub epochs: Vec<EpochRecord>,
    #[serde(rename = "final")]
    pub final_accuracy: Option<FinalAccuracy>,
    pub per_split: BTreeMap<String, SplitMetrics>,
    pub timing: Option<Timing>,
    pub examples_per_second: f64,
    pub examples_seen: usize,
    pub steps: usize,
    pub stopped_early: bool,
    /// The training loss of every step, in order.
    pub step_losses: Vec<f64>,
}

impl Report {
    pub fn new(config: &TrainConfig, path: &str, data: &TrainData) -> Self {
        Self {
            config: config.clone(),
            path: path.to_string(),
            data: DataSummary {
                train: data.train.len(),
                validation: data.validation.len(),
                test: data.test.len(),
                padding: data.pad,
                label_names: data.label_names.clone(),
            },
            evals: Vec::new(),
            epochs: Vec::new(),
            final_accuracy: None,
            per_split: BTreeMap::new(),
            timing: None,
            examples_per_second: 0.0,
            examples_seen: 0,
            steps: 0,
            stopped_early: false,
            step_losses: Vec::new(),
        }
    }
}
