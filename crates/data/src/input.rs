//! Reading a file whose path a user gave: refused unless it is a regular file, so a FIFO
//! never blocks a run and `/dev/zero` is never read until memory runs out.

use std::path::Path;

use crate::error::{DataError, Result};

/// The bytes of the regular file `path`; a path that is not one (checked before opening) is
/// [`DataError::NotAFile`], a missing one [`DataError::MissingFile`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    check_regular_file(path)?;
    std::fs::read(path).map_err(|e| DataError::io(path, "open", e))
}

/// Refuses a path that exists but is not a regular file (following links).
pub fn check_regular_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(DataError::NotAFile {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}
