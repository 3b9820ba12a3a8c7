//! Which number format the model computes in.

use std::fmt;
use std::str::FromStr;

use spam_data::Named;
use tch::Kind;

use crate::error::{ModelError, Result};

/// The number format of a model's matrix products and activations.
///
/// `Bf16` is mixed precision as PyTorch's autocast does it: the variables (and so the
/// optimizer's master weights and state) stay fp32; each projection casts its input, weight
/// and bias to bf16 and returns bf16, so attention (libtorch's fused kernel), GELU and
/// dropout run in bf16 too; the residual stream, the layer norms, the softmax of the
/// one-position attention, the logits and the loss stay fp32. Gradients reach the fp32
/// weights through the casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Everything in fp32: exact (the chapter's numbers).
    #[default]
    Fp32,
    /// bf16 matrix products and activations, fp32 weights, norms and loss. Not exact.
    Bf16,
}

impl Named for Precision {
    const WHAT: &'static str = "precision";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Fp32, "fp32", &["f32", "float32"]),
        (Self::Bf16, "bf16", &["bfloat16"]),
    ];
}

impl Precision {
    /// The name in [`Named::NAMES`]: `fp32` or `bf16`.
    pub fn as_str(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }

    /// The element type matrix products run in.
    pub fn compute_kind(self) -> Kind {
        match self {
            Self::Fp32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
        }
    }

    /// Whether the results are fp32's bit for bit (the same math as the chapter's code).
    pub fn is_exact(self) -> bool {
        self == Self::Fp32
    }

    pub(crate) fn of_kind(kind: Kind) -> Self {
        if kind == Kind::BFloat16 {
            Self::Bf16
        } else {
            Self::Fp32
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name(f)
    }
}

impl FromStr for Precision {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`], trimmed, in any case.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(&s.trim().to_ascii_lowercase())
            .ok_or_else(|| ModelError::InvalidConfig(Self::unknown(s)))
    }
}

spam_data::serde_by_name!(Precision);
