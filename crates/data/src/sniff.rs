//! Telling text from archives and other binary data before parsing, so that a zip given where
//! a text file belongs is reported as a zip (and what to do), not as "invalid UTF-8" on some line.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::unzip::is_zip;

/// Errors with [`DataError::NotText`] when `bytes` are a zip or gzip archive, UTF-16 text, or
/// hold a NUL byte (which no text file of ours has); `path` names the file.
pub(crate) fn check_text(path: &Path, bytes: &[u8]) -> Result<()> {
    let not_text = |what: String, hint: &'static str| {
        Err(DataError::NotText {
            path: path.to_path_buf(),
            what,
            hint,
        })
    };
    if is_zip(bytes) {
        return not_text(
            "a zip archive".into(),
            "extract the file it holds (`unzip -l FILE` lists them) and pass that file instead",
        );
    }
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return not_text(
            "a gzip archive".into(),
            "decompress it first (`gunzip FILE`) and pass the file it holds",
        );
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return not_text(
            "UTF-16 text".into(),
            "re-encode it as UTF-8 (e.g. `iconv -f utf-16 -t utf-8`)",
        );
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let line = 1 + bytes[..at].iter().filter(|&&b| b == b'\n').count();
        return not_text(
            format!("binary data (a NUL byte on line {line})"),
            "pass the CSV/TSV or SMS collection itself (UTF-8 text)",
        );
    }
    Ok(())
}
