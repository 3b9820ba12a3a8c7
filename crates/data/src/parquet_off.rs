//! Built without the `parquet` feature: every Parquet input is refused with a message saying
//! how to get a build that reads it.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::rows::RowSource;
use crate::table::Column;

fn off(path: &Path) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        what: "this build reads no Parquet (spam-data's `parquet` feature is off): build with \
               it, or convert the file to CSV"
            .into(),
    }
}

pub(crate) fn parquet_rows(
    files: &[PathBuf],
    _text: &Column,
    _label: Option<&Column>,
) -> Result<(RowSource, Option<Vec<String>>)> {
    Err(off(&crate::rows::first_path(files)))
}

pub(crate) fn read_parquet(
    files: &[PathBuf],
    _opts: &crate::source::ParquetOptions,
    _classes: Option<&[String]>,
) -> Result<crate::dataset::Dataset> {
    Err(off(&crate::rows::first_path(files)))
}

pub(crate) fn parquet_row_count(path: &Path, _text: &Column, _id: Option<&Column>) -> Result<u64> {
    Err(off(path))
}

pub(crate) fn parquet_range(
    path: &Path,
    _text: &Column,
    _id: Option<&Column>,
    _range: std::ops::Range<u64>,
) -> Result<RowSource> {
    Err(off(path))
}
