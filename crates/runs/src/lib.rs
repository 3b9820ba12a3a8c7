//! Runs of GPT-2 classifiers: the application layer above the training library.
//!
//! A run is a folder that a whole job leaves behind: its settings (`config.json`), the
//! trainer's log and checkpoints, `metrics.json`, the plots, and the model. This crate owns
//! what makes such a folder:
//!
//! - [`RunConfig`]: the typed settings of a run, read from TOML (`--config`) and saved as
//!   `config.json`; [`WeightsSource`]: where the backbone comes from (random, a checkpoint
//!   path, or a Hugging Face hub id resolved through the hub cache).
//! - [`fine_tune`] and [`resume`]: the whole job in one call (data, model, spam-train's loop,
//!   the run directory built under a staging name and moved into place whole).
//! - [`redraw_plots`], [`export_run`] (a transformers folder), the chapter's experiments table
//!   ([`run_experiments`]).
//! - Sweeps: a run config plus a grid or random samples of run keys ([`Sweep`]), each trial
//!   an ordinary run folder ([`run_trial`], one process per trial or [`run_sweep`] for all),
//!   ranked by [`sweep_report`].
//! - Progress comes as [`RunEvent`]s to the [`RunEvents`] sink of the options; the training
//!   loop's own events arrive wrapped as [`RunEvent::Train`]. The library never prints.
//!
//! Errors are `anyhow` errors: this is application glue, and a caller that needs to tell a
//! failure apart downcasts to the lower layers' typed errors (`spam_train::TrainError`,
//! `spam_model::ModelError`, `spam_data::DataError`).

#![warn(missing_docs)]

mod classify_job;
#[cfg(feature = "plot")]
mod curves;
mod data_source;
mod events;
mod experiments;
mod export;
mod pipeline;
#[cfg(feature = "plot")]
mod plot;
mod run_config;
mod run_dir;
mod scheduler;
mod staging;
mod sweep;
mod sweep_keys;
mod sweep_report;
mod sweep_run;
mod sweep_space;
mod weights;

pub use classify_job::{
    CLASSIFY_WINDOW_ROWS, ClassifyJob, ClassifyOutcome, ClassifyProgress, PART_METADATA_KEY,
    classify_part,
};
#[cfg(feature = "plot")]
pub use curves::redraw_plots;
pub use data_source::{HUB_DATA_PREFIX, local_data};
pub use events::{RunEvent, RunEvents};
pub use experiments::{
    DocumentOptions as ExperimentsDocOptions, Row as ExperimentRow, RowResult as ExperimentResult,
    RowSetup as ExperimentSetup, chapter_sweep, config_for as experiment_config,
    default_rows as default_experiment_rows, document as experiments_document,
    finished_rows as finished_experiments, markdown_table as experiments_table,
    rows as experiment_rows, run_rows as run_experiments, weights_for as experiment_weights,
};
pub use export::{ExportOptions, ExportSummary, MODEL_CARD, THRESHOLD_KEY, export_run};
pub use pipeline::{FineTuneOptions, fine_tune, resume};
pub use run_config::{DataConfig, ModelSettings, RunConfig};
pub use run_dir::timestamped_run_dir;
#[cfg(feature = "plot")]
pub use run_dir::write_plots;
pub use scheduler::{
    K8S_INDEX, SLURM_TASK_COUNT, SLURM_TASK_ID, SLURM_TASK_MIN, SLURM_TASK_STEP, TaskIndex,
    shard_for_task, task_from_env, task_index,
};
pub use sweep::{Point, Sweep, Trial, value_text};
pub use sweep_report::{
    BEST_LINK, MissingTrial, SWEEP_CSV, SWEEP_FILE, SWEEP_MD, SweepReport, TrialResult, TrialState,
    sweep_report,
};
pub use sweep_run::{TrialRun, run_sweep, run_trial, save_sweep};
pub use weights::{ResolvedWeights, WeightsSource};
