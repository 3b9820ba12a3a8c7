//! Learning-rate schedules.

use serde::{Deserialize, Serialize};

/// How the learning rate moves over the run. The chapter uses a constant rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LrSchedule {
    /// The same rate at every step (the chapter).
    #[default]
    Constant,
    /// Linear warmup from 0 over `warmup_steps`, then cosine decay to `min_lr` at the end.
    WarmupCosine {
        /// Steps of linear warmup from 0.
        warmup_steps: usize,
        /// The rate at the last step.
        min_lr: f64,
    },
}

impl LrSchedule {
    /// The rate for optimizer update number `step` (0-based) of `total_steps`.
    pub fn lr(&self, peak: f64, step: usize, total_steps: usize) -> f64 {
        match *self {
            LrSchedule::Constant => peak,
            LrSchedule::WarmupCosine {
                warmup_steps,
                min_lr,
            } => {
                if step < warmup_steps {
                    peak * (step + 1) as f64 / warmup_steps as f64
                } else {
                    let decay_steps = total_steps.saturating_sub(warmup_steps).max(1);
                    let progress = ((step - warmup_steps) as f64 / decay_steps as f64).min(1.0);
                    min_lr + (peak - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
                }
            }
        }
    }
}
