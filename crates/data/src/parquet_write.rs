//! Writing the splits as Parquet in the Hugging Face hub's layout
//! (`train-00000-of-00001.parquet`, ...), with the label a ClassLabel: integers in the file,
//! the names in the schema's `huggingface` metadata, so `datasets.load_dataset("parquet",
//! data_dir=DIR)` reads the names back, and pandas, polars, DuckDB and Spark read the table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::atomic;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// Rows per row group: small enough that a reader's memory stays low, large enough to
/// compress well.
const ROW_GROUP_ROWS: usize = 8192;

/// Writes each `(file name, rows)` into `dir` as Parquet with columns `text` and `label`
/// (ClassLabel of the dataset's names), all renamed into place together.
pub(crate) fn write_parquet_files(dir: &Path, files: &[(&str, &Dataset)]) -> Result<Vec<PathBuf>> {
    let targets: Vec<PathBuf> = files.iter().map(|(name, _)| dir.join(name)).collect();
    let mut temps = Vec::with_capacity(targets.len());
    for (target, (_, ds)) in targets.iter().zip(files) {
        let tmp = atomic::temp_file(target, ".tmp")?;
        let bytes = parquet_bytes(ds).map_err(|e| DataError::Write {
            path: target.clone(),
            source: e.into(),
        })?;
        let mut file = tmp.as_file();
        file.write_all(&bytes)
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

/// The `huggingface` metadata `datasets` writes for a `text` string and a `label` ClassLabel.
pub(crate) fn huggingface_metadata(names: &[String]) -> String {
    serde_json::json!({
        "info": {
            "features": {
                "text": {"dtype": "string", "_type": "Value"},
                "label": {"names": names, "_type": "ClassLabel"},
            }
        }
    })
    .to_string()
}

fn parquet_bytes(ds: &Dataset) -> std::result::Result<Vec<u8>, parquet::errors::ParquetError> {
    // `datasets` reads the features from the Arrow schema's metadata (stored in the file as
    // `ARROW:schema`), so they go there as well as into the file's own key-value metadata.
    let huggingface = huggingface_metadata(&ds.label_names);
    let schema = Arc::new(Schema::new_with_metadata(
        vec![
            // Nullable, as `datasets` declares its columns: it keeps the metadata's features
            // only for fields equal to theirs, nullability included.
            Field::new("text", DataType::Utf8, true),
            Field::new("label", DataType::Int64, true),
        ],
        std::collections::HashMap::from([("huggingface".to_string(), huggingface.clone())]),
    ));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("spam-data {}", env!("CARGO_PKG_VERSION")))
        .build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, schema.clone(), Some(props))?;
    // In the file's key-value metadata, where `datasets` writes and reads it.
    writer.append_key_value_metadata(KeyValue::new("huggingface".to_string(), huggingface));
    for start in (0..ds.len()).step_by(ROW_GROUP_ROWS) {
        let end = (start + ROW_GROUP_ROWS).min(ds.len());
        let texts: ArrayRef = Arc::new(StringArray::from_iter_values(&ds.texts[start..end]));
        let labels: ArrayRef = Arc::new(Int64Array::from_iter_values(
            ds.labels[start..end].iter().map(|&l| l as i64),
        ));
        let batch = RecordBatch::try_new(schema.clone(), vec![texts, labels])?;
        writer.write(&batch)?;
    }
    writer.close()?;
    Ok(out)
}

/// A classification part as Parquet: columns `file`, `row`, [`id`], `label`, `score`,
/// `prob_<class>`..., written a record batch at a time (a row group every
/// [`ROW_GROUP_ROWS`] rows, so memory stays bounded).
pub(crate) struct PartParquet {
    writer: ArrowWriter<std::fs::File>,
    schema: Arc<Schema>,
    with_id: bool,
    classes: usize,
}

impl PartParquet {
    pub(crate) fn new(
        file: std::fs::File,
        class_names: &[String],
        with_id: bool,
        metadata: (&str, &str),
    ) -> std::result::Result<Self, parquet::errors::ParquetError> {
        let mut fields = vec![
            Field::new("file", DataType::Utf8, false),
            Field::new("row", DataType::Int64, false),
        ];
        if with_id {
            // Null where the input's id cell is null.
            fields.push(Field::new("id", DataType::Utf8, true));
        }
        fields.push(Field::new("label", DataType::Utf8, true));
        fields.push(Field::new("score", DataType::Float64, true));
        fields.extend(
            class_names
                .iter()
                .map(|n| Field::new(format!("prob_{n}"), DataType::Float64, true)),
        );
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("spam-data {}", env!("CARGO_PKG_VERSION")))
            .build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        writer.append_key_value_metadata(KeyValue::new(
            metadata.0.to_string(),
            metadata.1.to_string(),
        ));
        Ok(Self {
            writer,
            schema,
            with_id,
            classes: class_names.len(),
        })
    }

    pub(crate) fn write(
        &mut self,
        rows: &[crate::rows::PartRow<'_>],
    ) -> std::result::Result<(), parquet::errors::ParquetError> {
        use arrow_array::Float64Array;
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.file))),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.row as i64),
            )),
        ];
        if self.with_id {
            columns.push(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.id))));
        }
        columns.push(Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.label),
        )));
        columns.push(Arc::new(Float64Array::from_iter(
            rows.iter().map(|r| r.score),
        )));
        for c in 0..self.classes {
            columns.push(Arc::new(Float64Array::from_iter(
                rows.iter()
                    .map(|r| r.probabilities.and_then(|p| p.get(c).copied())),
            )));
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.writer.write(&batch)
    }

    pub(crate) fn finish(self) -> std::result::Result<(), parquet::errors::ParquetError> {
        self.writer.close().map(|_| ())
    }
}
