//! Any labelled CSV/TSV: text and label columns chosen by name or index, any number of classes.

use std::path::Path;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::sniff::check_text;
pub use crate::table_options::{Column, TableOptions};

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

/// The text and raw label (with its line) of every record, by the reader `table_stream`
/// uses, after the whole-file checks (so a NUL byte or an unclosed quote anywhere is reported
/// before what the records hold); without `labelled`, the label column is not looked for and
/// the labels are empty.
fn read_rows(path: &Path, bytes: &[u8], opts: &TableOptions, labelled: bool) -> Result<Rows> {
    check_text(path, bytes)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if opts.quoting {
        check_quotes(path, bytes, opts.delimiter)?;
    }
    let mut rows = crate::table_stream::TableRows::new(path, opts, bytes, labelled)?;
    let mut texts = Vec::new();
    let mut raw_labels: Vec<(usize, String)> = Vec::new();
    while let Some(batch) = rows.next_batch()? {
        let lines = batch.lines.unwrap_or_default();
        let labels = batch.labels.unwrap_or_default();
        raw_labels.extend(
            lines
                .into_iter()
                .zip(labels.into_iter().chain(std::iter::repeat(String::new()))),
        );
        texts.extend(batch.texts);
    }
    if texts.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((texts, raw_labels))
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
