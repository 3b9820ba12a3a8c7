//! What a classifier is, as settings: which position feeds the head, which parameters
//! learn, and the whole `classifier.json`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use spam_data::Named;

use crate::config::{Config, END_OF_TEXT, ModelSize};
use crate::error::{ModelError, Result};

/// Which output position feeds the classification head. Files spell it as `Display` writes it
/// (`"last"`) and accept what `FromStr` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenPosition {
    /// The last position (the chapter's choice; with right padding that is often a pad token).
    #[default]
    Last,
    /// The first position.
    First,
    /// The last non-padding token, position `length - 1` (the chapter's bonus "flexible"
    /// setting). Without lengths every position counts as real (same as `Last`).
    Flexible,
    /// Mean over positions of the final-normed hidden states, then the head.
    ///
    /// The chapter's bonus script (`--average_embeddings`, table row "last + mean-pooled
    /// embeddings") applies the `Linear(emb, classes)` head to every position and averages
    /// the logits over the whole sequence (`model_output.mean(dim=1)`); since the head is
    /// linear that equals the head applied to the mean hidden state, which is what is computed
    /// here, with the same `Linear(emb, classes)` head (no concatenation). With `lengths`
    /// only the non-padding positions `0..length` are averaged; with `lengths = None` all
    /// positions are, exactly as the script does.
    Pooled,
}

impl Named for TokenPosition {
    const WHAT: &'static str = "token position";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Last, "last", &[]),
        (Self::First, "first", &[]),
        (Self::Flexible, "flexible", &["last_non_padding"]),
        (
            Self::Pooled,
            "pooled",
            &["mean", "average", "average_embeddings"],
        ),
    ];
}

impl TokenPosition {
    /// The position's name in [`Named::NAMES`]: `last`, `first`, `flexible` or `pooled`.
    pub fn as_str(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }
}

impl fmt::Display for TokenPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name(f)
    }
}

impl FromStr for TokenPosition {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`], trimmed, in any case, `-` read as `_`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::from_name(&t).ok_or_else(|| ModelError::InvalidConfig(Self::unknown(s)))
    }
}

spam_data::serde_by_name!(TokenPosition);

/// Which parameters are trained (everything else is frozen).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Trainable {
    /// The new head only.
    LastLayer,
    /// Head, last block and final norm (the chapter's setting).
    #[default]
    LastBlock,
    /// Head, last two blocks and final norm.
    LastTwoBlocks,
    /// Everything.
    All,
    /// LoRA adapters on every projection, including the head, plus the new head's own
    /// weight and bias (as the chapter's experiments script trains them); the backbone is
    /// frozen (appendix E's adapters: scaling `alpha`, not `alpha / rank`).
    Lora {
        /// Rank of each adapter.
        rank: i64,
        /// Scale of the adapters' update.
        alpha: f64,
    },
}

impl Trainable {
    /// How many blocks, counted from the first, the mode freezes in a backbone of `n_layer`
    /// blocks; the embeddings are frozen too whenever this is above 0. `n_layer` for
    /// `last_layer`, `n_layer - 1` for `last_block`, `n_layer - 2` for `last_two_blocks`, and
    /// 0 for `all` and LoRA (whose adapters sit in every block). The one rule for what is
    /// frozen: [`Classifier`] sets `requires_grad` by it, and a cache of the frozen blocks'
    /// output (see [`Classifier::forward_prefix`]) stops where it says.
    pub fn frozen_blocks(&self, n_layer: usize) -> usize {
        match self {
            Self::LastLayer => n_layer,
            Self::LastBlock => n_layer.saturating_sub(1),
            Self::LastTwoBlocks => n_layer.saturating_sub(2),
            Self::All | Self::Lora { .. } => 0,
        }
    }

    /// LoRA as `lora` alone sets it: rank 16, alpha 16 (the table's 124M setting).
    pub const LORA: Self = Self::Lora {
        rank: 16,
        alpha: 16.0,
    };

    /// The mode's name in [`Named::NAMES`]: `last_layer`, `last_block`, `last_two_blocks`,
    /// `all` or `lora` (for any rank and alpha).
    pub fn name(&self) -> &'static str {
        let named = match self {
            Self::Lora { .. } => &Self::LORA,
            other => other,
        };
        named.name_of().unwrap_or_default()
    }
}

impl Named for Trainable {
    const WHAT: &'static str = "trainable mode";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::LastLayer, "last_layer", &["head"]),
        (Self::LastBlock, "last_block", &[]),
        (Self::LastTwoBlocks, "last_two_blocks", &[]),
        (Self::All, "all", &[]),
        (Self::LORA, "lora", &[]),
    ];
    const FORMS: &'static [&'static str] = &["`lora:RANK:ALPHA`"];
}

impl fmt::Display for Trainable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lora { rank, alpha } => write!(f, "lora(rank={rank}, alpha={alpha})"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Trainable {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`] (`lora` is [`Trainable::LORA`]) or
    /// `lora:RANK:ALPHA`; trimmed, in any case, `-` read as `_`.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase().replace('-', "_");
        if let Some(named) = Self::from_name(&t) {
            return Ok(named);
        }
        let bad = || ModelError::InvalidConfig(Self::unknown(s));
        let rest = t.strip_prefix("lora:").ok_or_else(bad)?;
        let (r, a) = rest.split_once(':').ok_or_else(bad)?;
        let rank: i64 = r.parse().map_err(|_| bad())?;
        let alpha: f64 = a.parse().map_err(|_| bad())?;
        if rank <= 0 {
            return Err(bad());
        }
        Ok(Self::Lora { rank, alpha })
    }
}

