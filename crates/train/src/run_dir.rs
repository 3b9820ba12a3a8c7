//! The run directory: everything a run leaves behind.
//!
//! ```text
//! RUN_DIR/
//!   config.json       the settings of the run
//!   metrics.json      losses, accuracies, per-split metrics, timing
//!   loss.png          train/validation loss against epochs and examples seen
//!   accuracy.png      train/validation accuracy against epochs and examples seen
//!   model/            the fine-tuned classifier (spam-model's format)
//!   data/             train.csv, validation.csv, test.csv as used
//!   checkpoint/       the latest checkpoint, for --resume
//! ```

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
#[cfg(feature = "plot")]
use crate::plot::{Series, line_chart};
#[cfg(feature = "plot")]
use crate::report::Report;

/// Serialises `value` as pretty JSON into `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    Ok(spam_data::write_atomic(path, &bytes)?)
}

/// Draws `loss.png` and `accuracy.png` from a report, like the chapter's two figures.
#[cfg(feature = "plot")]
pub fn write_plots(dir: &Path, report: &Report, train_examples_per_epoch: usize) -> Result<()> {
    let steps_per_epoch =
        (train_examples_per_epoch / report.config.batch_size.max(1)).max(1) as f64;
    let per_epoch = train_examples_per_epoch as f64;
    // The chapter spreads the loss points evenly over the epochs; we place each at its
    // true step, which is the same for a full run.
    let at = |step: usize| (step + 1) as f64 / steps_per_epoch;
    let train_loss: Vec<(f64, f64)> = report
        .evals
        .iter()
        .map(|e| (at(e.step), e.train_loss))
        .collect();
    let val_loss: Vec<(f64, f64)> = report
        .evals
        .iter()
        .map(|e| (at(e.step), e.val_loss))
        .collect();
    line_chart(
        &dir.join("loss.png"),
        "Loss",
        "Loss",
        &[
            Series {
                label: "Training loss",
                points: train_loss,
            },
            Series {
                label: "Validation loss",
                points: val_loss,
            },
        ],
        per_epoch,
    )?;
    let train_acc: Vec<(f64, f64)> = report
        .epochs
        .iter()
        .map(|e| (e.epoch as f64, e.train_accuracy))
        .collect();
    let val_acc: Vec<(f64, f64)> = report
        .epochs
        .iter()
        .map(|e| (e.epoch as f64, e.val_accuracy))
        .collect();
    line_chart(
        &dir.join("accuracy.png"),
        "Accuracy",
        "Accuracy",
        &[
            Series {
                label: "Training accuracy",
                points: train_acc,
            },
            Series {
                label: "Validation accuracy",
                points: val_acc,
            },
        ],
        per_epoch,
    )
}
