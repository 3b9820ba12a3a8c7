//! The chapter's random model: the weights `GPTModel(cfg)` gets under `torch.manual_seed(seed)`
//! (PyTorch's default module initialisation), reproduced draw for draw.
//!
//! tch runs the same libtorch kernels on the same CPU generator as PyTorch, so making the same
//! calls in the same order, on tensors of the same shapes, gives the same bits. The chapter's
//! modules draw in construction order: `tok_emb` and `pos_emb` (`nn.Embedding`: `normal_`),
//! then per block `W_query`, `W_key`, `W_value`, `out_proj` and the feed-forward's two
//! `nn.Linear`s (each: weight kaiming-uniform with `a = sqrt(5)`, then bias uniform in
//! `±1/sqrt(fan_in)`), its LayerNorms at ones/zeros (no draw), then the vocabulary-sized
//! `out_head` (`Linear(e, vocab, bias=False)`), which the chapter builds and then replaces but
//! which consumes the generator all the same. The 2-class head, and any LoRA adapters right
//! after it, come after a second `torch.manual_seed(seed)` ([`fill_head`]).

use std::sync::{Mutex, MutexGuard};

use tch::{Device, Kind, Tensor};

use crate::gpt2::{Dense, Gpt2, Layout};

/// Holds libtorch's process-wide CPU generator for a seed-then-draw sequence.
///
/// `torch.manual_seed` followed by draws only reproduces PyTorch's numbers if no other thread
/// draws in between; everything in the workspace that seeds the global generator and draws
/// from it (the chapter's initialisation, the chapter's data order, dropout masks in training)
/// takes this lock for the whole sequence. A poisoned lock is still usable: it guards no data.
pub fn global_generator() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fills every backbone variable of `gpt` with the chapter's initialisation under
/// `torch.manual_seed(seed)`. Reseeds libtorch's global CPU generator, as the chapter does.
pub(crate) fn fill_backbone(gpt: &Gpt2, seed: u64) {
    let cfg = *gpt.config();
    let e = cfg.n_embd;
    let _generator = global_generator();
    tch::manual_seed(seed as i64);
    tch::no_grad(|| {
        set(&gpt.wte, &normal(&[cfg.vocab_size, e]));
        set(&gpt.wpe, &normal(&[cfg.n_ctx, e]));
        for block in &gpt.blocks {
            let q = linear(e, e, cfg.qkv_bias);
            let k = linear(e, e, cfg.qkv_bias);
            let v = linear(e, e, cfg.qkv_bias);
            let out = linear(e, e, true);
            let fc = linear(e, 4 * e, true);
            let proj = linear(4 * e, e, true);
            // c_attn holds q | k | v side by side along its output dimension.
            set_dense(
                &block.attn.c_attn,
                &Tensor::cat(&[&q.weight, &k.weight, &v.weight], 0),
                match (&q.bias, &k.bias, &v.bias) {
                    (Some(q), Some(k), Some(v)) => Some(Tensor::cat(&[q, k, v], 0)),
                    _ => None,
                },
            );
            set_dense(&block.attn.c_proj, &out.weight, out.bias);
            set_dense(&block.mlp.c_fc, &fc.weight, fc.bias);
            set_dense(&block.mlp.c_proj, &proj.weight, proj.bias);
            for ln in [&block.ln_1, &block.ln_2] {
                let _ = ln.weight.shallow_clone().fill_(1.0);
                let _ = ln.bias.shallow_clone().fill_(0.0);
            }
        }
        let _ = gpt.ln_f.weight.shallow_clone().fill_(1.0);
        let _ = gpt.ln_f.bias.shallow_clone().fill_(0.0);
        // The chapter's language-model head: drawn, then replaced by the classification head.
        drop(linear(e, cfg.vocab_size, false));
    });
}

