//! Classification metrics: accuracy, per-class precision/recall/F1, confusion matrix.

use serde::{Deserialize, Serialize};

/// Metrics of one split. For two classes `precision`, `recall` and `f1` are those of the
/// positive class (label 1, "spam"); `per_class` holds every class, `macro_f1` their mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitMetrics {
    /// Examples evaluated.
    pub examples: usize,
    /// Fraction predicted right, in [0, 1].
    pub accuracy: f64,
    /// Precision of the positive class (two classes) or the macro mean.
    pub precision: f64,
    /// Recall of the positive class (two classes) or the macro mean.
    pub recall: f64,
    /// F1 of the positive class (two classes) or the macro mean.
    pub f1: f64,
    /// Mean F1 over the classes.
    pub macro_f1: f64,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Metrics of each class, in class order.
    pub per_class: Vec<ClassMetrics>,
    /// Area under the ROC curve of the positive class's probability (two classes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// Average precision (area under the precision-recall curve) of the positive class's
    /// probability (two classes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
}

/// Metrics of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// The class name.
    pub label: String,
    /// Examples whose true class this is.
    pub support: usize,
    /// Of the examples predicted as this class, the fraction that are.
    pub precision: f64,
    /// Of the examples of this class, the fraction predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

impl SplitMetrics {
    /// Computes metrics from parallel slices of true and predicted class indices.
    pub fn compute(truth: &[usize], predicted: &[usize], label_names: &[String]) -> Self {
        let n = label_names.len().max(
            truth
                .iter()
                .chain(predicted)
                .copied()
                .max()
                .map_or(0, |m| m + 1),
        );
        let mut confusion = vec![vec![0usize; n]; n];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t][p] += 1;
        }
        let correct: usize = (0..n).map(|i| confusion[i][i]).sum();
        let examples = truth.len().min(predicted.len());
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..n)
            .map(|c| {
                let tp = confusion[c][c];
                let predicted_c: usize = (0..n).map(|t| confusion[t][c]).sum();
                let support: usize = confusion[c].iter().sum();
                let precision = ratio(tp, predicted_c);
                let recall = ratio(tp, support);
                let f1 = if precision + recall == 0.0 {
                    0.0
                } else {
                    2.0 * precision * recall / (precision + recall)
                };
                ClassMetrics {
                    label: label_names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                    support,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        let positive = if n == 2 { per_class.get(1) } else { None };
        let macro_f1 = if n == 0 {
            0.0
        } else {
            per_class.iter().map(|c| c.f1).sum::<f64>() / n as f64
        };
        let macro_of = |f: fn(&ClassMetrics) -> f64| {
            if n == 0 {
                0.0
            } else {
                per_class.iter().map(f).sum::<f64>() / n as f64
            }
        };
        Self {
            examples,
            accuracy: ratio(correct, examples),
            precision: positive.map_or_else(|| macro_of(|c| c.precision), |c| c.precision),
            recall: positive.map_or_else(|| macro_of(|c| c.recall), |c| c.recall),
            f1: positive.map_or(macro_f1, |c| c.f1),
            macro_f1,
            confusion,
            per_class,
            roc_auc: None,
            pr_auc: None,
        }
    }

    /// Adds ROC AUC and average precision from each example's probability of the positive
    /// class (class 1; two classes only, and both present in `truth`).
    pub fn with_scores(mut self, truth: &[usize], positive_scores: &[f64]) -> Self {
        if self.confusion.len() == 2 {
            let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
            self.roc_auc = roc_auc(&positive, positive_scores);
            self.pr_auc = average_precision(&positive, positive_scores);
        }
        self
    }
}

/// Area under the ROC curve: the chance that a random positive scores above a random
/// negative, a tie counting one half (sklearn's `roc_auc_score`). `None` without both classes.
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> Option<f64> {
    let n = positive.len().min(scores.len());
    let pos = positive[..n].iter().filter(|&&p| p).count();
    let neg = n - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    // Mann-Whitney U from ranks, tied scores sharing their mean rank.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * order[i..=j].iter().filter(|&&k| positive[k]).count() as f64;
        i = j + 1;
    }
    let u = rank_sum - (pos * (pos + 1)) as f64 / 2.0;
    Some(u / (pos * neg) as f64)
}

/// Average precision, sklearn's `average_precision_score`: the sum over score thresholds
/// (tied scores form one threshold) of the recall gained there times the precision there.
/// `None` without a positive example.
pub fn average_precision(positive: &[bool], scores: &[f64]) -> Option<f64> {
    let n = positive.len().min(scores.len());
    let pos = positive[..n].iter().filter(|&&p| p).count();
    if pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut seen, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        tp += order[i..=j].iter().filter(|&&k| positive[k]).count();
        seen += j - i + 1;
        let recall = tp as f64 / pos as f64;
        ap += (recall - last_recall) * tp as f64 / seen as f64;
        last_recall = recall;
        i = j + 1;
    }
    Some(ap)
}
