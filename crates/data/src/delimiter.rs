//! The field delimiter of a table, as a setting (`auto`, `tab` or one character), and the one
//! rule that picks it from a file name.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::named::Named;

/// A table's field delimiter as written in settings and on the command line. `Display` writes
/// what `FromStr` reads back, so it can be stored as a string in a config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Delimiter {
    /// Chosen from the file name by [`delimiter_for`] (`auto`).
    #[default]
    Auto,
    /// This byte (`tab`, or one ASCII character such as `,` or `;`).
    Byte(u8),
}

impl Named for Delimiter {
    const WHAT: &'static str = "delimiter";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Delimiter::Auto, "auto", &[]),
        (Delimiter::Byte(b'\t'), "tab", &["\\t", "\t"]),
    ];
    const FORMS: &'static [&'static str] = &["one character"];
}

impl Delimiter {
    /// The byte to split `path`'s fields at: the explicit byte, or [`delimiter_for`] `path`.
    pub fn resolve(self, path: &Path) -> u8 {
        match self {
            Delimiter::Auto => delimiter_for(path),
            Delimiter::Byte(b) => b,
        }
    }
}

/// The delimiter of a table file by its extension: TAB for `.tsv` and `.txt` (any case), comma
/// otherwise. This is the rule runs use (`delimiter = "auto"`); a file without an extension is
/// read as CSV.
pub fn delimiter_for(path: &Path) -> u8 {
    let tab = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("txt"));
    if tab { b'\t' } else { b',' }
}

impl std::str::FromStr for Delimiter {
    type Err = DataError;
    /// `auto`, `tab` (or `\t`, or a TAB character), or any one ASCII character.
    fn from_str(s: &str) -> Result<Self> {
        match Self::from_name(s) {
            Some(named) => Ok(named),
            None if s.len() == 1 => Ok(Delimiter::Byte(s.as_bytes()[0])),
            None => Err(DataError::InvalidOption(Self::unknown(s))),
        }
    }
}

impl std::fmt::Display for Delimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.name_of(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Delimiter::Byte(b)) => write!(f, "{}", char::from(*b)),
            (None, other) => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn extension_rule() {
        assert_eq!(delimiter_for(Path::new("a/b.TSV")), b'\t');
        assert_eq!(delimiter_for(Path::new("b.txt")), b'\t');
        assert_eq!(delimiter_for(Path::new("b.csv")), b',');
        assert_eq!(delimiter_for(Path::new("SMSSpamCollection")), b',');
        assert_eq!(Delimiter::Auto.resolve(Path::new("x.tsv")), b'\t');
        assert_eq!(Delimiter::Byte(b';').resolve(Path::new("x.tsv")), b';');
    }

    #[test]
    fn parses_and_round_trips() {
        for (s, d) in [
            ("auto", Delimiter::Auto),
            ("tab", Delimiter::Byte(b'\t')),
            ("\\t", Delimiter::Byte(b'\t')),
            ("\t", Delimiter::Byte(b'\t')),
            (",", Delimiter::Byte(b',')),
            (";", Delimiter::Byte(b';')),
            ("\\", Delimiter::Byte(b'\\')),
        ] {
            let parsed: Delimiter = s.parse().unwrap();
            assert_eq!(parsed, d, "{s:?}");
            assert_eq!(parsed.to_string().parse::<Delimiter>().unwrap(), d);
        }
        for bad in ["", "tabs", ",,", "é"] {
            let err = bad.parse::<Delimiter>().unwrap_err().to_string();
            assert!(err.contains("`auto`, `tab` or one character"), "{err}");
        }
    }
}
