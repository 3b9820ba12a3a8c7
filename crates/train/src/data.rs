//! The data a run trains on: three tokenized splits and how to pad them.

use crate::batch::{Examples, PadTo};
use crate::error::{Result, TrainError};

/// The three tokenized splits and how to pad them.
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Examples the optimizer learns from.
    pub train: Examples,
    /// Examples of the periodic estimates and early stopping.
    pub validation: Examples,
    /// Held-out examples, read only by the closing pass.
    pub test: Examples,
    /// How batches are padded.
    pub pad: PadTo,
    /// The padding token (the chapter: 50256).
    pub pad_id: i64,
    /// Class names, by class index.
    pub label_names: Vec<String>,
}

impl TrainData {
    /// Checks that a model of `model`'s dimensions can read every example: each token id and
    /// the padding id is a row of its token embedding, and every row fits its context.
    /// `source` names where the dimensions come from (the weights or the architecture).
    pub fn check_fits(&self, model: &spam_model::Config, source: &str) -> Result<()> {
        let rows = || Split::ALL.into_iter().flat_map(|s| s.of(self).ids.iter());
        let max_id = rows()
            .flat_map(|r| r.iter().copied())
            .max()
            .unwrap_or(0)
            .max(self.pad_id);
        if max_id >= model.vocab_size {
            return Err(TrainError::Settings(format!(
                "{source} has a vocabulary of {} tokens, but the data's token ids (GPT-2's \
                 tokenizer, padding {}) go up to {max_id}: use weights or an architecture with \
                 the GPT-2 vocabulary ({})",
                model.vocab_size,
                self.pad_id,
                spam_data::GPT2_VOCAB_SIZE
            )));
        }
        let longest = match self.pad {
            PadTo::Fixed(n) => n,
            PadTo::Dynamic => rows().map(Vec::len).max().unwrap_or(0),
        };
        if longest as i64 > model.n_ctx {
            return Err(TrainError::Settings(format!(
                "{source} has a context of {} tokens, but the data has rows of {longest} tokens: \
                 pad or truncate to at most {} (--padding fixed:{}) or use a longer context",
                model.n_ctx, model.n_ctx, model.n_ctx
            )));
        }
        Ok(())
    }
}

/// A split of [`TrainData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The training split.
    Train,
    /// The validation split.
    Validation,
    /// The test split.
    Test,
}

impl Split {
    /// The three splits, in the order of [`Split::index`].
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    /// The split's name in `metrics.json` and file names (`train`, `validation`, `test`).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// Position in [`Split::ALL`], for per-split arrays.
    pub fn index(self) -> usize {
        match self {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Test => 2,
        }
    }

    /// This split's examples in `data`.
    pub fn of(self, data: &TrainData) -> &Examples {
        match self {
            Split::Train => &data.train,
            Split::Validation => &data.validation,
            Split::Test => &data.test,
        }
    }
}
