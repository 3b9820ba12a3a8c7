//! The layers blocks are made of: affine projections (`Dense`, optionally with a LoRA
//! adapter, computing in fp32 or bf16) and LayerNorm.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

use super::vars::{new_var, sub_path};

/// LayerNorm epsilon used by GPT-2 and the chapter.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// A LoRA adapter as in the chapter's appendix E: `alpha * (x @ A @ B)` with `A` `[in, rank]`
/// (kaiming-uniform with `a = sqrt(5)`, i.e. `U(-1/sqrt(rank), 1/sqrt(rank))` since torch takes
/// the fan-in of a `[in, rank]` matrix from its second dimension) and `B` `[rank, out]` zeros.
/// Note the scaling is `alpha`, not `alpha / rank`.
///
/// A layer that is several of the chapter's `Linear`s side by side (GPT-2's `c_attn`: query,
/// key and value) gets one adapter per part, as the chapter's three adapters: `A` is then
/// `[in, parts * rank]` and `B` `[rank, out]`, part `i` using columns `i*rank..` of `A` and
/// its own `out / parts` columns of `B` (the same parameters as `parts` separate adapters).
#[derive(Debug)]
pub struct Lora {
    /// `A` `[in, parts * rank]`.
    pub a: Tensor,
    /// `B` `[rank, out]`, zeros at first.
    pub b: Tensor,
    /// Scale of the update.
    pub alpha: f64,
    /// Adapters side by side (1, or 3 for a fused query/key/value projection).
    pub parts: i64,
}

impl Lora {
    fn new(p: &nn::Path, in_dim: i64, out_dim: i64, adapter: LoraShape) -> Self {
        let LoraShape { rank, alpha, parts } = adapter;
        let bound = 1.0 / (rank as f64).sqrt();
        let a = p.var(
            "lora_a",
            &[in_dim, parts * rank],
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        );
        let b = p.var("lora_b", &[rank, out_dim], Init::Const(0.0));
        Self { a, b, alpha, parts }
    }

    /// The update for `x`, computed in `kind` (the layer's compute kind).
    fn forward(&self, x: &Tensor, kind: Kind) -> Tensor {
        let (a, b) = (self.a.to_kind(kind), self.b.to_kind(kind));
        if self.parts == 1 {
            return x.matmul(&a).matmul(&b) * self.alpha;
        }
        let low = x.matmul(&a).chunk(self.parts, -1);
        let each: Vec<Tensor> = low
            .iter()
            .zip(b.chunk(self.parts, 1))
            .map(|(u, b)| u.matmul(&b))
            .collect();
        Tensor::cat(&each, -1) * self.alpha
    }

    /// `alpha * A @ B` (part by part), shape `[in, out]`.
    pub fn delta(&self) -> Tensor {
        let each: Vec<Tensor> = self
            .a
            .chunk(self.parts, 1)
            .iter()
            .zip(self.b.chunk(self.parts, 1))
            .map(|(a, b)| a.matmul(&b))
            .collect();
        Tensor::cat(&each, 1) * self.alpha
    }

    fn shallow_clone(&self) -> Self {
        Self {
            a: self.a.shallow_clone(),
            b: self.b.shallow_clone(),
            alpha: self.alpha,
            parts: self.parts,
        }
    }
}

/// Rank, scale and parts of a LoRA adapter (see [`Lora`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoraShape {
    /// Rank of each part.
    pub rank: i64,
    /// Scale of the update.
    pub alpha: f64,
    /// Adapters side by side in one layer (1, or 3 on a fused query/key/value projection).
    pub parts: i64,
}

/// Weight layout of a [`Dense`] layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// GPT-2's `Conv1D`: weight `[in, out]`, `y = x @ W + b`.
    InOut,
    /// `torch.nn.Linear`: weight `[out, in]`, `y = x @ W^T + b` (the classifier head).
    OutIn,
}

/// An affine layer, optionally with a LoRA adapter.
#[derive(Debug)]
pub struct Dense {
    /// Variable prefix, e.g. `h.0.attn.c_attn`.
    pub name: String,
    /// `name.weight`, `[in, out]` or `[out, in]` per `layout`.
    pub weight: Tensor,
    /// `name.bias` `[out]`, if the layer has one.
    pub bias: Option<Tensor>,
    /// Weight layout.
    pub layout: Layout,
    /// Input width.
    pub in_dim: i64,
    /// Output width.
    pub out_dim: i64,
    /// LoRA adapter, when one was added with [`Dense::add_lora`].
    pub lora: Option<Lora>,
    /// Element type of the product (see [`crate::Precision`]): `Float`, or `BFloat16` for
    /// mixed precision, where the input, weight and bias are cast (the weight stays fp32).
    compute: Kind,
}

/// Shape and initialisation of a new [`Dense`] layer (see [`Dense::new`]).
#[derive(Debug, Clone, Copy)]
pub struct DenseOptions {
    /// Input width.
    pub in_dim: i64,
    /// Output width.
    pub out_dim: i64,
    /// Whether the layer has a bias (created as zeros).
    pub bias: bool,
    /// Weight layout.
    pub layout: Layout,
    /// How the weight is filled; `None` leaves it uninitialised (for loaders that overwrite it).
    pub weight_init: Option<Init>,
}

