//! `log.jsonl`: written line by line while the run goes (read here from the staging folder
//! during the run), kept and continued by a run stopped with its stop flag, and enough to
//! redraw the plots.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use spam_model::RunInfo;
use spam_runs::{FineTuneOptions, fine_tune, redraw_plots, resume};
use spam_runs::{RunEvent, RunEvents};
use spam_train::records::{LogLine, read_log};
use spam_train::{Event, Report, TrainError};

use crate::common::small_run;

/// The staging folder of the run into `run` (while it works, or kept after a stop).
fn staging_of(run: &Path) -> Option<PathBuf> {
    let name = format!(".{}.partial-", run.file_name()?.to_string_lossy());
    std::fs::read_dir(run.parent()?)
        .ok()?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&name))
        .map(|e| e.path())
}

/// The log's lines without the wall-clock field, which differs between runs.
fn timeless(lines: &[LogLine]) -> Vec<LogLine> {
    lines
        .iter()
        .filter(|l| !matches!(l, LogLine::Resume { .. }))
        .cloned()
        .map(|mut l| {
            match &mut l {
                LogLine::Eval { elapsed, .. } | LogLine::Epoch { elapsed, .. } => *elapsed = 0.0,
                _ => {}
            }
            l
        })
        .collect()
}

fn same_metrics(a: &Report, b: &Report) {
    assert_eq!(a.evals, b.evals);
    assert_eq!(a.epochs, b.epochs);
    assert_eq!(a.step_losses, b.step_losses);
    assert_eq!(a.final_accuracy, b.final_accuracy);
    assert_eq!(a.steps, b.steps);
}

#[test]
fn logs_lines_are_appended_while_the_run_goes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_run(dir.path(), 2);
    let run = dir.path().join("run");
    // On each evaluation and epoch end, the log in the staging folder already has its line.
    let seen: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let watched = run.clone();
    let options = FineTuneOptions {
        out_dir: Some(run.clone()),
        events: RunEvents::new(move |e| {
            let kind = match e {
                RunEvent::Train(Event::Evaluated(_)) => "eval",
                RunEvent::Train(Event::EpochFinished(_)) => "epoch",
                _ => return,
            };
            let staging = staging_of(&watched).expect("staging folder during the run");
            let lines = read_log(&staging.join("log.jsonl")).expect("log during the run");
            sink.lock()
                .expect("seen")
                .push((kind.to_string(), lines.len()));
        }),
        ..Default::default()
    };
    let report = fine_tune(&config, &options).expect("run");
    let seen = seen.lock().expect("seen").clone();
    // 14 steps, an evaluation every 3 (steps 0, 3, ..., 12), 2 epochs.
    assert_eq!(seen.len(), 5 + 2, "{seen:?}");
    for (i, (_, lines)) in seen.iter().enumerate() {
        // The start line, then one line per event so far.
        assert_eq!(*lines, i + 2, "{seen:?}");
    }

    let lines = read_log(&run.join("log.jsonl")).expect("log");
    assert_eq!(lines.len(), 1 + 5 + 2);
    assert!(matches!(
        lines[0],
        LogLine::Start {
            train_examples: 56,
            batch_size: 8,
            epochs: 2,
            ..
        }
    ));
    let mut evals = report.evals.iter();
    let mut epochs = report.epochs.iter();
    let mut last_elapsed = 0.0;
    for line in &lines[1..] {
        match line {
            LogLine::Eval {
                step,
                epoch,
                examples_seen,
                lr,
                train_loss,
                val_loss,
                grad_norm,
                elapsed,
            } => {
                let want = evals.next().expect("an eval line too many");
                assert_eq!(
                    (*step, *epoch, *examples_seen),
                    (want.step, want.epoch, want.examples_seen)
                );
                assert_eq!((*train_loss, *val_loss), (want.train_loss, want.val_loss));
                assert_eq!(*lr, Some(1e-3));
                let norm = grad_norm.expect("gradient norm");
                assert!(norm.is_finite() && norm > 0.0, "{norm}");
                assert!(*elapsed >= last_elapsed);
                last_elapsed = *elapsed;
            }
            LogLine::Epoch {
                epoch,
                examples_seen,
                train_accuracy,
                val_accuracy,
                step,
                ..
            } => {
                let want = epochs.next().expect("an epoch line too many");
                assert_eq!((*epoch, *examples_seen), (want.epoch, want.examples_seen));
                assert_eq!(
                    (*train_accuracy, *val_accuracy),
                    (want.train_accuracy, want.val_accuracy)
                );
                assert_eq!(*step, 7 * want.epoch);
            }
            other => panic!("unexpected line {other:?}"),
        }
    }
    assert!(evals.next().is_none() && epochs.next().is_none());

    // What `serve` shows of the run, from the run directory or its model folder.
    let info = RunInfo::read(&run);
    let test_accuracy = report.final_accuracy.as_ref().map(|a| a.test_accuracy);
    assert_eq!(info.test_accuracy, test_accuracy);
    assert_eq!(info.base_weights.as_deref(), Some("random"));
    assert_eq!(info.token_position.as_deref(), Some("last"));
    assert_eq!(info.trainable.as_deref(), Some("last_block"));
    assert_eq!(RunInfo::read(&run.join("model")), info);
    assert_eq!(RunInfo::read(dir.path()), RunInfo::default());
}

