//! Fine-tuning GPT-2 classifiers: the chapter's training loop and what a good trainer adds.
//!
//! - [`train`]: the loop of the chapter's `train_classifier_simple` (AdamW, eval every
//!   50 steps on 5 batches, accuracy after each epoch, final accuracy on every split), with
//!   gradient accumulation, `ignore_index`, warmup + cosine, clipping and early stopping.
//! - A faster path with the same math: frozen blocks run once per distinct input, on every
//!   core ([`Engine`]).
//! - [`run_dir`]: `metrics.json`, `loss.png`, `accuracy.png`, the model, checkpoints.
//! - [`checkpoint`]: resumable runs; a killed run resumed ends with the same metrics.
//!
//! ```no_run
//! use spam_model::{Classifier, ClassifierConfig, Config, Weights};
//! use spam_train::{Examples, PadTo, RunOptions, TrainConfig, TrainData, train};
//!
//! # fn main() -> anyhow::Result<()> {
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

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod experiments;
pub mod metrics;
pub mod optim;
pub mod parallel;
pub mod pipeline;
pub mod plot;
pub mod predict;
pub mod progress;
pub mod report;
pub mod run_dir;
pub mod schedule;
pub mod trainer;

pub use batch::{Examples, PadTo};
pub use config::{CachePrecision, CacheSettings, Engine, TrainConfig};
pub use metrics::SplitMetrics;
pub use optim::{AdamW, AdamWConfig};
pub use pipeline::{DataConfig, FineTuneOptions, ModelSettings, RunConfig, fine_tune, resume};
pub use predict::{Prediction, Predictor};
pub use report::Report;
pub use schedule::LrSchedule;
pub use trainer::{RunOptions, Split, TrainData, train};
