//! Any labelled CSV/TSV: text and label columns chosen by name or index, any number of classes.

use std::path::Path;

use crate::dataset::Dataset;
use crate::delimiter::delimiter_for;
use crate::error::{DataError, Result};
use crate::sniff::check_text;

/// A column, by header name or 0-based index, or the default rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// The default: for the text, a column `text`, then `Text`, else the only text column
    /// besides the label (in a CSV with a header, the other column of two); for the label, a
    /// column `label`, then `Label`.
    Default,
    /// By header name (needs `has_header`).
    Name(String),
    /// By 0-based position.
    Index(usize),
}

impl Column {
    /// A 0-based index when `s` is a number, else a header name (how the CLI and run
    /// configs spell a column).
    pub fn name_or_index(s: &str) -> Self {
        if s.is_empty() {
            return Column::Default;
        }
        s.parse::<usize>()
            .map_or_else(|_| Column::Name(s.to_string()), Column::Index)
    }
}

impl From<&str> for Column {
    fn from(s: &str) -> Self {
        Column::Name(s.to_string())
    }
}

impl From<usize> for Column {
    fn from(i: usize) -> Self {
        Column::Index(i)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Default => f.write_str("(default)"),
            Column::Name(n) => write!(f, "{n:?}"),
            Column::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// How to read a labelled table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Field delimiter (`b','` or `b'\t'`).
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
    /// Whether `"` quotes fields (standard CSV quoting; `""` is a literal quote).
    pub quoting: bool,
    /// The text column.
    pub text_column: Column,
    /// The label column.
    pub label_column: Column,
    /// The class names in class-index order. A label not listed is an error. When `None`, the
    /// classes are the distinct labels found: sorted numerically if all are integers (so `0`/`1`
    /// map to 0/1), otherwise sorted (as `datasets`' `class_encode_column` does), never in the
    /// order rows happen to come: class 1 of two is the positive class.
    pub label_names: Option<Vec<String>>,
}

impl TableOptions {
    /// A comma-separated file with a header, columns chosen by name.
    pub fn csv(text_column: impl Into<Column>, label_column: impl Into<Column>) -> Self {
        TableOptions {
            delimiter: b',',
            has_header: true,
            quoting: true,
            text_column: text_column.into(),
            label_column: label_column.into(),
            label_names: None,
        }
    }

    /// A tab-separated file with a header.
    pub fn tsv(text_column: impl Into<Column>, label_column: impl Into<Column>) -> Self {
        TableOptions {
            delimiter: b'\t',
            ..Self::csv(text_column, label_column)
        }
    }

    /// A table with a header whose delimiter follows the file name ([`delimiter_for`]: TAB for
    /// `.tsv`/`.txt`, comma otherwise).
    pub fn for_file(
        path: &Path,
        text_column: impl Into<Column>,
        label_column: impl Into<Column>,
    ) -> Self {
        TableOptions {
            delimiter: delimiter_for(path),
            ..Self::csv(text_column, label_column)
        }
    }

    /// Sets whether there is a header row.
    pub fn with_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// Sets the class names (in class-index order).
    pub fn with_label_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.label_names = Some(names.into_iter().map(Into::into).collect());
        self
    }
}

/// Reads a labelled CSV/TSV. Accepts a UTF-8 BOM and CRLF endings; rejects a missing file, no
/// data rows, a record with a different number of fields, invalid UTF-8, an unknown label (with
/// `label_names`) and a single class, naming the file and line.
///
/// ```no_run
/// use spam_data::{read_labelled, TableOptions};
/// // The chapter's IMDb bonus: train.csv with columns `text,label` (0/1), 50k reviews in all.
/// let ds = read_labelled("imdb/train.csv", &TableOptions::csv("text", "label"))?;
/// assert_eq!(ds.label_names, ["0", "1"]);
/// # Ok::<(), spam_data::DataError>(())
/// ```
pub fn read_labelled(path: impl AsRef<Path>, opts: &TableOptions) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = crate::input::read_file(path)?;
    parse_labelled(path, &bytes, opts)
}

/// Reads only the text column of a CSV/TSV (for classifying unlabelled texts); the same
/// checks as [`read_labelled`] apply, except those about labels.
pub fn read_texts(path: impl AsRef<Path>, opts: &TableOptions) -> Result<Vec<String>> {
    let path = path.as_ref();
    let bytes = crate::input::read_file(path)?;
    Ok(read_rows(path, &bytes, opts, false)?.0)
}

/// [`read_labelled`] on bytes already in memory; `path` is used in error messages only.
pub fn parse_labelled(path: &Path, bytes: &[u8], opts: &TableOptions) -> Result<Dataset> {
    let (texts, raw_labels) = read_rows(path, bytes, opts, true)?;

    let label_names = match &opts.label_names {
        Some(names) => names.clone(),
        None => infer_label_names(raw_labels.iter().map(|(_, l)| l.as_str())),
    };
    let labels = class_indices(path, &raw_labels, &label_names)?;
    let ds = Dataset {
        texts,
        labels,
        label_names,
    };
    crate::sms::check_classes(path, &ds)?;
    Ok(ds)
}

