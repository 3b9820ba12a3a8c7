//! A binary model's decision threshold, stored beside its weights (`decision.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The probability of the positive class from which a binary model says "positive"
/// (`--threshold`), stored beside a trained model as `decision.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// In (0, 1).
    pub threshold: f64,
}

/// The file beside a model's weights that holds its [`Decision`].
pub const DECISION_FILE: &str = "decision.json";

/// Checks a threshold given as a flag or key.
pub fn check_threshold(threshold: f64) -> Result<()> {
    if threshold.is_finite() && threshold > 0.0 && threshold < 1.0 {
        Ok(())
    } else {
        Err(ModelError::BadThreshold { value: threshold })
    }
}

/// The threshold stored in a model folder, if any.
pub fn read_decision(model_dir: &Path) -> Result<Option<f64>> {
    let path = model_dir.join(DECISION_FILE);
    match std::fs::metadata(&path) {
        Err(_) => return Ok(None),
        // Not silently ignored: a FIFO or a folder where the threshold belongs is refused.
        Ok(m) if !m.is_file() => return Err(ModelError::NotAFile { path }),
        Ok(_) => {}
    }
    let bytes = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
    let d: Decision = serde_json::from_slice(&bytes).map_err(|source| ModelError::Json {
        path: path.clone(),
        source,
    })?;
    if let Err(e) = check_threshold(d.threshold) {
        return Err(ModelError::corrupt(
            &path,
            format!("holds a bad threshold: {e}"),
        ));
    }
    Ok(Some(d.threshold))
}

/// The predicted class of `probabilities`: the most probable, or for two classes with a
/// threshold, the positive class (1) when its probability is at least `threshold`.
pub fn decide(probabilities: &[f64], threshold: Option<f64>) -> usize {
    if let (Some(t), [_, positive]) = (threshold, probabilities) {
        return usize::from(*positive >= t);
    }
    probabilities
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}