#[test]
fn logs_a_stopped_run_keeps_its_log_and_resumes_to_the_same_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_run(dir.path(), 2);

    let whole_dir = dir.path().join("whole");
    let whole = fine_tune(
        &config,
        &FineTuneOptions {
            out_dir: Some(whole_dir.clone()),
            ..Default::default()
        },
    )
    .expect("uninterrupted run");

    // The flag is set on the 4th step (as Ctrl-C would): the run stops after it.
    let run = dir.path().join("run");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let steps = Arc::new(AtomicUsize::new(0));
    let announced: Arc<Mutex<Vec<PathBuf>>> = Arc::default();
    let logs = Arc::clone(&announced);
    let options = FineTuneOptions {
        out_dir: Some(run.clone()),
        stop: Some(stop),
        events: RunEvents::new(move |e| {
            if let RunEvent::LogStarted { path } = e {
                logs.lock().expect("logs").push(path.clone());
            }
            if matches!(e, RunEvent::Train(Event::Step { .. }))
                && steps.fetch_add(1, Ordering::SeqCst) + 1 == 4
            {
                flag.store(true, Ordering::SeqCst);
            }
        }),
        ..Default::default()
    };
    let err = fine_tune(&config, &options).expect_err("stopped");
    assert!(
        matches!(
            err.downcast_ref::<TrainError>(),
            Some(TrainError::Interrupted {
                checkpoint: Some(_)
            })
        ),
        "{err:?}"
    );
    assert!(!run.exists(), "a stopped run is not moved into place");
    let kept = staging_of(&run).expect("the stopped run is kept beside its folder");
    let partial = read_log(&kept.join("log.jsonl")).expect("log of the stopped run");
    // Start, evaluations at steps 0 and 3.
    assert_eq!(partial.len(), 3, "{partial:?}");
    // The run said where its live log was, and `plot RUN` finds it there.
    assert_eq!(
        *announced.lock().expect("logs"),
        vec![kept.join("log.jsonl")]
    );
    let drawn = redraw_plots(&run).expect("plots of the stopped run");
    assert_eq!(
        drawn,
        vec![kept.join("loss.png"), kept.join("accuracy.png")]
    );

    let resumed = resume(&run, &FineTuneOptions::default()).expect("resume");
    same_metrics(&resumed, &whole);
    let log = read_log(&run.join("log.jsonl")).expect("log");
    assert!(
        log.iter()
            .any(|l| matches!(l, LogLine::Resume { step: 4, epochs: 2 })),
        "{log:?}"
    );
    let whole_log = read_log(&whole_dir.join("log.jsonl")).expect("log");
    assert_eq!(timeless(&log), timeless(&whole_log));
}

#[test]
fn logs_plots_are_redrawn_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_run(dir.path(), 2);
    let run = dir.path().join("run");
    fine_tune(
        &config,
        &FineTuneOptions {
            out_dir: Some(run.clone()),
            ..Default::default()
        },
    )
    .expect("run");
    let drawn = std::fs::read(run.join("loss.png")).expect("loss.png");
    std::fs::remove_file(run.join("loss.png")).expect("rm");
    std::fs::remove_file(run.join("accuracy.png")).expect("rm");
    let files = redraw_plots(&run).expect("redraw");
    assert_eq!(files, vec![run.join("loss.png"), run.join("accuracy.png")]);
    // The same points and labels as the run drew: the same picture.
    assert_eq!(
        std::fs::read(run.join("loss.png")).expect("loss.png"),
        drawn
    );
    assert!(
        std::fs::metadata(run.join("accuracy.png"))
            .expect("png")
            .len()
            > 10_000
    );

    let err = redraw_plots(dir.path()).expect_err("no log");
    assert!(err.to_string().contains("has no log.jsonl"), "{err}");
    // A line cut short by a kill is left out; a bad line elsewhere is named.
    let log = run.join("log.jsonl");
    let mut text = std::fs::read_to_string(&log).expect("log");
    text.push_str("{\"kind\":\"ev");
    std::fs::write(&log, &text).expect("write");
    assert_eq!(read_log(&log).expect("cut line").len(), 8);
    text.push_str("\n{}\n");
    std::fs::write(&log, &text).expect("write");
    let err = read_log(&log).expect_err("bad line");
    assert!(err.to_string().contains("line 9 of"), "{err}");
}
