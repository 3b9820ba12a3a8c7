//! Plots redrawn from a run's `log.jsonl`: a finished run, or the staging folder of one in
//! progress or killed.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use spam_train::records::{EpochRecord, EvalRecord, LOG_FILE, LogLine, read_log};

use crate::run_dir::draw_curves;

/// The curves of a log: its periodic estimates and epoch ends, with the training examples
/// per epoch and batch size of its start line (only plots read them).
#[derive(Debug, Clone, Default)]
struct Curves {
    pub evals: Vec<EvalRecord>,
    pub epochs: Vec<EpochRecord>,
    pub train_examples: usize,
    pub batch_size: usize,
}

fn curves(lines: &[LogLine]) -> Curves {
    let mut c = Curves::default();
    for line in lines {
        match *line {
            LogLine::Start {
                train_examples,
                batch_size,
                ..
            } => {
                c.train_examples = train_examples;
                c.batch_size = batch_size;
            }
            LogLine::Eval {
                step,
                epoch,
                examples_seen,
                train_loss,
                val_loss,
                ..
            } => c.evals.push(EvalRecord {
                step,
                epoch,
                examples_seen,
                train_loss,
                val_loss,
            }),
            LogLine::Epoch {
                epoch,
                examples_seen,
                train_accuracy,
                val_accuracy,
                ..
            } => c.epochs.push(EpochRecord {
                epoch,
                examples_seen,
                train_accuracy,
                val_accuracy,
            }),
            _ => {}
        }
    }
    c
}

/// Redraws `loss.png` and `accuracy.png` of `run_dir` from its `log.jsonl` (a finished run,
/// or the staging folder of one in progress or killed). A run folder without a log of its own
/// (a run still in progress, or killed, into it) is drawn from its newest staging folder's log,
/// into that folder. Returns the files written.
pub fn redraw_plots(run_dir: &Path) -> Result<Vec<PathBuf>> {
    let staged;
    let run_dir = if run_dir.join(LOG_FILE).is_file() {
        run_dir
    } else {
        match crate::staging::staging_logs(run_dir).into_iter().next() {
            Some(dir) => {
                staged = dir;
                &staged
            }
            None => run_dir,
        }
    };
    let path = run_dir.join(LOG_FILE);
    if !path.is_file() {
        bail!(
            "{} has no {LOG_FILE}: is it a run directory (of this version)?",
            run_dir.display()
        );
    }
    let c = curves(&read_log(&path)?);
    if c.train_examples == 0 || c.batch_size == 0 {
        bail!(
            "{} has no start line (training examples and batch size): the plots cannot place \
             its points",
            path.display()
        );
    }
    draw_curves(run_dir, &c.evals, &c.epochs, c.batch_size, c.train_examples)?;
    Ok(vec![run_dir.join("loss.png"), run_dir.join("accuracy.png")])
}
