//! Training settings. Every default is the chapter's.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use spam_data::Named;
use spam_model::Precision;

use crate::best::{BestMetric, ClassWeights};
use crate::error::TrainError;
use crate::optim::AdamWConfig;
use crate::order::{DataOrder, OrderSettings};
use crate::schedule::LrSchedule;

/// Settings of one fine-tuning run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Passes over the training split (chapter: 5).
    pub epochs: usize,
    /// Examples per batch (chapter: 8).
    pub batch_size: usize,
    /// AdamW settings (chapter: lr 5e-5, weight decay 0.1).
    pub optimizer: AdamWConfig,
    /// How the learning rate moves over the run (the chapter: constant).
    pub schedule: LrSchedule,
    /// Evaluate train and validation loss every this many steps (chapter: 50).
    pub eval_freq: usize,
    /// Batches used by each periodic loss and accuracy estimate (chapter: 5).
    pub eval_iter: usize,
    /// Batches whose gradients add up before one optimizer update (chapter: 1).
    pub grad_accum_steps: usize,
    /// Target value left out of the loss (PyTorch's `ignore_index`; chapter: none).
    pub ignore_index: Option<i64>,
    /// Clip the global gradient norm to this value before each update.
    pub clip_grad_norm: Option<f64>,
    /// Stop when validation loss (or `metric_for_best`) has not improved for this many
    /// evaluations.
    pub early_stopping_patience: Option<usize>,
    /// How much better than the best so far an evaluation must be to count as an
    /// improvement, for early stopping and the best model (0: any improvement).
    pub early_stopping_threshold: f64,
    /// Evaluate this metric on the whole validation split at each evaluation and keep the
    /// weights of the best one as the model (`None`: the last weights, as the chapter).
    pub metric_for_best: Option<BestMetric>,
    /// Weights of the classes in the training loss (`None`: all 1, as the chapter).
    pub class_weights: Option<ClassWeights>,
    /// Binary models: the positive class's probability from which an example is positive,
    /// used by the final metrics and stored with the model (`None`: the most probable class).
    pub threshold: Option<f64>,
    /// Seed of the data order, of dropout and of the new head (chapter: 123).
    pub seed: u64,
    /// Drop the last incomplete training batch (chapter: true).
    pub drop_last: bool,
    /// How the training batches are drawn: `chapter` (its `DataLoader`, reproduced) or
    /// `seeded` (the crate's own shuffle).
    pub data_order: DataOrder,
    /// Also write a checkpoint every this many steps (one is always written per epoch).
    pub checkpoint_every: Option<usize>,
    /// Run the closing accuracy pass over the whole of train, validation and test.
    pub final_eval: bool,
    /// How the run computes; `auto` takes the fastest path that gives the same math.
    pub engine: Engine,
    /// The number format of the model's products and activations: `fp32` (exact, the
    /// chapter's) or `bf16` mixed precision (fp32 weights, AdamW state, norms and loss).
    pub precision: Precision,
    /// How the cached path stores the frozen blocks' output (fp32: exact).
    pub cache_precision: CachePrecision,
    /// Keep the cache in a file in this directory instead of memory (large data, the
    /// 1024-token context); the file is removed when the run ends, however it ends.
    pub cache_dir: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 5,
            batch_size: 8,
            optimizer: AdamWConfig::default(),
            schedule: LrSchedule::Constant,
            eval_freq: 50,
            eval_iter: 5,
            grad_accum_steps: 1,
            ignore_index: None,
            clip_grad_norm: None,
            early_stopping_patience: None,
            early_stopping_threshold: 0.0,
            metric_for_best: None,
            class_weights: None,
            threshold: None,
            seed: 123,
            drop_last: true,
            data_order: DataOrder::Chapter,
            checkpoint_every: None,
            final_eval: true,
            engine: Engine::Auto,
            precision: Precision::Fp32,
            cache_precision: CachePrecision::Fp32,
            cache_dir: None,
        }
    }
}

/// Which computation path a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// The cached path where it is exact, the plain path otherwise.
    #[default]
    Auto,
    /// Every step runs the whole model, as the chapter does.
    Plain,
    /// Frozen blocks run once per distinct input; steps run the trainable blocks only.
    Cached,
}

impl Named for Engine {
    const WHAT: &'static str = "engine";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Engine::Auto, "auto", &[]),
        (Engine::Plain, "plain", &[]),
        (Engine::Cached, "cached", &[]),
    ];
}

impl std::str::FromStr for Engine {
    type Err = String;
    /// A name of [`Named::NAMES`], exact spelling.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| Self::unknown(s))
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_name(f)
    }
}

spam_data::serde_by_name!(Engine);

