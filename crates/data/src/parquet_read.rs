//! Reading Parquet files (the Hugging Face hub's dataset shards, pandas, polars, DuckDB,
//! Spark) through arrow-rs, in record batches: memory follows the batch, not the file.
//!
//! Columns are chosen by name ([`Column::Default`]: `text`, then `Text`, else the only
//! string column; `label`, then `Label`). A ClassLabel column (integers in the file, names in
//! the schema's `huggingface` metadata) gives its names; integers without names are read as
//! their decimal text (`"0"`, `"1"`); strings as they are.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::{DataError, Result};
use crate::rows::{BATCH_ROWS, RowBatch, RowSource};
use crate::table::Column;

/// One Parquet file, opened and checked: its schema and the columns chosen.
pub(crate) struct ParquetFile {
    path: PathBuf,
    builder: ParquetRecordBatchReaderBuilder<File>,
    text: usize,
    label: Option<usize>,
    /// A column read beside the text to identify rows (`classify --id-column`).
    id: Option<usize>,
    /// The label column's ClassLabel names, if it is one.
    class_names: Option<Vec<String>>,
}

impl ParquetFile {
    /// Opens `path` and picks its columns (`label: None` reads texts only).
    pub(crate) fn open(path: &Path, text: &Column, label: Option<&Column>) -> Result<Self> {
        crate::input::check_regular_file(path)?;
        check_magic(path)?;
        let file = File::open(path).map_err(|e| DataError::io(path, "open", e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| DataError::Parquet {
                path: path.to_path_buf(),
                what: format!("not a readable Parquet file ({e}); is it complete?"),
            })?;
        let schema = builder.schema().clone();
        let label = label
            .map(|c| pick_column(path, &schema, c, Role::Label, None))
            .transpose()?;
        let text = pick_column(path, &schema, text, Role::Text, label)?;
        check_text_type(path, &schema, text)?;
        let class_names = match label {
            Some(l) => {
                let name = schema.field(l).name();
                check_label_type(path, &schema, l)?;
                class_label_names(path, builder.metadata(), name)?
            }
            None => None,
        };
        Ok(Self {
            path: path.to_path_buf(),
            builder,
            text,
            label,
            id: None,
            class_names,
        })
    }

    /// Also reads `column` as each row's id (strings, or integers as decimal text).
    pub(crate) fn with_id(mut self, column: &Column) -> Result<Self> {
        let schema = self.builder.schema().clone();
        let id = pick_column(&self.path, &schema, column, Role::Id, None)?;
        let t = schema.field(id).data_type();
        if !(is_string(t) || is_integer(t)) {
            return Err(DataError::Parquet {
                path: self.path.clone(),
                what: format!(
                    "the id column `{}` is {}: ids are strings or integers",
                    schema.field(id).name(),
                    type_name(t)
                ),
            });
        }
        self.id = Some(id);
        Ok(self)
    }

    /// Rows in the file.
    pub(crate) fn rows(&self) -> u64 {
        u64::try_from(self.builder.metadata().file_metadata().num_rows()).unwrap_or(0)
    }

    /// The rows of each row group, in order.
    pub(crate) fn row_groups(&self) -> Vec<u64> {
        self.builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| u64::try_from(g.num_rows()).unwrap_or(0))
            .collect()
    }

    /// Rows `range` of the file (all when `None`) as batches of texts (and labels, ids):
    /// only the row groups the range touches are read.
    pub(crate) fn batches(self, range: Option<std::ops::Range<u64>>) -> Result<ParquetBatches> {
        let sizes = self.row_groups();
        let range = range.unwrap_or(0..sizes.iter().sum());
        let mut groups = Vec::new();
        let mut first_start = None;
        let mut at = 0u64;
        for (g, &n) in sizes.iter().enumerate() {
            if at < range.end && range.start < at + n {
                groups.push(g);
                first_start.get_or_insert(at);
            }
            at += n;
        }
        let first_start = first_start.unwrap_or(range.start);
        let schema = self.builder.schema().clone();
        let name = |i: usize| schema.field(i).name().clone();
        let columns: Vec<usize> = [Some(self.text), self.label, self.id]
            .into_iter()
            .flatten()
            .collect();
        let mask = ProjectionMask::roots(self.builder.parquet_schema(), columns);
        let reader = self
            .builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .with_row_groups(groups)
            .with_offset((range.start - first_start) as usize)
            .with_limit((range.end - range.start) as usize)
            .build()
            .map_err(|e| DataError::Parquet {
                path: self.path.clone(),
                what: format!("cannot read ({e})"),
            })?;
        Ok(ParquetBatches {
            path: self.path,
            reader,
            next_row: range.start,
            text: name(self.text),
            label: self.label.map(name),
            id: self.id.map(name),
            class_names: self.class_names,
        })
    }
}

