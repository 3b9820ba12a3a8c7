//! What kind of file a source is: the SMS Spam Collection or any labelled CSV/TSV.

use crate::error::{DataError, Result};
use crate::named::Named;
use crate::sms::ParseMode;
use crate::table::TableOptions;

/// What kind of file the source is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFormat {
    /// The SMS Spam Collection (`ham`/`spam`, TAB, message), read with this mode. The source
    /// may also be the UCI zip holding `SMSSpamCollection`.
    Sms(ParseMode),
    /// Any labelled CSV/TSV.
    Table(TableOptions),
}

impl SourceFormat {
    /// Which kind of source this is.
    pub fn kind(&self) -> SourceKind {
        match self {
            SourceFormat::Sms(_) => SourceKind::Sms,
            SourceFormat::Table(_) => SourceKind::Table,
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
}

impl Named for SourceKind {
    const WHAT: &'static str = "data format";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (SourceKind::Sms, "sms", &[]),
        (SourceKind::Table, "table", &["csv", "tsv"]),
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