/// Storage of the frozen-prefix cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePrecision {
    /// 4 bytes a value: the plain path's numbers exactly.
    #[default]
    Fp32,
    /// 2 bytes a value, widened to fp32 for each step: half the memory (a 1024-token context
    /// or a large dataset) for bf16's 8-bit mantissa on the cached activations. Not exact.
    Bf16,
}

/// The spellings of [`Precision`]'s table, entry for entry (a test checks that they line up).
impl Named for CachePrecision {
    const WHAT: &'static str = "cache precision";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Fp32, Precision::NAMES[0].1, Precision::NAMES[0].2),
        (Self::Bf16, Precision::NAMES[1].1, Precision::NAMES[1].2),
    ];
}

impl std::str::FromStr for CachePrecision {
    type Err = String;
    /// A name or alias of [`Named::NAMES`], exact spelling.
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_name(s).ok_or_else(|| Self::unknown(s))
    }
}

impl std::fmt::Display for CachePrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_name(f)
    }
}

spam_data::serde_by_name!(CachePrecision);

/// Where and how the cached path keeps the frozen blocks' output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSettings {
    /// Element type of the stored rows.
    pub precision: CachePrecision,
    /// A directory for an on-disk cache; `None` keeps it in memory.
    pub dir: Option<PathBuf>,
    /// How many validation examples, from the first, the periodic evaluation reads: where
    /// the cache fills in alongside the steps, their rows come first.
    pub first_validation: usize,
}

impl TrainConfig {
    /// Whether the run computes the chapter's fp32 numbers exactly (no bf16 compute, no bf16
    /// cache).
    pub fn is_exact(&self) -> bool {
        self.precision.is_exact() && self.cache_precision == CachePrecision::Fp32
    }

    /// The cache settings of this run.
    pub fn cache(&self) -> CacheSettings {
        CacheSettings {
            precision: self.cache_precision,
            dir: self.cache_dir.clone(),
            first_validation: self.eval_iter * self.batch_size,
        }
    }

    /// Checks the settings before any work starts.
    pub fn validate(&self) -> Result<(), TrainError> {
        self.check().map_err(TrainError::Settings)
    }

    fn check(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("batch size must be at least 1".into());
        }
        if self.eval_freq == 0 {
            return Err("eval frequency must be at least 1 step".into());
        }
        if self.grad_accum_steps == 0 {
            return Err("gradient accumulation steps must be at least 1".into());
        }
        if self.optimizer.lr.is_nan() || self.optimizer.lr <= 0.0 || self.optimizer.lr.is_infinite()
        {
            return Err(format!(
                "learning rate must be positive, got {}",
                self.optimizer.lr
            ));
        }
        if let Some(c) = self.clip_grad_norm
            && (c.is_nan() || c <= 0.0)
        {
            return Err(format!("gradient clipping norm must be positive, got {c}"));
        }
        if self.eval_iter == 0 {
            return Err("eval iterations must be at least 1 batch (--eval-iter)".into());
        }
        if self.early_stopping_patience == Some(0) {
            return Err(
                "early stopping needs a patience of at least 1 evaluation (--early-stopping)"
                    .into(),
            );
        }
        let t = self.early_stopping_threshold;
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!(
                "the early stopping threshold must be a finite number >= 0, got {t} \
                 (--early-stopping-threshold)"
            ));
        }
        if let Some(t) = self.threshold
            && !(t.is_finite() && t > 0.0 && t < 1.0)
        {
            return Err(format!(
                "--threshold must be a probability strictly between 0 and 1, got {t}"
            ));
        }
        if let Some(ClassWeights::Given(w)) = &self.class_weights
            && w.iter().any(|w| !(w.is_finite() && *w > 0.0))
        {
            return Err(
                "each class weight must be a finite number above 0 (--class-weights)".into(),
            );
        }
        if self.checkpoint_every == Some(0) {
            return Err("checkpoints every 0 steps: use at least 1 (--checkpoint-every)".into());
        }
        let wd = self.optimizer.weight_decay;
        if !(wd.is_finite() && wd >= 0.0) {
            return Err(format!(
                "weight decay must be a finite number >= 0, got {wd} (--weight-decay)"
            ));
        }
        if let LrSchedule::WarmupCosine { min_lr, .. } = self.schedule
            && !(min_lr.is_finite() && min_lr >= 0.0)
        {
            return Err(format!(
                "the minimum learning rate must be a finite number >= 0, got {min_lr} (--min-lr)"
            ));
        }
        Ok(())
    }
}

impl TrainConfig {
    /// The settings the order of the training batches depends on.
    pub(crate) fn order_settings(&self) -> OrderSettings {
        OrderSettings {
            data_order: self.data_order,
            seed: self.seed,
            batch_size: self.batch_size,
            drop_last: self.drop_last,
            epochs: self.epochs,
            eval_freq: self.eval_freq,
        }
    }
}
