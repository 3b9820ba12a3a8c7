//! AdamW written out over tensors, step for step as `torch.optim.AdamW` computes it.
//!
//! tch's optimizer wraps libtorch's but exposes no state, and a run that resumes after a
//! kill must restore the moment estimates exactly. So the update is spelled out here: same
//! formula and the same order of floating-point operations as PyTorch's single-tensor path.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

/// AdamW hyper-parameters; defaults are the chapter's (`lr=5e-5, weight_decay=0.1`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { lr: 5e-5, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.1 }
    }
}

/// AdamW over a fixed list of named parameters.
#[derive(Debug)]
pub struct AdamW {
    pub config: AdamWConfig,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Number of updates taken so far (PyTorch's `state["step"]`).
    pub step: i64,
}

impl AdamW {
    /// `params` must require grad; their names key the saved state.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let exp_avg = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| p.zeros_like()).collect();
        Self { config, params, exp_avg, exp_avg_sq, step: 0 }
    }

    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Global L2 norm of the gradients, clipped to `max_norm` like
    /// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> =
            self.params.iter().map(|(_, p)| p.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            tch::no_grad(|| {
                for mut g in grads {
                    let _ = g.g_mul_scalar_(coef);
                }
            });
        }
        total
    }

    /// One update with learning rate `lr` (the schedule's value for this step).
    pub fn step(&mut self, lr: f64) {
        let c = self.config;
        self.step += 1;
        let bias_correction1 = 1.0 - c.beta1.powi(self.step as i32);
        let bias_correction2 = 1.0 - c.beta2.powi(self.step as i32);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.sqrt();
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter_mut().enumerate() {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                // Decoupled weight decay: p *= 1 - lr * wd.
                let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
                let m = &mut self.exp_avg[i];
                // m = m + (g - m) * (1 - beta1), PyTorch's lerp form.
                let _ = m.lerp_(&g, 1.0 - c.beta1);
                let v = &mut self.exp_avg_sq[i];
                let _ = v.g_mul_scalar_(c.beta2);
                // v + (1 - beta2) * g * g, evaluated as libtorch's fused addcmul does.
                let _ = v.addcmul_(&g.g_mul_scalar(1.0 - c.beta2), &g);
                let denom = (v.sqrt() / bias_correction2_sqrt) + c.eps;
                // p + (-step_size * m) / denom, as libtorch's addcdiv with `value`.
                let _ = p.addcdiv_(&m.g_mul_scalar(-step_size), &denom);
            }
        });
    }

    /// Moment estimates keyed `exp_avg.<name>` / `exp_avg_sq.<name>`, for checkpoints.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone());
            out.insert(format!("exp_avg_sq.{name}"), self.exp_avg_sq[i].shallow_clone());
        }
        out.insert("step".into(), Tensor::from(self.step));
        out
    }

    /// Restores what [`AdamW::state`] saved; every parameter must be present.
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), String> {
        let get = |key: String| -> Result<&Tensor, String> {
            state.get(&key).ok_or_else(|| format!("optimizer state has no tensor `{key}`"))
        };
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (key, slot) in [
                (format!("exp_avg.{name}"), &mut self.exp_avg[i]),
                (format!("exp_avg_sq.{name}"), &mut self.exp_avg_sq[i]),
            ] {
                let t = get(key.clone())?;
                if t.size() != p.size() {
                    return Err(format!(
                        "optimizer state `{key}` has shape {:?}, the parameter has {:?}",
                        t.size(),
                        p.size()
                    ));
                }
                *slot = t.to_kind(Kind::Float).to_device(p.device());
            }
        }
        self.step = get("step".into())?.int64_value(&[]);
        Ok(())
    }
}
