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
    /// Peak learning rate (the chapter: 5e-5).
    pub lr: f64,
    /// Decay of the first moment (0.9).
    pub beta1: f64,
    /// Decay of the second moment (0.999).
    pub beta2: f64,
    /// Added to the second moment's root (1e-8).
    pub eps: f64,
    /// Decoupled weight decay (the chapter: 0.1).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 5e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// AdamW over a fixed list of named parameters.
#[derive(Debug)]
pub struct AdamW {
    /// Its hyper-parameters.
    pub config: AdamWConfig,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// Gradients from [`AdamW::backward`] since the last step, one slot per parameter.
    grads: Vec<Option<Tensor>>,
    /// Number of updates taken so far (PyTorch's `state["step"]`).
    pub step: i64,
    /// Use the one-pass update where it applies (default); the tensor-op path otherwise.
    pub fused: bool,
}

impl AdamW {
    /// `params` must require grad; their names key the saved state.
    pub fn new(params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        let exp_avg = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| p.zeros_like()).collect();
        let grads = params.iter().map(|_| None).collect();
        Self {
            config,
            params,
            exp_avg,
            exp_avg_sq,
            grads,
            step: 0,
            fused: true,
        }
    }

    /// The parameters it updates, by name.
    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Gradients of `loss` for every parameter, held here and added to those held since the
    /// last step (for accumulation). The fast path: unlike `loss.backward()` it writes no
    /// `.grad` buffers, so nothing is accumulated into them and nothing must be zeroed — a
    /// pass over every trainable parameter each, per step.
    pub fn backward(&mut self, loss: &Tensor) -> Result<(), tch::TchError> {
        let params: Vec<&Tensor> = self.params.iter().map(|(_, p)| p).collect();
        let grads = Tensor::f_run_backward(&[loss], &params, false, false)?;
        for (slot, g) in self.grads.iter_mut().zip(grads) {
            if !g.defined() {
                continue; // the parameter took no part in `loss`
            }
            match slot {
                Some(held) => {
                    let _ = held.f_add_(&g)?;
                }
                None => *slot = Some(g),
            }
        }
        Ok(())
    }

    /// The gradient the next step uses for parameter `i`: the held one from
    /// [`AdamW::backward`], else the parameter's `.grad` from a plain `loss.backward()`.
    fn grad(&self, i: usize) -> Option<Tensor> {
        match &self.grads[i] {
            Some(g) => Some(g.shallow_clone()),
            None => Some(self.params[i].1.grad()).filter(Tensor::defined),
        }
    }

    /// Drops the held gradients and zeroes any `.grad` a plain `loss.backward()` filled.
    pub fn zero_grad(&mut self) {
        self.grads.iter_mut().for_each(|g| *g = None);
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Global L2 norm of the gradients held (0 when there are none), without changing them.
    pub fn grad_norm(&self) -> f64 {
        let norms: Vec<Tensor> = (0..self.params.len())
            .filter_map(|i| self.grad(i))
            .map(|g| g.norm())
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        Tensor::stack(&norms, 0).norm().double_value(&[])
    }

    /// Global L2 norm of the gradients, clipped to `max_norm` like
    /// `torch.nn.utils.clip_grad_norm_`; returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let grads: Vec<Tensor> = (0..self.params.len())
            .filter_map(|i| self.grad(i))
            .collect();
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
        let update = Update {
            lr,
            step_size,
            bias_correction2_sqrt,
            config: &c,
        };
        tch::no_grad(|| {
            for i in 0..self.params.len() {
                let Some(g) = self.grad(i) else { continue };
                let mut slot = Slot {
                    p: &mut self.params[i].1,
                    g: &g,
                    m: &mut self.exp_avg[i],
                    v: &mut self.exp_avg_sq[i],
                };
                if !(self.fused && fused_step(&mut slot, &update)) {
                    tensor_step(&mut slot, &update);
                }
            }
        });
    }

    /// Moment estimates keyed `exp_avg.<name>` / `exp_avg_sq.<name>`, for checkpoints.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone());
            out.insert(
                format!("exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            );
        }
        out.insert("step".into(), Tensor::from(self.step));
        out
    }

    /// Restores what [`AdamW::state`] saved; every parameter must be present.
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<(), String> {
        let get = |key: String| -> Result<&Tensor, String> {
            state
                .get(&key)
                .ok_or_else(|| format!("optimizer state has no tensor `{key}`"))
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

/// The scalars of one update, the same for every parameter.
struct Update<'a> {
    lr: f64,
    /// `lr / (1 - beta1^t)`.
    step_size: f64,
    /// `sqrt(1 - beta2^t)`.
    bias_correction2_sqrt: f64,
    config: &'a AdamWConfig,
}

/// One parameter, its gradient and its two moments.
struct Slot<'a> {
    p: &'a mut Tensor,
    g: &'a Tensor,
    m: &'a mut Tensor,
    v: &'a mut Tensor,
}

