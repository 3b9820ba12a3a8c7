//! Running a sweep's trials into one folder, one process per trial or all in one.
//!
//! Each trial is an ordinary run folder `DIR/trial-NNN` made by [`fine_tune`] (built under a
//! staging name and renamed into place whole), so processes on distinct trials never touch
//! each other's files: they share only `DIR/sweep.toml`, which the first writes (created
//! whole, never replaced) and the others compare with theirs. No trial sets a shared link;
//! the report sets `DIR/best`. A trial finished by an earlier process is reused, and one whose
//! process was killed after a checkpoint continues from it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use spam_train::{Report, TrainError};

use crate::events::RunEvent;
use crate::pipeline::{FineTuneOptions, fine_tune, resume};
use crate::sweep::Sweep;
use crate::sweep_keys::settings_difference;
use crate::sweep_report::{SWEEP_FILE, SweepReport, TrialFolder, sweep_report, trial_folder};

/// What [`run_trial`] did.
#[derive(Debug, Clone)]
pub struct TrialRun {
    /// The trial's index.
    pub index: usize,
    /// Its run folder.
    pub dir: PathBuf,
    /// True when an earlier process had finished it: nothing was trained.
    pub reused: bool,
    /// Its `metrics.json`.
    pub report: Report,
}

/// Runs trial `index` of `sweep` into `out/trial-NNN` (an ordinary run folder), after saving
/// the sweep as `out/sweep.toml` if no process did yet. A finished run of the trial there is
/// reused; an interrupted one (its process gone, a checkpoint kept) continues. Refused: an
/// `out` that holds another sweep, and a trial folder holding a run of other settings.
///
/// Safe to call from many processes at once on distinct trials of one sweep (one machine or
/// several sharing the folder). `options`' events, stop flag and hub settings are used; its
/// output folder, link and epochs are the sweep's own. With `options.overwrite` the folder
/// follows this sweep instead of refusing it: `out/sweep.toml` is replaced by this sweep and a
/// trial folder holding other settings is run again (a finished run of the trial's own settings
/// is still reused) — for one process that owns the folder, as `experiments` does.
pub fn run_trial(
    sweep: &Sweep,
    index: usize,
    out: &Path,
    options: &FineTuneOptions,
) -> Result<TrialRun> {
    let trial = sweep.trial(index)?;
    let replace = options.overwrite;
    if replace {
        replace_sweep(sweep, out)?;
    } else {
        save_sweep(sweep, out)?;
    }
    let dir = out.join(sweep.trial_name(index));
    let events = &options.events;
    match trial_folder(&dir, &trial)? {
        TrialFolder::Finished(report) => {
            events.emit(RunEvent::TrialReused {
                index,
                dir: dir.clone(),
            });
            return Ok(TrialRun {
                index,
                dir,
                reused: true,
                report: *report,
            });
        }
        TrialFolder::Other(_) if replace => {}
        TrialFolder::Other(difference) => bail!(
            "{} holds a finished run with other settings than trial {index} ({difference}): the \
             sweep changed since it ran. Use another --out for this sweep, or delete {}",
            dir.display(),
            dir.display()
        ),
        TrialFolder::Unfinished => {}
    }
    let options = FineTuneOptions {
        out_dir: Some(dir.clone()),
        // Only a finished run of other settings is there to replace (see above).
        overwrite: replace,
        latest_link: None,
        epochs: None,
        ..options.clone()
    };
    events.emit(RunEvent::TrialStarted {
        index,
        count: sweep.trial_count(),
        settings: trial.describe(),
        dir: dir.clone(),
    });
    let report = match interrupted_attempt(&dir, &trial.config)? {
        Some(partial) => {
            events.emit(RunEvent::TrialResumed {
                index,
                from: partial.clone(),
            });
            resume(&partial, &options)?
        }
        None => fine_tune(&trial.config, &options)?,
    };
    Ok(TrialRun {
        index,
        dir,
        reused: false,
        report,
    })
}

