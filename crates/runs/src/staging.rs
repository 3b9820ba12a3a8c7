//! Building a run directory under a staging name and moving it into place only when it is
//! complete, so a run directory never mixes the files of two runs.
//!
//! A run into `DIR` works in the sibling `.DIR.partial-<pid>-<n>` (same folder, so the final
//! rename cannot cross file systems). On success the staging folder is renamed to `DIR`; a run
//! already there (replaced with `--overwrite`) is first renamed to `.DIR.old-<pid>-<n>`, and
//! removed once the new one is in place. On failure the staging folder is removed, unless it
//! holds a checkpoint: then it is kept so `resume` can continue it.
//!
//! Leftovers of killed processes (staging folders without a checkpoint, `.old` folders) are
//! swept when the next run starts in the same folder. A folder is a leftover when the process
//! named in it is gone (read from `/proc` on Linux; elsewhere, when it is a day old).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::events::{RunEvent, RunEvents};
use anyhow::{Context, Result, bail};

/// The names a run writes at the top of its folder: `--overwrite` replaces a folder only
/// when it holds nothing else.
const RUN_ENTRIES: &[&str] = &[
    "config.json",
    "metrics.json",
    "loss.png",
    "accuracy.png",
    "log.jsonl",
    "model",
    "data",
    "checkpoint",
    "checkpoint.new",
    "checkpoint.old",
];

/// Where liveness of a process cannot be read, its leftovers are stale after this long.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// A run directory being built beside its final place.
#[derive(Debug)]
pub(crate) struct Staging {
    /// Where the run is written while it works.
    pub dir: PathBuf,
    /// Where it goes when complete.
    pub target: PathBuf,
}

/// What is at a run's destination before the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existing {
    /// Nothing, or an empty folder.
    Nothing,
    /// A complete run of this tool.
    Run,
}

impl Staging {
    /// A new, empty staging folder for `target`.
    pub fn create(target: &Path) -> Result<Self> {
        let dir = staging_name(target)?;
        fs::create_dir_all(&dir)
            .with_context(|| format!("could not create the staging folder {}", dir.display()))?;
        register(&dir);
        Ok(Self {
            dir,
            target: target.to_path_buf(),
        })
    }

    /// Takes over `partial`, an interrupted staging folder of `target`, by renaming it to a
    /// name of this process (so two processes can never both continue it).
    pub fn adopt(partial: &Path, target: &Path) -> Result<Self> {
        let dir = staging_name(target)?;
        fs::rename(partial, &dir).with_context(|| {
            format!(
                "could not take over the interrupted run in {} (is another process resuming it?)",
                partial.display()
            )
        })?;
        register(&dir);
        Ok(Self {
            dir,
            target: target.to_path_buf(),
        })
    }

    /// Moves the complete run into place. What is at the destination is replaced only with
    /// `replace` (the caller checked that it may); a run that appeared there meanwhile is
    /// refused. A kill between the two renames leaves the previous run as `.DIR.old-*`, which
    /// the next run in this folder puts back.
    pub fn commit(&self, replace: bool) -> Result<()> {
        let target = &self.target;
        let old = if fs::symlink_metadata(target).is_ok() {
            if is_empty_dir(target) {
                fs::remove_dir(target)
                    .with_context(|| format!("could not replace {}", target.display()))?;
                None
            } else if !replace {
                bail!(
                    "{} appeared while this run worked: it is left as it is, and this run is \
                     kept in {}",
                    target.display(),
                    self.dir.display()
                );
            } else {
                let old = sibling(target, "old")?;
                // Registered so a sweep by another thread of this process leaves it alone.
                register(&old);
                if let Err(e) = fs::rename(target, &old) {
                    unregister(&old);
                    return Err(anyhow::Error::new(e).context(format!(
                        "could not move the previous run {} aside",
                        target.display()
                    )));
                }
                Some(old)
            }
        } else {
            None
        };
        if let Err(e) = fs::rename(&self.dir, target) {
            if let Some(old) = &old {
                let _ = fs::rename(old, target);
                unregister(old);
            }
            return Err(anyhow::Error::new(e).context(format!(
                "could not move the finished run from {} to {}",
                self.dir.display(),
                target.display()
            )));
        }
        sync_dir(spam_data::parent_dir(target));
        if let Some(old) = old {
            let removed = fs::remove_dir_all(&old);
            unregister(&old);
            removed
                .with_context(|| format!("could not remove the replaced run {}", old.display()))?;
        }
        Ok(())
    }