/// Everything needed to rebuild a classifier; saved as `classifier.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// The backbone's hyper-parameters.
    pub model: Config,
    /// The published size the backbone has, if any.
    pub size: Option<ModelSize>,
    /// Number of classes (outputs of the head).
    pub num_classes: i64,
    /// Class names, by class index (empty or `num_classes` long).
    pub label_names: Vec<String>,
    /// Padded/truncated input length used in training (None: longest training example).
    pub max_length: Option<usize>,
    /// Padding token id.
    pub pad_id: i64,
    /// Which position feeds the head.
    pub token_position: TokenPosition,
    /// Which parameters are trained.
    pub trainable: Trainable,
    #[serde(default = "default_true")]
    /// Whether attention is causal (the chapter's setting) or sees every position.
    pub causal_mask: bool,
    /// LoRA adapters have been folded into the weights (the saved file has no adapters).
    #[serde(default)]
    pub lora_merged: bool,
    /// LoRA: the fused query/key/value projection (`c_attn`) gets one adapter per part, as
    /// the chapter's `W_query`, `W_key` and `W_value` do (true for new classifiers); false is
    /// one adapter on the fused projection, what models saved before this setting have.
    #[serde(default)]
    pub lora_split_qkv: bool,
}

impl ClassifierConfig {
    /// The chapter's setting for a model size: 2 classes (`ham`, `spam`), pad id 50256, last
    /// token, last block trainable, causal mask.
    pub fn spam(size: ModelSize) -> Self {
        Self {
            model: Config::for_size(size),
            size: Some(size),
            num_classes: 2,
            label_names: vec!["ham".into(), "spam".into()],
            max_length: None,
            pad_id: END_OF_TEXT,
            token_position: TokenPosition::Last,
            trainable: Trainable::LastBlock,
            causal_mask: true,
            lora_merged: false,
            lora_split_qkv: true,
        }
    }

    /// A classifier on an arbitrary backbone configuration (e.g. [`Config::tiny`]).
    pub fn new(model: Config, num_classes: i64) -> Self {
        Self {
            model,
            size: model.size(),
            num_classes,
            label_names: (0..num_classes).map(|i| format!("class_{i}")).collect(),
            max_length: None,
            pad_id: END_OF_TEXT.min(model.vocab_size - 1),
            token_position: TokenPosition::Last,
            trainable: Trainable::LastBlock,
            causal_mask: true,
            lora_merged: false,
            lora_split_qkv: true,
        }
    }

    /// Checks that the configuration describes a buildable classifier.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        if !(1..=MAX_CLASSES).contains(&self.num_classes) {
            return Err(ModelError::InvalidConfig(format!(
                "num_classes must be in 1..={MAX_CLASSES}, got {}",
                self.num_classes
            )));
        }
        // Padding is looked up in the token embedding: an id outside it would fail there.
        if !(0..self.model.vocab_size).contains(&self.pad_id) {
            return Err(ModelError::InvalidConfig(format!(
                "pad_id {} is outside the vocabulary (0..{})",
                self.pad_id, self.model.vocab_size
            )));
        }
        if !self.label_names.is_empty() && self.label_names.len() as i64 != self.num_classes {
            return Err(ModelError::InvalidConfig(format!(
                "{} label names for {} classes",
                self.label_names.len(),
                self.num_classes
            )));
        }
        if let Trainable::Lora { rank, alpha } = self.trainable
            && (!(1..=self.model.n_embd).contains(&rank) || !alpha.is_finite())
        {
            return Err(ModelError::InvalidConfig(format!(
                "LoRA rank must be in 1..={} (the width) and alpha a finite number, got rank \
                 {rank}, alpha {alpha}",
                self.model.n_embd
            )));
        }
        if let Some(m) = self.max_length
            && (m == 0 || m as i64 > self.model.n_ctx)
        {
            return Err(ModelError::InvalidConfig(format!(
                "max_length {m} must be in 1..={} (the context length)",
                self.model.n_ctx
            )));
        }
        Ok(())
    }

    pub(super) fn adapters_present(&self) -> bool {
        matches!(self.trainable, Trainable::Lora { .. }) && !self.lora_merged
    }
}

/// Most classes a head may have.
pub(super) const MAX_CLASSES: i64 = 1 << 16;

fn default_true() -> bool {
    true
}
