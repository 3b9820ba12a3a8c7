//! The one CSV/TSV reader: records a batch at a time (`TableRows`), each text with its line.
//! `eval` and `classify` stream a file through it ([`table_stream`]), holding one batch
//! whatever the file's size; training's whole-file reads (`table::read_rows`) collect it. The
//! checks a whole-file read makes first (an archive or UTF-16 where text belongs, a NUL byte, a
//! quoted field that never closes) are made here on the bytes as they pass, with the same
//! errors: a small file fails before its first batch; a large one when the reader reaches the
//! bad byte (outputs are written atomically, so nothing half-written is left).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DataError, Result};
use crate::quote_scan::QuoteScan;
use crate::rows::{BATCH_ROWS, RowBatch, RowSource};
use crate::table_options::{Column, TableOptions};

/// The rows of the table file `path` as batches of [`BATCH_ROWS`], each text with its line
/// (and its label, when `labelled`). The header, the columns and the first batch are read
/// here, so a missing column, an empty file or a bad small file is an error at once.
pub(crate) fn table_stream(path: &Path, opts: &TableOptions, labelled: bool) -> Result<RowSource> {
    crate::input::check_regular_file(path)?;
    let mut file = std::fs::File::open(path).map_err(|e| DataError::io(path, "open", e))?;
    // Enough bytes to tell an archive, UTF-16 or a BOM.
    let mut prefix = Vec::with_capacity(8);
    (&mut file)
        .take(8)
        .read_to_end(&mut prefix)
        .map_err(|e| DataError::io(path, "read", e))?;
    crate::sniff::check_text(path, &prefix)?;
    let start = if prefix.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let source = std::io::Cursor::new(prefix.split_off(start)).chain(file);
    let mut rows = TableRows::new(path, opts, source, labelled)?;
    let first = rows.next_batch()?;
    if first.as_ref().is_none_or(|b| b.texts.is_empty()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let rest = std::iter::from_fn(move || rows.next_batch().transpose());
    Ok(RowSource::new(first.map(Ok).into_iter().chain(rest)))
}

/// The rows of a table file as a stream of batches (see [`table_stream`]), with
/// `id_column` read as each row's id.
pub(crate) fn table_stream_with_ids(
    path: &Path,
    opts: &TableOptions,
    id_column: Option<&Column>,
) -> Result<RowSource> {
    let Some(id) = id_column else {
        return table_stream(path, opts, false);
    };
    // The id is read where a label would be.
    let opts = TableOptions {
        label_column: match id {
            Column::Default => Column::Name("id".into()),
            other => other.clone(),
        },
        ..opts.clone()
    };
    let rows = table_stream(path, &opts, true)?;
    Ok(RowSource::new(rows.map(|b| {
        b.map(|mut b| {
            b.ids = b.labels.take();
            b
        })
    })))
}

/// The file's bytes on their way to the CSV reader, checked as they pass.
struct Checked<R> {
    inner: R,
    path: PathBuf,
    quotes: Option<QuoteScan>,
    /// The line the next byte is on.
    line: usize,
    /// The offset of the next byte.
    offset: u64,
    /// The offsets of the line feeds passed that a record read next may start on.
    newlines: std::collections::VecDeque<u64>,
    /// What stopped the reading, for the caller to report in place of the reader's I/O error.
    error: Option<DataError>,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.error.is_some() {
            return Err(std::io::Error::other("stopped by an earlier error"));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(line) = self.quotes.as_ref().and_then(QuoteScan::unclosed) {
                return Err(self.stop(DataError::UnclosedQuote {
                    path: self.path.clone(),
                    line,
                    hint: "",
                }));
            }
            return Ok(0);
        }
        for &c in &buf[..n] {
            if c == 0 {
                return Err(self.stop(DataError::NotText {
                    path: self.path.clone(),
                    what: format!("binary data (a NUL byte on line {})", self.line),
                    hint: "pass the CSV/TSV or SMS collection itself (UTF-8 text)",
                }));
            }
            if c == b'\n' {
                self.line += 1;
                self.newlines.push_back(self.offset);
            }
            self.offset += 1;
            if let Some(q) = &mut self.quotes {
                q.step(c);
            }
        }
        Ok(n)
    }
}

impl<R> Checked<R> {
    /// Whether the byte at `offset` (where the reader says a record starts, at or after every
    /// offset asked before) is a line feed: the end of the last record's CRLF, which the reader
    /// counts as the record's own line, one too early.
    fn line_feed_at(&mut self, offset: u64) -> bool {
        while self.newlines.front().is_some_and(|&n| n < offset) {
            self.newlines.pop_front();
        }
        self.newlines.front() == Some(&offset)
    }

    fn stop(&mut self, error: DataError) -> std::io::Error {
        self.error = Some(error);
        std::io::Error::other("stopped")
    }
}

/// The error to report: what the byte checks stopped on, else the reader's own.
fn take_error<R: Read>(rdr: &mut csv::Reader<Checked<R>>, fallback: DataError) -> DataError {
    rdr.get_mut().error.take().unwrap_or(fallback)
}

/// The state of reading one table batch by batch.
pub(crate) struct TableRows<R> {
    rdr: csv::Reader<Checked<R>>,
    path: Arc<Path>,
    opts: TableOptions,
    headers: Vec<String>,
    labelled: bool,
    cols: Option<(usize, usize)>,
    next_row: u64,
    done: bool,
}

