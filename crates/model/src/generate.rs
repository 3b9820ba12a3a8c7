//! Text generation (token ids in, token ids out), as the chapter's `generate`.
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::gpt2::Gpt2;
use crate::rng::SeededRng;

/// Options of [`generate`]. The default is the chapter's weight check: greedy, 25 new tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerateOptions {
    /// How many tokens to generate at most.
    pub max_new_tokens: usize,
    /// 0 (default) = greedy (argmax); > 0 = sample from softmax(logits / temperature).
    pub temperature: f64,
    /// Keep only the `k` largest logits before sampling or argmax.
    pub top_k: Option<i64>,
    /// Seed of the sampler (only used when `temperature > 0`).
    pub seed: u64,
    /// Stop (without emitting it) when this token is chosen.
    pub eos_id: Option<i64>,
    /// How many of the largest logits each [`Step`] records.
    pub record_top: usize,
    /// Context window (default: the model's `n_ctx`); the prompt is cropped from the left.
    pub context_size: Option<usize>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 25,
            temperature: 0.0,
            top_k: None,
            seed: 123,
            eos_id: None,
            record_top: 10,
            context_size: None,
        }
    }
}

/// The largest logits at one step, from the last position before any filtering or sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Token ids of the largest logits, largest first.
    pub top_ids: Vec<i64>,
    /// Their logits.
    pub top_logits: Vec<f32>,
}

/// Result of [`generate`]; serialises to the CLI's JSON form
/// `{"prompt_ids": [...], "generated_ids": [...], "steps": [{"top_ids": [...], "top_logits": [...]}, ...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The prompt as given.
    pub prompt_ids: Vec<i64>,
    /// New tokens only (not the prompt).
    pub generated_ids: Vec<i64>,
    /// One per generated token.
    pub steps: Vec<Step>,
}

impl Generation {
    /// Prompt followed by the generated tokens.
    pub fn all_ids(&self) -> Vec<i64> {
        let mut v = self.prompt_ids.clone();
        v.extend_from_slice(&self.generated_ids);
        v
    }
}

/// Checks the prompt and options against the model: non-empty prompt, ids in the vocabulary,
/// at most the context length (`n_ctx`) of new tokens.
pub fn try_generate(
    model: &Gpt2,
    prompt_ids: &[i64],
    opts: &GenerateOptions,
) -> Result<Generation> {
    try_generate_with(model, prompt_ids, opts, |_, _| {})
}

/// [`try_generate`], calling `on_token(id, step)` as each token is chosen, so a caller can show
/// the text while it is being generated.
pub fn try_generate_with(
    model: &Gpt2,
    prompt_ids: &[i64],
    opts: &GenerateOptions,
    on_token: impl FnMut(i64, &Step),
) -> Result<Generation> {
    check_request(model, prompt_ids, opts)?;
    Ok(generate_with(model, prompt_ids, opts, on_token))
}

fn check_request(model: &Gpt2, prompt_ids: &[i64], opts: &GenerateOptions) -> Result<()> {
    let n_ctx = model.config().n_ctx;
    // One full forward pass per token: the context length bounds the work of one call.
    if opts.max_new_tokens as u64 > n_ctx as u64 {
        return Err(ModelError::InvalidConfig(format!(
            "max_new_tokens {} is more than the model's context length ({n_ctx}): ask for at \
             most {n_ctx} new tokens",
            opts.max_new_tokens
        )));
    }
    let vocab = model.config().vocab_size;
    if prompt_ids.is_empty() {
        return Err(ModelError::InvalidConfig(
            "the prompt is empty: give at least one token".into(),
        ));
    }
    if let Some(bad) = prompt_ids.iter().find(|&&id| id < 0 || id >= vocab) {
        return Err(ModelError::InvalidConfig(format!(
            "token id {bad} is outside the vocabulary (0..{vocab})"
        )));
    }
    if let Some(k) = opts.top_k
        && k <= 0
    {
        return Err(ModelError::InvalidConfig(format!(
            "top_k must be positive, got {k}"
        )));
    }
    if !(opts.temperature >= 0.0 && opts.temperature.is_finite()) {
        return Err(ModelError::InvalidConfig(format!(
            "temperature must be a finite number >= 0, got {}",
            opts.temperature
        )));
    }
    Ok(())
}

