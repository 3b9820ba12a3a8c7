//! What `spam-cli` shows while a run works: the libraries send events, this module turns
//! them into the chapter's printed lines and indicatif progress bars on stderr.

use std::sync::{Arc, Mutex};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use spam_runs::{RunEvent, RunEvents};
use spam_train::Event;

/// The events sink of a run: lines on stdout and bars on stderr, or nothing when `quiet`.
pub fn events(quiet: bool) -> RunEvents {
    if quiet {
        return RunEvents::none();
    }
    let printer = Arc::new(Printer::default());
    RunEvents::new(move |event| printer.show(event))
}

/// Bars of the run in progress (none between runs).
#[derive(Default)]
struct Printer {
    bars: Mutex<Option<Bars>>,
    cache: Mutex<Option<ProgressBar>>,
    download: Mutex<Option<ProgressBar>>,
}

struct Bars {
    multi: MultiProgress,
    epoch: ProgressBar,
    step: ProgressBar,
}

impl Printer {
    fn show(&self, event: &RunEvent) {
        match event {
            RunEvent::Train(e) => self.show_train(e),
            RunEvent::DataReady { .. }
            | RunEvent::ModelReady { .. }
            | RunEvent::WeightsDownload { .. }
            | RunEvent::WeightsResolved { .. } => self.show_setup(event),
            _ => self.show_run(event),
        }
    }

    /// Data, model and weights, before training starts.
    fn show_setup(&self, event: &RunEvent) {
        match event {
            RunEvent::DataReady {
                rows_read,
                balanced_rows,
                train,
                validation,
                test,
                padded_len,
                from_files,
                label_names,
            } => {
                let padded = padded_len.map_or("dynamic".to_string(), |n| n.to_string());
                if *from_files {
                    let test = if *test == 0 {
                        "none (no test file)".to_string()
                    } else {
                        test.to_string()
                    };
                    println!(
                        "Data: split files as given (no balancing, no splitting) -> train {train} / \
                         validation {validation} / test {test}; padded length {padded}"
                    );
                } else {
                    println!(
                        "Data: {rows_read} rows read, {balanced_rows} after balancing -> train \
                         {train} / validation {validation} / test {test}; padded length {padded}"
                    );
                }
                println!("{}", classes_line(label_names));
            }
            RunEvent::ModelReady {
                size,
                pretrained,
                trainable_parameters,
                trainable,
                token_position,
                device,
            } => println!(
                "Model: GPT-2 {size} ({}), {trainable_parameters} trainable parameters \
                 ({trainable}), token position {token_position}, device {device}",
                if *pretrained {
                    "pretrained"
                } else {
                    "random weights"
                }
            ),
            RunEvent::WeightsDownload {
                file,
                downloaded,
                total,
            } => {
                let mut bar = lock(&self.download);
                let bar = bar.get_or_insert_with(|| {
                    let bar = ProgressBar::with_draw_target(*total, ProgressDrawTarget::stderr());
                    bar.set_style(style("{msg} {bytes}/{total_bytes} {wide_bar} {eta}"));
                    bar
                });
                bar.set_message(file.clone());
                if let Some(t) = total {
                    bar.set_length(*t);
                }
                bar.set_position(*downloaded);
            }
            RunEvent::WeightsResolved {
                id,
                commit,
                dir,
                downloaded,
            } => {
                if let Some(bar) = lock(&self.download).take() {
                    bar.finish_and_clear();
                }
                println!(
                    "Weights: {id} at commit {commit}, {} {}",
                    if *downloaded {
                        "downloaded into"
                    } else {
                        "from the hub cache:"
                    },
                    dir.display()
                );
            }
            _ => {}
        }
    }

    /// The training loop's progress: bars, the chapter's lines, the final accuracies.
    fn show_train(&self, event: &Event) {
        match event {
            Event::CacheStarted { examples } => {
                let bar =
                    ProgressBar::with_draw_target(Some(*examples), ProgressDrawTarget::stderr());
                bar.set_style(style("caching frozen blocks {pos}/{len} {wide_bar} {eta}"));
                *lock(&self.cache) = Some(bar);
            }
            Event::CacheProgress { examples } => {
                if let Some(bar) = lock(&self.cache).as_ref() {
                    bar.inc(*examples);
                }
            }
            Event::CacheFinished => {
                if let Some(bar) = lock(&self.cache).take() {
                    bar.finish_and_clear();
                }
            }
            Event::ComputePath(path) => println!("Compute path: {path}"),
            Event::Resumed {
                checkpoint,
                epoch,
                step,
            } => println!(
                "Resuming from {} at epoch {}, step {step}",
                checkpoint.display(),
                epoch + 1
            ),
            Event::EpochStarted {
                epoch,
                epochs,
                first_batch,
                batches,
            } => {
                let mut bars = lock(&self.bars);
                let bars = bars.get_or_insert_with(|| Bars::new(*epochs, *batches));
                bars.epoch.set_position(*epoch as u64);
                bars.step.set_position(*first_batch as u64);
            }
            Event::Step { loss } => {
                if let Some(bars) = lock(&self.bars).as_ref() {
                    bars.step.set_message(format!("{loss:.3}"));
                    bars.step.inc(1);
                }
            }
            Event::Evaluated(e) => self.line(&format!(
                "Ep {} (Step {:06}): Train loss {:.3}, Val loss {:.3}",
                e.epoch, e.step, e.train_loss, e.val_loss
            )),
            Event::EpochFinished(e) => self.line(&format!(
                "Training accuracy: {:.2}% | Validation accuracy: {:.2}%",
                e.train_accuracy * 100.0,
                e.val_accuracy * 100.0
            )),
            Event::EarlyStopped { patience, metric } => self.line(&format!(
                "Early stopping: {metric} has not improved for {patience} evaluations"
            )),
            Event::BestKept(b) => self.line(&format!(
                "Best {} {:.4} at step {} (epoch {}): the model keeps its weights",
                b.metric, b.value, b.step, b.epoch
            )),
            Event::TrainingFinished { seconds } => {
                if let Some(bars) = lock(&self.bars).take() {
                    bars.step.finish_and_clear();
                    bars.epoch.finish_and_clear();
                }
                println!("Training completed in {:.2} minutes.", seconds / 60.0);
            }
            Event::FinalAccuracy(a) => {
                println!("Training accuracy: {:.2}%", a.train_accuracy * 100.0);
                println!("Validation accuracy: {:.2}%", a.validation_accuracy * 100.0);
                if a.test_accuracy.is_nan() {
                    println!("Test accuracy: none (no test file was given)");
                } else {
                    println!("Test accuracy: {:.2}%", a.test_accuracy * 100.0);
                }
            }
            _ => {}
        }
    }

