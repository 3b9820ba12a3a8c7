//! The chapter's table of additional experiments, re-run with this implementation.
//!
//! Each row of the published table (SMS spam, 5 epochs, AdamW 5e-5, batch 8) is a change
//! to the chapter's base run, so the table is a sweep of given points ([`chapter_sweep`]):
//! [`run_rows`] trains rows as its trials (reusing rows an earlier, interrupted invocation
//! finished), [`markdown_table`] prints the published accuracies beside ours and
//! [`document`] writes the whole table as a page (`docs/experiments.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Result, bail};
use serde::Serialize;
use spam_data::Padding;
use spam_model::{ModelSize, TokenPosition, Trainable};

use crate::events::{RunEvent, RunEvents};
use crate::pipeline::FineTuneOptions;
use crate::run_config::RunConfig;
use crate::sweep::{Point, Sweep};
use crate::sweep_keys::differences;
use crate::sweep_report::{TrialFolder, trial_folder};
use crate::sweep_run::run_trial;
use crate::weights::WeightsSource;
use serde_json::Value;
use spam_train::Report;

/// One row of the published table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Its number in the published table (1 to 19).
    pub number: usize,
    /// Model size.
    pub size: ModelSize,
    /// Starts from pretrained weights (else random ones).
    pub pretrained: bool,
    /// Which position feeds the head.
    pub token_position: TokenPosition,
    /// Which parameters learn.
    pub trainable: Trainable,
    /// How rows are padded.
    pub padding: Padding,
    /// Examples per batch.
    pub batch_size: usize,
    /// Batches per optimizer update.
    pub grad_accum_steps: usize,
    /// The causal attention mask on.
    pub causal_mask: bool,
    /// Target left out of the loss.
    pub ignore_index: Option<i64>,
    /// The row's setting, as the table words it.
    pub description: &'static str,
    /// Published train / validation / test accuracy (%) and time (minutes, A100).
    pub published: (f64, f64, f64, f64),
}

const fn row(number: usize, description: &'static str, published: (f64, f64, f64, f64)) -> Row {
    Row {
        number,
        size: ModelSize::S124M,
        pretrained: true,
        token_position: TokenPosition::Last,
        trainable: Trainable::LastBlock,
        padding: Padding::Longest,
        batch_size: 8,
        grad_accum_steps: 1,
        causal_mask: true,
        ignore_index: None,
        description,
        published,
    }
}

/// The 19 rows of the chapter's table.
pub fn rows() -> Vec<Row> {
    vec![
        row(
            1,
            "124M, last token, last block (the chapter)",
            (96.63, 99.33, 95.00, 0.28),
        ),
        Row {
            token_position: TokenPosition::First,
            ..row(2, "first token", (78.46, 80.54, 75.00, 0.28))
        },
        Row {
            trainable: Trainable::LastLayer,
            ..row(3, "head only", (78.65, 79.87, 72.00, 0.25))
        },
        Row {
            trainable: Trainable::LastTwoBlocks,
            ..row(4, "last two blocks", (98.85, 98.66, 98.33, 0.33))
        },
        Row {
            trainable: Trainable::All,
            ..row(5, "all layers", (99.62, 96.64, 96.67, 0.69))
        },
        Row {
            size: ModelSize::S355M,
            ..row(6, "355M", (87.50, 91.28, 84.67, 0.75))
        },
        Row {
            size: ModelSize::S774M,
            ..row(7, "774M", (99.52, 98.66, 96.67, 1.50))
        },
        Row {
            size: ModelSize::S1558M,
            ..row(8, "1558M", (99.81, 99.81, 98.33, 2.83))
        },
        Row {
            size: ModelSize::S1558M,
            trainable: Trainable::All,
            ..row(9, "1558M, all layers", (100.00, 98.66, 98.67, 8.12))
        },
        Row {
            pretrained: false,
            trainable: Trainable::All,
            ..row(
                10,
                "random weights, all layers",
                (100.00, 96.64, 93.67, 0.69),
            )
        },
        Row {
            trainable: Trainable::Lora {
                rank: 16,
                alpha: 16.0,
            },
            ..row(11, "LoRA r=16 alpha=16", (100.00, 97.32, 96.67, 0.75))
        },
        Row {
            size: ModelSize::S1558M,
            trainable: Trainable::Lora {
                rank: 16,
                alpha: 8.0,
            },
            ..row(12, "1558M, LoRA r=16 alpha=8", (100.00, 98.66, 98.33, 5.79))
        },
        Row {
            padding: Padding::Fixed(1024),
            ..row(13, "full context (1024)", (83.08, 87.92, 78.33, 2.46))
        },
        Row {
            padding: Padding::None,
            batch_size: 1,
            ..row(14, "no padding, batch 1", (100.00, 98.66, 98.00, 1.75))
        },
        Row {
            padding: Padding::None,
            batch_size: 1,
            grad_accum_steps: 8,
            ..row(
                15,
                "no padding, batch 1, 8 accumulation steps",
                (99.33, 98.66, 98.33, 1.70),
            )
        },
        Row {
            token_position: TokenPosition::Flexible,
            ..row(
                16,
                "flexible (last non-padding token)",
                (99.42, 98.66, 98.33, 0.30),
            )
        },
        Row {
            causal_mask: false,
            ..row(17, "causal mask disabled", (99.23, 98.66, 95.33, 0.29))
        },
        Row {
            ignore_index: Some(50256),
            ..row(18, "padding ignored in loss", (96.63, 99.33, 95.00, 0.28))
        },
        Row {
            token_position: TokenPosition::Pooled,
            ..row(
                19,
                "last + mean-pooled embeddings",
                (97.79, 99.33, 96.33, 0.32),
            )
        },
    ]
}

