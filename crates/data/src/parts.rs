//! The output parts of a sharded classification (`part-00002-of-00003.parquet`, as Spark
//! names parts): one row per input row, with where it came from and what the model said,
//! written to a temporary file beside the part and renamed into place only when complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::error::{DataError, Result};
use crate::rows::PartRow;
use crate::shards::Shard;

/// The format of an output part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PartFormat {
    /// Parquet (pandas, polars, DuckDB, Spark read a folder of parts as one table).
    #[default]
    Parquet,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl crate::named::Named for PartFormat {
    const WHAT: &'static str = "output format";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (PartFormat::Parquet, "parquet", &[]),
        (PartFormat::Csv, "csv", &[]),
        (PartFormat::Jsonl, "jsonl", &[]),
    ];
}

impl std::str::FromStr for PartFormat {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        use crate::named::Named;
        Self::from_name(s).ok_or_else(|| DataError::InvalidOption(Self::unknown(s)))
    }
}

impl std::fmt::Display for PartFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::named::Named;
        self.write_name(f)
    }
}

impl PartFormat {
    /// The file name of `shard`'s part: `part-IIIII-of-NNNNN.EXT`.
    pub fn part_name(self, shard: Shard) -> String {
        let ext = match self {
            PartFormat::Parquet => "parquet",
            PartFormat::Csv => "csv",
            PartFormat::Jsonl => "jsonl",
        };
        format!("part-{:05}-of-{:05}.{ext}", shard.index, shard.count)
    }
}

/// Writes a part: rows go to a temporary file beside `target`, which [`PartWriter::finish`]
/// renames into place; dropped unfinished, the temporary file is removed.
pub struct PartWriter {
    target: PathBuf,
    tmp: tempfile::NamedTempFile,
    inner: Inner,
    /// Whether rows have an `id` column (null, or empty in CSV, where a row has none).
    with_id: bool,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PartWriter({})", self.target.display())
    }
}

enum Inner {
    #[cfg(feature = "parquet")]
    Parquet(Box<crate::parquet_write::PartParquet>),
    Csv(Box<csv::Writer<BufWriter<File>>>, usize),
    Jsonl(BufWriter<File>, Vec<String>),
}

impl PartWriter {
    /// A part at `target` with a probability column per class (`prob_<name>`), an `id`
    /// column when `with_id`; `metadata` (key, JSON) goes into a Parquet part's footer.
    pub fn create(
        target: &Path,
        format: PartFormat,
        class_names: &[String],
        with_id: bool,
        metadata: (&str, &str),
    ) -> Result<Self> {
        let tmp = atomic::temp_file(target, ".tmp")?;
        let file = tmp
            .reopen()
            .map_err(|e| DataError::io(tmp.path(), "open", e))?;
        let inner = match format {
            #[cfg(feature = "parquet")]
            PartFormat::Parquet => Inner::Parquet(Box::new(
                crate::parquet_write::PartParquet::new(file, class_names, with_id, metadata)
                    .map_err(|e| DataError::Write {
                        path: target.to_path_buf(),
                        source: e.into(),
                    })?,
            )),
            #[cfg(not(feature = "parquet"))]
            PartFormat::Parquet => {
                let _ = (file, metadata);
                return Err(DataError::InvalidOption(
                    "this build writes no Parquet (spam-data's `parquet` feature is off): use \
                     --format csv or jsonl"
                        .into(),
                ));
            }
            PartFormat::Csv => {
                let mut w = csv::Writer::from_writer(BufWriter::new(file));
                let mut header = vec!["file".to_string(), "row".to_string()];
                if with_id {
                    header.push("id".into());
                }
                header.extend(["label".to_string(), "score".to_string()]);
                header.extend(class_names.iter().map(|n| format!("prob_{n}")));
                w.write_record(&header).map_err(|e| csv_error(target, e))?;
                Inner::Csv(Box::new(w), class_names.len())
            }
            PartFormat::Jsonl => Inner::Jsonl(BufWriter::new(file), class_names.to_vec()),
        };
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
            inner,
            with_id,
        })
    }

    /// Appends rows.
    pub fn write(&mut self, rows: &[PartRow<'_>]) -> Result<()> {
        let target = &self.target;
        match &mut self.inner {
            #[cfg(feature = "parquet")]
            Inner::Parquet(p) => p.write(rows).map_err(|e| DataError::Write {
                path: target.clone(),
                source: e.into(),
            }),
            Inner::Csv(w, classes) => {
                let with_id = &self.with_id;
                for r in rows {
                    let mut rec = vec![r.file.to_string(), r.row.to_string()];
                    if *with_id {
                        rec.push(r.id.unwrap_or_default().to_string());
                    }
                    rec.push(r.label.unwrap_or_default().to_string());
                    rec.push(r.score.map(|s| s.to_string()).unwrap_or_default());
                    match r.probabilities {
                        Some(p) => rec.extend(p.iter().map(f64::to_string)),
                        None => rec.extend(std::iter::repeat_n(String::new(), *classes)),
                    }
                    w.write_record(&rec).map_err(|e| csv_error(target, e))?;
                }
                Ok(())
            }
            Inner::Jsonl(w, names) => {
                for r in rows {
                    let line = jsonl_row(r, names, self.with_id);
                    writeln!(w, "{line}").map_err(|e| DataError::io(target, "write", e))?;
                }
                Ok(())
            }
        }
    }

    /// Finishes the file and renames it into place.
    pub fn finish(self) -> Result<PathBuf> {
        let target = self.target;
        let io = |e| DataError::io(&target, "write", e);
        match self.inner {
            #[cfg(feature = "parquet")]
            Inner::Parquet(p) => p.finish().map_err(|e| DataError::Write {
                path: target.clone(),
                source: e.into(),
            })?,
            Inner::Csv(w, _) => {
                let mut inner = w.into_inner().map_err(|e| io(e.into_error()))?;
                inner.flush().map_err(io)?;
            }
            Inner::Jsonl(mut w, _) => w.flush().map_err(io)?,
        }
        self.tmp
            .as_file()
            .sync_all()
            .map_err(|e| DataError::io(&target, "sync", e))?;
        self.tmp
            .persist(&target)
            .map_err(|e| DataError::io(&target, "rename into place", e.error))?;
        atomic::sync_dir(atomic::parent_dir(&target));
        Ok(target)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> DataError {
    DataError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

/// One JSON object, its keys in the columns' order (a JSON map would sort them).
fn jsonl_row(r: &PartRow<'_>, names: &[String], with_id: bool) -> String {
    use serde_json::Value;
    let mut fields: Vec<(String, Value)> =
        vec![("file".into(), r.file.into()), ("row".into(), r.row.into())];
    if with_id {
        fields.push(("id".into(), r.id.into()));
    }
    fields.push(("label".into(), r.label.into()));
    fields.push(("score".into(), r.score.into()));
    for (i, n) in names.iter().enumerate() {
        let p = r.probabilities.and_then(|p| p.get(i).copied());
        fields.push((format!("prob_{n}"), p.into()));
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// The value of `key` in a Parquet part's footer metadata; `None` when the file has no such
/// key (or is not a readable Parquet file).
pub fn part_metadata(path: &Path, key: &str) -> Option<String> {
    #[cfg(feature = "parquet")]
    {
        crate::parquet_read::footer_value(path, key)
    }
    #[cfg(not(feature = "parquet"))]
    {
        let _ = (path, key);
        None
    }
}