impl Dense {
    /// Creates `name.weight` (and `name.bias` if `opts.bias`) below `p`.
    pub fn new(p: &nn::Path, name: &str, opts: DenseOptions) -> Self {
        let DenseOptions {
            in_dim,
            out_dim,
            bias,
            layout,
            weight_init,
        } = opts;
        let q = sub_path(p, name);
        let dims = match layout {
            Layout::InOut => [in_dim, out_dim],
            Layout::OutIn => [out_dim, in_dim],
        };
        let weight = new_var(&q, "weight", &dims, weight_init);
        let bias = bias.then(|| q.var("bias", &[out_dim], Init::Const(0.0)));
        Self {
            name: name.to_string(),
            weight,
            bias,
            layout,
            in_dim,
            out_dim,
            lora: None,
            compute: Kind::Float,
        }
    }

    /// The element type the layer computes in (`Float` unless set by
    /// [`Dense::set_precision`]).
    pub fn compute_kind(&self) -> Kind {
        self.compute
    }

    /// Computes in `precision` from now on (the variables keep their fp32 values).
    pub fn set_precision(&mut self, precision: crate::Precision) {
        self.compute = precision.compute_kind();
    }

    /// The weight in the compute kind: the variable itself in fp32, a cast (through which
    /// gradients flow back) in mixed precision.
    pub fn compute_weight(&self) -> Tensor {
        self.weight.to_kind(self.compute)
    }

    /// The bias in the compute kind (see [`Dense::compute_weight`]).
    pub fn compute_bias(&self) -> Option<Tensor> {
        self.bias.as_ref().map(|b| b.to_kind(self.compute))
    }

    /// `x @ W + b` over the last dimension of `x` (plus the adapter's update if any), in the
    /// compute kind, which is also the output's kind.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        if self.compute != Kind::Float {
            let x = x.to_kind(self.compute);
            return self.product(&x, &self.compute_weight(), self.compute_bias().as_ref());
        }
        self.product(x, &self.weight, self.bias.as_ref())
    }

    fn product(&self, x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
        let y = match self.layout {
            Layout::InOut => {
                let mut out_shape = x.size();
                if let Some(last) = out_shape.last_mut() {
                    *last = self.out_dim;
                }
                let x2 = x.reshape([-1, self.in_dim]);
                let y = match bias {
                    Some(b) => b.addmm(&x2, weight),
                    None => x2.matmul(weight),
                };
                y.reshape(out_shape.as_slice())
            }
            Layout::OutIn => x.linear(weight, bias),
        };
        match &self.lora {
            Some(l) => y + l.forward(x, self.compute),
            None => y,
        }
    }

    /// Adds a LoRA adapter (`name.lora_a`, `name.lora_b`) below `p` (the model's root path).
    pub fn add_lora(&mut self, p: &nn::Path, adapter: LoraShape) {
        let q = sub_path(p, &self.name);
        self.lora = Some(Lora::new(&q, self.in_dim, self.out_dim, adapter));
    }

    /// The weight with the LoRA update folded in (the weight itself when there is no adapter).
    pub fn merged_weight(&self) -> Tensor {
        tch::no_grad(|| match (&self.lora, self.layout) {
            (None, _) => self.weight.detach().copy(),
            (Some(l), Layout::InOut) => self.weight.detach() + l.delta(),
            (Some(l), Layout::OutIn) => self.weight.detach() + l.delta().tr(),
        })
    }

    /// The same layer sharing this one's tensors.
    pub fn shallow_clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            weight: self.weight.shallow_clone(),
            bias: self.bias.as_ref().map(Tensor::shallow_clone),
            layout: self.layout,
            in_dim: self.in_dim,
            out_dim: self.out_dim,
            lora: self.lora.as_ref().map(Lora::shallow_clone),
            compute: self.compute,
        }
    }
}

/// LayerNorm over the last dimension (`weight` = the chapter's `scale`, `bias` = `shift`).
#[derive(Debug)]
pub struct LayerNorm {
    /// Scale `[dim]`.
    pub weight: Tensor,
    /// Shift `[dim]`.
    pub bias: Tensor,
    dim: i64,
}

impl LayerNorm {
    /// Creates `name.weight` (ones) and `name.bias` (zeros) of width `dim` below `p`.
    pub fn new(p: &nn::Path, name: &str, dim: i64) -> Self {
        let q = sub_path(p, name);
        Self {
            weight: q.var("weight", &[dim], Init::Const(1.0)),
            bias: q.var("bias", &[dim], Init::Const(0.0)),
            dim,
        }
    }

    /// Normalises over the last dimension, then scales and shifts.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            Some(&self.weight),
            Some(&self.bias),
            LAYER_NORM_EPS,
            true,
        )
    }

    /// The normalisation alone, before the scale and shift: `(x - mean) / std`.
    pub fn normalize(&self, x: &Tensor) -> Tensor {
        x.layer_norm(
            [self.dim],
            None::<&Tensor>,
            None::<&Tensor>,
            LAYER_NORM_EPS,
            true,
        )
    }

    /// The scale and shift alone: `forward(x) == affine(normalize(x))`.
    pub fn affine(&self, x_hat: &Tensor) -> Tensor {
        x_hat * &self.weight + &self.bias
    }

    pub(super) fn shallow_clone(&self) -> Self {
        Self {
            weight: self.weight.shallow_clone(),
            bias: self.bias.shallow_clone(),
            dim: self.dim,
        }
    }
}
