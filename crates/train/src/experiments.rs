//! The chapter's table of additional experiments, re-run with this implementation.
//!
//! Each row of the published table (SMS spam, 5 epochs, AdamW 5e-5, batch 8) is a change
//! to the chapter's base run. [`run_rows`] trains each and [`markdown_table`] prints the
//! published accuracies beside ours.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Result, bail};
use serde::Serialize;
use spam_data::Padding;
use spam_model::{ModelSize, TokenPosition, Trainable};

use crate::events::Events;
use crate::pipeline::{FineTuneOptions, fine_tune};
use crate::run_config::{RunConfig, WeightsSource};

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
}

/// Where pretrained weights of `size` are looked for: `<weights_root>/<size>`.
pub fn weights_for(weights_root: &Path, size: ModelSize) -> Option<PathBuf> {
    let dir = weights_root.join(size.to_string());
    dir.is_dir().then_some(dir)
}

/// The run config of `row`, based on `base` (data, seeds, epochs, device).
pub fn config_for(base: &RunConfig, row: &Row, weights_root: &Path) -> (RunConfig, bool) {
    let mut c = base.clone();
    c.model.size = row.size;
    c.model.architecture = None;
    c.model.token_position = row.token_position;
    c.model.trainable = row.trainable;
    c.model.causal_mask = row.causal_mask;
    c.data.padding = row.padding;
    c.train.batch_size = row.batch_size;
    c.train.grad_accum_steps = row.grad_accum_steps;
    c.train.ignore_index = row.ignore_index;
    let pretrained = match (row.pretrained, weights_for(weights_root, row.size)) {
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

/// Trains each of `numbers` in turn (run directories under `out_dir/row-N`).
pub fn run_rows(
    base: &RunConfig,
    numbers: &[usize],
    weights_root: &Path,
    out_dir: Option<&Path>,
    events: &Events,
    mut on_result: impl FnMut(&RowResult),
) -> Result<Vec<RowResult>> {
    let all = rows();
    let mut results = Vec::new();
    for &n in numbers {
        let Some(row) = all.iter().find(|r| r.number == n) else {
            bail!("there is no row {n}: the table has rows 1 to {}", all.len());
        };
        let (config, pretrained) = config_for(base, row, weights_root);
        let start = Instant::now();
        let options = FineTuneOptions {
            out_dir: out_dir.map(|d| d.join(format!("row-{n}"))),
            // Re-running a row replaces its earlier run (a folder not ours is still refused).
            overwrite: true,
            events: events.clone(),
            ..Default::default()
        };
        let report = fine_tune(&config, &options)?;
        let fin = report
            .final_accuracy
            .clone()
            .unwrap_or(crate::report::FinalAccuracy {
                train_accuracy: f64::NAN,
                validation_accuracy: f64::NAN,
                test_accuracy: f64::NAN,
            });
        let result = RowResult {
            number: n,
            description: row.description.to_string(),
            pretrained_weights: pretrained || !row.pretrained,
            train_accuracy: fin.train_accuracy,
            validation_accuracy: fin.validation_accuracy,
            test_accuracy: fin.test_accuracy,
            minutes: start.elapsed().as_secs_f64() / 60.0,
            path: report.path.clone(),
        };
        on_result(&result);
        results.push(result);
    }
    Ok(results)
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
        let weights = match (row.pretrained, r.pretrained_weights) {
            (false, _) => "random",
            (true, true) => "pretrained",
            (true, false) => "random*",
        };
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