/// Rows run when none are named: those of the 124M model, which fit a laptop CPU.
pub fn default_rows() -> Vec<usize> {
    rows()
        .iter()
        .filter(|r| r.size == ModelSize::S124M)
        .map(|r| r.number)
        .collect()
}

/// Our result for one row.
#[derive(Debug, Clone, Serialize)]
pub struct RowResult {
    /// The row's number.
    pub number: usize,
    /// The row's setting.
    pub description: String,
    /// False when pretrained weights were wanted but absent, so random ones were used.
    pub pretrained_weights: bool,
    /// Final accuracy over the training split.
    pub train_accuracy: f64,
    /// Final accuracy over the validation split.
    pub validation_accuracy: f64,
    /// Final accuracy over the test split.
    pub test_accuracy: f64,
    /// Wall time of the row.
    pub minutes: f64,
    /// The compute path the row took.
    pub path: String,
    /// Epochs the row trained for.
    pub epochs: usize,
    /// The row whose run directory holds this result, when another row had the same
    /// settings (row 5 without pretrained weights is row 10).
    pub same_run_as: Option<usize>,
}

/// How rows are turned into runs, beyond the base config.
#[derive(Debug, Clone, Default)]
pub struct RowSetup {
    /// Folder with one pretrained checkpoint folder per size (`124M`, `355M`, ...).
    pub weights_root: PathBuf,
    /// Epochs for given rows, in place of the base config's (e.g. one epoch for the
    /// every-layer rows on a slow machine).
    pub epochs: BTreeMap<usize, usize>,
}

impl RowSetup {
    /// Pretrained weights looked for under `weights_root`; every row with the base epochs.
    pub fn new(weights_root: impl Into<PathBuf>) -> Self {
        Self {
            weights_root: weights_root.into(),
            epochs: BTreeMap::new(),
        }
    }
}

/// Where pretrained weights of `size` are looked for: `<weights_root>/<size>`.
pub fn weights_for(weights_root: &Path, size: ModelSize) -> Option<PathBuf> {
    let dir = weights_root.join(size.to_string());
    dir.is_dir().then_some(dir)
}

/// The run config of `row`, based on `base` (data, seeds, epochs, device).
pub fn config_for(base: &RunConfig, row: &Row, setup: &RowSetup) -> (RunConfig, bool) {
    let mut c = base.clone();
    if let Some(&epochs) = setup.epochs.get(&row.number) {
        c.train.epochs = epochs;
    }
    c.model.size = row.size;
    c.model.architecture = None;
    c.model.token_position = row.token_position;
    c.model.trainable = row.trainable;
    c.model.causal_mask = row.causal_mask;
    c.data.padding = row.padding;
    c.train.batch_size = row.batch_size;
    c.train.grad_accum_steps = row.grad_accum_steps;
    c.train.ignore_index = row.ignore_index;
    let pretrained = match (row.pretrained, weights_for(&setup.weights_root, row.size)) {
        (true, Some(dir)) => {
            c.model.weights = WeightsSource::Path(dir);
            true
        }
        _ => {
            c.model.weights = WeightsSource::Random;
            false
        }
    };
    (c, pretrained)
}

/// The chapter's table as a sweep of 19 points named `row-1` to `row-19`: the base is row 1
/// (the chapter's run) on `base`, each point the settings its row changes (and the epochs
/// `setup` gives it). Row `n` is trial `n - 1`; `experiments` runs its rows through the
/// sweep's own [`run_trial`], so its folder is a sweep folder (`sweep.toml`, `row-N/`) that
/// `sweep --trial I` can fill as an array job and `sweep report` can rank.
pub fn chapter_sweep(base: &RunConfig, setup: &RowSetup) -> Result<Sweep> {
    let all = rows();
    let plain = RowSetup {
        epochs: BTreeMap::new(),
        ..setup.clone()
    };
    let (first, _) = config_for(base, &all[0], &plain);
    let first_tree = serde_json::to_value(&first)?;
    let mut points = Vec::new();
    for row in &all {
        let (config, _) = config_for(base, row, setup);
        points.push(Point {
            name: Some(row_name(row.number)),
            settings: changes(&first_tree, &serde_json::to_value(&config)?)?,
        });
    }
    Sweep::from_points(first, points)
}

