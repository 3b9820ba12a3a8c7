//! Fine-tuning GPT-2 classifiers: the chapter's training loop and what a good trainer adds.
//!
//! - [`train`]: the loop of the chapter's `train_classifier_simple` (AdamW, eval every
//!   50 steps on 5 batches, accuracy after each epoch, final accuracy on every split), with
//!   gradient accumulation, `ignore_index`, warmup + cosine, clipping and early stopping.
//! - A faster path with the same math: frozen blocks run once per distinct input, on every
//!   core ([`Engine`]).
//! - [`fine_tune`]: the whole job in one call, writing a run directory: `metrics.json`,
//!   `loss.png`, `accuracy.png` (feature `plot`, on by default), the model, checkpoints;
//!   [`resume`] continues a killed run to the same metrics.
//! - Progress comes as [`Event`]s to the [`Events`] sink of the options: the library never
//!   prints.
//! - [`Predictor`]: a fine-tuned model classifying new text.
//!
//! ```no_run
//! use spam_model::{Classifier, ClassifierConfig, Config, Weights};
//! use spam_train::{Examples, PadTo, RunOptions, TrainConfig, TrainData, train};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = ClassifierConfig::new(Config::tiny(), 2);
//! config.label_names = vec!["ham".into(), "spam".into()];
//! config.pad_id = 0;
//! let model = Classifier::new(config, &Weights::Random { seed: 123 }, tch::Device::Cpu, 123)?;
//! let examples = Examples { ids: vec![vec![1, 2, 3]; 16], labels: vec![0, 1].repeat(8) };
//! let data = TrainData {
//!     train: examples.clone(),
//!     validation: examples.clone(),
//!     test: examples,
//!     pad: PadTo::Fixed(3),
//!     pad_id: 0,
//!     label_names: vec!["ham".into(), "spam".into()],
//! };
//! let report = train(&model, &data, &TrainConfig { epochs: 1, ..Default::default() }, &RunOptions::default())?;
//! println!("test accuracy {:?}", report.final_accuracy);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod batch;
mod best;
mod checkpoint;
mod config;
mod data;
mod engine;
mod error;
mod events;
mod experiments;
mod export;
mod hf_model;
mod hub;
mod metrics;
mod optim;
mod order;
mod parallel;
mod pipeline;
#[cfg(feature = "plot")]
mod plot;
mod predict;
mod report;
mod run_config;
mod run_dir;
mod run_info;
mod run_log;
mod schedule;
mod staging;
mod trainer;

pub use batch::{Examples, PadTo, shuffled_batches};
pub use best::{
    BestMetric, BestRecord, ClassWeights, DECISION_FILE, Decision, MetricPoint, check_threshold,
    decide, read_decision, weighted_loss,
};
pub use config::{CachePrecision, CacheSettings, Engine, TrainConfig};
pub use data::{Split, TrainData};
pub use engine::{Batch, Runner, RunnerOptions, SplitOutputs, loss_of};
pub use error::{Result, TrainError};
pub use events::{Event, Events};
pub use experiments::{
    DocumentOptions as ExperimentsDocOptions, Row as ExperimentRow, RowResult as ExperimentResult,
    RowSetup as ExperimentSetup, config_for as experiment_config,
    default_rows as default_experiment_rows, document as experiments_document,
    finished_rows as finished_experiments, markdown_table as experiments_table,
    rows as experiment_rows, run_rows as run_experiments, weights_for as experiment_weights,
};
pub use export::{ExportOptions, ExportSummary, MODEL_CARD, export_run};
pub use metrics::{ClassMetrics, SplitMetrics, average_precision, roc_auc};
pub use optim::{AdamW, AdamWConfig};
pub use order::DataOrder;
pub use pipeline::{FineTuneOptions, fine_tune, resume};
pub use predict::{PREDICT_BATCH, Prediction, Predictor};
pub use report::{DataSummary, EpochRecord, EvalRecord, FinalAccuracy, Report, Timing};
pub use run_config::{DataConfig, ModelSettings, ResolvedWeights, RunConfig, WeightsSource};
pub use run_dir::timestamped_run_dir;
#[cfg(feature = "plot")]
pub use run_dir::write_plots;
pub use run_info::RunInfo;
#[cfg(feature = "plot")]
pub use run_log::redraw_plots;
pub use run_log::{LOG_FILE, LogLine, read_log};
pub use schedule::LrSchedule;
pub use trainer::{RunOptions, train};
// The number format a run and a predictor compute in (spam-model's), for crates above.
pub use spam_model::Precision;
