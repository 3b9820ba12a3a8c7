//! Writing the split CSVs (byte-identical to pandas' `to_csv(index=None)`) and reading them back.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::rows::RowSource;
use crate::sms::{ParseMode, read_sms};
use crate::sniff::check_text;
use crate::source::SourceKind;
use crate::split::Splits;
use crate::table::{Column, TableOptions, check_quotes, read_labelled};

/// File names written by [`write_splits`], in the order train, validation, test.
pub const SPLIT_FILES: [&str; 3] = ["train.csv", "validation.csv", "test.csv"];

/// The format `prepare` writes the splits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SplitFormat {
    /// `train.csv`, `validation.csv`, `test.csv`: header `Label,Text`, class numbers, as
    /// the chapter's pandas code writes them.
    #[default]
    Csv,
    /// The Hugging Face hub's layout: `train-00000-of-00001.parquet`, ... with columns `text`
    /// and `label`, the label a ClassLabel carrying the class names.
    Parquet,
}

impl SplitFormat {
    /// The file names of train, validation and test.
    pub fn file_names(self) -> [&'static str; 3] {
        match self {
            SplitFormat::Csv => SPLIT_FILES,
            SplitFormat::Parquet => [
                "train-00000-of-00001.parquet",
                "validation-00000-of-00001.parquet",
                "test-00000-of-00001.parquet",
            ],
        }
    }

    /// Writes each `(file name, rows)` into `dir`, all renamed into place together.
    pub(crate) fn write(self, dir: &Path, files: &[(&str, &Dataset)]) -> Result<Vec<PathBuf>> {
        match self {
            SplitFormat::Csv => write_csvs(dir, files),
            #[cfg(feature = "parquet")]
            SplitFormat::Parquet => crate::parquet_write::write_parquet_files(dir, files),
            #[cfg(not(feature = "parquet"))]
            SplitFormat::Parquet => Err(DataError::InvalidOption(
                "this build writes no Parquet (spam-data's `parquet` feature is off)".into(),
            )),
        }
    }
}

impl crate::named::Named for SplitFormat {
    const WHAT: &'static str = "output format";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (SplitFormat::Csv, "csv", &[]),
        (SplitFormat::Parquet, "parquet", &[]),
    ];
}

impl std::str::FromStr for SplitFormat {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        use crate::named::Named;
        Self::from_name(s).ok_or_else(|| DataError::InvalidOption(Self::unknown(s)))
    }
}

impl std::fmt::Display for SplitFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::named::Named;
        self.write_name(f)
    }
}

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
pub fn check_split_folder(
    dir: &Path,
    inputs: &[&Path],
    overwrite: bool,
    format: SplitFormat,
) -> Result<()> {
    let names = format.file_names();
    for name in names {
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
    match entries.iter().find(|e| !names.contains(&e.as_str())) {
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
            text_column: Column::Default,
            label_column: Column::Default,
        }
    }
}

/// What a file of labelled examples is, as [`ExamplesFile`] and its contents say.
enum ExamplesKind {
    SplitCsv,
    Sms,
    Table(TableOptions),
    Parquet(crate::source::ParquetOptions),
}

impl ExamplesFile {
    /// Decides by `kind`, else by the file: Parquet (name or magic bytes), a split CSV
    /// (header `Label,Text`), another `.csv`/`.tsv` with a header (a table), or the SMS
    /// collection.
    fn kind_of(&self, path: &Path) -> Result<ExamplesKind> {
        let table = || {
            ExamplesKind::Table(TableOptions::for_file(
                path,
                self.text_column.clone(),
                self.label_column.clone(),
            ))
        };
        let parquet = || {
            ExamplesKind::Parquet(crate::source::ParquetOptions {
                text_column: self.text_column.clone(),
                label_column: self.label_column.clone(),
            })
        };
        Ok(match self.kind {
            Some(SourceKind::Sms) => ExamplesKind::Sms,
            Some(SourceKind::Table) => table(),
            Some(SourceKind::Parquet) => parquet(),
            None if crate::inputs::is_parquet(path) => parquet(),
            None => {
                let ext = path
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                match ext.as_deref() {
                    Some("csv") if first_line(path)? == "Label,Text" => ExamplesKind::SplitCsv,
                    Some("csv" | "tsv") => table(),
                    _ => ExamplesKind::Sms,
                }
            }
        })
    }
}

/// Reads labelled examples from `path` as `options` says: a split CSV, the SMS collection,
/// a table whose delimiter comes from its name ([`delimiter_for`](crate::delimiter_for)), or
/// Parquet (a file, a folder of shards or a glob pattern).
pub fn read_examples(path: impl AsRef<Path>, options: &ExamplesFile) -> Result<Dataset> {
    let path = path.as_ref();
    match options.kind_of(path)? {
        ExamplesKind::SplitCsv => read_split_csv(path),
        ExamplesKind::Sms => read_sms(path, options.parse_mode),
        ExamplesKind::Table(t) => read_labelled(path, &t),
        ExamplesKind::Parquet(o) => {
            crate::parquet_read::read_parquet(&crate::inputs::expand_input(path)?, &o, None)
        }
    }
}

/// [`read_examples`] as batches of rows, each with its place and its label as written
/// (a class name, or a class number for split CSVs and unnamed integer labels): Parquet and
/// CSV/TSV are read a batch at a time, the SMS collection whole.
pub fn examples_rows(path: impl AsRef<Path>, options: &ExamplesFile) -> Result<RowSource> {
    let path = path.as_ref();
    let batches = match options.kind_of(path)? {
        ExamplesKind::Parquet(o) => {
            let files = crate::inputs::expand_input(path)?;
            let (rows, _) =
                crate::parquet_read::parquet_rows(&files, &o.text_column, Some(&o.label_column))?;
            return Ok(rows);
        }
        ExamplesKind::SplitCsv => {
            let opts = TableOptions::csv("Text", "Label");
            return crate::table_stream::table_stream(path, &opts, true);
        }
        ExamplesKind::Table(t) => return crate::table_stream::table_stream(path, &t, true),
        ExamplesKind::Sms => {
            let ds = read_sms(path, options.parse_mode)?;
            let labels = ds
                .labels
                .iter()
                .map(|&l| ds.label_names[l].clone())
                .collect();
            crate::rows::batches_of(path, ds.texts, Some(labels), None, crate::rows::BATCH_ROWS)
        }
    };
    Ok(RowSource::from_batches(batches))
}

/// The texts of `path` as batches of rows (for classifying): Parquet (by name or magic
/// bytes; `opts.text_column` picks the column) a record batch at a time, a CSV/TSV as
/// `opts` says, a batch of rows at a time.
pub fn text_rows(path: impl AsRef<Path>, opts: &TableOptions) -> Result<RowSource> {
    let path = path.as_ref();
    if crate::inputs::is_parquet(path) {
        let files = crate::inputs::expand_input(path)?;
        let (rows, _) = crate::parquet_read::parquet_rows(&files, &opts.text_column, None)?;
        return Ok(rows);
    }
    crate::table_stream::table_stream(path, opts, false)
}

/// The first line of a text file, without BOM or line ending (empty when unreadable as text).
fn first_line(path: &Path) -> Result<String> {
    use std::io::Read;
    crate::input::check_regular_file(path)?;
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_end(&mut head))
        .map_err(|e| DataError::io(path, "read", e))?;
    let bytes = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(String::from_utf8_lossy(line).into_owned())
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
