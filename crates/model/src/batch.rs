//! How the rows of a batch are padded, and the distinct rows of a batch: shared by
//! prediction here and by spam-train's loop.

use std::collections::HashMap;
use std::hash::Hash;

use crate::classifier::TokenPosition;

/// How the rows of a batch are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PadTo {
    /// Every row to this length (the chapter: the longest training example).
    Fixed(usize),
    /// Each batch to its own longest row.
    Dynamic,
}

impl PadTo {
    /// The padding of rows prepared to `max_length` (`None`: each at its own length), as
    /// spam-data's `padded_len` and a saved model's `max_length` give it.
    pub fn for_max_length(max_length: Option<usize>) -> Self {
        max_length.map_or(PadTo::Dynamic, PadTo::Fixed)
    }
}

/// Whether rows kept at their own length are read at the `last` position: then `last`
/// means each row's own last token, and a batch that padded its shorter rows would read
/// them at a padding position, so such rows must be computed one at a time.
pub fn unpadded_last(pad: PadTo, position: TokenPosition) -> bool {
    pad == PadTo::Dynamic && position == TokenPosition::Last
}

/// The distinct rows among `rows`, in order of first appearance, and for each row the
/// index of its distinct row: repeated inputs are then computed once.
pub fn distinct_rows<'a, T: Eq + Hash>(
    rows: impl IntoIterator<Item = &'a [T]>,
) -> (Vec<&'a [T]>, Vec<usize>) {
    let mut distinct = Vec::new();
    let mut seen: HashMap<&[T], usize> = HashMap::new();
    let slots = rows
        .into_iter()
        .map(|row| {
            *seen.entry(row).or_insert_with(|| {
                distinct.push(row);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, slots)
}