/// The update as tensor ops, PyTorch's single-tensor AdamW op for op.
fn tensor_step(slot: &mut Slot<'_>, u: &Update<'_>) {
    let Slot { p, g, m, v } = slot;
    let (g, lr, step_size, bias_correction2_sqrt, c) =
        (*g, u.lr, u.step_size, u.bias_correction2_sqrt, u.config);
    // Decoupled weight decay: p *= 1 - lr * wd.
    let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
    // m = m + (g - m) * (1 - beta1), PyTorch's lerp form.
    let _ = m.lerp_(g, 1.0 - c.beta1);
    // v = v * beta2 + (1 - beta2) * g * g, evaluated as libtorch's fused addcmul does.
    let _ = v.g_mul_scalar_(c.beta2);
    let _ = v.addcmul_(&g.g_mul_scalar(1.0 - c.beta2), g);
    let denom = (v.sqrt() / bias_correction2_sqrt) + c.eps;
    // p + (-step_size * m) / denom, as libtorch's addcdiv with `value`.
    let _ = p.addcdiv_(&m.g_mul_scalar(-step_size), &denom);
}

/// Elements per parallel chunk of the fused update.
const CHUNK: usize = 1 << 16;

/// The same update in one pass over memory, for contiguous f32 tensors on the CPU: the
/// tensor path reads and writes every parameter about a dozen times, which dominates a
/// step when all 124M parameters train. Returns false when the tensors don't qualify.
fn fused_step(slot: &mut Slot<'_>, u: &Update<'_>) -> bool {
    let Slot { p, g, m, v } = slot;
    let (g, lr, step_size, bias_correction2_sqrt, c) =
        (*g, u.lr, u.step_size, u.bias_correction2_sqrt, u.config);
    let all: [&Tensor; 4] = [p, g, m, v];
    if all
        .iter()
        .any(|t| t.device() != tch::Device::Cpu || t.kind() != Kind::Float || !t.is_contiguous())
        || all.iter().any(|t| t.numel() != p.numel())
    {
        return false;
    }
    let n = p.numel();
    // SAFETY: the four tensors are distinct, contiguous f32 CPU tensors of `n` elements
    // (checked above; the optimizer owns m and v, and a gradient never aliases its
    // parameter), and nothing else touches them while the slices live (no_grad, &mut).
    let (ps, gs, ms, vs) = unsafe {
        (
            std::slice::from_raw_parts_mut(p.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts(g.data_ptr() as *const f32, n),
            std::slice::from_raw_parts_mut(m.data_ptr() as *mut f32, n),
            std::slice::from_raw_parts_mut(v.data_ptr() as *mut f32, n),
        )
    };
    // Constants rounded to f32 as PyTorch passes them to its f32 kernels.
    let decay = (1.0 - lr * c.weight_decay) as f32;
    let w1 = (1.0 - c.beta1) as f32;
    let b2 = c.beta2 as f32;
    let w2 = (1.0 - c.beta2) as f32;
    let bc2 = bias_correction2_sqrt as f32;
    let eps = c.eps as f32;
    let neg_step = (-step_size) as f32;
    type Chunks<'a> = (((&'a mut [f32], &'a [f32]), &'a mut [f32]), &'a mut [f32]);
    // Zipped iterators, not indices: no bounds checks, so the loop vectorizes.
    let update = |(((p, g), m), v): Chunks<'_>| {
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            // lerp: m + w1 * (g - m)
            let mi = *m + w1 * (g - *m);
            let vi = *v * b2 + (g * w2) * g;
            let denom = vi.sqrt() / bc2 + eps;
            *p = *p * decay + (neg_step * mi) / denom;
            *m = mi;
            *v = vi;
        }
    };
    use rayon::prelude::*;
    // As many threads as libtorch's ops use: one while the cache fills alongside the steps.
    if n >= 4 * CHUNK && tch::get_num_threads() > 1 {
        ps.par_chunks_mut(CHUNK)
            .zip(gs.par_chunks(CHUNK))
            .zip(ms.par_chunks_mut(CHUNK))
            .zip(vs.par_chunks_mut(CHUNK))
            .for_each(update);
    } else {
        update((((ps, gs), ms), vs));
    }
    true
}
