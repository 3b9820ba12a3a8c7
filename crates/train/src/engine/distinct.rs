//! The distinct inputs among the splits: the collection repeats messages, within a split
//! and across splits, and each distinct input runs through the model once.

use crate::batch::{Examples, PadTo, distinct_rows};

/// The distinct inputs of `N` splits (after truncation to a fixed length), so each is run
/// through the model once: the frozen blocks for the cache (the three splits), the whole
/// model in the plain path's closing pass.
pub(super) struct Distinct<const N: usize> {
    /// One row per distinct input (labels unused).
    pub(super) examples: Examples,
    /// How many examples each distinct input stands for.
    pub(super) copies: Vec<usize>,
    /// Per split, the distinct row of each example.
    pub(super) rows: [Vec<usize>; N],
}

impl<const N: usize> Distinct<N> {
    pub(super) fn of(splits: [&Examples; N], pad: PadTo) -> Self {
        let inputs = splits.iter().flat_map(|s| &s.ids);
        let (distinct, slots) = distinct_rows(inputs.map(|ids| model_input(ids, pad)));
        let examples = Examples {
            ids: distinct.iter().map(|row| row.to_vec()).collect(),
            labels: vec![0; distinct.len()],
        };
        let mut copies = vec![0; examples.len()];
        for &u in &slots {
            copies[u] += 1;
        }
        let mut rest = &slots[..];
        let rows = splits.map(|s| {
            let (here, later) = rest.split_at(s.len());
            rest = later;
            here.to_vec()
        });
        Self {
            examples,
            copies,
            rows,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.copies.len()
    }

    /// Positions the cache keeps of distinct input `u`: every padded column (the trainable
    /// blocks attend over padding) or, with dynamic padding, its own tokens.
    pub(super) fn cached_len(&self, u: usize, pad: PadTo) -> i64 {
        match pad {
            PadTo::Fixed(cols) => cols.max(1) as i64,
            PadTo::Dynamic => self.examples.ids[u].len().max(1) as i64,
        }
    }
}

/// What the model sees of a row: with a fixed length, its first `n` tokens.
fn model_input(ids: &[i64], pad: PadTo) -> &[i64] {
    match pad {
        PadTo::Fixed(n) => &ids[..ids.len().min(n)],
        PadTo::Dynamic => ids,
    }
}