    /// After a failure: removes the staging folder unless it holds a checkpoint to resume
    /// from; returns the folder when kept.
    pub fn abandon(self) -> Option<PathBuf> {
        if has_checkpoint(&self.dir) && !self.same_checkpoint_as_target() {
            return Some(self.dir.clone());
        }
        let _ = fs::remove_dir_all(&self.dir);
        None
    }
}

impl Staging {
    /// Whether the staging checkpoint is still the one of the run it was copied from (a
    /// resume that failed before writing a new one): keeping it would add nothing.
    fn same_checkpoint_as_target(&self) -> bool {
        let state =
            |d: &Path| fs::read(d.join("checkpoint").join(spam_train::checkpoints::STATE)).ok();
        state(&self.dir).is_some_and(|s| Some(s) == state(&self.target))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        unregister(&self.dir);
    }
}

/// Resolves where a run directory really is: a symbolic link (`runs/latest`) is followed, so
/// renames move the run and not the link. Refuses paths without a folder name (`/`, `..`).
pub(crate) fn resolve(dir: &Path) -> Result<PathBuf> {
    let meta = fs::symlink_metadata(dir);
    let resolved = if meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
        fs::canonicalize(dir).with_context(|| {
            format!(
                "{} is a link to a folder that does not exist",
                dir.display()
            )
        })?
    } else if meta.is_ok() && dir.file_name().is_none() {
        fs::canonicalize(dir).with_context(|| format!("could not resolve {}", dir.display()))?
    } else {
        dir.to_path_buf()
    };
    match resolved.file_name() {
        Some(n) if n != "." && n != ".." => Ok(resolved),
        _ => bail!(
            "{} cannot be a run directory: give a folder name, such as runs/my-run",
            dir.display()
        ),
    }
}

/// What is at `target`, refusing what a new run must not replace: a non-empty folder
/// without `overwrite`, and, even with it, a folder that is not a run of this tool.
pub(crate) fn check_destination(target: &Path, overwrite: bool) -> Result<Existing> {
    let Ok(meta) = fs::metadata(target) else {
        return Ok(Existing::Nothing);
    };
    if !meta.is_dir() {
        bail!(
            "{} exists and is not a folder: choose another --out",
            target.display()
        );
    }
    if is_empty_dir(target) {
        return Ok(Existing::Nothing);
    }
    if let Some(foreign) = foreign_entry(target) {
        bail!(
            "{} is not empty and is not a run directory (it holds {}): refusing to write a run \
             there, even with --overwrite; choose another --out",
            target.display(),
            foreign
        );
    }
    if !overwrite {
        bail!(
            "{} already holds a run: pass --overwrite to replace it (the old run stays until the \
             new one is complete), continue it with --resume {}, or choose another --out",
            target.display(),
            target.display()
        );
    }
    Ok(Existing::Run)
}

/// Interrupted staging folders of `target` (their process gone) that hold a checkpoint, the
/// most recent first.
pub(crate) fn interrupted(target: &Path) -> Vec<PathBuf> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let mut found: Vec<(SystemTime, PathBuf)> = leftovers(spam_data::parent_dir(target))
        .into_iter()
        .filter(|l| l.kind == Kind::Partial && l.target == name && has_checkpoint(&l.path))
        .map(|l| (modified(&l.path), l.path))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Removes what killed runs left in `folder`: staging folders without a checkpoint and
