//! GPT-2 in tch.
//!
//! Variables are named exactly like the Hugging Face hub checkpoints (without the
//! `transformer.` prefix): `wte.weight`, `wpe.weight`, `h.N.ln_1.{weight,bias}`,
//! `h.N.attn.c_attn.{weight,bias}`, `h.N.attn.c_proj.*`, `h.N.ln_2.*`, `h.N.mlp.c_fc.*`,
//! `h.N.mlp.c_proj.*`, `ln_f.*`. Projection weights keep GPT-2's `Conv1D` orientation
//! `[in, out]` (OpenAI's `w` without its leading 1), so loading either format is a name map.
//!
//! The maths follows the chapter's `GPTModel`: pre-norm blocks, LayerNorm with eps 1e-5,
//! GELU with the tanh approximation, attention scaled by `1/sqrt(head_dim)` with a causal mask,
//! dropout on the embeddings, the attention weights and both residual branches, and an LM head
//! tied to `wte`.
//!
//! `one_position` holds [`Block::forward_at`], the last block computed at one position per
//! row for a classification head.
mod layers;
mod one_position;
mod vars;

pub use layers::{Dense, DenseOptions, LAYER_NORM_EPS, LayerNorm, Layout, Lora, LoraShape};

use std::ops::Range;

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use crate::config::Config;
use vars::new_var;

/// How new variables are filled when a model is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitMode {
    /// GPT-2's scheme, from libtorch's global generator (see [`Gpt2::new`]).
    Gpt2,
    /// Zeros (and ones for LayerNorm scales).
    Zeros,
    /// Projection and embedding weights left uninitialised (biases and norms as in `Zeros`):
    /// the cheapest, only for models whose every variable is overwritten next (loaders).
    Uninit,
}

/// Scaled dot-product attention of `q` `[b,h,tq,d]` over `k`, `v` `[b,h,tk,d]`.
///
/// With `causal`, query `i` sees keys `0..=i + (tk - tq)`: the queries are taken to be the
/// *last* `tq` positions, so a block may compute only the last position's query.
pub fn attend(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, dropout: f64) -> Tensor {
    let tq = q.size()[2];
    let tk = k.size()[2];
    if !causal || tq == tk {
        return Tensor::scaled_dot_product_attention(
            q,
            k,
            v,
            None::<Tensor>,
            dropout,
            causal,
            None,
            false,
        );
    }
    // Bottom-right aligned causal mask: true = may attend.
    let mask = Tensor::ones([tq, tk], (Kind::Bool, q.device())).tril(tk - tq);
    Tensor::scaled_dot_product_attention(q, k, v, Some(mask), dropout, false, None, false)
}

/// Multi-head causal self-attention with a fused `c_attn` projection (q | k | v).
#[derive(Debug)]
pub struct Attention {
    /// Fused query, key and value projection, `e -> 3e`.
    pub c_attn: Dense,
    /// Output projection, `e -> e`.
    pub c_proj: Dense,
    n_head: i64,
    dropout: f64,
}

impl Attention {
    /// Attention over `x` `[b, t, e]` (causal or not), dropout when `train`. Returns `[b, t, e]`.
    pub fn forward(&self, x: &Tensor, causal: bool, train: bool) -> Tensor {
        let (b, t, e) = x
            .size3()
            .unwrap_or_else(|_| panic!("attention input must be [b, t, e]"));
        let d = e / self.n_head;
        // [b, t, 3e] -> [3, b, h, t, d]
        let qkv = self
            .c_attn
            .forward(x)
            .view([b, t, 3, self.n_head, d])
            .permute([2, 0, 3, 1, 4]);
        let (q, k, v) = (qkv.get(0), qkv.get(1), qkv.get(2));
        let p = if train { self.dropout } else { 0.0 };
        let y = attend(&q, &k, &v, causal, p);
        let y = y.transpose(1, 2).reshape([b, t, e]);
        self.c_proj.forward(&y).dropout(self.dropout, train)
    }
}

/// Feed-forward part: `c_fc` (e -> 4e), GELU (tanh), `c_proj` (4e -> e).
#[derive(Debug)]
pub struct Mlp {
    /// Expansion, `e -> 4e`.
    pub c_fc: Dense,
    /// Projection back, `4e -> e`.
    pub c_proj: Dense,
    dropout: f64,
}

impl Mlp {
    /// `c_proj(gelu(c_fc(x)))`, dropout when `train`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.c_fc.forward(x).gelu("tanh");
        self.c_proj.forward(&h).dropout(self.dropout, train)
    }
}