/// [`parse_labelled`] for a file whose classes are another file's (`opts.label_names`): one
/// class alone is fine (a small validation split may hold one), no row is an error.
pub(crate) fn parse_with_classes(
    path: &Path,
    bytes: &[u8],
    opts: &TableOptions,
) -> Result<Dataset> {
    let names = opts.label_names.clone().unwrap_or_default();
    let (texts, raw_labels) = read_rows(path, bytes, opts, true)?;
    let labels = class_indices(path, &raw_labels, &names)?;
    if texts.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Dataset {
        texts,
        labels,
        label_names: names,
    })
}

/// The class of each raw label by its place in `names`; a label not there is an error naming
/// its line.
fn class_indices(
    path: &Path,
    raw_labels: &[(usize, String)],
    names: &[String],
) -> Result<Vec<usize>> {
    raw_labels
        .iter()
        .map(|(line, label)| {
            names
                .iter()
                .position(|n| n == label)
                .ok_or_else(|| DataError::UnknownLabel {
                    path: path.to_path_buf(),
                    line: *line,
                    label: label.clone(),
                    expected: names.to_vec(),
                })
        })
        .collect()
}

/// Texts, and raw labels with their line numbers.
type Rows = (Vec<String>, Vec<(usize, String)>);

/// The text and raw label (with its line) of every record; without `labelled`, the label
/// column is not looked for and each "label" is the text.
fn read_rows(path: &Path, bytes: &[u8], opts: &TableOptions, labelled: bool) -> Result<Rows> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    check_text(path, bytes)?;
    if opts.quoting {
        check_quotes(path, bytes, opts.delimiter)?;
    }
    let mut rdr = csv_reader(opts, bytes);
    let headers = read_headers(path, opts, &mut rdr)?;
    let mut texts = Vec::new();
    let mut raw_labels: Vec<(usize, String)> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut cols: Option<(usize, usize)> = None;
    loop {
        let line = rdr.position().line().max(1);
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, line, e)),
        }
        let line = record.position().map_or(line, |p| {
            p.line() + u64::from(bytes.get(p.byte() as usize) == Some(&b'\n'))
        }) as usize;
        let (t, l) = match cols {
            Some(c) => c,
            None => *cols.insert(resolve_columns(
                path,
                opts,
                &headers,
                record.len(),
                labelled,
            )?),
        };
        let field = |i: usize| record.get(i).unwrap_or_default();
        texts.push(field(t).to_string());
        raw_labels.push((line, field(l).trim().to_string()));
    }
    if texts.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }

    Ok((texts, raw_labels))
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

/// Errors with [`DataError::UnclosedQuote`] (naming the line where the field opens) when a
/// quoted field runs to the end of `bytes`: the CSV reader would silently take the rest of the
/// file as that one field.
pub(crate) fn check_quotes(path: &Path, bytes: &[u8], delimiter: u8) -> Result<()> {
    match unclosed_quote_line(bytes, delimiter) {
        None => Ok(()),
        Some(line) => Err(DataError::UnclosedQuote {
            path: path.to_path_buf(),
            line,
            hint: "",
        }),
    }
}

/// The 1-based line where a quoted field opens that never closes, if one does. Follows the
/// CSV reader's rules: a `"` opens a quoted field only as a field's first byte, `""` inside is
/// a literal quote, and a closing quote may be followed by more unquoted bytes.
fn unclosed_quote_line(bytes: &[u8], delimiter: u8) -> Option<usize> {
    let mut scan = crate::quote_scan::QuoteScan::new(delimiter);
    for &c in bytes {
        scan.step(c);
    }
    scan.unclosed()
}

pub(crate) fn infer_label_names<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for l in labels {
        if !seen.iter().any(|s| s == l) {
            seen.push(l.to_string());
        }
    }
    // A deterministic order that does not depend on which row comes first (the positive
    // class, index 1 of two, is what thresholds, F1 and AUCs refer to): numbers in numeric
    // order, names sorted as `datasets`' `class_encode_column` sorts them (so `ham`, `spam`
    // is the chapter's ham = 0, spam = 1).
    if seen.iter().all(|s| s.parse::<i64>().is_ok()) {
        seen.sort_by_key(|s| s.parse::<i64>().unwrap_or_default());
    } else {
        seen.sort();
    }
    seen
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_an_unclosed_quote() {
        let q = |s: &str| unclosed_quote_line(s.as_bytes(), b',');
        assert_eq!(q("a,b\n\"x\ny\",1\n"), None);
        assert_eq!(q("a,b\n\"say \"\"hi\"\"\",1\n"), None);
        assert_eq!(q("a,b\nit's \"fine,1\n"), None); // a quote inside a field is literal
        assert_eq!(q("a,b\n\"x\"y,1\n"), None); // closed, then more unquoted bytes
        assert_eq!(q("a,b\nok,1\n\"never\nclosed,0\n"), Some(3));
        assert_eq!(q("a,b\nok,\"1\n"), Some(2));
        assert_eq!(q("\"\"\"\n"), Some(1)); // `"""`: open, escaped quote, still open
    }

    #[test]
    fn infers_names() {
        assert_eq!(infer_label_names(["1", "0", "1"].into_iter()), ["0", "1"]);
        assert_eq!(infer_label_names(["10", "2"].into_iter()), ["2", "10"]);
        // Names sorted, whatever comes first.
        assert_eq!(
            infer_label_names(["pos", "neg", "pos"].into_iter()),
            ["neg", "pos"]
        );
    }
}