/// replaced runs (`.DIR.old-*`; put back as `DIR` when a kill left no `DIR`). Each removal
/// is reported as an [`RunEvent::StaleRemoved`].
pub(crate) fn sweep(folder: &Path, events: &RunEvents) {
    for l in leftovers(folder) {
        let why = match l.kind {
            Kind::Partial if has_checkpoint(&l.path) => continue,
            Kind::Partial => "an unfinished run of a process that is gone, with no checkpoint",
            Kind::Old => {
                let target = folder.join(&l.target);
                if fs::symlink_metadata(&target).is_err() && fs::rename(&l.path, &target).is_ok() {
                    events.emit(RunEvent::StaleRemoved {
                        path: l.path.clone(),
                        why: format!(
                            "a run moved aside by a process killed while replacing it; put back \
                             as {}",
                            target.display()
                        ),
                    });
                    continue;
                }
                "a replaced run left by a process that is gone"
            }
        };
        if fs::remove_dir_all(&l.path).is_ok() {
            events.emit(RunEvent::StaleRemoved {
                path: l.path,
                why: why.to_string(),
            });
        }
    }
}

/// Removes what a killed process left inside the staging folder `dir` before a run continues
/// in it: the temporary files of atomic writes (names starting with `.`) and a half-written
/// `checkpoint.new`.
pub(crate) fn clean_inside(dir: &Path, events: &RunEvents) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let why = if name.starts_with('.') {
            "a temporary file of a write that did not finish"
        } else if name == "checkpoint.new" {
            "a checkpoint whose writing did not finish"
        } else {
            continue;
        };
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if removed.is_ok() {
            events.emit(RunEvent::StaleRemoved {
                path,
                why: why.to_string(),
            });
        }
    }
}

/// Hard-links (or, where links fail, copies) the files of `from` into `to`, recursively. Every
/// file of a run is replaced by a rename, never changed in place, so a link is as safe as a copy.
pub(crate) fn link_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("could not create {}", to.display()))?;
    let entries =
        fs::read_dir(from).with_context(|| format!("could not read {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("could not read {}", from.display()))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            link_tree(&src, &dst)?;
        } else if fs::hard_link(&src, &dst).is_err() {
            fs::copy(&src, &dst).with_context(|| {
                format!("could not copy {} to {}", src.display(), dst.display())
            })?;
        }
    }
    Ok(())
}

/// Whether `dir` holds a checkpoint to resume from.
pub(crate) fn has_checkpoint(dir: &Path) -> bool {
    ["checkpoint", "checkpoint.old"]
        .iter()
        .any(|c| dir.join(c).join(spam_train::checkpoints::STATE).is_file())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partial,
    Old,
}

#[derive(Debug)]
struct Leftover {
    path: PathBuf,
    /// The name of the run directory it belongs to.
    target: String,
    kind: Kind,
}

/// Staging and replaced-run folders in `folder` whose process is gone.
/// The run folder a staging folder named explicitly (`.NAME.partial-PID-N`, holding a
/// checkpoint) belongs to: `NAME` beside it. `None` for any other path.
pub(crate) fn staging_target(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(".partial-")?;
    let target = &rest[..at];
    (!target.is_empty() && has_checkpoint(path)).then(|| spam_data::parent_dir(path).join(target))
}

/// The staging folders of `target` that hold a run log, live or not, the most recently
/// changed first: where the log of a run in progress (or killed) is.
pub(crate) fn staging_logs(target: &Path) -> Vec<PathBuf> {
    let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = fs::read_dir(spam_data::parent_dir(target)) else {
        return Vec::new();
    };
    let mut found: Vec<(SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .filter(|p| p.join(spam_train::records::LOG_FILE).is_file())
        .map(|p| (modified(&p.join(spam_train::records::LOG_FILE)), p))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

fn leftovers(folder: &Path) -> Vec<Leftover> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        let parsed = [(".partial-", Kind::Partial), (".old-", Kind::Old)]
            .into_iter()
            .find_map(|(marker, kind)| {
                let at = rest.rfind(marker)?;
                let mut parts = rest[at + marker.len()..].split('-');
                let pid = parts.next()?.parse().ok()?;
                // The machine's tag (absent in names older than it: taken as this machine's).
                let host = parts.nth(1).map(str::to_string);
                Some((rest[..at].to_string(), kind, pid, host))
            });
        let Some((target, kind, pid, host)) = parsed else {
            continue;
        };
        let path = entry.path();
        if path.is_dir() && is_stale(&path, pid, host.as_deref()) {
            found.push(Leftover { path, target, kind });
        }
    }
    found
}

