//! Fine-tuning GPT-2 classifiers: the chapter's training loop and what a good trainer adds.
//!
//! - [`train`]: the loop of the chapter's `train_classifier_simple` (AdamW, eval every
//!   50 steps on 5 batches, accuracy after each epoch, final accuracy on every split), with
//!   gradient accumulation, `ignore_index`, warmup + cosine, clipping, early stopping and the
//!   best model by a validation metric ([`BestMetric`]).
//! - A faster path with the same math: frozen blocks run once per distinct input, on every
//!   core ([`Engine`]).
//! - Checkpoints beside the run (`RunOptions::checkpoint_dir`): a killed run resumes to the
//!   same metrics bit for bit; the log of every evaluation ([`records::read_log`]).
//! - Progress comes as [`Event`]s to the [`Events`] sink of the options: the library never
//!   prints.
//!
//! Run directories, configuration files, plots and export are the runs layer's (spam-runs);
//! prediction is spam-model's (`Predictor`).
//!
//! ```no_run
//! use spam_model::{Classifier, ClassifierConfig, Config, PadTo, Weights};
//! use spam_train::{Examples, RunOptions, TrainConfig, TrainData, train};
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
mod hooks;
mod keep_best;
mod optim;
mod order;
mod report;
mod run_log;
mod schedule;
mod trainer;

// The loop: its data, settings, options, events, result and errors.
pub use batch::Examples;
pub use best::{BestMetric, ClassWeights};
pub use config::{CachePrecision, CacheSettings, Engine, TrainConfig};
pub use data::{Split, TrainData};
pub use error::{Result, TrainError};
pub use events::{Event, Events};
pub use optim::AdamWConfig;
pub use order::DataOrder;
pub use report::Report;
pub use schedule::LrSchedule;
pub use trainer::{RunOptions, train};

/// What a run records as it goes and at its end: the parts of [`Report`] (`metrics.json`)
/// and the per-evaluation log (`log.jsonl`) with its reader.
pub mod records {
    pub use crate::best::{BestRecord, MetricPoint};
    pub use crate::report::{DataSummary, EpochRecord, EvalRecord, FinalAccuracy, Timing};
    pub use crate::run_log::{LOG_FILE, LogLine, read_log};
}

/// The files of a checkpoint folder and where a checkpoint was taken: what the runs layer
/// needs to recognise, keep or replace a run's checkpoint.
pub mod checkpoints {
    pub use crate::checkpoint::{FILES, Position, STATE, position};
}

/// The loop's parts that tests and benchmarks drive directly: the engine (`Runner`, one
/// forward pass over a batch), the loss, the batch order, the optimizer.
pub mod internals {
    pub use crate::batch::shuffled_batches;
    pub use crate::best::weighted_loss;
    pub use crate::engine::{Batch, Runner, RunnerOptions, SplitOutputs, loss_of};
    pub use crate::optim::AdamW;
}

// Fault injection for tests, only with the `test-hooks` feature.
#[cfg(feature = "test-hooks")]
pub use hooks::test_hooks;
