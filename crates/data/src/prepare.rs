//! The one-call pipeline: read, balance, split, write the CSVs, tokenize and pad.

use std::path::{Path, PathBuf};

use crate::batch::DEFAULT_BATCH_SIZE;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::files::SplitFormat;
use crate::pad::{EncodedSplits, GPT2_CONTEXT, Padding, encode_splits};
use crate::sms::{ParseMode, parse_sms_or_zip};
use crate::source::SourceFormat;
use crate::split::{DEFAULT_FRACTIONS, DEFAULT_SEED, Splits, balance, split};
use crate::table::{TableOptions, parse_labelled};
use crate::tokenize::Tokenizer;

/// Options of [`prepare`]. [`PrepareOptions::sms`] gives the chapter's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PrepareOptions {
    /// The input file.
    pub source: PathBuf,
    /// How to read it.
    pub format: SourceFormat,
    /// Undersample every class to the smallest (the chapter: yes).
    pub balance: bool,
    /// Seed of balancing and splitting (`random_state`; the chapter: 123).
    pub seed: u32,
    /// Train and validation fractions; test gets the rest (the chapter: 0.7, 0.1).
    pub fractions: (f64, f64),
    /// Where to write `train.csv`, `validation.csv`, `test.csv`; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// Padding policy (the chapter: longest training example).
    pub padding: Padding,
    /// The model context; no row is longer (GPT-2: 1024).
    pub max_context: usize,
    /// Training batch size; fewer training rows than this is an error (the chapter: 8).
    pub batch_size: usize,
    /// The format of the files written to `out_dir` (the chapter: CSV).
    pub out_format: SplitFormat,
}

impl PrepareOptions {
    /// The chapter's pipeline on the SMS collection (pandas-compatible parsing, balanced, seed 123,
    /// 70/10/20, padded to the longest training example, context 1024, batch 8).
    pub fn sms(source: impl Into<PathBuf>, out_dir: Option<PathBuf>) -> Self {
        PrepareOptions {
            source: source.into(),
            format: SourceFormat::Sms(ParseMode::default()),
            balance: true,
            seed: DEFAULT_SEED,
            fractions: DEFAULT_FRACTIONS,
            out_dir,
            padding: Padding::Longest,
            max_context: GPT2_CONTEXT,
            batch_size: DEFAULT_BATCH_SIZE,
            out_format: SplitFormat::Csv,
        }
    }

    /// Same defaults for any labelled table (balancing off).
    pub fn table(
        source: impl Into<PathBuf>,
        table: TableOptions,
        out_dir: Option<PathBuf>,
    ) -> Self {
        PrepareOptions {
            format: SourceFormat::Table(table),
            balance: false,
            ..Self::sms(source, out_dir)
        }
    }
}

/// What [`prepare`] did.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Rows read from the source.
    pub rows_read: usize,
    /// Rows per class as read, indexed like `label_names`.
    pub class_counts: Vec<usize>,
    /// Class names in class-index order.
    pub label_names: Vec<String>,
    /// Rows after balancing (equal to `rows_read` without balancing).
    pub balanced_rows: usize,
    /// Rows in train, validation, test.
    pub train_rows: usize,
    /// Rows in validation.
    pub validation_rows: usize,
    /// Rows in test.
    pub test_rows: usize,
    /// The padded length (`Longest`/`Fixed`), else `None`.
    pub padded_len: Option<usize>,
    /// The CSVs written (train, validation, test), if `out_dir` was set.
    pub files: Option<[PathBuf; 3]>,
    /// The split texts and labels.
    pub splits: Splits,
    /// The split token ids.
    pub encoded: EncodedSplits,
}

/// Runs the whole pipeline. Every check (parsing, class counts, batch size, padding) happens
/// before anything is written, and the three CSVs are renamed into place together.
pub fn prepare(opts: &PrepareOptions) -> Result<Prepared> {
    let ds = read_source(&opts.source, &opts.format)?;
    let class_counts = ds.class_counts();
    let rows_read = ds.len();
    let balanced = if opts.balance {
        balance(&ds, opts.seed)?
    } else {
        ds
    };
    let splits = split(&balanced, opts.fractions, opts.seed)?;
    let files = SplitFileNames::ALL;
    let mut p = finish(opts, splits, &files)?;
    p.rows_read = rows_read;
    p.class_counts = class_counts;
    p.balanced_rows = balanced.len();
    Ok(p)
}

/// Which split CSVs [`finish`] writes (prepare: all three; given files: the test one only
/// when there is one).
pub(crate) struct SplitFileNames {
    pub(crate) test: bool,
}

impl SplitFileNames {
    const ALL: Self = Self { test: true };
}

/// The steps after splitting: the batch check, tokenizing and padding, writing the CSVs.
pub(crate) fn finish(
    opts: &PrepareOptions,
    splits: Splits,
    names: &SplitFileNames,
) -> Result<Prepared> {
    if opts.batch_size == 0 {
        return Err(DataError::InvalidOption(
            "the batch size must be at least 1".into(),
        ));
    }
    if splits.train.len() < opts.batch_size {
        return Err(DataError::TooFewRows {
            what: format!("the training split of {}", opts.source.display()),
            rows: splits.train.len(),
            batch_size: opts.batch_size,
        });
    }
    let encoded = encode_splits(&Tokenizer::gpt2(), &splits, opts.padding, opts.max_context)?;
    let files = match &opts.out_dir {
        Some(dir) => {
            let [train, validation, test] = opts.out_format.file_names();
            let mut files = vec![(train, &splits.train), (validation, &splits.validation)];
            if names.test {
                files.push((test, &splits.test));
            }
            let written = opts.out_format.write(dir, &files)?;
            <[PathBuf; 3]>::try_from(written).ok()
        }
        None => None,
    };
    let rows = splits.train.len() + splits.validation.len() + splits.test.len();
    tracing::info!(
        train = splits.train.len(),
        validation = splits.validation.len(),
        test = splits.test.len(),
        padded_len = ?encoded.padded_len,
        "prepared {}",
        opts.source.display()
    );
    Ok(Prepared {
        rows_read: rows,
        class_counts: splits.train.class_counts(),
        label_names: splits.train.label_names.clone(),
        balanced_rows: rows,
        train_rows: splits.train.len(),
        validation_rows: splits.validation.len(),
        test_rows: splits.test.len(),
        padded_len: encoded.padded_len,
        files,
        splits,
        encoded,
    })
}

/// Reads a source file in the given format (an SMS source may be the UCI zip).
///
/// Parquet (see [`SourceFormat::parquet_for`]) may be one file, a folder of shards or a glob
/// pattern ([`expand_input`](crate::expand_input)).
pub fn read_source(path: &Path, format: &SourceFormat) -> Result<Dataset> {
    let parquet = |o: &crate::ParquetOptions| {
        crate::parquet_read::read_parquet(&crate::inputs::expand_input(path)?, o, None)
    };
    match (format, format.parquet_for(path)) {
        (_, Some(o)) => parquet(&o),
        (SourceFormat::Parquet(o), None) => parquet(o),
        (SourceFormat::Sms(mode), None) => {
            parse_sms_or_zip(path, &crate::input::read_file(path)?, *mode)
        }
        (SourceFormat::Table(t), None) => parse_labelled(path, &crate::input::read_file(path)?, t),
    }
}