/// The record batches of one file, as [`RowBatch`]es.
pub(crate) struct ParquetBatches {
    path: PathBuf,
    reader: ParquetRecordBatchReader,
    next_row: u64,
    /// The columns read, by name (a batch holds them in the file's order).
    text: String,
    label: Option<String>,
    id: Option<String>,
    class_names: Option<Vec<String>>,
}

impl Iterator for ParquetBatches {
    type Item = Result<RowBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = match self.reader.next()? {
            Ok(b) => b,
            Err(e) => {
                return Some(Err(DataError::Parquet {
                    path: self.path.clone(),
                    what: format!(
                        "cannot read the rows after row {} ({e}); is the file complete?",
                        self.next_row
                    ),
                }));
            }
        };
        let first = self.next_row;
        self.next_row += batch.num_rows() as u64;
        Some(self.convert(&batch, first))
    }
}

impl ParquetBatches {
    fn convert(&self, batch: &RecordBatch, first: u64) -> Result<RowBatch> {
        let changed = |what: &str| DataError::Parquet {
            path: self.path.clone(),
            what: format!("the {what} column is missing from a row group or changed type"),
        };
        let column = |name: &str| batch.column_by_name(name);
        let texts = column(&self.text)
            .and_then(string_cells)
            .ok_or_else(|| changed("text"))?;
        let labels = match &self.label {
            Some(l) => Some(self.labels(column(l).ok_or_else(|| changed("label"))?, first)?),
            None => None,
        };
        let ids = match &self.id {
            Some(i) => {
                let cells = column(i).ok_or_else(|| changed("id"))?;
                let ids = string_cells(cells)
                    .or_else(|| {
                        int_cells(cells)
                            .map(|v| v.iter().map(|i| i.map(|i| i.to_string())).collect())
                    })
                    .ok_or_else(|| changed("id"))?;
                Some(ids)
            }
            None => None,
        };
        Ok(RowBatch::from_cells(&self.path, first, texts, labels, ids))
    }

    /// Each row's label as a name: the ClassLabel name of an id, an integer's decimal text,
    /// or the string itself; `None` where null.
    fn labels(&self, column: &ArrayRef, first: u64) -> Result<Vec<Option<String>>> {
        if let Some(strings) = string_cells(column) {
            return Ok(strings);
        }
        if let Some(bools) = column.as_boolean_opt() {
            return Ok(bools.iter().map(|b| b.map(|b| b.to_string())).collect());
        }
        let ids = int_cells(column).ok_or_else(|| DataError::Parquet {
            path: self.path.clone(),
            what: "the label column changed type between row groups".into(),
        })?;
        let Some(names) = &self.class_names else {
            return Ok(ids.iter().map(|i| i.map(|i| i.to_string())).collect());
        };
        ids.iter()
            .enumerate()
            .map(|(i, id)| match id {
                None => Ok(None),
                Some(id) => usize::try_from(*id)
                    .ok()
                    .and_then(|k| names.get(k))
                    .map(|n| Some(n.clone()))
                    .ok_or_else(|| DataError::Row {
                        path: self.path.clone(),
                        row: first + i as u64,
                        what: format!(
                            "label {id} is not one of {} classes ({}); fix the row or the \
                             ClassLabel names",
                            names.len(),
                            names.join(", ")
                        ),
                    }),
            })
            .collect()
    }
}

