//! Writing the split CSVs (byte-identical to pandas' `to_csv(index=None)`) and reading them back.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::sms::{ParseMode, read_sms};
use crate::sniff::check_text;
use crate::source::SourceKind;
use crate::split::Splits;
use crate::table::{Column, TableOptions, check_quotes, read_labelled};

/// File names written by [`write_splits`], in the order train, validation, test.
pub const SPLIT_FILES: [&str; 3] = ["train.csv", "validation.csv", "test.csv"];

/// The CSV text pandas writes for a split: header `Label,Text`, the class index, then the text
/// quoted as Python's `csv` module does with `QUOTE_MINIMAL` (only when it holds `,`, `"`, `\r`
/// or `\n`; quotes doubled), lines ending in `\n`.
pub fn split_csv(ds: &Dataset) -> String {
    let mut out = String::with_capacity(16 + ds.texts.iter().map(|t| t.len() + 4).sum::<usize>());
    out.push_str("Label,Text\n");
    for (label, text) in ds.labels.iter().zip(&ds.texts) {
        out.push_str(&label.to_string());
        out.push(',');
        push_csv_field(&mut out, text);
        out.push('\n');
    }
    out
}

/// Writes `train.csv`, `validation.csv` and `test.csv` into `dir` (created if needed) and returns
/// their paths. All three are written to temporary files first and renamed into place only once
/// all are complete, so a failure leaves no half-written file.
pub fn write_splits(dir: impl AsRef<Path>, splits: &Splits) -> Result<[PathBuf; 3]> {
    let named = splits.named();
    let files: Vec<(&str, &Dataset)> = SPLIT_FILES
        .iter()
        .copied()
        .zip(named.map(|(_, ds)| ds))
        .collect();
    let written = write_csvs(dir.as_ref(), &files)?;
    Ok(std::array::from_fn(|i| written[i].clone()))
}

