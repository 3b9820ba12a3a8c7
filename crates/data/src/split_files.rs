//! Training on splits the user made: a train, a validation and (optionally) a test file, used
//! as given: no balancing, no re-splitting.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::files::SPLIT_FILES;
use crate::inputs::SplitLayout;
use crate::prepare::{PrepareOptions, Prepared, SplitFileNames, finish};
use crate::sms::parse_sms;
use crate::source::SourceFormat;
use crate::split::Splits;
use crate::table::{TableOptions, parse_labelled, parse_with_classes};

/// The files of a run's three splits; without a test file the run has no test metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitFiles {
    /// Examples to learn from; its labels are the classes.
    pub train: PathBuf,
    /// Examples of the evaluations during training.
    pub validation: PathBuf,
    /// Held-out examples, if any.
    pub test: Option<PathBuf>,
}

impl SplitFiles {
    /// The split files of `dir`: `train.csv`, `validation.csv` and, when present, `test.csv`
    /// (what `prepare` writes), or the hub's Parquet layout ([`SplitLayout::find`]:
    /// `train-*.parquet`, `validation-*.parquet`, `test-*.parquet`, also under `data/` or a
    /// config folder), each split then a glob pattern.
    pub fn in_dir(dir: &Path) -> Result<Self> {
        let [train, validation, test] = SPLIT_FILES.map(|name| dir.join(name));
        if train.is_file() && validation.is_file() {
            return Ok(Self {
                train,
                validation,
                test: test.is_file().then_some(test),
            });
        }
        let layout = if dir.is_dir() {
            SplitLayout::find(dir)?
        } else {
            None
        };
        match layout {
            Some(SplitLayout {
                train,
                validation: Some(validation),
                test,
            }) => Ok(Self {
                train,
                validation,
                test,
            }),
            _ => Err(DataError::InvalidOption(format!(
                "{} holds no split files: a data folder holds train.csv and validation.csv \
                 (and optionally test.csv), as `spam-cli prepare --out DIR` writes them, or \
                 the hub's Parquet splits (train-*.parquet and validation-*.parquet, also under \
                 data/); or give the files with --train-file and --validation-file",
                dir.display()
            ))),
        }
    }
}

/// Reads the split files in `format`. A file whose header is `Label,Text` is read as the split
/// CSV `prepare` writes, whatever the format. The classes are the training file's: a label of
/// the validation or test file that training never saw is an error naming its file and line.
pub fn read_split_files(files: &SplitFiles, format: &SourceFormat) -> Result<Splits> {
    let train = read_one(&files.train, format, None)?;
    let names = &train.label_names;
    let validation = read_one(&files.validation, format, Some(names))?;
    let test = match &files.test {
        Some(path) => read_one(path, format, Some(names))?,
        None => Dataset {
            label_names: names.clone(),
            ..Dataset::default()
        },
    };
    Ok(Splits {
        train,
        validation,
        test,
    })
}

/// [`prepare`](crate::prepare) for splits given as files: read them (see
/// [`read_split_files`]), then tokenize, pad and write them to `opts.out_dir` as it does.
/// `opts.source`, `balance`, `seed` and `fractions` are not used.
pub fn prepare_files(opts: &PrepareOptions, files: &SplitFiles) -> Result<Prepared> {
    let splits = read_split_files(files, &opts.format)?;
    let opts = PrepareOptions {
        source: files.train.clone(),
        ..opts.clone()
    };
    finish(
        &opts,
        splits,
        &SplitFileNames {
            test: files.test.is_some(),
        },
    )
}

/// A file read as the SMS format (label TAB text) whose first line has no TAB but commas: a
/// CSV. With a header naming `text` and `label` columns (any case) it is read as that table;
/// otherwise the error says which `--format` to pass instead of failing on a missing TAB.
fn csv_header_table(path: &Path, header: &[u8]) -> Result<TableOptions> {
    let names: Vec<String> = String::from_utf8_lossy(header)
        .split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect();
    let find = |want: &str| names.iter().find(|n| n.eq_ignore_ascii_case(want)).cloned();
    match (find("text"), find("label")) {
        (Some(text), Some(label)) => Ok(TableOptions::csv(text.as_str(), label.as_str())),
        _ => Err(DataError::InvalidOption(format!(
            "{} looks like a CSV (its first line has commas and no TAB), not the SMS format \
             (label TAB text): pass --format table with --text-column and --label-column \
             (its columns: {})",
            path.display(),
            names.join(", ")
        ))),
    }
}

fn read_one(path: &Path, format: &SourceFormat, classes: Option<&Vec<String>>) -> Result<Dataset> {
    if let Some(parquet) = format.parquet_for(path) {
        let files = crate::inputs::expand_input(path)?;
        return crate::parquet_read::read_parquet(&files, &parquet, classes.map(Vec::as_slice));
    }
    let bytes = crate::input::read_file(path)?;
    let header = bytes
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&bytes)
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let header = header.strip_suffix(b"\r").unwrap_or(header);
    let split_csv = header == b"Label,Text";
    let table = match format {
        _ if split_csv => TableOptions::csv("Text", "Label"),
        SourceFormat::Table(t) => t.clone(),
        SourceFormat::Parquet(o) => {
            let files = crate::inputs::expand_input(path)?;
            return crate::parquet_read::read_parquet(&files, o, classes.map(Vec::as_slice));
        }
        SourceFormat::Sms(_) if !header.contains(&b'\t') && header.contains(&b',') => {
            csv_header_table(path, header)?
        }
        SourceFormat::Sms(mode) => {
            let ds = parse_sms(path, &bytes, *mode)?;
            return match classes {
                Some(names) if *names != ds.label_names => Err(DataError::InvalidOption(format!(
                    "{} is an SMS collection (ham/spam) but the training file's classes are {}",
                    path.display(),
                    names.join(", ")
                ))),
                _ => Ok(ds),
            };
        }
    };
    match classes {
        None => parse_labelled(path, &bytes, &table),
        Some(names) => parse_with_classes(path, &bytes, &table.with_label_names(names.clone())),
    }
}