/// Every row of `files` (each opened as `text`/`label` say) as one [`RowSource`], file after
/// file; the label names are the first file's ClassLabel names, which every file must share.
pub(crate) fn parquet_rows(
    files: &[PathBuf],
    text: &Column,
    label: Option<&Column>,
) -> Result<(RowSource, Option<Vec<String>>)> {
    let mut opened = Vec::with_capacity(files.len());
    let mut names: Option<Option<Vec<String>>> = None;
    for path in files {
        let f = ParquetFile::open(path, text, label)?;
        match &names {
            None => names = Some(f.class_names.clone()),
            Some(first) if *first != f.class_names => {
                return Err(DataError::Parquet {
                    path: path.clone(),
                    what: format!(
                        "its label names ({}) differ from {}'s ({}): shards of one dataset \
                         share one ClassLabel",
                        f.class_names
                            .as_deref()
                            .map_or("none".into(), |n| n.join(", ")),
                        files[0].display(),
                        first.as_deref().map_or("none".into(), |n| n.join(", "))
                    ),
                });
            }
            Some(_) => {}
        }
        opened.push(f);
    }
    let batches = opened
        .into_iter()
        .map(|f| f.batches(None))
        .collect::<Result<Vec<_>>>()?;
    let source = RowSource::new(batches.into_iter().flatten());
    Ok((source, names.flatten()))
}

#[derive(Clone, Copy, PartialEq)]
enum Role {
    Text,
    Label,
    Id,
}

/// The index of the column `want` names; [`Column::Default`] follows the module's rule. An
/// error lists the file's columns and their types.
fn pick_column(
    path: &Path,
    schema: &Schema,
    want: &Column,
    role: Role,
    label: Option<usize>,
) -> Result<usize> {
    let fields = schema.fields();
    let by_name = |n: &str| fields.iter().position(|f| f.name() == n);
    let found = match (want, role) {
        (Column::Name(n), _) => by_name(n),
        (Column::Index(i), _) => (*i < fields.len()).then_some(*i),
        (Column::Default, Role::Label) => by_name("label").or_else(|| by_name("Label")),
        (Column::Default, Role::Id) => by_name("id"),
        (Column::Default, Role::Text) => {
            by_name("text").or_else(|| by_name("Text")).or_else(|| {
                let strings: Vec<usize> = (0..fields.len())
                    .filter(|&i| Some(i) != label && is_string(fields[i].data_type()))
                    .collect();
                match strings.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                }
            })
        }
    };
    found.ok_or_else(|| {
        let what = match (want, role) {
            (Column::Default, Role::Text) => {
                "no column `text` or `Text`, and not exactly one string column: name the text \
                 column with --text-column"
                    .to_string()
            }
            (Column::Default, Role::Label) => {
                "no column `label` or `Label`: name the label column with --label-column".into()
            }
            (Column::Default, Role::Id) => "no column `id`: name it with --id-column".into(),
            (c, Role::Id) => format!("no column {c}: check --id-column"),
            (c, Role::Text) => format!("no column {c}: check --text-column"),
            (c, Role::Label) => format!("no column {c}: check --label-column"),
        };
        DataError::Parquet {
            path: path.to_path_buf(),
            what: format!("{what} (its columns: {})", describe_columns(schema)),
        }
    })
}

/// `name (type), ...` of every column.
fn describe_columns(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} ({})", f.name(), type_name(f.data_type())))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A type as a user of pandas or `datasets` would name it.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Dictionary(_, v) => format!("dictionary of {}", type_name(v)),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("list<{}>", type_name(f.data_type()))
        }
        other => other.to_string().to_lowercase(),
    }
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn check_text_type(path: &Path, schema: &Schema, i: usize) -> Result<()> {
    let f = schema.field(i);
    if is_string(f.data_type()) {
        return Ok(());
    }
    Err(DataError::Parquet {
        path: path.to_path_buf(),
        what: format!(
            "the text column `{}` is {}: it must hold strings, one text per row (its columns: \
             {})",
            f.name(),
            type_name(f.data_type()),
            describe_columns(schema)
        ),
    })
}