/// Trains each of `numbers` in turn, as trials of [`chapter_sweep`] in `out_dir` (run
/// folders `out_dir/row-N`, the sweep in `out_dir/sweep.toml`). A row whose settings match a
/// finished run there (its own, or another row's with the same settings) reuses it; a row
/// folder holding a run of other settings is run again.
pub fn run_rows(
    base: &RunConfig,
    numbers: &[usize],
    setup: &RowSetup,
    out_dir: &Path,
    events: &RunEvents,
    mut on_result: impl FnMut(&RowResult),
) -> Result<Vec<RowResult>> {
    let all = rows();
    let sweep = chapter_sweep(base, setup)?;
    let mut results = Vec::new();
    for &n in numbers {
        let Some(row) = all.iter().find(|r| r.number == n) else {
            bail!("there is no row {n}: the table has rows 1 to {}", all.len());
        };
        let pretrained = config_for(base, row, setup).1;
        if let Some(done) = finished_run(&sweep, out_dir, n) {
            events.emit(RunEvent::RowReused {
                number: n,
                dir: done.dir.clone(),
            });
            let result = done.result(row, pretrained);
            on_result(&result);
            results.push(result);
            continue;
        }
        events.emit(RunEvent::RowStarted {
            number: n,
            position: (results.len() + 1, numbers.len()),
            description: row.description.to_string(),
        });
        let start = Instant::now();
        let options = FineTuneOptions {
            // The folder follows this invocation's table: a row run with other settings
            // (other epochs, weights fetched since) is run again.
            overwrite: true,
            events: events.clone(),
            ..Default::default()
        };
        let run = run_trial(&sweep, n - 1, out_dir, &options)?;
        let result = result_of(row, pretrained, &run.report, start.elapsed().as_secs_f64());
        on_result(&result);
        results.push(result);
    }
    Ok(results)
}

/// Every row of the table with a finished run under `out_dir` (from this or an earlier
/// invocation) whose settings are those `base` and `setup` give it.
pub fn finished_rows(base: &RunConfig, setup: &RowSetup, out_dir: &Path) -> Vec<RowResult> {
    let Ok(sweep) = chapter_sweep(base, setup) else {
        return Vec::new();
    };
    rows()
        .iter()
        .filter_map(|row| {
            let pretrained = config_for(base, row, setup).1;
            Some(finished_run(&sweep, out_dir, row.number)?.result(row, pretrained))
        })
        .collect()
}

/// The folder name of row `number`'s run.
fn row_name(number: usize) -> String {
    format!("row-{number}")
}

/// The settings where `to` differs from `from` (dotted paths to the leaves), for a point.
fn changes(from: &Value, to: &Value) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (at, was, now) in differences(from, to) {
        if now.is_null() && !was.is_null() {
            bail!("a row leaves out the run setting `{at}`, which a sweep cannot unset");
        }
        out.push((at, now));
    }
    Ok(out)
}

/// A finished run with a row's settings.
struct Finished {
    dir: PathBuf,
    /// The row whose folder it is.
    owner: usize,
    report: Report,
}

impl Finished {
    fn result(&self, row: &Row, pretrained: bool) -> RowResult {
        let seconds = self
            .report
            .timing
            .as_ref()
            .map_or(f64::NAN, |t| t.total_seconds);
        let mut r = result_of(row, pretrained, &self.report, seconds);
        r.same_run_as = (self.owner != row.number).then_some(self.owner);
        r
    }
}

/// Row `number`'s finished run under `out_dir`: its own folder, else another row's folder
/// run with exactly its settings (lowest row first).
fn finished_run(sweep: &Sweep, out_dir: &Path, number: usize) -> Option<Finished> {
    let trial = sweep.trial(number.checked_sub(1)?).ok()?;
    let own = std::iter::once(number);
    let others = rows()
        .into_iter()
        .map(|r| r.number)
        .filter(|&m| m != number);
    own.chain(others).find_map(|owner| {
        let dir = out_dir.join(row_name(owner));
        match trial_folder(&dir, &trial).ok()? {
            TrialFolder::Finished(report) => report.final_accuracy.is_some().then_some(Finished {
                dir,
                owner,
                report: *report,
            }),
            _ => None,
        }
    })
}