/// Generates up to `opts.max_new_tokens` tokens after `prompt_ids`, one full forward pass per
/// token over the last `context_size` tokens, like the chapter's `generate`: optional top-k
/// filtering, then argmax (temperature 0) or sampling from `softmax(logits / temperature)`
/// with the crate's generator seeded by `opts.seed` (reproducible on every device); stops early at `eos_id`. Each step records the
/// `record_top` largest logits of the last position before filtering.
///
/// # Panics
/// On an empty prompt or ids outside the vocabulary; use [`try_generate`] for user input.
pub fn generate(model: &Gpt2, prompt_ids: &[i64], opts: &GenerateOptions) -> Generation {
    generate_with(model, prompt_ids, opts, |_, _| {})
}

/// [`generate`], calling `on_token(id, step)` as each token is chosen.
///
/// # Panics
/// As [`generate`]; use [`try_generate_with`] for user input.
pub fn generate_with(
    model: &Gpt2,
    prompt_ids: &[i64],
    opts: &GenerateOptions,
    mut on_token: impl FnMut(i64, &Step),
) -> Generation {
    let device = model.wte.device();
    let n_ctx = model.config().n_ctx as usize;
    let ctx = opts.context_size.unwrap_or(n_ctx).clamp(1, n_ctx);
    let vocab = model.config().vocab_size;
    let record = (opts.record_top as i64).min(vocab);
    let mut rng = SeededRng::new(opts.seed);
    let mut ids: Vec<i64> = prompt_ids.to_vec();
    let mut out = Generation {
        prompt_ids: prompt_ids.to_vec(),
        generated_ids: Vec::new(),
        steps: Vec::new(),
    };
    tch::no_grad(|| {
        for _ in 0..opts.max_new_tokens {
            let window = &ids[ids.len().saturating_sub(ctx)..];
            let input = Tensor::from_slice(window).to_device(device).unsqueeze(0);
            let logits = model.forward(&input, false).select(1, -1).squeeze_dim(0); // [vocab]
            let logits = logits.to_device(Device::Cpu).to_kind(Kind::Float);
            let step = if record > 0 {
                let (vals, idx) = logits.topk(record, -1, true, true);
                Step {
                    top_ids: to_vec_i64(&idx),
                    top_logits: to_vec_f32(&vals),
                }
            } else {
                Step {
                    top_ids: vec![],
                    top_logits: vec![],
                }
            };
            let mut filtered = logits.shallow_clone();
            if let Some(k) = opts.top_k {
                let k = k.min(vocab);
                let (top, _) = logits.topk(k, -1, true, true);
                let min_val = top.get(k - 1);
                filtered = logits.where_self(
                    &logits.ge_tensor(&min_val),
                    &Tensor::from(f32::NEG_INFINITY),
                );
            }
            let next = if opts.temperature > 0.0 {
                let probs = to_vec_f32(&(filtered / opts.temperature).softmax(-1, Kind::Float));
                sample(&probs, rng.next_f64())
            } else {
                filtered.argmax(-1, false).int64_value(&[])
            };
            if opts.eos_id == Some(next) {
                break;
            }
            on_token(next, &step);
            ids.push(next);
            out.generated_ids.push(next);
            out.steps.push(step);
        }
    });
    out
}

fn to_vec_i64(t: &Tensor) -> Vec<i64> {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Int64).contiguous();
    let n = t.numel();
    let mut out = vec![0i64; n];
    t.copy_data(&mut out, n);
    out
}

fn to_vec_f32(t: &Tensor) -> Vec<f32> {
    let t = t.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let n = t.numel();
    let mut out = vec![0f32; n];
    t.copy_data(&mut out, n);
    out
}

/// Index `i` with `sum(p[..i]) <= u * total < sum(p[..=i])`, skipping zero-probability entries.
fn sample(probs: &[f32], u: f64) -> i64 {
    let total: f64 = probs.iter().map(|&p| f64::from(p)).sum();
    let target = u * total;
    let mut acc = 0.0;
    let mut last = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p <= 0.0 {
            continue;
        }
        acc += f64::from(p);
        last = i;
        if target < acc {
            return i as i64;
        }
    }
    last as i64
}