/// One pre-norm transformer block.
#[derive(Debug)]
pub struct Block {
    /// Norm before attention.
    pub ln_1: LayerNorm,
    /// Self-attention.
    pub attn: Attention,
    /// Norm before the feed-forward part.
    pub ln_2: LayerNorm,
    /// Feed-forward part.
    pub mlp: Mlp,
}

impl Block {
    fn new(p: &nn::Path, i: usize, cfg: &Config, init: InitMode) -> Self {
        let e = cfg.n_embd;
        let (w, w_proj) = match init {
            InitMode::Gpt2 => (
                Some(Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                }),
                // GPT-2: residual projections scaled by 1/sqrt(number of residual layers).
                Some(Init::Randn {
                    mean: 0.0,
                    stdev: 0.02 / (2.0 * cfg.n_layer as f64).sqrt(),
                }),
            ),
            InitMode::Zeros => (Some(Init::Const(0.0)), Some(Init::Const(0.0))),
            InitMode::Uninit => (None, None),
        };
        let name = |s: &str| format!("h.{i}.{s}");
        let dense = |s: &str, in_dim, out_dim, bias, weight_init| {
            let opts = DenseOptions {
                in_dim,
                out_dim,
                bias,
                layout: Layout::InOut,
                weight_init,
            };
            Dense::new(p, &name(s), opts)
        };
        Self {
            ln_1: LayerNorm::new(p, &name("ln_1"), e),
            attn: Attention {
                c_attn: dense("attn.c_attn", e, 3 * e, cfg.qkv_bias, w),
                c_proj: dense("attn.c_proj", e, e, true, w_proj),
                n_head: cfg.n_head,
                dropout: cfg.dropout,
            },
            ln_2: LayerNorm::new(p, &name("ln_2"), e),
            mlp: Mlp {
                c_fc: dense("mlp.c_fc", e, 4 * e, true, w),
                c_proj: dense("mlp.c_proj", 4 * e, e, true, w_proj),
                dropout: cfg.dropout,
            },
        }
    }

    /// `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
    pub fn forward(&self, x: &Tensor, causal: bool, train: bool) -> Tensor {
        let x = x + self.attn.forward(&self.ln_1.forward(x), causal, train);
        &x + self.mlp.forward(&self.ln_2.forward(&x), train)
    }

    /// The four projection layers of the block.
    pub fn linears_mut(&mut self) -> [&mut Dense; 4] {
        [
            &mut self.attn.c_attn,
            &mut self.attn.c_proj,
            &mut self.mlp.c_fc,
            &mut self.mlp.c_proj,
        ]
    }

    /// The four projection layers of the block.
    pub fn linears(&self) -> [&Dense; 4] {
        [
            &self.attn.c_attn,
            &self.attn.c_proj,
            &self.mlp.c_fc,
            &self.mlp.c_proj,
        ]
    }

    /// The same block sharing this one's tensors.
    pub fn shallow_clone(&self) -> Self {
        Self {
            ln_1: self.ln_1.shallow_clone(),
            attn: Attention {
                c_attn: self.attn.c_attn.shallow_clone(),
                c_proj: self.attn.c_proj.shallow_clone(),
                n_head: self.attn.n_head,
                dropout: self.attn.dropout,
            },
            ln_2: self.ln_2.shallow_clone(),
            mlp: Mlp {
                c_fc: self.mlp.c_fc.shallow_clone(),
                c_proj: self.mlp.c_proj.shallow_clone(),
                dropout: self.mlp.dropout,
            },
        }
    }
}

/// GPT-2 backbone with an LM head tied to the token embedding.
#[derive(Debug)]
pub struct Gpt2 {
    /// Token embedding `[vocab, e]` (`wte.weight`).
    pub wte: Tensor,
    /// Position embedding `[n_ctx, e]` (`wpe.weight`).
    pub wpe: Tensor,
    /// The transformer blocks (`h.0` ...).
    pub blocks: Vec<Block>,
    /// Final LayerNorm (`ln_f`).
    pub ln_f: LayerNorm,
    config: Config,
}

impl Gpt2 {
    /// Builds GPT-2 below `p` with GPT-2's initialisation: token embedding N(0, 0.02), position
    /// embedding N(0, 0.01) (OpenAI's code), projection weights N(0, 0.02) with the two residual
    /// projections of each block at N(0, 0.02/sqrt(2 n_layer)), biases 0, LayerNorm 1/0.
    /// Numbers come from libtorch's global generator on `p`'s device; for reproducible
    /// weights use [`Gpt2::init_seeded`] (what [`crate::Weights::Random`] does).
    pub fn new(p: &nn::Path, cfg: &Config) -> Self {
        Self::with_init(p, cfg, InitMode::Gpt2)
    }