/// Checks `dir` before split CSVs are written into it (`prepare --out`): a new or empty folder
/// is fine; one holding files needs `overwrite`, and then may hold only the split files
/// (anything else is the user's and is never replaced); and no file written there may be one
/// of `inputs` (the data being read), with or without `overwrite`.
pub fn check_split_folder(dir: &Path, inputs: &[&Path], overwrite: bool) -> Result<()> {
    for name in SPLIT_FILES {
        let target = dir.join(name);
        let Ok(target) = fs::canonicalize(&target) else {
            continue;
        };
        if let Some(input) = inputs
            .iter()
            .find(|i| fs::canonicalize(i).is_ok_and(|i| i == target))
        {
            return Err(DataError::InvalidOption(format!(
                "writing {} would replace the input {}: choose another --out",
                dir.join(name).display(),
                input.display()
            )));
        }
    }
    let entries: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return Ok(()),
    };
    if entries.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(DataError::InvalidOption(format!(
            "{} is not empty: pass --overwrite to replace the split files there, or choose \
             another --out",
            dir.display()
        )));
    }
    match entries.iter().find(|e| !SPLIT_FILES.contains(&e.as_str())) {
        Some(other) => Err(DataError::InvalidOption(format!(
            "{} holds `{other}`, which prepare does not write: it is left as it is; choose \
             another --out",
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// Writes each `(file name, rows)` into `dir` as a split CSV, all renamed into place together.
pub(crate) fn write_csvs(dir: &Path, files: &[(&str, &Dataset)]) -> Result<Vec<PathBuf>> {
    let targets: Vec<PathBuf> = files.iter().map(|(name, _)| dir.join(name)).collect();
    // Each temporary file is made (folder created if needed) beside its target; dropping one
    // removes it, so a failure anywhere leaves none behind.
    let mut temps = Vec::with_capacity(targets.len());
    for (target, (_, ds)) in targets.iter().zip(files) {
        let tmp = atomic::temp_file(target, ".tmp")?;
        let mut file = tmp.as_file();
        file.write_all(split_csv(ds).as_bytes())
            .map_err(|e| DataError::io(target, "write", e))?;
        file.sync_all()
            .map_err(|e| DataError::io(target, "sync", e))?;
        temps.push(tmp);
    }
    for (tmp, target) in temps.into_iter().zip(&targets) {
        tmp.persist(target)
            .map_err(|e| DataError::io(target, "rename into place", e.error))?;
    }
    atomic::sync_dir(dir);
    Ok(targets)
}

/// How [`read_examples`] reads a labelled file.
#[derive(Debug, Clone, PartialEq)]
pub struct ExamplesFile {
    /// What the file is; `None` decides by its name: a split CSV (`Label,Text`, as
    /// [`write_splits`] writes) for `.csv`, the SMS collection otherwise.
    pub kind: Option<SourceKind>,
    /// How an SMS collection is parsed.
    pub parse_mode: ParseMode,
    /// A table's text column.
    pub text_column: Column,
    /// A table's label column.
    pub label_column: Column,
}

impl Default for ExamplesFile {
    fn default() -> Self {
        Self {
            kind: None,
            parse_mode: ParseMode::default(),
            text_column: Column::from("text"),
            label_column: Column::from("label"),
        }
    }
}

/// Reads labelled examples from `path` as `options` says: a split CSV, the SMS collection,
/// or a table whose delimiter comes from its name ([`delimiter_for`](crate::delimiter_for)).
pub fn read_examples(path: impl AsRef<Path>, options: &ExamplesFile) -> Result<Dataset> {
    let path = path.as_ref();
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    match (options.kind, is_csv) {
        (None, true) => read_split_csv(path),
        (None, false) | (Some(SourceKind::Sms), _) => read_sms(path, options.parse_mode),
        (Some(SourceKind::Table), _) => read_labelled(
            path,
            &TableOptions::for_file(
                path,
                options.text_column.clone(),
                options.label_column.clone(),
            ),
        ),
    }
}

/// Reads a CSV written by [`write_splits`] (or by the chapter's pandas code): header
/// `Label,Text`, integer labels. `label_names` are `"0"`, `"1"`, ... up to the largest label.
pub fn read_split_csv(path: impl AsRef<Path>) -> Result<Dataset> {
    let path = path.as_ref();
    let bytes = crate::input::read_file(path)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    check_text(path, bytes)?;
    check_quotes(path, bytes, b',')?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let table_err = |line: u64, message: String| DataError::Table {
        path: path.to_path_buf(),
        line: line as usize,
        message,
    };
    let headers = rdr
        .headers()
        .map_err(|e| table_err(1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
                available: headers.iter().map(str::to_string).collect(),
            })
    };
    let (label_col, text_col) = (col("Label")?, col("Text")?);
    let mut ds = Dataset::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line() + 1;
        match rdr.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                return Err(match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => DataError::InvalidUtf8 {
                        path: path.to_path_buf(),
                        line: line as usize,
                    },
                    _ => table_err(line, e.to_string()),
                });
            }
        }
        let label = record.get(label_col).unwrap_or_default();
        let class: usize = label.trim().parse().map_err(|_| DataError::UnknownLabel {
            path: path.to_path_buf(),
            line: line as usize,
            label: label.to_string(),
            expected: vec!["0".into(), "1".into(), "...".into()],
        })?;
        ds.labels.push(class);
        ds.texts
            .push(record.get(text_col).unwrap_or_default().to_string());
    }
    let classes = ds.labels.iter().max().map_or(0, |m| m + 1);
    ds.label_names = (0..classes).map(|c| c.to_string()).collect();
    Ok(ds)
}

fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_python_csv() {
        let ds = Dataset {
            texts: vec![
                "a".into(),
                "b,c".into(),
                "say \"hi\"".into(),
                "x\ny".into(),
                "".into(),
            ],
            labels: vec![0, 1, 0, 1, 0],
            label_names: vec!["ham".into(), "spam".into()],
        };
        assert_eq!(
            split_csv(&ds),
            "Label,Text\n0,a\n1,\"b,c\"\n0,\"say \"\"hi\"\"\"\n1,\"x\ny\"\n0,\n"
        );
    }
}
