//! What a run measured: the content of `metrics.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::PadTo;
use crate::best::{BestRecord, MetricPoint};
use crate::config::TrainConfig;
use crate::data::TrainData;
use spam_model::SplitMetrics;

/// One periodic loss estimate (every `eval_freq` steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Steps taken before it.
    pub step: usize,
    /// 1-based epoch it fell in.
    pub epoch: usize,
    /// Training examples seen before it.
    pub examples_seen: usize,
    /// Mean loss over `eval_iter` training batches.
    pub train_loss: f64,
    /// Mean loss over `eval_iter` validation batches.
    pub val_loss: f64,
}

/// The accuracy estimates at the end of an epoch (on `eval_iter` batches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Training examples seen by its end.
    pub examples_seen: usize,
    /// Accuracy on `eval_iter` training batches.
    pub train_accuracy: f64,
    /// Accuracy on `eval_iter` validation batches.
    pub val_accuracy: f64,
}

/// Accuracy over the whole of each split after training, as fractions in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalAccuracy {
    /// Over the whole training split.
    pub train_accuracy: f64,
    /// Over the whole validation split.
    pub validation_accuracy: f64,
    /// Over the whole test split; NaN (`null` in `metrics.json`) when the run had no test
    /// split.
    #[serde(with = "nan_as_null")]
    pub test_accuracy: f64,
}

/// Where a run's wall time went, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Wall time of the run (across resumes).
    pub total_seconds: f64,
    /// Building the frozen-prefix cache before the first step (0 on the plain path). On
    /// more than one CPU core that is the training split's rows: the others are computed
    /// alongside the steps and the final pass, inside their times.
    pub cache_seconds: f64,
    /// The training loop, periodic evaluations included.
    pub training_seconds: f64,
    /// The closing accuracy pass over the three splits.
    pub final_eval_seconds: f64,
    /// `training_seconds` over the steps of this process.
    pub seconds_per_step: f64,
}

/// Sizes of the data the run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Training examples.
    pub train: usize,
    /// Validation examples.
    pub validation: usize,
    /// Test examples.
    pub test: usize,
    /// How batches were padded.
    pub padding: PadTo,
    /// Class names, by class index.
    pub label_names: Vec<String>,
    /// The positive class of a two-class run (class 1): what `threshold`, precision, recall,
    /// F1 and the AUCs refer to. `None` for other runs (and in reports of older versions).
    #[serde(default)]
    pub positive_class: Option<String>,
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The training settings.
    pub config: TrainConfig,
    /// Which computation path ran, and why.
    pub path: String,
    /// Whether the run computed fp32's numbers exactly: false under `precision: bf16` or a
    /// bf16 cache (absent in older reports: true).
    #[serde(default = "exact_by_default")]
    pub exact: bool,
    /// The data it used.
    pub data: DataSummary,
    /// Every periodic loss estimate.
    pub evals: Vec<EvalRecord>,
    /// Every end-of-epoch accuracy estimate.
    pub epochs: Vec<EpochRecord>,
    /// Accuracy over the whole splits (absent when the closing pass was skipped).
    #[serde(rename = "final")]
    pub final_accuracy: Option<FinalAccuracy>,
    /// Precision, recall, F1 and confusion matrix by split name.
    pub per_split: BTreeMap<String, SplitMetrics>,
    /// Where the time went (absent until the run ends).
    pub timing: Option<Timing>,
    /// Training examples per second of the training loop.
    pub examples_per_second: f64,
    /// Training examples seen.
    pub examples_seen: usize,
    /// Steps taken.
    pub steps: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// The training loss of every step, in order.
    pub step_losses: Vec<f64>,
    /// The evaluation whose weights the model holds (with `metric_for_best`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best: Option<BestRecord>,
    /// `metric_for_best` on the whole validation split at every evaluation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub best_metric_history: Vec<MetricPoint>,
    /// The class weights of the training loss, when the run used some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_weights: Option<Vec<f64>>,
}

fn exact_by_default() -> bool {
    true
}

/// A number that may be NaN (a split the run did not have): `null` in JSON, both ways.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
        if x.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*x)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

impl Report {
    /// An empty report of a run about to start.
    pub fn new(config: &TrainConfig, path: &str, data: &TrainData) -> Self {
        Self {
            config: config.clone(),
            path: path.to_string(),
            exact: config.is_exact(),
            data: DataSummary {
                train: data.train.len(),
                validation: data.validation.len(),
                test: data.test.len(),
                padding: data.pad,
                label_names: data.label_names.clone(),
                positive_class: (data.label_names.len() == 2).then(|| data.label_names[1].clone()),
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
            best: None,
            best_metric_history: Vec::new(),
            class_weights: None,
        }
    }
}
