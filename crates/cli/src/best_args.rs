//! Flags of issue 18's items 1-3: split files, split fractions, the best model, class weights
//! and the decision threshold. Kept apart from `args.rs`, which they extend by flattening.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spam_runs::RunConfig;
use spam_train::{BestMetric, ClassWeights, TrainConfig};

use crate::values::named;

/// `--split TRAIN,VALIDATION`: two fractions (test gets the rest).
#[derive(Args, Debug, Clone, Default)]
pub struct SplitArgs {
    /// Train and validation fractions of the single-file path; test gets the rest
    /// (chapter: 0.7,0.1).
    #[arg(long, value_name = "TRAIN,VAL", value_parser = fractions)]
    pub split: Option<(f64, f64)>,
}

impl SplitArgs {
    pub fn apply(&self, c: &mut RunConfig) {
        if let Some(f) = self.split {
            c.data.fractions = f;
        }
    }
}

fn fractions(s: &str) -> std::result::Result<(f64, f64), String> {
    let bad = || format!("`{s}` is not TRAIN,VALIDATION fractions (e.g. 0.7,0.1)");
    let (train, val) = s.split_once(',').ok_or_else(bad)?;
    let train: f64 = train.trim().parse().map_err(|_| bad())?;
    let val: f64 = val.trim().parse().map_err(|_| bad())?;
    // Training and validation both need rows (the evaluations read the validation split);
    // the test split may be what is left, even nothing.
    if !(train > 0.0 && val > 0.0 && train + val <= 1.0) {
        return Err(format!(
            "`{s}`: the training and validation fractions must each be above 0 and together at \
             most 1 (the test split gets the rest)"
        ));
    }
    Ok((train, val))
}

/// The splits as files, used as given (`train`, and `sweep` for its trials).
#[derive(Args, Debug, Clone, Default)]
pub struct SplitFileArgs {
    /// The training split as a file (a CSV/TSV the table reader takes, or `prepare`'s
    /// train.csv), used as given: no balancing, no splitting. Needs --validation-file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["data", "split"])]
    pub train_file: Option<PathBuf>,
    /// The validation split as a file, used as given (with --train-file).
    #[arg(long, value_name = "FILE")]
    pub validation_file: Option<PathBuf>,
    /// The test split as a file (optional: without it there are no test metrics).
    #[arg(long, value_name = "FILE")]
    pub test_file: Option<PathBuf>,
    /// A folder with train.csv, validation.csv and optionally test.csv (what `prepare --out`
    /// writes), or a dataset in the hub's Parquet layout ({train,validation,test}-*.parquet,
    /// also under data/; a folder or `hf:ORG/NAME[@REV]`), used as given.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = ["train_file", "validation_file", "test_file", "data", "split"]
    )]
    pub data_dir: Option<PathBuf>,
}

impl SplitFileArgs {
    /// The split files; before the data flags, which then need no `--data`.
    pub fn apply_files(&self, c: &mut RunConfig) -> Result<()> {
        if let Some(dir) = &self.data_dir {
            let files = spam_data::SplitFiles::in_dir(&spam_runs::local_data(dir)?)?;
            c.data.train_file = Some(files.train);
            c.data.validation_file = Some(files.validation);
            c.data.test_file = files.test;
        }
        if self.train_file.is_some() {
            c.data.train_file = self.train_file.clone();
        }
        if self.validation_file.is_some() {
            c.data.validation_file = self.validation_file.clone();
        }
        if self.test_file.is_some() {
            c.data.test_file = self.test_file.clone();
        }
        Ok(())
    }
}

/// Train-only flags: the splits as files, the best model, class weights, the threshold.
#[derive(Args, Debug, Clone, Default)]
pub struct BestTrainArgs {
    #[command(flatten)]
    pub files: SplitFileArgs,
    /// Keep the weights of the best evaluation by this metric, computed on the whole
    /// validation split: `val_loss`, `val_accuracy` or `val_f1`. Early stopping then counts it.
    #[arg(long, value_name = "METRIC", value_parser = named::<BestMetric>())]
    pub metric_for_best: Option<BestMetric>,
    /// How much an evaluation must beat the best so far to count as an improvement
    /// (default 0).
    #[arg(long, value_name = "DELTA")]
    pub early_stopping_threshold: Option<f64>,
    /// Class weights of the training loss: `auto` (n_samples / (n_classes * count) over the
    /// training split) or one weight per class, `W,W,...`.
    #[arg(long, value_name = "auto|W,W,...")]
    pub class_weights: Option<ClassWeights>,
    /// Two classes: predict the positive class from this probability on (stored with the
    /// model; classify, eval and serve use it unless given another).
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
}

impl BestTrainArgs {
    pub fn apply_train(&self, t: &mut TrainConfig) {
        if self.metric_for_best.is_some() {
            t.metric_for_best = self.metric_for_best;
        }
        if let Some(d) = self.early_stopping_threshold {
            t.early_stopping_threshold = d;
        }
        if self.class_weights.is_some() {
            t.class_weights = self.class_weights.clone();
        }
        if self.threshold.is_some() {
            t.threshold = self.threshold;
        }
    }
}

/// `--threshold` of classify, eval and serve.
#[derive(Args, Debug, Clone, Default)]
pub struct ThresholdArg {
    /// Two classes: predict the positive class from this probability on, instead of the
    /// threshold stored with the model (or the most probable class).
    #[arg(long, value_name = "P")]
    pub threshold: Option<f64>,
}

impl ThresholdArg {
    pub fn apply(&self, predictor: &mut spam_model::Predictor) -> Result<()> {
        if self.threshold.is_some() {
            predictor.set_threshold(self.threshold)?;
        }
        Ok(())
    }
}
