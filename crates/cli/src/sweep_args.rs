//! `sweep`: run a sweep's trials (every one, or the one an array job's task is given) and
//! `sweep report DIR`. The work is spam-runs' (`run_trial`, `run_sweep`, `sweep_report`);
//! this module parses, calls and prints.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::args::DataArgs;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The sweep: a run config (the TOML `train --config` reads) plus a [sweep.grid] or
    /// [sweep.random] table of run keys (`train.optimizer.lr`, `model.trainable`, ...).
    #[arg(long, value_name = "SWEEP.toml", required = true)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub files: crate::best_args::SplitFileArgs,
    /// The sweep's folder: its sweep.toml, one run folder per trial (DIR/trial-003) and the
    /// report. Processes running trials of one sweep may share it.
    #[arg(long, value_name = "DIR", required = true)]
    pub out: Option<PathBuf>,
    /// Run only trial I (0-based) of the sweep's stable order. Default: the task index of an
    /// array job (JOB_COMPLETION_INDEX of a Kubernetes Indexed Job, SLURM_ARRAY_TASK_ID of a
    /// Slurm array), else every trial in turn, then the report.
    #[arg(long, value_name = "I")]
    pub trial: Option<usize>,
    /// No progress bars or lines; the run folders still get everything.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
pub enum SweepCommand {
    /// Rank the finished trials of a sweep folder: writes DIR/sweep.csv and DIR/sweep.md,
    /// links DIR/best to the winner and lists the trials still missing.
    #[command(after_help = "Example:\n  spam-cli sweep report runs/sweep")]
    Report(SweepReportArgs),
}

#[derive(Args, Debug)]
pub struct SweepReportArgs {
    /// The sweep's folder (the --out of `spam-cli sweep`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `spam-cli sweep ...`.
pub fn run(a: SweepArgs) -> Result<()> {
    if let Some(SweepCommand::Report(r)) = &a.command {
        let report = spam_runs::sweep_report(&r.dir)?;
        print_report(&report);
        return Ok(());
    }
    let (Some(config), Some(out)) = (&a.config, &a.out) else {
        bail!("give --config SWEEP.toml and --out DIR, or `sweep report DIR`");
    };
    let sweep = spam_runs::Sweep::read(config)?;
    let mut base = sweep.base().clone();
    a.files.apply_files(&mut base)?;
    let base = a.data.apply(base)?;
    let sweep = sweep
        .with_base(base)
        .with_context(|| format!("{} with the data flags", config.display()))?;
    let env = spam_runs::task_from_env(|name| std::env::var(name).ok())?;
    let task = spam_runs::task_index(a.trial, "--trial", env)?;
    let options = spam_runs::FineTuneOptions {
        events: crate::progress::events(a.quiet),
        stop: Some(crate::signals::stop_on_signal()?),
        ..Default::default()
    };
    let count = sweep.trial_count();
    let Some(task) = task else {
        println!("Sweep of {count} trials into {}", out.display());
        let report = spam_runs::run_sweep(&sweep, out, &options).map_err(stopped)?;
        print_report(&report);
        if !report.missing.is_empty() {
            bail!(
                "{} of {count} trials did not finish (listed above); run the same command again \
                 to run them (finished trials are reused)",
                report.missing.len()
            );
        }
        return Ok(());
    };
    task.check_total(count, "trials")?;
    let trial = sweep.trial(task.index)?;
    println!(
        "Trial {} of {count} (from {}): {}",
        task.index,
        task.source,
        trial.describe()
    );
    let done = spam_runs::run_trial(&sweep, task.index, out, &options).map_err(stopped)?;
    if let Some(f) = &done.report.final_accuracy {
        println!(
            "Trial {}: validation accuracy {:.2}%, test accuracy {:.2}%{}",
            task.index,
            f.validation_accuracy * 100.0,
            f.test_accuracy * 100.0,
            if done.reused { " (an earlier run)" } else { "" }
        );
    }
    println!(
        "When every trial is done: spam-cli sweep report {}",
        out.display()
    );
    Ok(())
}

/// After Ctrl-C, the error says how to continue.
fn stopped(e: anyhow::Error) -> anyhow::Error {
    if !crate::signals::interrupted(&e) {
        return e;
    }
    e.context(
        "interrupted: a checkpoint was written; the same `spam-cli sweep` command continues the \
         trial from it",
    )
}

fn print_report(report: &spam_runs::SweepReport) {
    let order = if report.lower_is_better() {
        "lower is better"
    } else {
        "higher is better"
    };
    println!(
        "Sweep {}: {} of {} trials finished, ranked by {} ({order})",
        report.dir.display(),
        report.ranked.len(),
        report.trial_count,
        report.metric_name()
    );
    for (rank, r) in report.ranked.iter().enumerate() {
        let settings: Vec<String> = r
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={}", spam_runs::value_text(v)))
            .collect();
        let line = format!(
            "{:>3}. {}  {} {:.4}  val {:.2}%  test {:.2}%  {:.1} s  {}",
            rank + 1,
            r.name,
            report.metric_name(),
            r.metric,
            r.val_accuracy * 100.0,
            r.test_accuracy * 100.0,
            r.wall_seconds,
            settings.join(", ")
        );
        println!("{}", line.trim_end());
    }
    for m in &report.missing {
        println!("Missing: {} (trial {}): {}", m.name, m.index, m.state);
    }
    if let (Some(link), Some(best)) = (&report.best, report.ranked.first()) {
        println!("Best: {} -> {}", link.display(), best.name);
    }
    for f in &report.files {
        println!("Wrote {}", f.display());
    }
}
