//! Atomic file writes, the one implementation for the workspace: a reader (or a crash) sees the
//! old file or the complete new one, never a torn write.
//!
//! Every writer goes the same way: create the parent folder if missing, write a temporary file
//! in that folder (so the rename cannot cross file systems), fsync it, rename it over the
//! target, fsync the folder (so the rename itself survives a crash). The temporary file is
//! removed when anything fails, and the final file has the permissions `File::create` gives
//! (0666 less the umask), not the 0600 of a private temporary file.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use tempfile::NamedTempFile;

use crate::error::{DataError, Result};

/// Buffer of [`write_atomic_with`]'s writer: large writes (weights) go out in few syscalls.
const BUFFER_BYTES: usize = 1 << 20;

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`] for the guarantees).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let tmp = temp_file(path, ".tmp")?;
    let mut file = tmp.as_file();
    file.write_all(bytes)
        .map_err(|e| DataError::io(path, "write", e))?;
    commit(tmp, path)
}

/// Writes `path` atomically through `f`, which gets a buffered writer (1 MiB buffer) on a
/// temporary file beside `path`. The parent folder is created if missing; the file is synced and
/// renamed over `path` only when `f` succeeds, and the folder is synced after the rename. On any
/// failure `path` is untouched and the temporary file is removed. Errors name the file and the
/// step that failed.
pub fn write_atomic_with(
    path: impl AsRef<Path>,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let path = path.as_ref();
    let tmp = temp_file(path, ".tmp")?;
    {
        let mut w = std::io::BufWriter::with_capacity(BUFFER_BYTES, tmp.as_file());
        f(&mut w).map_err(|e| DataError::io(path, "write", e))?;
        w.flush().map_err(|e| DataError::io(path, "write", e))?;
    }
    commit(tmp, path)
}

/// Writes `path` atomically through a writer that needs a file *path* rather than a
/// `Write` (an image encoder, for instance). `f` gets the path of a temporary file beside
/// `path` that ends in the same extension (so writers that pick a format from the extension
/// still work) and must write the whole content there. Same guarantees as
/// [`write_atomic_with`]; an error from `f` becomes [`DataError::Write`] naming `path`.
pub fn write_atomic_via_path<E>(
    path: impl AsRef<Path>,
    f: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> Result<()>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = path.as_ref();
    let suffix = path.extension().map_or_else(
        || ".tmp".to_string(),
        |e| format!(".{}", e.to_string_lossy()),
    );
    let tmp = temp_file(path, &suffix)?;
    f(tmp.path()).map_err(|e| DataError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    commit(tmp, path)
}

/// The folder holding `path`, with `.` for a bare file name (whose parent is empty): the folder
/// to create, to put a temporary file in, and to sync after a rename.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A new temporary file beside `target` (its parent folder created if missing), named
/// `.<file name>.<random><suffix>`, with `File::create`'s permissions. Dropping it removes it.
pub(crate) fn temp_file(target: &Path, suffix: &str) -> Result<NamedTempFile> {
    let dir = parent_dir(target);
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create the directory", e))?;
    let prefix = format!(
        ".{}.",
        target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(suffix);
    // tempfile creates 0600 files; 0666 is reduced by the umask, as File::create does.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
        .tempfile_in(dir)
        .map_err(|e| DataError::io(dir, "create a temporary file in", e))
}

/// Syncs the finished temporary file, renames it over `target` and syncs the folder.
pub(crate) fn commit(tmp: NamedTempFile, target: &Path) -> Result<()> {
    // Opened afresh: a path-based writer may have replaced the file the handle points to.
    File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| DataError::io(target, "sync", e))?;
    tmp.persist(target)
        .map_err(|e| DataError::io(target, "rename into place", e.error))?;
    sync_dir(parent_dir(target));
    Ok(())
}

/// Best-effort fsync of a folder so a rename in it survives a crash.
/// Syncs a folder, so a rename into it survives a crash (best effort: errors are ignored).
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
