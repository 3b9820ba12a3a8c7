//! Rows of text (and labels) in batches, from any data file: the streaming side of reading,
//! for evaluating and classifying files larger than memory. Each row keeps where it came from
//! (file, 0-based row, and the line for text files), so an error can point at it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, Result};

/// Rows per batch read.
pub(crate) const BATCH_ROWS: usize = 1024;

/// A batch of consecutive rows of one file. Rows whose text or label is null (Parquet) are
/// not in `texts`; they are listed in `nulls`, for the reader to skip or refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBatch {
    /// The file the rows are in.
    pub file: Arc<Path>,
    /// The 0-based row in `file` of each text.
    pub rows: Vec<u64>,
    /// The 1-based line of each text, for text files (CSV/TSV).
    pub lines: Option<Vec<usize>>,
    /// The texts.
    pub texts: Vec<String>,
    /// Each text's label (a class name), when the rows are labelled.
    pub labels: Option<Vec<String>>,
    /// Each text's id (an id column's value), when one was asked for.
    pub ids: Option<Vec<String>>,
    /// Rows left out, and which cell was null.
    pub nulls: Vec<(u64, NullCell)>,
}

/// Which cell of a row was null.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullCell {
    /// The text.
    Text,
    /// The label.
    Label,
}

impl RowBatch {
    /// Appends the rows of `other`, a later batch of the same file.
    fn append(&mut self, other: RowBatch) {
        fn extend<T>(a: &mut Option<Vec<T>>, b: Option<Vec<T>>) {
            if let (Some(a), Some(b)) = (a.as_mut(), b) {
                a.extend(b);
            }
        }
        self.rows.extend(other.rows);
        extend(&mut self.lines, other.lines);
        self.texts.extend(other.texts);
        extend(&mut self.labels, other.labels);
        extend(&mut self.ids, other.ids);
        self.nulls.extend(other.nulls);
    }

    /// Rows from a columnar file: `texts[i]` (and `labels[i]`) are row `first + i`; a null in
    /// either leaves the row out, listed in `nulls`.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn from_cells(
        file: &Path,
        first: u64,
        texts: Vec<Option<String>>,
        labels: Option<Vec<Option<String>>>,
        ids: Option<Vec<Option<String>>>,
    ) -> Self {
        let mut batch = RowBatch {
            file: Arc::from(file),
            rows: Vec::with_capacity(texts.len()),
            lines: None,
            texts: Vec::with_capacity(texts.len()),
            labels: labels.as_ref().map(|_| Vec::with_capacity(texts.len())),
            ids: ids.as_ref().map(|_| Vec::with_capacity(texts.len())),
            nulls: Vec::new(),
        };
        let mut labels = labels.map(Vec::into_iter);
        let mut ids = ids.map(Vec::into_iter);
        for (i, text) in texts.into_iter().enumerate() {
            let row = first + i as u64;
            let label = labels.as_mut().map(|l| l.next().flatten());
            // A null id is an empty one: the row still has a text to classify.
            let id = ids.as_mut().map(|l| l.next().flatten().unwrap_or_default());
            match (text, label) {
                (None, _) => batch.nulls.push((row, NullCell::Text)),
                (Some(_), Some(None)) => batch.nulls.push((row, NullCell::Label)),
                (Some(text), label) => {
                    batch.rows.push(row);
                    batch.texts.push(text);
                    if let (Some(out), Some(Some(l))) = (batch.labels.as_mut(), label) {
                        out.push(l);
                    }
                    if let (Some(out), Some(id)) = (batch.ids.as_mut(), id) {
                        out.push(id);
                    }
                }
            }
        }
        batch
    }

    /// Keeps the texts at `keep` (increasing indices) and the nulls among the same rows.
    pub(crate) fn retain(&mut self, keep: &[usize]) {
        let (first, last) = match (keep.first(), keep.last()) {
            (Some(&a), Some(&b)) => (self.rows[a], self.rows[b]),
            _ => (0, 0),
        };
        fn pick(v: &[String], keep: &[usize]) -> Vec<String> {
            keep.iter().map(|&i| v[i].clone()).collect()
        }
        self.texts = pick(&self.texts, keep);
        self.labels = self.labels.as_deref().map(|v| pick(v, keep));
        self.ids = self.ids.as_deref().map(|v| pick(v, keep));
        self.lines = self
            .lines
            .as_ref()
            .map(|l| keep.iter().map(|&i| l[i]).collect());
        self.rows = keep.iter().map(|&i| self.rows[i]).collect();
        self.nulls.retain(|(r, _)| (first..=last).contains(r));
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether the batch holds no text.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Where text `i` is, for messages: `FILE:LINE` in a text file, `FILE: row N` otherwise.
    pub fn place(&self, i: usize) -> String {
        match &self.lines {
            Some(lines) => format!("{}:{}", self.file.display(), lines[i]),
            None => format!("{}: row {}", self.file.display(), self.rows[i]),
        }
    }

    /// Errors for the first null row, saying that labelled data must have a text and a label
    /// in every row.
    pub fn refuse_nulls(&self) -> Result<()> {
        match self.nulls.first() {
            None => Ok(()),
            Some(&(row, cell)) => Err(DataError::Row {
                path: self.file.to_path_buf(),
                row,
                what: format!(
                    "the {} is null ({} such rows in this batch); labelled data needs a text \
                     and a label in every row: drop those rows first (pandas: `df.dropna()`)",
                    match cell {
                        NullCell::Text => "text",
                        NullCell::Label => "label",
                    },
                    self.nulls.len()
                ),
            }),
        }
    }
}

