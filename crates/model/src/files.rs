//! Reading the files a user points at (weights, settings, tokenizer files): only regular
//! files, checked before they are opened (a FIFO would block, `/dev/zero` never end), and the
//! small ones at most [`MAX_JSON_BYTES`], so no file decides how much is read.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{ModelError, Result};

/// The most bytes a settings or tokenizer file of a model folder may have (GPT-2's
/// `tokenizer.json`, the largest, has about 1.4 MiB).
pub(crate) const MAX_JSON_BYTES: u64 = 64 << 20;

/// Refuses `path` when something that is not a regular file is there (following links); a
/// path with nothing at it passes, so the caller's own "missing" message still comes.
pub(crate) fn check_regular_file(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(ModelError::NotAFile {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// The bytes of the regular file `path`, refused above `limit` bytes.
pub(crate) fn read_capped(path: &Path, what: &'static str, limit: u64) -> Result<Vec<u8>> {
    let too_large = || ModelError::FileTooLarge {
        path: path.to_path_buf(),
        what,
        limit,
    };
    let not_a_file = || ModelError::NotAFile {
        path: path.to_path_buf(),
    };
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > limit {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    // The path may have been replaced since: judge what was opened.
    let opened = file.metadata().map_err(|e| ModelError::io(path, e))?;
    if !opened.is_file() {
        return Err(not_a_file());
    }
    let mut bytes = Vec::with_capacity(opened.len().min(limit) as usize);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ModelError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// The JSON file `path`, read through [`read_capped`] with [`MAX_JSON_BYTES`].
pub(crate) fn read_json(path: &Path, what: &'static str) -> Result<Value> {
    let bytes = read_capped(path, what, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether something is at `path` (a link that leads nowhere counts: reading it says so).
pub(crate) fn present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The JSON type of a value, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
