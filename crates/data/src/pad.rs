//! Encoding splits to token ids, truncating and padding them.
//!
//! Padding is appended (right padding) with [`PAD_TOKEN_ID`] (50256, `<|endoftext|>`), as in the
//! chapter; each row's true (post-truncation) length is kept in [`EncodedSplit::lengths`], so a
//! model can read the last real token instead of a pad. Truncation never exceeds the model
//! context (`max_context`, 1024 for GPT-2).

use crate::error::{DataError, Result};
use crate::named::Named;
use crate::split::Splits;
use crate::tokenize::Tokenizer;

/// The pad token: GPT-2's `<|endoftext|>`.
pub const PAD_TOKEN_ID: u32 = 50_256;
/// GPT-2's context length.
pub const GPT2_CONTEXT: usize = 1024;

/// How rows are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// Pad every split to the longest training example (capped at the context); validation and
    /// test rows are truncated to it. The chapter's behaviour (120 on the SMS data).
    #[default]
    Longest,
    /// Pad and truncate every row to this length (at most the context, e.g. 1024).
    Fixed(usize),
    /// No padding: rows keep their length (truncated to the context).
    None,
    /// No padding at rest; each batch is padded to its own longest row.
    Dynamic,
}

impl Named for Padding {
    const WHAT: &'static str = "padding";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Padding::Longest, "longest", &[]),
        (Padding::None, "none", &[]),
        (Padding::Dynamic, "dynamic", &[]),
    ];
    /// `N` is a number of tokens.
    const FORMS: &'static [&'static str] = &["`fixed:N`"];
}

impl std::fmt::Display for Padding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.name_of(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Padding::Fixed(n)) => write!(f, "fixed:{n}"),
            (None, other) => write!(f, "{other:?}"),
        }
    }
}

impl std::str::FromStr for Padding {
    type Err = DataError;
    /// A name of [`Named::NAMES`], `fixed:N`, `fixed=N`, `fixed N` or just `N`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        if let Some(named) = Self::from_name(&s) {
            return Ok(named);
        }
        let n = s.strip_prefix("fixed").unwrap_or(&s);
        let n = n.trim_start_matches([':', '=', ' ']);
        n.parse()
            .map(Padding::Fixed)
            .map_err(|_| DataError::InvalidOption(Self::unknown(&s)))
    }
}

/// One split as token ids.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedSplit {
    /// Token ids per row; padded to `padded_len` when that is set.
    pub ids: Vec<Vec<u32>>,
    /// True length of each row (after truncation, before padding).
    pub lengths: Vec<usize>,
    /// Class index of each row.
    pub labels: Vec<usize>,
    /// The common row length, for `Longest` and `Fixed`; `None` for variable-length rows.
    pub padded_len: Option<usize>,
}

impl EncodedSplit {
    /// Builds a split from unpadded ids: truncates each row to `truncate_to` and, if `pad_to` is
    /// set, pads it to that length.
    pub fn from_ids(
        mut ids: Vec<Vec<u32>>,
        labels: Vec<usize>,
        truncate_to: usize,
        pad_to: Option<usize>,
    ) -> Self {
        let mut lengths = Vec::with_capacity(ids.len());
        for row in &mut ids {
            row.truncate(truncate_to);
            lengths.push(row.len());
            if let Some(n) = pad_to {
                row.resize(n.max(row.len()), PAD_TOKEN_ID);
            }
        }
        EncodedSplit {
            ids,
            lengths,
            labels,
            padded_len: pad_to,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Sum of the true lengths (tokens without padding).
    pub fn real_tokens(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// The longest true length.
    pub fn longest(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }
}

/// The three splits encoded with one padding policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EncodedSplits {
    /// Training rows.
    pub train: EncodedSplit,
    /// Validation rows.
    pub validation: EncodedSplit,
    /// Test rows.
    pub test: EncodedSplit,
    /// The common padded length (`Longest`, `Fixed`), else `None`.
    pub padded_len: Option<usize>,
}

/// Tokenizes and pads the three splits. With [`Padding::Longest`] the length is the longest
/// training example (capped at `max_context`) and validation/test are truncated to it, exactly as
/// the chapter's `SpamDataset(max_length=train_dataset.max_length)`.
pub fn encode_splits(
    tokenizer: &Tokenizer,
    splits: &Splits,
    padding: Padding,
    max_context: usize,
) -> Result<EncodedSplits> {
    if max_context == 0 {
        return Err(DataError::InvalidOption(
            "the model context must be at least 1 token".into(),
        ));
    }
    let [train, validation, test] = splits
        .named()
        .map(|(_, ds)| tokenizer.encode_all(&ds.texts));
    let (truncate_to, pad_to) = match padding {
        Padding::Longest => {
            let longest = train
                .iter()
                .map(Vec::len)
                .max()
                .unwrap_or(0)
                .min(max_context);
            if longest == 0 {
                return Err(DataError::InvalidOption(
                    "padding `longest`: the training split has no tokens (empty texts?)".into(),
                ));
            }
            (longest, Some(longest))
        }
        Padding::Fixed(n) => {
            if n == 0 || n > max_context {
                return Err(DataError::InvalidOption(format!(
                    "padding fixed:{n} must be between 1 and the model context ({max_context})"
                )));
            }
            (n, Some(n))
        }
        Padding::None | Padding::Dynamic => (max_context, None),
    };
    let mk = |ids, ds: &crate::Dataset| {
        EncodedSplit::from_ids(ids, ds.labels.clone(), truncate_to, pad_to)
    };
    Ok(EncodedSplits {
        train: mk(train, &splits.train),
        validation: mk(validation, &splits.validation),
        test: mk(test, &splits.test),
        padded_len: pad_to,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn padding_from_str() {
        assert_eq!("longest".parse::<Padding>().unwrap(), Padding::Longest);
        assert_eq!(
            "fixed:1024".parse::<Padding>().unwrap(),
            Padding::Fixed(1024)
        );
        assert_eq!("fixed 7".parse::<Padding>().unwrap(), Padding::Fixed(7));
        assert_eq!("12".parse::<Padding>().unwrap(), Padding::Fixed(12));
        assert_eq!("Dynamic".parse::<Padding>().unwrap(), Padding::Dynamic);
        assert!("wide".parse::<Padding>().is_err());
    }

    #[test]
    fn from_ids_truncates_and_pads() {
        let s = EncodedSplit::from_ids(vec![vec![1, 2, 3], vec![4]], vec![0, 1], 2, Some(2));
        assert_eq!(s.ids, [vec![1, 2], vec![4, PAD_TOKEN_ID]]);
        assert_eq!(s.lengths, [2, 1]);
    }
}
