//! The run directory: everything a run leaves behind.
//!
//! ```text
//! RUN_DIR/
//!   config.json       the settings of the run
//!   metrics.json      losses, accuracies, per-split metrics, timing
//!   loss.png          train/validation loss against epochs and examples seen
//!   accuracy.png      train/validation accuracy against epochs and examples seen
//!   log.jsonl         one line per evaluation and per epoch, written as the run goes
//!   model/            the fine-tuned classifier (spam-model's format)
//!   data/             train.csv, validation.csv, test.csv as used
//!   checkpoint/       the latest checkpoint, for --resume
//! ```
//!
//! Without `--out`, a run gets a fresh folder named by its start time (`runs/20261202-153000`)
//! and `runs/latest` is a link to the newest complete one.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::events::{RunEvent, RunEvents};
#[cfg(feature = "plot")]
use crate::plot::{Series, line_chart};
use anyhow::Result;
use spam_train::Report;
#[cfg(feature = "plot")]
use spam_train::records::{EpochRecord, EvalRecord};

/// Serialises `value` as pretty JSON into `path`, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    Ok(spam_data::write_atomic(path, &bytes)?)
}

/// A fresh run folder in `root` named by the current UTC time, `YYYYmmdd-HHMMSS` (with `-2`,
/// `-3`, ... when a run of the same second took the name).
pub fn timestamped_run_dir(root: &Path) -> PathBuf {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp = utc_stamp(secs);
    let taken = |p: &Path| {
        let partial = format!(
            ".{}.partial-",
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        );
        p.exists()
            || std::fs::read_dir(root).is_ok_and(|mut e| {
                e.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with(&partial)))
            })
    };
    let mut dir = root.join(&stamp);
    let mut n = 2;
    while taken(&dir) {
        dir = root.join(format!("{stamp}-{n}"));
        n += 1;
    }
    dir
}

/// Draws `loss.png` and `accuracy.png` from a report, like the chapter's two figures.
#[cfg(feature = "plot")]
pub fn write_plots(dir: &Path, report: &Report, train_examples_per_epoch: usize) -> Result<()> {
    draw_curves(
        dir,
        &report.evals,
        &report.epochs,
        report.config.batch_size,
        train_examples_per_epoch,
    )
}

/// Draws `loss.png` and `accuracy.png` from the periodic estimates and epoch ends (of a
/// report or of `log.jsonl`).
#[cfg(feature = "plot")]
pub(crate) fn draw_curves(
    dir: &Path,
    evals: &[EvalRecord],
    epochs: &[EpochRecord],
    batch_size: usize,
    train_examples_per_epoch: usize,
) -> Result<()> {
    let steps_per_epoch = (train_examples_per_epoch / batch_size.max(1)).max(1) as f64;
    let per_epoch = train_examples_per_epoch as f64;
    // The chapter spreads the loss points evenly over the epochs; we place each at its
    // true step, which is the same for a full run.
    let at = |step: usize| (step + 1) as f64 / steps_per_epoch;
    let train_loss: Vec<(f64, f64)> = evals.iter().map(|e| (at(e.step), e.train_loss)).collect();
    let val_loss: Vec<(f64, f64)> = evals.iter().map(|e| (at(e.step), e.val_loss)).collect();
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
    let train_acc: Vec<(f64, f64)> = epochs
        .iter()
        .map(|e| (e.epoch as f64, e.train_accuracy))
        .collect();
    let val_acc: Vec<(f64, f64)> = epochs
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

/// Points the symbolic link `link` at `dir` (relative when they share a folder), replacing the
/// link atomically; reports what it did as an event. A `link` that is not a link (a folder of
/// an older version) is left alone.
pub(crate) fn link_latest(link: &Path, dir: &Path, events: &RunEvents) {
    let not_linked = |why: String| {
        events.emit(RunEvent::LatestNotLinked {
            link: link.to_path_buf(),
            why,
        });
    };
    if std::fs::symlink_metadata(link).is_ok_and(|m| !m.file_type().is_symlink()) {
        return not_linked(format!(
            "{} exists and is not a link: it is left as it is",
            link.display()
        ));
    }
    #[cfg(unix)]
    {
        let parent = spam_data::parent_dir(link);
        let pointee = match dir.file_name() {
            Some(name) if spam_data::parent_dir(dir) == parent => PathBuf::from(name),
            _ => std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf()),
        };
        let tmp = parent.join(format!(".latest.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        match std::os::unix::fs::symlink(&pointee, &tmp).and_then(|()| std::fs::rename(&tmp, link))
        {
            Ok(()) => events.emit(RunEvent::LatestLinked {
                link: link.to_path_buf(),
                dir: dir.to_path_buf(),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                not_linked(format!("could not update {}: {e}", link.display()));
            }
        }
    }
    #[cfg(not(unix))]
    not_linked("links to the newest run are made on unix only".into());
}

/// `YYYYmmdd-HHMMSS` of `secs` after the Unix epoch, in UTC.
fn utc_stamp(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_stamps() {
        assert_eq!(super::utc_stamp(0), "19700101-000000");
        // 2024-02-29 23:59:59 UTC, a leap day.
        assert_eq!(super::utc_stamp(1_709_251_199), "20240229-235959");
        assert_eq!(super::utc_stamp(1_798_761_600), "20270101-000000");
    }
}
