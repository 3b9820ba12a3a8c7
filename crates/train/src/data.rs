//! The data a run trains on: three tokenized splits and how to pad them.

use crate::batch::{Examples, PadTo};

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
