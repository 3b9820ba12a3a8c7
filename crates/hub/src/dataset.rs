//! Datasets in the cache (no network): the Parquet files of a revision's snapshot, in the
//! layout the hub's libraries write (`datasets--ORG--NAME/{refs,blobs,snapshots}`).

use std::fs;
use std::path::Path;

use crate::cache::{DEFAULT_REVISION, DatasetSnapshot, HubId, PARQUET_REVISION, cached_commit};

/// How deep below a snapshot folder Parquet files are looked for (the hub's own layouts use
/// two or three levels: `data/train-00000-of-00001.parquet`, `CONFIG/SPLIT/0000.parquet`).
const MAX_DEPTH: usize = 16;

/// The Parquet files of `id` at its revision, from the cache only (no network): the commit
/// (the revision itself, or `refs/REVISION`), then every `*.parquet` file below
/// `snapshots/COMMIT` (links into `blobs/` count when they lead to a regular file). When the
/// revision is the default `main` and its snapshot holds no Parquet file (or is not cached),
/// [`PARQUET_REVISION`] is looked up too, its ref at `refs/refs/convert/parquet` as the hub's
/// libraries write it. A snapshot with a `.parquet` entry that is a dangling link is not
/// complete: `Err` then, as when nothing is found; `Err` says why (for the error message).
///
/// A snapshot is taken as the cache holds it: the ref is written last, so a download cut short
/// is not found by its branch, but a commit asked for directly (which needs no ref) finds
/// whatever files that download left.
pub fn find_cached_dataset(
    id: &HubId,
    cache: &Path,
) -> std::result::Result<DatasetSnapshot, String> {
    let folder = id.cache_folder();
    let repo_dir = cache.join(&folder);
    if !repo_dir.is_dir() {
        return Err(format!("no {folder}"));
    }
    let mut revisions = vec![id.revision.as_str()];
    if id.revision == DEFAULT_REVISION {
        revisions.push(PARQUET_REVISION);
    }
    let mut why = Vec::new();
    for revision in revisions {
        match cached_parquet(&repo_dir, &folder, revision) {
            Lookup::Found { commit, files } => {
                return Ok(DatasetSnapshot {
                    id: id.clone(),
                    dir: repo_dir.join("snapshots").join(&commit),
                    commit,
                    revision: revision.to_string(),
                    files,
                    downloaded: false,
                });
            }
            Lookup::Absent(reason) => why.push(reason),
            // The revision has Parquet files, some not there: another revision's are not
            // what it means.
            Lookup::Incomplete(reason) => {
                why.push(reason);
                break;
            }
        }
    }
    Err(why.join("; "))
}

/// What the cache holds of one revision.
enum Lookup {
    /// Its commit and its Parquet files, all there.
    Found { commit: String, files: Vec<String> },
    /// No ref, no snapshot, or a snapshot without Parquet files (why).
    Absent(String),
    /// A snapshot whose Parquet files are not all there (why).
    Incomplete(String),
}

/// The Parquet files of `revision` in `repo_dir` (`folder` in messages).
fn cached_parquet(repo_dir: &Path, folder: &str, revision: &str) -> Lookup {
    let commit = match cached_commit(repo_dir, folder, revision) {
        Ok(commit) => commit,
        Err(why) => return Lookup::Absent(why),
    };
    let dir = repo_dir.join("snapshots").join(&commit);
    let here = format!("{folder}/snapshots/{commit}");
    if !dir.is_dir() {
        return Lookup::Absent(format!("no {here}"));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    if let Err(e) = list_parquet(&dir, "", 0, &mut found, &mut missing) {
        return Lookup::Incomplete(format!("cannot list {here} ({e})"));
    }
    if !missing.is_empty() {
        missing.sort();
        return Lookup::Incomplete(format!(
            "{here} lacks {} (a link to a missing blob, or not a regular file)",
            missing.join(", ")
        ));
    }
    if found.is_empty() {
        return Lookup::Absent(format!("{here} holds no Parquet file"));
    }
    found.sort();
    Lookup::Found {
        commit,
        files: found,
    }
}

/// Collects the `*.parquet` entries below `dir` (called `prefix` inside the repository) into
/// `found` (regular files, or links to one) and `missing` (dangling links, or anything else).
/// Folders are entered (up to [`MAX_DEPTH`] levels), links to folders never, so a link cannot
/// make a loop; names that are not UTF-8 are no file of the hub's.
fn list_parquet(
    dir: &Path,
    prefix: &str,
    depth: usize,
    found: &mut Vec<String>,
    missing: &mut Vec<String>,
) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        // The entry itself, not what a link leads to.
        if entry.file_type()?.is_dir() {
            if depth < MAX_DEPTH {
                list_parquet(&entry.path(), &path, depth + 1, found, missing)?;
            }
            continue;
        }
        if !name.ends_with(".parquet") {
            continue;
        }
        // `metadata` follows the link: a dangling one fails.
        match fs::metadata(entry.path()) {
            Ok(meta) if meta.is_file() => found.push(path),
            _ => missing.push(path),
        }
    }
    Ok(())
}
