//! Model hyper-parameters and the four published GPT-2 sizes.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use spam_data::Named;

use crate::error::ModelError;

/// GPT-2 vocabulary size (BPE tokens including `<|endoftext|>`).
pub const GPT2_VOCAB_SIZE: i64 = 50257;
/// GPT-2 context length.
pub const GPT2_CONTEXT: i64 = 1024;
/// `<|endoftext|>`, the chapter's padding token.
pub const END_OF_TEXT: i64 = 50256;

/// Largest vocabulary [`Config::validate`] accepts.
const MAX_VOCAB: i64 = 1 << 22;
/// Largest context length [`Config::validate`] accepts.
const MAX_CONTEXT: i64 = 1 << 20;
/// Largest embedding width [`Config::validate`] accepts.
const MAX_WIDTH: i64 = 1 << 16;
/// Most blocks [`Config::validate`] accepts.
const MAX_LAYERS: i64 = 1024;
/// Most backbone parameters [`Config::validate`] accepts (40 GB of float32; GPT-2 XL has 1.5e9).
const MAX_PARAMETERS: i64 = 10_000_000_000;

/// GPT-2 architecture hyper-parameters.
///
/// Field names follow the Hugging Face / OpenAI `hparams.json` names; the chapter calls them
/// `vocab_size`, `context_length`, `emb_dim`, `n_layers`, `n_heads`, `drop_rate`, `qkv_bias`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Vocabulary size (`n_vocab`, the chapter's `vocab_size`).
    pub vocab_size: i64,
    /// Context length (the chapter's `context_length`).
    pub n_ctx: i64,
    /// Embedding width (the chapter's `emb_dim`).
    pub n_embd: i64,
    /// Number of transformer blocks (the chapter's `n_layers`).
    pub n_layer: i64,
    /// Number of attention heads (the chapter's `n_heads`).
    pub n_head: i64,
    /// Dropout rate used for embeddings, attention weights and residual branches during
    /// training. The chapter fine-tunes with 0.0 (the default here); GPT-2 pre-training used 0.1.
    pub dropout: f64,
    /// Whether the query/key/value projection has a bias (GPT-2 checkpoints do).
    pub qkv_bias: bool,
}

impl Config {
    /// The published hyper-parameters of one GPT-2 size (vocab 50257, context 1024, qkv bias,
    /// dropout 0.0 as in the chapter's fine-tuning runs).
    pub fn for_size(size: ModelSize) -> Self {
        let ModelDims {
            n_embd,
            n_layer,
            n_head,
        } = size.dims();
        Self {
            vocab_size: GPT2_VOCAB_SIZE,
            n_ctx: GPT2_CONTEXT,
            n_embd,
            n_layer,
            n_head,
            dropout: 0.0,
            qkv_bias: true,
        }
    }

    /// GPT-2 small (124M).
    pub fn gpt2_124m() -> Self {
        Self::for_size(ModelSize::S124M)
    }

    /// A tiny configuration for tests: vocab 512, context 32, width 16, 2 layers, 2 heads.
    /// Token ids must be below 512.
    pub fn tiny() -> Self {
        Self {
            vocab_size: 512,
            n_ctx: 32,
            n_embd: 16,
            n_layer: 2,
            n_head: 2,
            dropout: 0.0,
            qkv_bias: true,
        }
    }

    /// The same configuration with another dropout rate.
    pub fn with_dropout(mut self, dropout: f64) -> Self {
        self.dropout = dropout;
        self
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.n_embd / self.n_head.max(1)
    }

    /// The published size these dimensions belong to, if any.
    pub fn size(&self) -> Option<ModelSize> {
        ModelSize::ALL.into_iter().find(|s| {
            let d = s.dims();
            d.n_embd == self.n_embd && d.n_layer == self.n_layer && d.n_head == self.n_head
        })
    }