/// Runs every trial of `sweep` in order into `out` (see [`run_trial`]), then ranks them
/// ([`sweep_report`]). A trial that fails is reported as [`RunEvent::TrialFailed`] and the
/// sweep goes on (the report lists it as missing); a stop (Ctrl-C) ends the sweep at once.
pub fn run_sweep(sweep: &Sweep, out: &Path, options: &FineTuneOptions) -> Result<SweepReport> {
    save_sweep(sweep, out)?;
    for index in 0..sweep.trial_count() {
        if let Err(e) = run_trial(sweep, index, out, options) {
            if stopped(&e) {
                return Err(e);
            }
            options.events.emit(RunEvent::TrialFailed {
                index,
                dir: out.join(sweep.trial_name(index)),
                error: format!("{e:#}"),
            });
        }
    }
    sweep_report(out)
}

/// Whether `e` is a run stopped on request (its checkpoint kept to continue from).
fn stopped(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<TrainError>(),
            Some(TrainError::Interrupted { .. })
        )
    })
}

/// The staging folder of a killed attempt of the trial in `dir` (with a checkpoint) to
/// continue from; one of other settings is an error that says what to do.
fn interrupted_attempt(dir: &Path, config: &crate::RunConfig) -> Result<Option<PathBuf>> {
    // The most recent one: an older one of other settings is left for the user to remove.
    let Some(partial) = crate::staging::interrupted(dir).into_iter().next() else {
        return Ok(None);
    };
    let file = partial.join("config.json");
    let saved: Option<crate::RunConfig> = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if saved.is_some_and(|saved| settings_difference(config, &saved).is_none()) {
        return Ok(Some(partial));
    }
    bail!(
        "{} holds an interrupted run of {} with other settings: delete it to run the trial",
        partial.display(),
        dir.display()
    )
}

/// Saves `sweep` as `out/sweep.toml` when the folder has none (created whole, never
/// replaced, so the first of many processes wins), else checks that the one there is this
/// sweep.
pub fn save_sweep(sweep: &Sweep, out: &Path) -> Result<()> {
    let path = out.join(SWEEP_FILE);
    if !path.exists() {
        create_new(&path, sweep.to_toml()?.as_bytes())?;
    }
    let saved = Sweep::read(&path)?;
    if let Err(difference) = sweep.same_as(&saved) {
        let this = sweep
            .source()
            .map_or_else(|| "this sweep".to_string(), |p| p.display().to_string());
        bail!(
            "{} holds another sweep than {this} ({difference}): {} is the sweep this folder was \
             started with. Use another --out for {this}, or delete {} to start over",
            out.display(),
            path.display(),
            out.display()
        );
    }
    Ok(())
}

/// Makes `sweep` the sweep of `out`: `out/sweep.toml` written (atomically) unless it already
/// holds this sweep.
fn replace_sweep(sweep: &Sweep, out: &Path) -> Result<()> {
    let path = out.join(SWEEP_FILE);
    let same = Sweep::read(&path).is_ok_and(|saved| sweep.same_as(&saved).is_ok());
    if !same {
        std::fs::create_dir_all(out)
            .with_context(|| format!("could not create {}", out.display()))?;
        spam_data::write_atomic(&path, sweep.to_toml()?.as_bytes())?;
    }
    Ok(())
}

/// Writes `bytes` to `path` unless it exists: a synced temporary file beside it, linked to its
/// name only if the name is free (so a reader sees nothing or the whole file). Another process
/// creating it first is no error.
fn create_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = spam_data::parent_dir(path);
    std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let prefix = format!(".{SWEEP_FILE}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // 0666 less the umask, as `File::create` gives (tempfile's own are 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .with_context(|| format!("could not create a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("could not write {}", path.display()))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            spam_data::sync_dir(dir);
            Ok(())
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => {
            Err(anyhow::Error::new(e.error).context(format!("could not write {}", path.display())))
        }
    }
}