impl<R: Read> TableRows<R> {
    /// A table read from `source` (after any BOM) as `opts` says, its header read; `path`
    /// names it in errors.
    pub(crate) fn new(path: &Path, opts: &TableOptions, source: R, labelled: bool) -> Result<Self> {
        let checked = Checked {
            inner: source,
            path: path.to_path_buf(),
            quotes: opts.quoting.then(|| QuoteScan::new(opts.delimiter)),
            line: 1,
            offset: 0,
            newlines: std::collections::VecDeque::new(),
            error: None,
        };
        let mut rdr = csv_reader(opts, checked);
        let headers = read_headers(path, opts, &mut rdr).map_err(|e| take_error(&mut rdr, e))?;
        Ok(Self {
            rdr,
            path: Arc::from(path),
            opts: opts.clone(),
            headers,
            labelled,
            cols: None,
            next_row: 0,
            done: false,
        })
    }

    /// The next batch of up to [`BATCH_ROWS`] rows; `None` after the last.
    pub(crate) fn next_batch(&mut self) -> Result<Option<RowBatch>> {
        if self.done {
            return Ok(None);
        }
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        let mut lines = Vec::new();
        let mut record = csv::StringRecord::new();
        while texts.len() < BATCH_ROWS {
            let line = self.rdr.position().line().max(1);
            match self.rdr.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    let e = csv_error(&self.path, line, e);
                    return Err(take_error(&mut self.rdr, e));
                }
            }
            let line = match record.position() {
                Some(p) => p.line() + u64::from(self.rdr.get_mut().line_feed_at(p.byte())),
                None => line,
            } as usize;
            let (t, l) = match self.cols {
                Some(c) => c,
                None => *self.cols.insert(resolve_columns(
                    &self.path,
                    &self.opts,
                    &self.headers,
                    record.len(),
                    self.labelled,
                )?),
            };
            let field = |i: usize| record.get(i).unwrap_or_default();
            texts.push(field(t).to_string());
            if self.labelled {
                labels.push(field(l).trim().to_string());
            }
            lines.push(line);
        }
        if texts.is_empty() {
            return Ok(None);
        }
        let first = self.next_row;
        self.next_row += texts.len() as u64;
        Ok(Some(RowBatch {
            file: self.path.clone(),
            rows: (first..self.next_row).collect(),
            lines: Some(lines),
            texts,
            labels: self.labelled.then_some(labels),
            ids: None,
            nulls: Vec::new(),
        }))
    }
}

/// A CSV reader of `source` as `opts` says (delimiter, header, quoting).
pub(crate) fn csv_reader<R: std::io::Read>(opts: &TableOptions, source: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(opts.has_header)
        .quoting(opts.quoting)
        .from_reader(source)
}

/// The header's names (none without a header).
pub(crate) fn read_headers<R: std::io::Read>(
    path: &Path,
    opts: &TableOptions,
    rdr: &mut csv::Reader<R>,
) -> Result<Vec<String>> {
    if !opts.has_header {
        return Ok(Vec::new());
    }
    Ok(rdr
        .headers()
        .map_err(|e| csv_error(path, 1, e))?
        .iter()
        .map(str::to_string)
        .collect())
}

/// The CSV reader's error on `line` as ours, naming the file and line.
pub(crate) fn csv_error(path: &Path, line: u64, e: csv::Error) -> DataError {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => DataError::InvalidUtf8 {
            path: path.to_path_buf(),
            line: line as usize,
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::FieldCount {
            path: path.to_path_buf(),
            line: line as usize,
            expected: *expected_len as usize,
            found: *len as usize,
        },
        _ => DataError::Table {
            path: path.to_path_buf(),
            line: line as usize,
            message: e.to_string(),
        },
    }
}

/// The (text, label) columns of a table whose first record has `width` fields; without
/// `labelled`, the label column is not looked for and is the text's.
pub(crate) fn resolve_columns(
    path: &Path,
    opts: &TableOptions,
    headers: &[String],
    width: usize,
    labelled: bool,
) -> Result<(usize, usize)> {
    let by_name = |name: &str| headers.iter().position(|h| h.trim() == name);
    let resolve = |col: &Column, other: Option<usize>| -> Result<usize> {
        let found = match col {
            Column::Name(name) => by_name(name),
            Column::Index(i) => (*i < width.max(headers.len())).then_some(*i),
            Column::Default if other.is_none() => by_name("label").or_else(|| by_name("Label")),
            Column::Default => by_name("text").or_else(|| by_name("Text")).or_else(|| {
                // The only column, or the other column of two, is the text.
                match (headers.len(), other) {
                    (1, _) => Some(0),
                    (2, Some(l)) if l < 2 => Some(1 - l),
                    _ => None,
                }
            }),
        };
        found.ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: match (col, other) {
                (Column::Default, None) => {
                    "`label` or `Label` (name it with --label-column)".into()
                }
                (Column::Default, Some(_)) => {
                    "`text` or `Text` (name it with --text-column)".into()
                }
                (c, _) => c.to_string(),
            },
            available: if headers.is_empty() {
                (0..width).map(|i| format!("#{i}")).collect()
            } else {
                headers.to_vec()
            },
        })
    };
    if !labelled {
        let text = resolve(&opts.text_column, Some(usize::MAX))?;
        return Ok((text, text));
    }
    let label = resolve(&opts.label_column, None)?;
    Ok((resolve(&opts.text_column, Some(label))?, label))
}