    /// Builds GPT-2 below `p`, choosing how the variables are filled.
    pub fn with_init(p: &nn::Path, cfg: &Config, init: InitMode) -> Self {
        let e = cfg.n_embd;
        let (wte_init, wpe_init) = match init {
            InitMode::Gpt2 => (
                Some(Init::Randn {
                    mean: 0.0,
                    stdev: 0.02,
                }),
                Some(Init::Randn {
                    mean: 0.0,
                    stdev: 0.01,
                }),
            ),
            InitMode::Zeros => (Some(Init::Const(0.0)), Some(Init::Const(0.0))),
            InitMode::Uninit => (None, None),
        };
        let wte = new_var(&p.sub("wte"), "weight", &[cfg.vocab_size, e], wte_init);
        let wpe = new_var(&p.sub("wpe"), "weight", &[cfg.n_ctx, e], wpe_init);
        let blocks = (0..cfg.n_layer as usize)
            .map(|i| Block::new(p, i, cfg, init))
            .collect();
        let ln_f = LayerNorm::new(p, "ln_f", e);
        Self {
            wte,
            wpe,
            blocks,
            ln_f,
            config: *cfg,
        }
    }

    /// The hyper-parameters the model was built with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Number of blocks.
    pub fn n_layer(&self) -> usize {
        self.blocks.len()
    }

    /// Token plus position embeddings of `ids` `[b, t]` (t ≤ n_ctx), with embedding dropout
    /// when `train`. Returns `[b, t, e]`.
    ///
    /// # Panics
    /// If an id is outside the vocabulary or `t > n_ctx` (libtorch index error).
    pub fn embed(&self, ids: &Tensor, train: bool) -> Tensor {
        let t = ids.size().last().copied().unwrap_or(0);
        let pos = Tensor::arange(t, (Kind::Int64, ids.device()));
        let x = Tensor::embedding(&self.wte, ids, -1, false, false)
            + Tensor::embedding(&self.wpe, &pos, -1, false, false);
        x.dropout(self.config.dropout, train)
    }

    /// Runs blocks `blocks` (e.g. `0..n_layer`) on hidden states `[b, t, e]`.
    pub fn run_blocks(
        &self,
        x: &Tensor,
        blocks: Range<usize>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let mut x = x.shallow_clone();
        for block in &self.blocks[blocks] {
            x = block.forward(&x, causal, train);
        }
        x
    }

    /// The final LayerNorm (`ln_f`).
    pub fn final_norm(&self, x: &Tensor) -> Tensor {
        self.ln_f.forward(x)
    }

    /// The same model sharing this one's tensors (see [`crate::Classifier::replica`]).
    pub fn shallow_clone(&self) -> Self {
        Self {
            wte: self.wte.shallow_clone(),
            wpe: self.wpe.shallow_clone(),
            blocks: self.blocks.iter().map(Block::shallow_clone).collect(),
            ln_f: self.ln_f.shallow_clone(),
            config: self.config,
        }
    }