fn check_label_type(path: &Path, schema: &Schema, i: usize) -> Result<()> {
    let f = schema.field(i);
    let t = f.data_type();
    if is_string(t) || is_integer(t) || *t == DataType::Boolean {
        return Ok(());
    }
    Err(DataError::Parquet {
        path: path.to_path_buf(),
        what: format!(
            "the label column `{}` is {}: labels are integers (class ids, with ClassLabel \
             names or without) or strings (class names) (its columns: {})",
            f.name(),
            type_name(t),
            describe_columns(schema)
        ),
    })
}

/// A Parquet file starts and ends with `PAR1`; say what the file is otherwise (a CSV, a cut
/// download) rather than passing on the reader's words.
fn check_magic(path: &Path) -> Result<()> {
    let bad = |what: String| DataError::Parquet {
        path: path.to_path_buf(),
        what,
    };
    let io = |e| DataError::io(path, "read", e);
    let mut f = File::open(path).map_err(|e| DataError::io(path, "open", e))?;
    let len = f.metadata().map_err(io)?.len();
    if len == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let mut head = [0u8; 4];
    let n = f.read(&mut head).map_err(io)?;
    if n < 4 || &head != b"PAR1" {
        return Err(bad(
            "not a Parquet file (it does not start with `PAR1`); for a CSV/TSV or the SMS \
             collection pass --format table or --format sms, or give a .parquet file"
                .into(),
        ));
    }
    let mut tail = [0u8; 4];
    let cut = len < 12
        || f.seek(SeekFrom::End(-4)).is_err()
        || f.read_exact(&mut tail).is_err()
        || &tail != b"PAR1";
    if cut {
        return Err(bad(format!(
            "a truncated Parquet file ({len} bytes, no footer): the download or copy was cut \
             short; fetch it again"
        )));
    }
    Ok(())
}

/// The ClassLabel names of `column` in the `huggingface` key of the file's metadata
/// (`info.features.<column>.names`, or `features` at the top, as `datasets` writes it).
fn class_label_names(
    path: &Path,
    meta: &parquet::file::metadata::ParquetMetaData,
    column: &str,
) -> Result<Option<Vec<String>>> {
    let Some(json) = meta
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|k| k.key == "huggingface"))
        .and_then(|k| k.value.as_deref())
    else {
        return Ok(None);
    };
    let bad = |why: &str| DataError::Parquet {
        path: path.to_path_buf(),
        what: format!(
            "its `huggingface` metadata {why}; rewrite the file with `datasets`, or drop the \
             metadata to read the labels as numbers"
        ),
    };
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| bad("is not valid JSON"))?;
    let features = value
        .pointer("/info/features")
        .or_else(|| value.get("features"));
    let Some(feature) = features.and_then(|f| f.get(column)) else {
        return Ok(None);
    };
    if feature.get("_type").and_then(|t| t.as_str()) != Some("ClassLabel") {
        return Ok(None);
    }
    let names = feature
        .get("names")
        .and_then(|n| n.as_array())
        .ok_or_else(|| {
            bad(&format!(
                "has a ClassLabel `{column}` without a list of names"
            ))
        })?;
    let names: Vec<String> = names
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            bad(&format!(
                "has a ClassLabel `{column}` whose names are not strings"
            ))
        })?;
    let mut sorted = names.clone();
    sorted.sort();
    if names.is_empty() || sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(bad(&format!(
            "has a ClassLabel `{column}` with no names or the same name twice"
        )));
    }
    Ok(Some(names))
}

/// The cells of a string column (plain, large, view or dictionary-encoded), `None` for
/// any other type.
fn string_cells(column: &ArrayRef) -> Option<Vec<Option<String>>> {
    let own = |s: Option<&str>| s.map(str::to_string);
    if let Some(a) = column.as_string_opt::<i32>() {
        return Some(a.iter().map(own).collect());
    }
    if let Some(a) = column.as_string_opt::<i64>() {
        return Some(a.iter().map(own).collect());
    }
    if let Some(a) = column.as_string_view_opt() {
        return Some(a.iter().map(own).collect());
    }
    let dict = column.as_any_dictionary_opt()?;
    let values = string_cells(dict.values())?;
    let keys = dict.normalized_keys();
    Some(
        (0..column.len())
            .map(|i| {
                if column.is_null(i) {
                    None
                } else {
                    keys.get(i).and_then(|&k| values.get(k).cloned().flatten())
                }
            })
            .collect(),
    )
}

