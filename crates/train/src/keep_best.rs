//! The loop's best-model and early-stopping state (`BestSoFar`, the one state both use), the
//! best weights kept aside, and a split's metrics through the decision threshold.

use spam_model::{Classifier, SplitMetrics, decide};
use tch::Tensor;

use crate::best::BestMetric;
use crate::config::TrainConfig;
use crate::data::Split;
use crate::engine::{Runner, SplitOutputs};
use crate::error::Result;
use crate::report::Report;

/// A copy of the trainable weights (the best so far).
pub(crate) type Weights = Vec<(String, Tensor)>;

pub(crate) fn snapshot(model: &Classifier) -> Weights {
    model
        .trainable_parameters()
        .into_iter()
        .map(|(name, t)| (name, t.detach().copy()))
        .collect()
}

pub(crate) fn restore(model: &Classifier, weights: &Weights) {
    tch::no_grad(|| {
        for ((_, mut p), (_, saved)) in model.trainable_parameters().into_iter().zip(weights) {
            p.copy_(saved);
        }
    });
}

/// The best-model metric on the whole validation split.
pub(crate) fn best_metric(
    runner: &Runner,
    metric: BestMetric,
    config: &TrainConfig,
    names: &[String],
) -> Result<f64> {
    if metric == BestMetric::ValLoss {
        return runner.loss(Split::Validation, usize::MAX, config.ignore_index);
    }
    let [out] = runner.outputs_of([Split::Validation])?;
    let m = split_metrics(&out, config.threshold, names);
    Ok(match metric {
        BestMetric::ValAccuracy => m.accuracy,
        _ => m.f1,
    })
}

/// Metrics of a split's outputs: predictions through the threshold (two classes), AUCs from
/// the positive class's probability.
pub(crate) fn split_metrics(
    out: &SplitOutputs,
    threshold: Option<f64>,
    names: &[String],
) -> SplitMetrics {
    let predicted: Vec<usize> = match threshold {
        Some(t) => out
            .probabilities
            .iter()
            .map(|p| decide(p, Some(t)))
            .collect(),
        None => out.predicted.clone(),
    };
    let positive: Vec<f64> = out
        .probabilities
        .iter()
        .map(|p| p.get(1).copied().unwrap_or(0.0))
        .collect();
    SplitMetrics::compute(&out.truth, &predicted, names).with_scores(&out.truth, &positive)
}

/// Early stopping's one state, which also picks the best model: the best value so far of the
/// watched metric (the best-model metric, else the periodic validation loss) and the
/// evaluations since it improved by more than the threshold.
pub(crate) struct BestSoFar {
    /// The best-model metric; `None` watches the periodic validation loss.
    metric: Option<BestMetric>,
    threshold: f64,
    best: Option<f64>,
    pub(crate) without_improvement: usize,
}

impl BestSoFar {
    pub(crate) fn new(config: &TrainConfig) -> Self {
        Self {
            metric: config.metric_for_best,
            threshold: config.early_stopping_threshold,
            // The validation loss is measured against +inf from the start (a first loss of
            // +inf or NaN is no improvement); a best-model metric's first value is the best
            // unless it is NaN.
            best: match config.metric_for_best {
                Some(_) => None,
                None => Some(f64::INFINITY),
            },
            without_improvement: 0,
        }
    }

    /// Observes the evaluations of `report` (a resumed run's history), in order.
    pub(crate) fn replay(&mut self, report: &Report) {
        match self.metric {
            Some(_) => {
                for point in &report.best_metric_history {
                    self.observe(point.value);
                }
            }
            None => {
                for eval in &report.evals {
                    self.observe(eval.val_loss);
                }
            }
        }
    }

    /// Records an evaluation; whether it is the new best.
    pub(crate) fn observe(&mut self, value: f64) -> bool {
        let better = match self.best {
            None => !value.is_nan(),
            Some(best) => {
                self.metric
                    .unwrap_or(BestMetric::ValLoss)
                    .improves(value, best, self.threshold)
            }
        };
        if better {
            self.best = Some(value);
            self.without_improvement = 0;
        } else {
            self.without_improvement += 1;
        }
        better
    }
}