/// Fills `head` as the chapter's `torch.manual_seed(seed)` then `nn.Linear(e, num_classes)`
/// does, then any LoRA adapters of `gpt` and `head` as the chapter's experiments script's
/// `replace_linear_with_lora` right after it: each `LoRALayer`'s `A` `[in, rank]` by
/// `kaiming_uniform_(a=sqrt(5))`, in module order (per block `W_query`, `W_key`, `W_value`,
/// `out_proj`, the feed-forward's two layers; the head last). Reseeds libtorch's global CPU
/// generator.
pub(crate) fn fill_head(head: &Dense, gpt: &Gpt2, seed: u64) {
    let _generator = global_generator();
    tch::manual_seed(seed as i64);
    tch::no_grad(|| {
        let drawn = linear(head.in_dim, head.out_dim, head.bias.is_some());
        set_dense(head, &drawn.weight, drawn.bias);
        for block in &gpt.blocks {
            for dense in block.linears() {
                fill_adapter(dense);
            }
        }
        fill_adapter(head);
    });
}

/// Draws `dense`'s LoRA `A` (if it has an adapter), part by part: a fused query/key/value
/// projection's three parts are the chapter's three adapters, drawn one after the other.
fn fill_adapter(dense: &Dense) {
    let Some(lora) = &dense.lora else { return };
    let rank = lora.a.size()[1] / lora.parts;
    let bound = kaiming_uniform_bound(rank);
    for part in 0..lora.parts {
        let mut a = Tensor::empty([dense.in_dim, rank], (Kind::Float, Device::Cpu));
        let _ = a.uniform_(-bound, bound);
        set(&lora.a.narrow(1, part * rank, rank), &a);
    }
}

/// A `torch.nn.Linear`'s freshly initialised parameters, weight `[out, in]`.
struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

/// `torch.nn.Linear(in_dim, out_dim, bias).reset_parameters()`: `kaiming_uniform_(weight,
/// a=sqrt(5))`, then the bias uniform in `±1/sqrt(fan_in)`.
fn linear(in_dim: i64, out_dim: i64, bias: bool) -> Linear {
    let bound = kaiming_uniform_bound(in_dim);
    let mut weight = Tensor::empty([out_dim, in_dim], (Kind::Float, Device::Cpu));
    let _ = weight.uniform_(-bound, bound);
    let bias = bias.then(|| {
        let bound = if in_dim > 0 {
            1.0 / (in_dim as f64).sqrt()
        } else {
            0.0
        };
        let mut b = Tensor::empty([out_dim], (Kind::Float, Device::Cpu));
        let _ = b.uniform_(-bound, bound);
        b
    });
    Linear { weight, bias }
}

/// `nn.init.kaiming_uniform_`'s bound for `a = sqrt(5)`, leaky-ReLU gain, fan-in mode, with
/// the same floating-point operations as `torch.nn.init` (Python's `a**2` is `pow(a, 2)`).
fn kaiming_uniform_bound(fan_in: i64) -> f64 {
    let a = 5f64.sqrt();
    let gain = (2.0 / (1.0 + a.powf(2.0))).sqrt();
    let std = gain / (fan_in as f64).sqrt();
    3f64.sqrt() * std
}

/// `nn.Embedding`'s `normal_(0, 1)`.
fn normal(shape: &[i64]) -> Tensor {
    let mut t = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    let _ = t.normal_(0.0, 1.0);
    t
}

fn set(var: &Tensor, value: &Tensor) {
    var.shallow_clone().copy_(value);
}

/// Copies a `torch.nn.Linear` weight `[out, in]` (and bias) into `dense`, in its layout.
fn set_dense(dense: &Dense, weight_out_in: &Tensor, bias: Option<Tensor>) {
    match dense.layout {
        Layout::OutIn => set(&dense.weight, weight_out_in),
        Layout::InOut => set(&dense.weight, &weight_out_in.tr()),
    }
    if let (Some(var), Some(b)) = (&dense.bias, bias) {
        set(var, &b);
    }
}