    /// Vocabulary logits from final-normed hidden states, with the head tied to `wte`.
    pub fn lm_logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<Tensor>(&self.wte, None)
    }

    /// Vocabulary logits `[b, t, vocab]` of `ids` `[b, t]`, causal.
    pub fn forward(&self, ids: &Tensor, train: bool) -> Tensor {
        let x = self.embed(ids, train);
        let x = self.run_blocks(&x, 0..self.blocks.len(), true, train);
        self.lm_logits(&self.final_norm(&x))
    }

    /// Computes every projection of every block in `precision` from now on (see
    /// [`crate::Precision`]); embeddings, norms and the LM head stay fp32.
    pub fn set_precision(&mut self, precision: crate::Precision) {
        for block in &mut self.blocks {
            for lin in block.linears_mut() {
                lin.set_precision(precision);
            }
        }
    }

    /// Adds LoRA adapters to every projection of every block (`p` is the root path given to
    /// [`Gpt2::new`]); with `split_qkv`, the fused query/key/value projection gets one adapter
    /// per part, as the chapter's three `Linear`s do.
    pub fn add_lora(&mut self, p: &nn::Path, rank: i64, alpha: f64, split_qkv: bool) {
        for block in &mut self.blocks {
            block
                .attn
                .c_attn
                .add_lora(p, qkv_adapter(rank, alpha, split_qkv));
            for lin in [
                &mut block.attn.c_proj,
                &mut block.mlp.c_fc,
                &mut block.mlp.c_proj,
            ] {
                lin.add_lora(
                    p,
                    LoraShape {
                        rank,
                        alpha,
                        parts: 1,
                    },
                );
            }
        }
    }

    /// Fills every backbone variable with GPT-2's initialisation (see [`Gpt2::new`]) drawn from
    /// a generator seeded with `seed` (per variable name), independent of libtorch's global
    /// generator, of the device and of other threads.
    pub fn init_seeded(&self, seed: u64) {
        let n_layer = self.blocks.len().max(1) as f64;
        tch::no_grad(|| {
            for (name, var) in self.named_tensors() {
                let shape = var.size();
                let mut rng = crate::rng::SeededRng::for_name(seed, &name);
                let value = if name == "wte.weight" {
                    rng.normal(&shape, 0.0, 0.02)
                } else if name == "wpe.weight" {
                    rng.normal(&shape, 0.0, 0.01)
                } else if name.contains(".ln_") || name.starts_with("ln_f.") {
                    let fill = if name.ends_with(".weight") { 1.0 } else { 0.0 };
                    Tensor::full(shape.as_slice(), fill, (Kind::Float, tch::Device::Cpu))
                } else if name.ends_with(".bias") {
                    Tensor::zeros(shape.as_slice(), (Kind::Float, tch::Device::Cpu))
                } else if name.ends_with(".c_proj.weight") {
                    rng.normal(&shape, 0.0, 0.02 / (2.0 * n_layer).sqrt())
                } else {
                    rng.normal(&shape, 0.0, 0.02)
                };
                var.shallow_clone().copy_(&value);
            }
        });
    }

    /// All backbone variables by name (shallow clones).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            ("wte.weight".to_string(), self.wte.shallow_clone()),
            ("wpe.weight".to_string(), self.wpe.shallow_clone()),
        ];
        for (i, b) in self.blocks.iter().enumerate() {
            for (n, ln) in [("ln_1", &b.ln_1), ("ln_2", &b.ln_2)] {
                out.push((format!("h.{i}.{n}.weight"), ln.weight.shallow_clone()));
                out.push((format!("h.{i}.{n}.bias"), ln.bias.shallow_clone()));
            }
            for lin in b.linears() {
                out.push((format!("{}.weight", lin.name), lin.weight.shallow_clone()));
                if let Some(bias) = &lin.bias {
                    out.push((format!("{}.bias", lin.name), bias.shallow_clone()));
                }
            }
        }
        out.push(("ln_f.weight".to_string(), self.ln_f.weight.shallow_clone()));
        out.push(("ln_f.bias".to_string(), self.ln_f.bias.shallow_clone()));
        out
    }
}

/// Names and shapes of the variables [`Gpt2::with_init`] creates for `cfg` (and
/// [`Gpt2::add_lora`] with `lora_rank`), computed without allocating: loaders compare a file
/// with them before building anything, so no number of a settings file decides an allocation
/// that the file's own tensors do not back.
pub(crate) fn variable_shapes(cfg: &Config, lora: Option<(i64, bool)>) -> Vec<(String, Vec<i64>)> {
    let e = cfg.n_embd;
    let mut out = vec![
        ("wte.weight".to_string(), vec![cfg.vocab_size, e]),
        ("wpe.weight".to_string(), vec![cfg.n_ctx, e]),
    ];
    for i in 0..cfg.n_layer {
        for n in ["ln_1", "ln_2"] {
            out.push((format!("h.{i}.{n}.weight"), vec![e]));
            out.push((format!("h.{i}.{n}.bias"), vec![e]));
        }
        for (name, in_dim, out_dim, bias) in [
            ("attn.c_attn", e, 3 * e, cfg.qkv_bias),
            ("attn.c_proj", e, e, true),
            ("mlp.c_fc", e, 4 * e, true),
            ("mlp.c_proj", 4 * e, e, true),
        ] {
            out.push((format!("h.{i}.{name}.weight"), vec![in_dim, out_dim]));
            if bias {
                out.push((format!("h.{i}.{name}.bias"), vec![out_dim]));
            }
            if let Some((r, split_qkv)) = lora {
                let parts = if name == "attn.c_attn" {
                    qkv_adapter(r, 0.0, split_qkv).parts
                } else {
                    1
                };
                out.push((format!("h.{i}.{name}.lora_a"), vec![in_dim, parts * r]));
                out.push((format!("h.{i}.{name}.lora_b"), vec![r, out_dim]));
            }
        }
    }
    out.push(("ln_f.weight".to_string(), vec![e]));
    out.push(("ln_f.bias".to_string(), vec![e]));
    out
}

/// The adapter of the fused query/key/value projection: three side by side with `split`.
fn qkv_adapter(rank: i64, alpha: f64, split: bool) -> LoraShape {
    let parts = if split { 3 } else { 1 };
    LoraShape { rank, alpha, parts }
}