    /// Checks that the numbers describe a buildable model.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |what: String| Err(ModelError::InvalidConfig(what));
        if self.vocab_size <= 0 || self.n_ctx <= 0 || self.n_embd <= 0 {
            return bad(format!(
                "vocab_size ({}), n_ctx ({}) and n_embd ({}) must be positive",
                self.vocab_size, self.n_ctx, self.n_embd
            ));
        }
        if self.n_layer <= 0 || self.n_head <= 0 {
            return bad(format!(
                "n_layer ({}) and n_head ({}) must be positive",
                self.n_layer, self.n_head
            ));
        }
        if self.n_embd % self.n_head != 0 {
            return bad(format!(
                "n_embd ({}) must be divisible by n_head ({})",
                self.n_embd, self.n_head
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout ({}) must be in [0, 1)", self.dropout));
        }
        // Far above every published size, low enough that nothing below overflows or asks
        // the allocator for an absurd amount before a file could contradict it.
        for (name, value, max) in [
            ("vocab_size", self.vocab_size, MAX_VOCAB),
            ("n_ctx", self.n_ctx, MAX_CONTEXT),
            ("n_embd", self.n_embd, MAX_WIDTH),
            ("n_layer", self.n_layer, MAX_LAYERS),
        ] {
            if value > max {
                return bad(format!("{name} ({value}) is above the limit of {max}"));
            }
        }
        if self.num_parameters() > MAX_PARAMETERS {
            return bad(format!(
                "the model would have {} parameters, above the limit of {MAX_PARAMETERS}",
                self.num_parameters()
            ));
        }
        Ok(())
    }

    /// Number of parameters of the backbone (embeddings, blocks, final norm; the LM head is
    /// tied to `wte` and not counted).
    pub fn num_parameters(&self) -> i64 {
        let e = self.n_embd;
        let block = 2 * (2 * e) // ln_1, ln_2
            + e * 3 * e + 3 * e // c_attn
            + e * e + e // attn.c_proj
            + e * 4 * e + 4 * e // c_fc
            + 4 * e * e + e; // mlp.c_proj
        self.vocab_size * e + self.n_ctx * e + self.n_layer * block + 2 * e
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::gpt2_124m()
    }
}

/// Width, depth and head count of a published size (see [`ModelSize::dims`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelDims {
    /// Embedding width.
    pub n_embd: i64,
    /// Number of transformer blocks.
    pub n_layer: i64,
    /// Number of attention heads.
    pub n_head: i64,
}

/// The four published GPT-2 sizes. Parses from and displays as `"124M"`, `"355M"`, `"774M"`,
/// `"1558M"` (also accepts `gpt2`, `gpt2-small`, `gpt2-medium`, `gpt2-large`, `gpt2-xl`), in
/// files too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelSize {
    /// GPT-2 small, 124M parameters.
    S124M,
    /// GPT-2 medium, 355M parameters.
    S355M,
    /// GPT-2 large, 774M parameters.
    S774M,
    /// GPT-2 XL, 1558M parameters.
    S1558M,
}

impl Named for ModelSize {
    const WHAT: &'static str = "model size";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::S124M, "124M", &["124m", "124", "small", "gpt2"]),
        (Self::S355M, "355M", &["355m", "355", "medium"]),
        (Self::S774M, "774M", &["774m", "774", "large"]),
        (Self::S1558M, "1558M", &["1558m", "1558", "1.5b", "xl"]),
    ];
}

impl ModelSize {
    /// All sizes, smallest first.
    pub const ALL: [ModelSize; 4] = [Self::S124M, Self::S355M, Self::S774M, Self::S1558M];

    /// Width, depth and head count.
    pub fn dims(self) -> ModelDims {
        let (n_embd, n_layer, n_head) = match self {
            Self::S124M => (768, 12, 12),
            Self::S355M => (1024, 24, 16),
            Self::S774M => (1280, 36, 20),
            Self::S1558M => (1600, 48, 25),
        };
        ModelDims {
            n_embd,
            n_layer,
            n_head,
        }
    }

    /// `"124M"` etc.: the name in [`Named::NAMES`].
    pub fn as_str(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }

    /// The Hugging Face hub name (`gpt2`, `gpt2-medium`, `gpt2-large`, `gpt2-xl`).
    pub fn hub_name(self) -> &'static str {
        match self {
            Self::S124M => "gpt2",
            Self::S355M => "gpt2-medium",
            Self::S774M => "gpt2-large",
            Self::S1558M => "gpt2-xl",
        }
    }
}

impl fmt::Display for ModelSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name(f)
    }
}

impl FromStr for ModelSize {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`], trimmed, in any case, after an optional `gpt2-`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.trim_start_matches("gpt2-").trim_start_matches("gpt2_");
        Self::from_name(t).ok_or_else(|| ModelError::InvalidConfig(Self::unknown(s)))
    }
}

spam_data::serde_by_name!(ModelSize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        for s in ModelSize::ALL {
            assert_eq!(s.to_string().parse::<ModelSize>().ok(), Some(s));
            let json = serde_json::to_string(&s).unwrap_or_default();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(Config::for_size(s).size(), Some(s));
        }
        assert!("999M".parse::<ModelSize>().is_err());
        assert_eq!("gpt2-xl".parse::<ModelSize>().ok(), Some(ModelSize::S1558M));
    }

    #[test]
    fn parameter_count_124m() {
        // 124,439,808 parameters without the tied LM head.
        assert_eq!(Config::gpt2_124m().num_parameters(), 124_439_808);
    }
}