fn result_of(row: &Row, pretrained: bool, report: &Report, seconds: f64) -> RowResult {
    {
        let n = row.number;
        let fin = report
            .final_accuracy
            .clone()
            .unwrap_or(spam_train::records::FinalAccuracy {
                train_accuracy: f64::NAN,
                validation_accuracy: f64::NAN,
                test_accuracy: f64::NAN,
            });
        RowResult {
            number: n,
            description: row.description.to_string(),
            pretrained_weights: pretrained || !row.pretrained,
            train_accuracy: fin.train_accuracy,
            validation_accuracy: fin.validation_accuracy,
            test_accuracy: fin.test_accuracy,
            minutes: seconds / 60.0,
            path: report.path.clone(),
            epochs: report.config.epochs,
            same_run_as: None,
        }
    }
}

/// The published table with our columns beside it. Rows that wanted pretrained weights
/// but ran on random ones are marked `random*`.
pub fn markdown_table(results: &[RowResult]) -> String {
    let all = rows();
    let mut s = String::from(
        "| row | setting | published train / val / test | published time | ours train / val / test | our time | weights |\n|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let Some(row) = all.iter().find(|x| x.number == r.number) else {
            continue;
        };
        let (t, v, te, min) = row.published;
        let mut weights = match (row.pretrained, r.pretrained_weights) {
            (false, _) => "random",
            (true, true) => "pretrained",
            (true, false) => "random*",
        }
        .to_string();
        if let Some(m) = r.same_run_as {
            weights.push_str(&format!(" (row {m}'s run)"));
        }
        s.push_str(&format!(
            "| {} | {} | {:.2} / {:.2} / {:.2} | {:.2} min (A100) | {:.2} / {:.2} / {:.2} | {:.2} min | {} |\n",
            r.number,
            row.description,
            t,
            v,
            te,
            min,
            r.train_accuracy * 100.0,
            r.validation_accuracy * 100.0,
            r.test_accuracy * 100.0,
            r.minutes,
            weights
        ));
    }
    if results.iter().any(|r| !r.pretrained_weights) {
        s.push_str("\nrandom*: pretrained weights were not found, so the row ran from random weights; fetch them with `cargo xtask fetch --weights`.\n");
    }
    s
}

/// What [`document`] says about how the rows were run.
#[derive(Debug, Clone, Default)]
pub struct DocumentOptions {
    /// One paragraph on the machine and the settings (shown under the title).
    pub setup: String,
}

/// The whole published table as a Markdown page, our results beside each row that ran.
/// A row that did not run says why: its pretrained weights are absent, or it was not asked
/// for. Nothing is filled in for a row without a result.
pub fn document(results: &[RowResult], weights_root: &Path, opts: &DocumentOptions) -> String {
    let mut s = String::from(
        "# The chapter's experiments table, re-run\n\n\
         Written by `spam-cli experiments --doc`; do not edit by hand.\n\n",
    );
    if !opts.setup.is_empty() {
        s.push_str(opts.setup.trim());
        s.push_str("\n\n");
    }
    s.push_str(
        "| row | setting | published train / val / test (pretrained, A100) | published time | \
         ours train / val / test | our time | epochs | our weights | compute path |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows() {
        let (t, v, te, min) = row.published;
        let published = format!("{t:.2} / {v:.2} / {te:.2} | {min:.2} min");
        match results.iter().find(|r| r.number == row.number) {
            Some(r) => {
                let weights = match (row.pretrained, r.pretrained_weights) {
                    (false, _) => "random (as published)",
                    (true, true) => "pretrained",
                    (true, false) => "random (pretrained not available)",
                };
                let mut path = r.path.replace('|', "\\|");
                if let Some(m) = r.same_run_as {
                    path.push_str(&format!(
                        "; the same run as row {m} (identical settings here)"
                    ));
                }
                s.push_str(&format!(
                    "| {} | {} | {published} | {:.2} / {:.2} / {:.2} | {:.2} min | {} | {weights} | {path} |\n",
                    row.number,
                    row.description,
                    r.train_accuracy * 100.0,
                    r.validation_accuracy * 100.0,
                    r.test_accuracy * 100.0,
                    r.minutes,
                    r.epochs,
                ));
            }
            None => {
                let why = if row.pretrained
                    && weights_for(weights_root, row.size).is_none()
                    && row.size != ModelSize::S124M
                {
                    format!(
                        "not run: needs the pretrained {} weights, which this machine cannot download",
                        row.size
                    )
                } else {
                    "not run".to_string()
                };
                s.push_str(&format!(
                    "| {} | {} | {published} | {why} | | | | |\n",
                    row.number, row.description
                ));
            }
        }
    }
    s
}