/// Batches of rows, file after file.
pub struct RowSource {
    inner: Box<dyn Iterator<Item = Result<RowBatch>> + Send>,
}

impl std::fmt::Debug for RowSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowSource")
    }
}

impl RowSource {
    /// Wraps an iterator of batches.
    pub fn new(inner: impl Iterator<Item = Result<RowBatch>> + Send + 'static) -> Self {
        Self {
            inner: Box::new(inner),
        }
    }

    /// A source of batches already in memory.
    pub fn from_batches(batches: Vec<RowBatch>) -> Self {
        Self::new(batches.into_iter().map(Ok))
    }

    /// The same rows in batches of at least `rows` rows (the last one, and the last of each
    /// file, may be smaller): consecutive batches of one file joined, for a consumer that does
    /// better with many rows at once (sorting by length, computing a repeated text once) while
    /// memory stays bounded by `rows`.
    pub fn merged(self, rows: usize) -> RowSource {
        let mut inner = self.inner.peekable();
        RowSource::new(std::iter::from_fn(move || {
            let mut batch = match inner.next()? {
                Ok(batch) => batch,
                Err(e) => return Some(Err(e)),
            };
            while batch.texts.len() + batch.nulls.len() < rows {
                match inner.peek() {
                    Some(Ok(next)) if next.file == batch.file => {}
                    _ => break,
                }
                if let Some(Ok(next)) = inner.next() {
                    batch.append(next);
                }
            }
            Some(Ok(batch))
        }))
    }
}

impl Iterator for RowSource {
    type Item = Result<RowBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

/// Rows of a text file (read whole), cut into batches of `size`: `texts[i]` is on
/// `lines[i]` (or row `i` without lines).
pub(crate) fn batches_of(
    file: &Path,
    texts: Vec<String>,
    labels: Option<Vec<String>>,
    lines: Option<Vec<usize>>,
    size: usize,
) -> Vec<RowBatch> {
    let file: Arc<Path> = Arc::from(file);
    let n = texts.len();
    let mut texts = texts.into_iter();
    let mut labels = labels.map(Vec::into_iter);
    (0..n)
        .step_by(size.max(1))
        .map(|start| {
            let end = (start + size.max(1)).min(n);
            RowBatch {
                file: file.clone(),
                rows: (start as u64..end as u64).collect(),
                lines: lines.as_ref().map(|l| l[start..end].to_vec()),
                texts: texts.by_ref().take(end - start).collect(),
                labels: labels
                    .as_mut()
                    .map(|l| l.by_ref().take(end - start).collect()),
                ids: None,
                nulls: Vec::new(),
            }
        })
        .collect()
}

/// The path of a file the rows came from, for messages about a whole input.
pub(crate) fn first_path(files: &[PathBuf]) -> PathBuf {
    files.first().cloned().unwrap_or_default()
}

/// One output row. A row whose text was null has no label, score or probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartRow<'a> {
    /// The input file, as given.
    pub file: &'a str,
    /// The 0-based row in it.
    pub row: u64,
    /// The id column's value, when one was asked for.
    pub id: Option<&'a str>,
    /// The predicted class.
    pub label: Option<&'a str>,
    /// The probability of the predicted class.
    pub score: Option<f64>,
    /// One probability per class, in the class order.
    pub probabilities: Option<&'a [f64]>,
}
