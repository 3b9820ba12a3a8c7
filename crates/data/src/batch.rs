//! Deterministic mini-batches.
//!
//! Shuffling uses this crate's own seeded generator (numpy's MT19937 `RandomState` seeded with
//! the array `[seed_lo, seed_hi]`, see [`RandomState`]), so the same seed always gives the
//! same order on every platform. It does not try to match torch's `DataLoader` shuffle.

use crate::error::{DataError, Result};
use crate::numpy_rng::RandomState;
use crate::pad::{EncodedSplit, PAD_TOKEN_ID};

/// The chapter's batch size.
pub const DEFAULT_BATCH_SIZE: usize = 8;

/// A padded batch, ready to become a `[rows, cols]` tensor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// Token ids, row-major `[rows, cols]`, right-padded with [`PAD_TOKEN_ID`].
    pub ids: Vec<u32>,
    /// Number of rows.
    pub rows: usize,
    /// Row length.
    pub cols: usize,
    /// True length of each row (the last real token of row `r` is at `lengths[r] - 1`).
    pub lengths: Vec<usize>,
    /// Class index of each row.
    pub labels: Vec<usize>,
}

impl Batch {
    /// The ids of row `r`.
    ///
    /// # Panics
    /// If `r >= rows`.
    pub fn row(&self, r: usize) -> &[u32] {
        &self.ids[r * self.cols..(r + 1) * self.cols]
    }
}

/// How to cut a split into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchOptions {
    /// Rows per batch (the chapter uses 8).
    pub batch_size: usize,
    /// Shuffle the rows (with `seed`).
    pub shuffle: bool,
    /// Seed of the shuffle.
    pub seed: u64,
    /// Drop a last, incomplete batch.
    pub drop_last: bool,
}

impl BatchOptions {
    /// Training: shuffled with `seed`, incomplete last batch dropped, batch size 8.
    pub fn train(seed: u64) -> Self {
        BatchOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            shuffle: true,
            seed,
            drop_last: true,
        }
    }

    /// Evaluation: in order, all rows kept, batch size 8.
    pub fn eval() -> Self {
        BatchOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            shuffle: false,
            seed: 0,
            drop_last: false,
        }
    }
}

/// Row indices `0..n` cut into batches of `batch_size`, shuffled with `seed` if `shuffle`, the
/// last incomplete batch dropped if `drop_last`. Deterministic: the same arguments give the same
/// batches.
pub fn batch_indices(
    n: usize,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    drop_last: bool,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(DataError::InvalidOption(
            "the batch size must be at least 1".into(),
        ));
    }
    let order: Vec<usize> = if shuffle {
        RandomState::from_key(&[seed as u32, (seed >> 32) as u32]).permutation(n)
    } else {
        (0..n).collect()
    };
    Ok(order
        .chunks(batch_size)
        .filter(|c| !drop_last || c.len() == batch_size)
        .map(<[usize]>::to_vec)
        .collect())
}

/// The shuffle seed of epoch `epoch` for a run seeded with `seed`: a different order every epoch,
/// reproducible across runs.
pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
    seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl EncodedSplit {
    /// A padded batch of the given rows. Rows already padded (`padded_len`) keep that width;
    /// otherwise (`None`/`Dynamic` padding) the batch is padded to its own longest row.
    ///
    /// # Panics
    /// If a row index is out of range.
    pub fn batch(&self, rows: &[usize]) -> Batch {
        let cols = self
            .padded_len
            .unwrap_or_else(|| rows.iter().map(|&r| self.lengths[r]).max().unwrap_or(0));
        let mut ids = Vec::with_capacity(rows.len() * cols);
        for &r in rows {
            let row = &self.ids[r];
            let take = row.len().min(cols);
            ids.extend_from_slice(&row[..take]);
            ids.extend(std::iter::repeat_n(PAD_TOKEN_ID, cols - take));
        }
        Batch {
            ids,
            rows: rows.len(),
            cols,
            lengths: rows.iter().map(|&r| self.lengths[r]).collect(),
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
        }
    }

    /// All batches of one epoch. For training, pass [`BatchOptions::train`] and
    /// `epoch_seed(seed, epoch)` as the seed to get a new order each epoch.
    pub fn batches(&self, opts: &BatchOptions) -> Result<Vec<Batch>> {
        let idx = batch_indices(
            self.len(),
            opts.batch_size,
            opts.shuffle,
            opts.seed,
            opts.drop_last,
        )?;
        Ok(idx.iter().map(|rows| self.batch(rows)).collect())
    }

    /// Number of batches [`batches`](Self::batches) yields.
    pub fn num_batches(&self, batch_size: usize, drop_last: bool) -> usize {
        match (batch_size, drop_last) {
            (0, _) => 0,
            (b, true) => self.len() / b,
            (b, false) => self.len().div_ceil(b),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn indices_cover_and_drop() {
        let b = batch_indices(10, 4, false, 0, false).unwrap();
        assert_eq!(b, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        assert_eq!(batch_indices(10, 4, false, 0, true).unwrap().len(), 2);
        let s1 = batch_indices(100, 8, true, 42, true).unwrap();
        let s2 = batch_indices(100, 8, true, 42, true).unwrap();
        let s3 = batch_indices(100, 8, true, 43, true).unwrap();
        assert_eq!(s1, s2);
        assert_ne!(s1, s3);
        assert_eq!(s1.len(), 12);
        let mut all: Vec<usize> = s1.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 96);
        assert!(batch_indices(3, 0, false, 0, false).is_err());
    }

    #[test]
    fn dynamic_batch_pads_to_its_longest() {
        let s = EncodedSplit::from_ids(
            vec![vec![1, 2, 3], vec![4], vec![5, 6]],
            vec![0, 1, 0],
            1024,
            None,
        );
        let b = s.batch(&[1, 2]);
        assert_eq!((b.rows, b.cols), (2, 2));
        assert_eq!(b.ids, [4, PAD_TOKEN_ID, 5, 6]);
        assert_eq!(b.lengths, [1, 2]);
        assert_eq!(b.labels, [1, 0]);
        assert_eq!(b.row(1), [5, 6]);
    }
}
