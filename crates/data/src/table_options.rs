//! How a CSV/TSV is read: its delimiter, header and quoting, and which columns hold the text
//! and the label.

use std::path::Path;

use crate::delimiter::delimiter_for;

/// A column, by header name or 0-based index, or the default rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// The default: for the text, a column `text`, then `Text`, else the only text column
    /// besides the label (in a CSV with a header, the other column of two); for the label, a
    /// column `label`, then `Label`.
    Default,
    /// By header name (needs `has_header`).
    Name(String),
    /// By 0-based position.
    Index(usize),
}

impl Column {
    /// A 0-based index when `s` is a number, else a header name (how the CLI and run
    /// configs spell a column).
    pub fn name_or_index(s: &str) -> Self {
        if s.is_empty() {
            return Column::Default;
        }
        s.parse::<usize>()
            .map_or_else(|_| Column::Name(s.to_string()), Column::Index)
    }
}

impl From<&str> for Column {
    fn from(s: &str) -> Self {
        Column::Name(s.to_string())
    }
}

impl From<usize> for Column {
    fn from(i: usize) -> Self {
        Column::Index(i)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Column::Default => f.write_str("(default)"),
            Column::Name(n) => write!(f, "{n:?}"),
            Column::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// How to read a labelled table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// Field delimiter (`b','` or `b'\t'`).
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
    /// Whether `"` quotes fields (standard CSV quoting; `""` is a literal quote).
    pub quoting: bool,
    /// The text column.
    pub text_column: Column,
    /// The label column.
    pub label_column: Column,
    /// The class names in class-index order. A label not listed is an error. When `None`, the
    /// classes are the distinct labels found: sorted numerically if all are integers (so `0`/`1`
    /// map to 0/1), otherwise sorted (as `datasets`' `class_encode_column` does), never in the
    /// order rows happen to come: class 1 of two is the positive class.
    pub label_names: Option<Vec<String>>,
}

impl TableOptions {
    /// A comma-separated file with a header, columns chosen by name.
    pub fn csv(text_column: impl Into<Column>, label_column: impl Into<Column>) -> Self {
        TableOptions {
            delimiter: b',',
            has_header: true,
            quoting: true,
            text_column: text_column.into(),
            label_column: label_column.into(),
            label_names: None,
        }
    }

    /// A tab-separated file with a header.
    pub fn tsv(text_column: impl Into<Column>, label_column: impl Into<Column>) -> Self {
        TableOptions {
            delimiter: b'\t',
            ..Self::csv(text_column, label_column)
        }
    }

    /// A table with a header whose delimiter follows the file name ([`delimiter_for`]: TAB for
    /// `.tsv`/`.txt`, comma otherwise).
    pub fn for_file(
        path: &Path,
        text_column: impl Into<Column>,
        label_column: impl Into<Column>,
    ) -> Self {
        TableOptions {
            delimiter: delimiter_for(path),
            ..Self::csv(text_column, label_column)
        }
    }

    /// Sets whether there is a header row.
    pub fn with_header(mut self, has_header: bool) -> Self {
        self.has_header = has_header;
        self
    }

    /// Sets the class names (in class-index order).
    pub fn with_label_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.label_names = Some(names.into_iter().map(Into::into).collect());
        self
    }
}
