//! Safe extraction of one member from a zip archive: unsafe entry paths (absolute or with `..`,
//! "zip-slip") make the whole archive rejected, only the wanted member is read, its size is
//! bounded (by [`MAX_ZIP_MEMBER_BYTES`] and by the size the archive declares for it, which a
//! zip bomb may lie about), and the output is written atomically.

use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{DataError, Result};

/// Largest member this module will extract (guards against zip bombs).
pub const MAX_ZIP_MEMBER_BYTES: u64 = 1 << 30;

/// Whether `bytes` start like a zip archive.
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Reads the member named `member` (exactly, or as the last component of its path) from the zip
/// archive `bytes`; `path` names the archive in errors.
pub fn read_zip_member(path: &Path, bytes: &[u8], member: &str) -> Result<Vec<u8>> {
    let zip_err = |e: &dyn std::fmt::Display| DataError::Zip {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_err(&e))?;
    let mut names = Vec::with_capacity(archive.len());
    let mut found: Option<(usize, bool)> = None;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| zip_err(&e))?;
        let name = entry.name().to_string();
        let Some(safe) = entry.enclosed_name() else {
            return Err(DataError::ZipSlip {
                path: path.to_path_buf(),
                entry: name,
            });
        };
        if !entry.is_dir() {
            let exact = name == member;
            let base = safe.file_name().is_some_and(|f| f == member);
            if exact || (base && found.is_none_or(|(_, was_exact)| !was_exact)) {
                found = Some((i, exact));
            }
        }
        names.push(name);
    }
    let Some((index, _)) = found else {
        return Err(DataError::ZipMember {
            path: path.to_path_buf(),
            member: member.to_string(),
            entries: names,
        });
    };
    let entry = archive.by_index(index).map_err(|e| zip_err(&e))?;
    read_bounded(entry, member, MAX_ZIP_MEMBER_BYTES).map_err(|e| zip_err(&e))
}

/// Reads a member that declares `entry.size()` bytes, refusing it when that is over `cap` or
/// when the data turn out longer or shorter than declared. At most `declared + 1` bytes (so at
/// most `cap + 1`) are ever read, whatever the archive's headers say.
fn read_bounded(
    entry: zip::read::ZipFile<'_, Cursor<&[u8]>>,
    member: &str,
    cap: u64,
) -> std::result::Result<Vec<u8>, String> {
    let declared = entry.size();
    if declared > cap {
        return Err(format!(
            "member {member:?} is {declared} bytes, more than the {cap} allowed"
        ));
    }
    // Nor is it trusted for the allocation (one flipped byte can make a small member "1 GiB"):
    // start at 1 MiB at most and grow as the data come.
    let mut out = Vec::with_capacity(declared.min(1 << 20) as usize);
    entry
        .take(declared + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    let got = out.len() as u64;
    if got != declared {
        return Err(format!(
            "member {member:?} holds {} bytes but its header declares {declared}; the archive is \
             damaged or forged",
            if got > declared {
                format!("more than {declared}")
            } else {
                got.to_string()
            }
        ));
    }
    Ok(out)
}

/// Extracts `member` from the zip file `zip_path` to `dest` atomically, after checking its sha256
/// (lowercase hex) if given. Nothing is written when any check fails.
pub fn extract_zip_member(
    zip_path: &Path,
    member: &str,
    dest: &Path,
    sha256: Option<&str>,
) -> Result<()> {
    let bytes = crate::input::read_file(zip_path)?;
    let data = read_zip_member(zip_path, &bytes, member)?;
    if let Some(expected) = sha256 {
        crate::checksum::check_sha256(&zip_path.join(member), &data, expected)?;
    }
    crate::atomic::write_atomic(dest, &data)
}
