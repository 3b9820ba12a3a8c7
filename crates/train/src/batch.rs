//! Tokenized splits and the tensors one batch becomes.

pub(crate) use spam_model::{PadTo, distinct_rows, unpadded_last};
use tch::{Device, Tensor};

/// Tokenized examples of one split, not padded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// Token ids of each example, unpadded.
    pub ids: Vec<Vec<i64>>,
    /// Class of each example.
    pub labels: Vec<i64>,
}

impl Examples {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// No examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Length of the longest example.
    pub fn max_len(&self) -> usize {
        self.ids.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// One batch on its device: ids `[rows, cols]` (int64), true lengths `[rows]`, labels `[rows]`.
#[derive(Debug)]
pub struct BatchTensors {
    pub ids: Tensor,
    pub lengths: Tensor,
    pub labels: Tensor,
}

/// Pads the examples at `indices` with `pad_id` (right padding, as the chapter does).
pub fn make_batch(
    examples: &Examples,
    indices: &[usize],
    pad: PadTo,
    pad_id: i64,
    device: Device,
) -> BatchTensors {
    let cols = match pad {
        PadTo::Fixed(n) => n,
        PadTo::Dynamic => indices
            .iter()
            .map(|&i| examples.ids[i].len())
            .max()
            .unwrap_or(1),
    }
    .max(1);
    let mut flat = Vec::with_capacity(indices.len() * cols);
    let mut lengths = Vec::with_capacity(indices.len());
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        let row = &examples.ids[i];
        let n = row.len().min(cols);
        flat.extend_from_slice(&row[..n]);
        flat.extend(std::iter::repeat_n(pad_id, cols - n));
        lengths.push(n.max(1) as i64);
        labels.push(examples.labels[i]);
    }
    BatchTensors {
        ids: Tensor::from_slice(&flat)
            .view([indices.len() as i64, cols as i64])
            .to_device(device),
        lengths: Tensor::from_slice(&lengths).to_device(device),
        labels: Tensor::from_slice(&labels).to_device(device),
    }
}

/// Index batches in order (no shuffling), keeping the last short batch.
pub fn sequential_batches(n: usize, batch_size: usize) -> Vec<Vec<usize>> {
    (0..n)
        .collect::<Vec<_>>()
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

/// A seeded shuffle of `0..n` cut into batches: the same seed gives the same order
/// (spam-data's generator; the order is ours, not torch's DataLoader's).
pub fn shuffled_batches(
    n: usize,
    batch_size: usize,
    seed: u64,
    drop_last: bool,
) -> Vec<Vec<usize>> {
    spam_data::batch_indices(n, batch_size.max(1), true, seed, drop_last).unwrap_or_default()
}

impl Examples {
    /// Converts one split of spam-data's output (unpadded rows are taken at their true length).
    pub fn from_encoded(split: &spam_data::EncodedSplit) -> Self {
        Self {
            ids: split
                .ids
                .iter()
                .zip(&split.lengths)
                .map(|(row, &len)| {
                    row[..len.min(row.len())]
                        .iter()
                        .map(|&t| i64::from(t))
                        .collect()
                })
                .collect(),
            labels: split.labels.iter().map(|&l| l as i64).collect(),
        }
    }
}
