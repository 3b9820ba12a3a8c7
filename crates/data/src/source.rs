//! What kind of file a source is: the SMS Spam Collection or any labelled CSV/TSV.

use crate::error::{DataError, Result};
use crate::named::Named;
use crate::sms::ParseMode;
use crate::table::{Column, TableOptions};

/// What kind of file the source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFormat {
    /// The SMS Spam Collection (`ham`/`spam`, TAB, message), read with this mode. The source
    /// may also be the UCI zip holding `SMSSpamCollection`.
    Sms(ParseMode),
    /// Any labelled CSV/TSV.
    Table(TableOptions),
    /// Parquet: one file, a folder of shards or a glob pattern.
    Parquet(ParquetOptions),
}

/// Which columns of a Parquet file to read (by name or index; [`Column::Default`] follows the
/// default rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetOptions {
    /// The text column.
    pub text_column: Column,
    /// The label column.
    pub label_column: Column,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        Self {
            text_column: Column::Default,
            label_column: Column::Default,
        }
    }
}

impl SourceFormat {
    /// How to read `path` as Parquet, when it is Parquet: the format says so, or the path is
    /// a `.parquet` file, a folder or pattern of them, or starts with Parquet's magic bytes
    /// (a table's columns carry over; the SMS format has none, so the defaults apply).
    pub fn parquet_for(&self, path: &std::path::Path) -> Option<ParquetOptions> {
        match self {
            SourceFormat::Parquet(o) => Some(o.clone()),
            _ if !crate::inputs::is_parquet(path) => None,
            SourceFormat::Table(t) => Some(ParquetOptions {
                text_column: t.text_column.clone(),
                label_column: t.label_column.clone(),
            }),
            SourceFormat::Sms(_) => Some(ParquetOptions::default()),
        }
    }

    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceFormat::Sms(_) => SourceKind::Sms,
            SourceFormat::Table(_) => SourceKind::Table,
            SourceFormat::Parquet(_) => SourceKind::Parquet,
        }
    }
}

/// The kind of a source file, as a setting (`sms` or `table`): [`SourceFormat`] without its
/// parse mode or table options, which are settings of their own. `Display` writes what
/// `FromStr` reads back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourceKind {
    /// The SMS Spam Collection (or its UCI zip).
    #[default]
    Sms,
    /// Any labelled CSV/TSV.
    Table,
    /// Parquet files.
    Parquet,
}

impl Named for SourceKind {
    const WHAT: &'static str = "data format";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (SourceKind::Sms, "sms", &[]),
        (SourceKind::Table, "table", &["csv", "tsv"]),
        (SourceKind::Parquet, "parquet", &[]),
    ];
}

impl std::str::FromStr for SourceKind {
    type Err = DataError;
    /// A name or alias of [`Named::NAMES`], exact spelling, as run configs have always used.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(s).ok_or_else(|| DataError::InvalidOption(Self::unknown(s)))
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_name(f)
    }
}