/// The cells of an integer column as `i64` (a `u64` past `i64::MAX` saturates), `None` for
/// any other type.
fn int_cells(column: &ArrayRef) -> Option<Vec<Option<i64>>> {
    macro_rules! ints {
        ($($t:ty),*) => {$(
            if let Some(a) = column.as_primitive_opt::<$t>() {
                return Some(a.iter().map(|v| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))).collect());
            }
        )*};
    }
    ints!(
        Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type
    );
    None
}

/// Reads the labelled rows of `files` (one table in shards) into memory. The classes are
/// `classes` when given (another split's: a label outside them is an error naming its row),
/// else the ClassLabel names, else the labels found, sorted as for CSV files.
pub(crate) fn read_parquet(
    files: &[PathBuf],
    opts: &crate::source::ParquetOptions,
    classes: Option<&[String]>,
) -> Result<crate::dataset::Dataset> {
    let (source, class_names) = parquet_rows(files, &opts.text_column, Some(&opts.label_column))?;
    let mut texts = Vec::new();
    let mut raw: Vec<String> = Vec::new();
    // The first place of each distinct label, for errors.
    let mut first_seen: Vec<(String, String)> = Vec::new();
    for batch in source {
        let batch = batch?;
        batch.refuse_nulls()?;
        let labels = batch.labels.clone().unwrap_or_default();
        for (i, label) in labels.into_iter().enumerate() {
            if !first_seen.iter().any(|(l, _)| *l == label) {
                first_seen.push((label.clone(), batch.place(i)));
            }
            raw.push(label);
        }
        texts.extend(batch.texts);
    }
    let path = crate::rows::first_path(files);
    if texts.is_empty() {
        return Err(DataError::Empty { path });
    }
    let names: Vec<String> = match (classes, class_names) {
        (Some(c), _) => c.to_vec(),
        (None, Some(n)) => n,
        (None, None) => crate::table::infer_label_names(raw.iter().map(String::as_str)),
    };
    if let Some((label, place)) = first_seen.iter().find(|(l, _)| !names.contains(l)) {
        return Err(DataError::InvalidOption(format!(
            "{place}: label `{label}` is not one of the classes ({}): the training split's \
             labels are the classes",
            names.join(", ")
        )));
    }
    let labels = raw
        .iter()
        .map(|l| names.iter().position(|n| n == l).unwrap_or(0))
        .collect();
    let ds = crate::dataset::Dataset {
        texts,
        labels,
        label_names: names,
    };
    if classes.is_none() {
        crate::sms::check_classes(&path, &ds)?;
    }
    Ok(ds)
}

/// Rows in a Parquet file, from its footer (the text and id columns checked as for reading).
pub(crate) fn parquet_row_count(path: &Path, text: &Column, id: Option<&Column>) -> Result<u64> {
    let file = ParquetFile::open(path, text, None)?;
    let file = match id {
        Some(id) => file.with_id(id)?,
        None => file,
    };
    Ok(file.rows())
}

/// Rows `range` of one Parquet file, texts (and ids) only.
pub(crate) fn parquet_range(
    path: &Path,
    text: &Column,
    id: Option<&Column>,
    range: std::ops::Range<u64>,
) -> Result<RowSource> {
    let mut file = ParquetFile::open(path, text, None)?;
    if let Some(id) = id {
        file = file.with_id(id)?;
    }
    Ok(RowSource::new(file.batches(Some(range))?))
}

/// The value of `key` in a Parquet file's footer metadata, if the file is readable Parquet
/// and has it.
pub(crate) fn footer_value(path: &Path, key: &str) -> Option<String> {
    crate::input::check_regular_file(path).ok()?;
    check_magic(path).ok()?;
    let file = File::open(path).ok()?;
    let reader = parquet::file::reader::SerializedFileReader::new(file).ok()?;
    let meta = parquet::file::reader::FileReader::metadata(&reader);
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|k| k.key == key)
        .and_then(|k| k.value.clone())
}
