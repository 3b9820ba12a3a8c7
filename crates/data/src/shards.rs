//! Splitting the rows of several files between the tasks of an array job (a Kubernetes
//! Indexed Job, a Slurm array): task `i` of `n` reads rows `[R*i/n, R*(i+1)/n)` of the
//! files' concatenation (`R` rows in all, files in the order given). The assignment depends
//! only on the files and `n`, so every task computes the same one on any machine; every row
//! is in exactly one shard, and shards differ by at most one row.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::rows::RowSource;
use crate::table::TableOptions;

/// Task `index` of `count` (0-based), written `I/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    /// This task, `0..count`.
    pub index: usize,
    /// Tasks in all.
    pub count: usize,
}

impl Shard {
    /// The whole input as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Task `index` of `count`; an index outside `0..count` is an error.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        if count == 0 || index >= count {
            return Err(DataError::InvalidOption(format!(
                "shard {index}/{count}: the index counts from 0 and must be below the number of \
                 shards ({count})"
            )));
        }
        Ok(Self { index, count })
    }

    /// `[start, end)` of `total` rows.
    pub fn range_of(self, total: u64) -> (u64, u64) {
        let at = |i: usize| (u128::from(total) * i as u128 / self.count as u128) as u64;
        (at(self.index), at(self.index + 1))
    }
}

impl std::str::FromStr for Shard {
    type Err = DataError;
    /// `I/N`, e.g. `2/7`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            DataError::InvalidOption(format!(
                "shard {s:?}: write it I/N (task I of N, counting from 0), e.g. 0/4"
            ))
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i = i.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(i, n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Rows `[start, end)` (0-based) of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRange {
    /// The file.
    pub file: PathBuf,
    /// The file's place in the list given to [`shard_ranges`].
    pub index: usize,
    /// First row.
    pub start: u64,
    /// One past the last row.
    pub end: u64,
}

/// The row ranges of `files` (with `rows[k]` rows in file `k`) that `shard` reads, in order;
/// files the shard does not touch are left out.
pub fn shard_ranges(files: &[PathBuf], rows: &[u64], shard: Shard) -> Vec<RowRange> {
    let total: u64 = rows.iter().sum();
    let (start, end) = shard.range_of(total);
    let mut out = Vec::new();
    let mut at = 0u64;
    for (index, (file, &n)) in files.iter().zip(rows).enumerate() {
        let (a, b) = (start.max(at), end.min(at + n));
        if a < b {
            out.push(RowRange {
                file: file.clone(),
                index,
                start: a - at,
                end: b - at,
            });
        }
        at += n;
    }
    out
}

/// The rows of a file to classify: a Parquet file's from its footer (nothing else is read);
/// a text file's by reading it through, a batch at a time (as `opts` says). The text column and `id_column` are checked,
/// so every task of a job refuses a bad file before any writes its part.
pub fn count_rows(
    path: &Path,
    opts: &TableOptions,
    id_column: Option<&crate::Column>,
) -> Result<u64> {
    if crate::inputs::is_parquet(path) {
        return crate::parquet_read::parquet_row_count(path, &opts.text_column, id_column);
    }
    let mut rows = 0;
    for batch in crate::table_stream::table_stream_with_ids(path, opts, id_column)? {
        rows += batch?.len() as u64;
    }
    Ok(rows)
}

/// The texts of rows `range` of a file (see [`text_rows`](crate::text_rows)), in batches;
/// `id_column`, when given, is read beside them ([`RowBatch::ids`](crate::RowBatch)). Parquet
/// reads only the row groups the range touches.
pub fn text_rows_in(
    range: &RowRange,
    opts: &TableOptions,
    id_column: Option<&crate::Column>,
) -> Result<RowSource> {
    let path = &range.file;
    if crate::inputs::is_parquet(path) {
        return crate::parquet_read::parquet_range(
            path,
            &opts.text_column,
            id_column,
            range.start..range.end,
        );
    }
    let batches = crate::table_stream::table_stream_with_ids(path, opts, id_column)?;
    let (start, end) = (range.start, range.end);
    // Batches before the range are read and dropped; reading stops after it.
    let kept = batches
        .take_while(move |b| b.as_ref().map_or(true, |b| b.rows.first() < Some(&end)))
        .filter_map(move |b| {
            let mut b = match b {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let keep: Vec<usize> = (0..b.len())
                .filter(|&i| (start..end).contains(&b.rows[i]))
                .collect();
            if keep.is_empty() {
                return None;
            }
            b.retain(&keep);
            Some(Ok(b))
        });
    Ok(RowSource::new(kept))
}
