//! What a run keeps as its result, as settings and records: the metric that picks the best
//! evaluation (whose weights become the model), class weights in the loss, and what
//! `metrics.json` records of the best evaluation. The loop's state that acts on them is in
//! `keep_best`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use spam_data::Named;
use tch::{Kind, Reduction, Tensor};

use crate::error::{Result, TrainError};

/// The validation metric that picks the best weights (`--metric-for-best`), computed on the
/// whole validation split at each evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BestMetric {
    /// Mean cross-entropy (lower is better).
    ValLoss,
    /// Accuracy (higher is better).
    ValAccuracy,
    /// F1 of the positive class for two classes, macro F1 otherwise (higher is better).
    ValF1,
}

impl Named for BestMetric {
    const WHAT: &'static str = "metric";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::ValLoss, "val_loss", &[]),
        (Self::ValAccuracy, "val_accuracy", &[]),
        (Self::ValF1, "val_f1", &[]),
    ];
}

impl BestMetric {
    /// The name flags and `metrics.json` use (in [`Named::NAMES`]).
    pub fn name(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }

    /// Whether `value` beats `best` by more than `threshold`.
    pub fn improves(self, value: f64, best: f64, threshold: f64) -> bool {
        match self {
            Self::ValLoss => best - value > threshold,
            Self::ValAccuracy | Self::ValF1 => value - best > threshold,
        }
    }
}

impl fmt::Display for BestMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name(f)
    }
}

impl FromStr for BestMetric {
    type Err = String;
    /// A name of [`Named::NAMES`], exact spelling.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::from_name(s).ok_or_else(|| Self::unknown(s))
    }
}

spam_data::serde_by_name!(BestMetric);

/// Class weights of the training loss (`--class-weights`).
#[derive(Debug, Clone, PartialEq)]
pub enum ClassWeights {
    /// sklearn's "balanced": `n_samples / (n_classes * count)` over the training split.
    Auto,
    /// One weight per class, in class order.
    Given(Vec<f64>),
}

impl Named for ClassWeights {
    const WHAT: &'static str = "class weights";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] =
        &[(Self::Auto, "auto", &[])];
    const FORMS: &'static [&'static str] = &["`W,W,...`"];
}

impl fmt::Display for ClassWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name_of(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Given(w)) => {
                let parts: Vec<String> = w.iter().map(f64::to_string).collect();
                f.write_str(&parts.join(","))
            }
            (None, other) => write!(f, "{other:?}"),
        }
    }
}

impl FromStr for ClassWeights {
    type Err = String;
    /// A name of [`Named::NAMES`] (trimmed) or one weight per class, `W,W,...`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(named) = Self::from_name(s.trim()) {
            return Ok(named);
        }
        let mut weights = Vec::new();
        for part in s.split(',') {
            let w: f64 = part.trim().parse().map_err(|_| {
                format!(
                    "class weights `{s}`: `{part}` is not a number; give {}",
                    Self::accepted()
                )
            })?;
            // The loss computes in f32: a weight that is finite in f64 but not in f32 (1e39),
            // or that rounds to 0 there (1e-50), is refused here, not blamed on the learning
            // rate later.
            let single = w as f32;
            if !(w.is_finite() && w > 0.0 && single.is_finite() && single > 0.0) {
                return Err(format!(
                    "class weights `{s}`: each weight must be a number above 0 that f32 can hold \
                     (about 1e-38 to 3.4e38; the loss computes in f32), got {w}"
                ));
            }
            weights.push(w);
        }
        Ok(Self::Given(weights))
    }
}

impl Serialize for ClassWeights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClassWeights {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl ClassWeights {
    /// The weight of each of `n_classes` classes, for training labels `labels`.
    pub fn resolve(&self, labels: &[i64], n_classes: usize) -> Result<Vec<f64>> {
        match self {
            Self::Given(w) if w.len() != n_classes => Err(TrainError::Settings(format!(
                "--class-weights gives {} weights but the data has {n_classes} classes: give one \
                 per class, in class order",
                w.len()
            ))),
            Self::Given(w) => Ok(w.clone()),
            Self::Auto => {
                let mut counts = vec![0usize; n_classes];
                for &l in labels {
                    if let Some(c) = usize::try_from(l).ok().and_then(|l| counts.get_mut(l)) {
                        *c += 1;
                    }
                }
                let n: usize = counts.iter().sum();
                counts
                    .iter()
                    .enumerate()
                    .map(|(class, &count)| {
                        if count == 0 {
                            Err(TrainError::Settings(format!(
                                "--class-weights auto: class {class} has no training example; \
                                 give the weights instead (W,W,...)"
                            )))
                        } else {
                            Ok(n as f64 / (n_classes * count) as f64)
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Cross-entropy with a weight per class: PyTorch's `F.cross_entropy(weight=w)`, the sum of
/// `w[y] * nll` over the rows divided by the sum of `w[y]`. `None` is [`crate::internals::loss_of`].
pub fn weighted_loss(
    logits: &Tensor,
    labels: &Tensor,
    ignore_index: Option<i64>,
    weights: Option<&Tensor>,
) -> Tensor {
    logits.to_kind(Kind::Float).cross_entropy_loss::<&Tensor>(
        labels,
        weights,
        Reduction::Mean,
        ignore_index.unwrap_or(-100),
        0.0,
    )
}

/// The evaluation whose weights a run keeps (`metrics.json`'s `best`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestRecord {
    /// The metric that picked it.
    pub metric: BestMetric,
    /// Steps taken before that evaluation.
    pub step: usize,
    /// 1-based epoch it fell in.
    pub epoch: usize,
    /// The metric's value there (on the whole validation split).
    pub value: f64,
}

/// One evaluation of the best-model metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Steps taken before it.
    pub step: usize,
    /// The metric on the whole validation split.
    pub value: f64,
}
