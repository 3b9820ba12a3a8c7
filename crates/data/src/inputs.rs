//! What a user's data path names: one file, a folder of Parquet shards, a glob pattern, or a
//! folder in the Hugging Face hub's dataset layout (`train-00000-of-00002.parquet`, ...).

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The files `path` names, in a stable order (sorted by path):
/// - a file: itself;
/// - a folder: the Parquet files under it (recursively), which must all be one table (a folder
///   holding the hub's split files is refused: give it as a data folder, or pick a split);
/// - a pattern with `*`, `?` or `[`: the files it matches (`data/train-*.parquet`).
///
/// A name that is none of these is [`DataError::MissingFile`]; a folder or pattern that
/// names no file is [`DataError::NoFiles`].
pub fn expand_input(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_dir() {
        let files = parquet_files_under(path)?;
        if files.is_empty() {
            return Err(DataError::NoFiles {
                pattern: path.to_path_buf(),
                what: "a folder given as data must hold Parquet files (*.parquet); give the \
                       path of a CSV/TSV or SMS file itself"
                    .into(),
            });
        }
        if let Some(layout) = SplitLayout::find(path)?
            && (layout.validation.is_some() || layout.test.is_some())
        {
            return Err(DataError::NoFiles {
                pattern: path.to_path_buf(),
                what: format!(
                    "this folder holds a dataset's splits ({}): name one split's files (e.g. \
                     {}), or, to train on the splits as they are, give the folder as --data-dir",
                    layout.describe(),
                    layout.train.display()
                ),
            });
        }
        return Ok(files);
    }
    let text = path.to_string_lossy();
    if !path.exists() && text.contains(['*', '?', '[']) {
        return glob_files(path);
    }
    crate::input::check_regular_file(path)?;
    Ok(vec![path.to_path_buf()])
}

/// Whether `path` is (or names) Parquet: a `.parquet` name, a folder or pattern of them, or
/// a file that starts with Parquet's magic bytes `PAR1`.
pub fn is_parquet(path: &Path) -> bool {
    let has_ext = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
    };
    if has_ext(path) {
        return true;
    }
    if path.is_dir() {
        return parquet_files_under(path).is_ok_and(|f| !f.is_empty());
    }
    if !path.exists() {
        return path.to_string_lossy().ends_with(".parquet");
    }
    if !path.is_file() {
        return false;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == b"PAR1")
}

/// A dataset folder's split files, as the hub lays them out: for each split, a pattern
/// (`DIR/data/train-*.parquet`) that [`expand_input`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLayout {
    /// The training split's files.
    pub train: PathBuf,
    /// The validation split's files (`validation`, `valid`, `val` or `dev`), if any.
    pub validation: Option<PathBuf>,
    /// The test split's files, if any.
    pub test: Option<PathBuf>,
}

impl SplitLayout {
    /// The Parquet split files of `dir`, looked for in `dir`, `dir/data` and each config
    /// folder of `dir` (`dir/plain_text`, `dir/default`), as `SPLIT.parquet`,
    /// `SPLIT-*.parquet` or `SPLIT/*.parquet`. `None` when there is no training split; more
    /// than one folder with splits is an error naming them.
    pub fn find(dir: &Path) -> Result<Option<Self>> {
        let mut roots = vec![dir.to_path_buf(), dir.join("data")];
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| DataError::io(dir, "list", e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir() && !p.ends_with("data"))
            .collect();
        subdirs.sort();
        roots.extend(subdirs);
        let found: Vec<Self> = roots.iter().filter_map(|r| Self::in_root(r)).collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            many => Err(DataError::NoFiles {
                pattern: dir.to_path_buf(),
                what: format!(
                    "more than one set of splits here ({}): give the folder of the one you want",
                    many.iter()
                        .map(|l| l.train.parent().unwrap_or(dir).display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    fn in_root(root: &Path) -> Option<Self> {
        let split = |names: &[&str]| {
            names.iter().find_map(|name| {
                [
                    root.join(format!("{name}.parquet")),
                    root.join(format!("{name}-*.parquet")),
                    root.join(name).join("*.parquet"),
                ]
                .into_iter()
                .find(|p| glob_files(p).is_ok())
            })
        };
        Some(Self {
            train: split(&["train"])?,
            validation: split(&["validation", "valid", "val", "dev"]),
            test: split(&["test"]),
        })
    }

    fn describe(&self) -> String {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        [
            Some(&self.train),
            self.validation.as_ref(),
            self.test.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|p| name(p))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// The regular files a glob pattern matches, sorted; none is [`DataError::NoFiles`].
fn glob_files(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let no_files = |what: String| DataError::NoFiles {
        pattern: pattern.to_path_buf(),
        what,
    };
    let paths = glob::glob(&text).map_err(|e| no_files(format!("not a valid pattern: {e}")))?;
    let mut files: Vec<PathBuf> = paths.flatten().filter(|p| p.is_file()).collect();
    files.sort();
    if files.is_empty() {
        return Err(no_files(
            "no file matches this pattern; check the folder and the name".into(),
        ));
    }
    Ok(files)
}

/// The `*.parquet` regular files under `dir`, recursively (hidden folders skipped), sorted.
fn parquet_files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| DataError::io(&d, "list", e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if p.is_dir() && !hidden {
                todo.push(p);
            } else if p.is_file()
                && p.extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