    /// What happens to the run's folder, and the experiments table's rows.
    fn show_run(&self, event: &RunEvent) {
        match event {
            RunEvent::RunSaved { dir } => println!("Run directory: {}", dir.display()),
            RunEvent::LogStarted { path } => println!(
                "Log: {} (moved into the run folder when the run is complete; `spam-cli plot \
                 RUN_DIR` draws it so far)",
                path.display()
            ),
            RunEvent::RowStarted {
                number,
                position: (i, n),
                description,
            } => println!("== Row {number} ({i} of {n}): {description}"),
            RunEvent::RowReused { number, dir } => println!(
                "== Row {number}: already run in {}; reusing its metrics (delete the folder to run it again)",
                dir.display()
            ),
            RunEvent::TrialStarted {
                index,
                count,
                settings,
                dir,
            } => println!(
                "== Trial {index} of {count} ({}) into {}",
                if settings.is_empty() {
                    "the base settings"
                } else {
                    settings
                },
                dir.display()
            ),
            RunEvent::TrialReused { index, dir } => println!(
                "== Trial {index}: already finished in {}; nothing to do (delete the folder to \
                 run it again)",
                dir.display()
            ),
            RunEvent::TrialResumed { index, from } => println!(
                "== Trial {index}: continuing the stopped run kept in {}",
                from.display()
            ),
            RunEvent::TrialFailed { index, dir, error } => eprintln!(
                "error: trial {index} ({}) failed: {error}; the sweep goes on",
                dir.display()
            ),
            RunEvent::StaleRemoved { path, why } => {
                println!("Removed {} ({why})", path.display());
            }
            RunEvent::ResumeChanged { setting, from, to } => {
                println!("Resume changes {setting}: {from} -> {to}");
            }
            RunEvent::RunKept { staging, target } => println!(
                "The run stopped: {} is unchanged; what it did is kept in {} and \
                 `spam-cli train --resume {}` continues it",
                target.display(),
                staging.display(),
                target.display()
            ),
            RunEvent::LatestLinked { link, dir } => {
                println!("{} -> {}", link.display(), dir.display());
            }
            RunEvent::LatestNotLinked { why, .. } => eprintln!("warning: {why}"),
            RunEvent::PlotNotWritten { dir, why } => eprintln!(
                "warning: the plots of {} could not be drawn ({why}); `spam-cli plot RUN_DIR` \
                 draws them again from log.jsonl",
                dir.display()
            ),
            _ => {}
        }
    }

    /// Prints a line above the bars (or plainly when there are none).
    fn line(&self, line: &str) {
        match lock(&self.bars).as_ref() {
            Some(bars) if !bars.multi.is_hidden() => bars.multi.suspend(|| println!("{line}")),
            _ => println!("{line}"),
        }
    }
}

impl Bars {
    fn new(epochs: usize, steps_per_epoch: usize) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let epoch = multi.add(ProgressBar::new(epochs as u64));
        epoch.set_style(style("epoch {pos}/{len} {wide_bar} {elapsed_precise}"));
        let step = multi.add(ProgressBar::new(steps_per_epoch as u64));
        step.set_style(style(
            "step {pos}/{len} {wide_bar} {per_sec} loss {msg} eta {eta}",
        ));
        Self { multi, epoch, step }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bars stay usable if a thread panicked while holding them.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The classes by index, and which is positive (class 1 of two: what `--threshold`,
/// precision, recall, F1 and the AUCs refer to).
fn classes_line(names: &[String]) -> String {
    match names {
        [_, positive] => format!("Classes: {} (positive: {positive})", numbered(names)),
        _ => format!("Classes: {}", numbered(names)),
    }
}

/// Class names with their numbers: `0 = ham, 1 = spam`.
pub fn numbered(names: &[String]) -> String {
    let listed: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} = {n}"))
        .collect();
    listed.join(", ")
}

/// A batch-classification task's progress: rows done of its shard, rows/s, time left.
pub fn classify_line(p: &spam_runs::ClassifyProgress) -> String {
    let rate = p.rows as f64 / p.seconds.max(1e-9);
    let left = p.total.saturating_sub(p.rows) as f64 / rate.max(1e-9);
    format!(
        "classify: {}/{} rows ({:.0}%), {rate:.0} rows/s, ETA {}",
        p.rows,
        p.total,
        100.0 * p.rows as f64 / (p.total.max(1) as f64),
        duration(left)
    )
}

fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