/// Whether the process that named `path` is gone (this process's folders: when no run of it
/// uses them any more). A folder named on another machine (a sweep's trials on shared
/// storage; each Kubernetes pod is its own machine, with its own process ids) is judged by
/// its age alone: its process id says nothing here.
fn is_stale(path: &Path, pid: u32, host: Option<&str>) -> bool {
    if host.is_some_and(|h| h != host_tag()) {
        return modified(path).elapsed().is_ok_and(|age| age > STALE_AFTER);
    }
    if pid == std::process::id() {
        return !lock().contains(&file_name(path));
    }
    match process_alive(pid) {
        Some(alive) => !alive,
        None => modified(path).elapsed().is_ok_and(|age| age > STALE_AFTER),
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: u32) -> Option<bool> {
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

#[cfg(not(target_os = "linux"))]
fn process_alive(_pid: u32) -> Option<bool> {
    None
}

/// A short tag of this machine's host name (hex, so it never holds the `-` that separates
/// the parts of a staging name).
fn host_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        spam_data::sha256_hex(host.trim().as_bytes())[..8].to_string()
    })
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The first entry of `dir` that a run does not write, if any (or why it is not a run).
fn foreign_entry(dir: &Path) -> Option<String> {
    let config = fs::read(dir.join("config.json")).ok();
    let is_run_config = config
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| {
            ["data", "model", "train"]
                .iter()
                .all(|k| v.get(k).is_some())
        });
    if !is_run_config {
        return Some("no run config.json".into());
    }
    foreign_in(dir, RUN_ENTRIES, "")
}

/// The first entry of `dir` (shown as `prefix` + name) that a run does not write, looking
/// into the run's own subfolders too (`model/`, `data/`, `checkpoint*/`): `--overwrite`
/// replaces the whole tree, so a user's file anywhere in it must stop it.
fn foreign_in(dir: &Path, allowed: &[&str], prefix: &str) -> Option<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Some(format!("`{prefix}` (unreadable)"));
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let shown = format!("{prefix}{name}");
        // Temporary files of atomic writes: `.<name>.<random><suffix>`.
        let temporary = allowed.iter().any(|e| name.starts_with(&format!(".{e}.")));
        if temporary {
            continue;
        }
        if !allowed.contains(&name.as_str()) {
            return Some(format!("`{shown}`"));
        }
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let inner = sub_entries(&name);
        match (is_dir, inner) {
            (true, Some(inner)) => {
                if let Some(found) = foreign_in(&entry.path(), inner, &format!("{shown}/")) {
                    return Some(found);
                }
            }
            (false, None) => {}
            // A folder where a run writes a file, or a file where it writes a folder.
            _ => return Some(format!("`{shown}`")),
        }
    }
    None
}

/// What a run writes inside its subfolder `name`; `None` for a top-level file.
fn sub_entries(name: &str) -> Option<&'static [&'static str]> {
    const MODEL: &[&str] = &[
        spam_model::CONFIG_FILE,
        spam_model::WEIGHTS_FILE,
        spam_model::DECISION_FILE,
    ];
    match name {
        "model" => Some(MODEL),
        "data" => Some(&spam_data::SPLIT_FILES),
        "checkpoint" | "checkpoint.new" | "checkpoint.old" => Some(&spam_train::checkpoints::FILES),
        _ => None,
    }
}

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut e| e.next().is_none())
}

/// `.NAME.partial-<pid>-<n>` beside `target`, not yet existing.
fn staging_name(target: &Path) -> Result<PathBuf> {
    sibling(target, "partial")
}

/// `.NAME.<what>-<pid>-<n>` beside `target`, with `n` counting up in this process.
fn sibling(target: &Path, what: &str) -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{} has no folder name", target.display()))?;
    let parent = spam_data::parent_dir(target);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!(
            ".{name}.{what}-{}-{n}-{}",
            std::process::id(),
            host_tag()
        ));
        if fs::symlink_metadata(&path).is_err() {
            return Ok(path);
        }
    }
}

/// Names of the staging folders in use by runs of this process (unique: they carry the pid
/// and a counter).
fn lock() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    static ACTIVE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    ACTIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn register(dir: &Path) {
    lock().insert(file_name(dir));
}

fn unregister(dir: &Path) {
    lock().remove(&file_name(dir));
}

/// Best-effort fsync of a folder so a rename in it survives a crash.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}
