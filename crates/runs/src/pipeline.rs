//! The whole job in one call: prepare the data, build the classifier, train, write the run
//! directory. `spam-cli train` is a thin wrapper over [`fine_tune`]; `--resume RUN_DIR`
//! reads the [`RunConfig`] saved there and continues.
//!
//! A run directory never mixes two runs: each run is built in a staging folder beside it and
//! moved into place when complete (see `staging`). A resume works on a copy of the run
//! (hard links) and swaps it in the same way, so a resume that fails leaves the run as it was.

use std::fs;
use std::path::{Path, PathBuf};

use spam_model::{Classifier, ClassifierConfig};

use crate::events::{RunEvent, RunEvents};
use crate::run_config::RunConfig;
use crate::run_dir::write_json;
use crate::staging::{self, Existing, Staging};
use anyhow::{Context, Result, bail};
use spam_model::PadTo;
use spam_train::Examples;
use spam_train::LrSchedule;
use spam_train::Report;
use spam_train::TrainData;
use spam_train::{RunOptions, train};

/// Options of [`fine_tune`] and [`resume`] that are not part of the run's definition.
#[derive(Debug, Clone, Default)]
pub struct FineTuneOptions {
    /// The run directory; `None` writes nothing (no checkpoints either). It must be absent or
    /// empty, unless `overwrite`. [`resume`] refuses a directory other than the one it continues.
    pub out_dir: Option<PathBuf>,
    /// Replace the run already in `out_dir` (once the new one is complete). A folder that is
    /// not a run directory (one with files a run does not write, or without a run's
    /// `config.json`) is refused even so.
    pub overwrite: bool,
    /// After the run is in place, point this symbolic link at it (`runs/latest`; unix only).
    pub latest_link: Option<PathBuf>,
    /// [`resume`] only: a new number of epochs, at least those already begun (a finished run
    /// can be extended). Refused with a learning-rate schedule that spans the run.
    pub epochs: Option<usize>,
    /// Where progress goes (nowhere by default).
    pub events: RunEvents,
    /// Where weights given by hub id are looked for and fetched from (`None`: the
    /// environment's `HF_*` settings).
    pub hub: Option<spam_hub::HubOptions>,
    /// Set it to stop the run between two steps with a checkpoint (Ctrl-C): the run fails
    /// with [`spam_train::TrainError::Interrupted`], is kept beside its folder, and [`resume`]
    /// continues it.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Prepares data, builds the classifier, trains it and writes the run directory.
pub fn fine_tune(config: &RunConfig, options: &FineTuneOptions) -> Result<Report> {
    config.train.validate()?;
    let Some(out) = &options.out_dir else {
        return run(config, None, options, false);
    };
    let target = staging::resolve(out)?;
    let events = &options.events;
    staging::sweep(spam_data::parent_dir(&target), events);
    for partial in staging::interrupted(&target) {
        if !options.overwrite {
            bail!(
                "an interrupted run of {} is kept in {}: continue it with --resume {}, or pass \
                 --overwrite to start over",
                target.display(),
                partial.display(),
                partial.display()
            );
        }
        fs::remove_dir_all(&partial)
            .with_context(|| format!("could not remove {}", partial.display()))?;
        events.emit(RunEvent::StaleRemoved {
            path: partial,
            why: "an interrupted run of the same folder, replaced (--overwrite)".into(),
        });
    }
    let existing = staging::check_destination(&target, options.overwrite)?;
    let staging = Staging::create(&target)?;
    finish(staging, config, options, existing == Existing::Run, false)
}

/// Continues the run in `run_dir` from its last checkpoint: from the folder an interrupted
/// run left beside it when that is this run's own (a first run that was killed, or a killed
/// resume of it: the same settings apart from the epochs), else from the run directory's own
/// checkpoint. A leftover of another run into the same folder (other settings) never
/// replaces the run there unless it is named: `run_dir` may be such a staging folder
/// (`.RUN.partial-*`), which then continues and replaces `RUN`. The settings are the run's
/// own, except `options.epochs`.
pub fn resume(run_dir: &Path, options: &FineTuneOptions) -> Result<Report> {
    let named = staging::staging_target(run_dir);
    let target = match &named {
        Some(target) => target.clone(),
        None => staging::resolve(run_dir)?,
    };
    if let Some(out) = &options.out_dir
        && staging::resolve(out)? != target
    {
        bail!(
            "a resume continues {} in place and cannot write to {}: copy the run there first \
             and resume the copy",
            target.display(),
            out.display()
        );
    }
    let events = &options.events;
    staging::sweep(spam_data::parent_dir(&target), events);
    let leftover = match named {
        Some(_) => Some(run_dir.to_path_buf()),
        None => staging::interrupted(&target)
            .into_iter()
            .find(|partial| same_run(&target, partial)),
    };
    let staging = match leftover {
        Some(partial) => Staging::adopt(&partial, &target)?,
        None => {
            let path = target.join("config.json");
            if !path.is_file() {
                bail!(
                    "could not read {}: is {} a run directory?",
                    path.display(),
                    run_dir.display()
                );
            }
            let staging = Staging::create(&target)?;
            // log.jsonl is linked too: the resume rewrites it as a new file before appending.
            for name in [
                "config.json",
                "data",
                "checkpoint",
                "checkpoint.old",
                "log.jsonl",
            ] {
                let from = target.join(name);
                if from.is_dir() {
                    staging::link_tree(&from, &staging.dir.join(name))?;
                } else if from.is_file() && fs::hard_link(&from, staging.dir.join(name)).is_err() {
                    fs::copy(&from, staging.dir.join(name))
                        .with_context(|| format!("could not copy {}", from.display()))?;
                }
            }
            staging
        }
    };
    staging::clean_inside(&staging.dir, events);
    let config = match resumed_config(&staging.dir, options) {
        Ok(config) => config,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    finish(staging, &config, options, true, true)
}

/// Whether the staging folder `partial` continues the run in `target`: when `target` holds no
/// run's settings (a first run that was killed), or both record the same settings apart from
/// the epochs (which a resume may change) and how often checkpoints are written.
fn same_run(target: &Path, partial: &Path) -> bool {
    let settings = |dir: &Path| -> Option<serde_json::Value> {
        let mut v: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).ok()?).ok()?;
        if let Some(train) = v.get_mut("train").and_then(|t| t.as_object_mut()) {
            train.remove("epochs");
            train.remove("checkpoint_every");
        }
        Some(v)
    };
    match settings(target) {
        None => true,
        Some(mine) => settings(partial).is_some_and(|theirs| theirs == mine),
    }
}

/// Trains into `staging` and moves it into place, or on failure keeps it only if it holds a
/// checkpoint to resume from.
fn finish(
    staging: Staging,
    config: &RunConfig,
    options: &FineTuneOptions,
    replace: bool,
    resume: bool,
) -> Result<Report> {
    let events = &options.events;
    let outcome = run(config, Some(&staging.dir), options, resume)
        .and_then(|report| staging.commit(replace).map(|()| report));
    match outcome {
        Ok(report) => {
            let target = staging.target.clone();
            drop(staging);
            events.emit(RunEvent::RunSaved {
                dir: target.clone(),
            });
            if let Some(link) = &options.latest_link {
                crate::run_dir::link_latest(link, &target, events);
            }
            Ok(report)
        }
        Err(e) => {
            let target = staging.target.clone();
            if let Some(kept) = staging.abandon() {
                events.emit(RunEvent::RunKept {
                    staging: kept,
                    target,
                });
            }
            Err(e)
        }
    }
}

/// The config saved in the run being resumed, with the changes `options` may make.
fn resumed_config(dir: &Path, options: &FineTuneOptions) -> Result<RunConfig> {
    let path = dir.join("config.json");
    let bytes = fs::read(&path).with_context(|| format!("could not read {}", path.display()))?;
    let mut config: RunConfig = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run config", path.display()))?;
    if let Some(epochs) = options.epochs
        && epochs != config.train.epochs
    {
        if !matches!(config.train.schedule, LrSchedule::Constant) {
            bail!(
                "--epochs cannot change on resume with a warmup-cosine schedule: the schedule \
                 spans the run's {} epochs, and changing them would change the learning rates \
                 of the steps still to come",
                config.train.epochs
            );
        }
        let begun = spam_train::checkpoints::position(&dir.join("checkpoint"))
            .map_or(0, |p| p.epoch + usize::from(p.batch > 0));
        if epochs < begun {
            bail!(
                "--epochs {epochs} is fewer than the {begun} epochs the run has already begun: \
                 give at least {begun}"
            );
        }
        options.events.emit(RunEvent::ResumeChanged {
            setting: "epochs".into(),
            from: config.train.epochs.to_string(),
            to: epochs.to_string(),
        });
        config.train.epochs = epochs;
    }
    Ok(config)
}

fn run(
    config: &RunConfig,
    out: Option<&Path>,
    options: &FineTuneOptions,
    resume: bool,
) -> Result<Report> {
    config.train.validate()?;
    config.check_split_files()?;
    let events = &options.events;
    if let Some(dir) = out {
        events.emit(RunEvent::LogStarted {
            path: dir.join(spam_train::records::LOG_FILE),
        });
    }
    let (label_names, data) = load_data(config, out, events)?;
    let (model, resolved) = build_model(config, options, &label_names, &data)?;
    if let Some(dir) = out {
        let mut saved = config.clone();
        if let Some(resolved) = resolved {
            saved.model.weights_resolved = Some(resolved);
        }
        write_json(&dir.join("config.json"), &saved)?;
    }
    let run_options = RunOptions {
        checkpoint_dir: out.map(Path::to_path_buf),
        resume,
        events: events.train(),
        stop: options.stop.clone(),
    };
    let report = train(&model, &data, &config.train, &run_options)?;
    if let Some(dir) = out {
        save_outputs(dir, config, &model, &report, data.train.len(), events)?;
    }
    Ok(report)
}

/// Reads, balances, splits and tokenizes the data (into `out/data` for a run folder), and
/// says so; returns the class names and the tokenized splits.
fn load_data(
    config: &RunConfig,
    out: Option<&Path>,
    events: &RunEvents,
) -> Result<(Vec<String>, TrainData)> {
    let prepare = config.prepare_options(out.map(|d| d.join("data")))?;
    let prepared = match config.split_files() {
        Some(files) => spam_data::prepare_files(&prepare, &files)?,
        None => spam_data::prepare(&prepare)?,
    };
    if prepared.train_rows == 0 || prepared.validation_rows == 0 {
        bail!(
            "the {} split is empty ({} training and {} validation rows): give it more rows, or \
             a larger fraction with --split",
            if prepared.train_rows == 0 {
                "training"
            } else {
                "validation"
            },
            prepared.train_rows,
            prepared.validation_rows
        );
    }
    events.emit(RunEvent::DataReady {
        rows_read: prepared.rows_read,
        balanced_rows: prepared.balanced_rows,
        train: prepared.train_rows,
        validation: prepared.validation_rows,
        test: prepared.test_rows,
        padded_len: prepared.padded_len,
        from_files: config.split_files().is_some(),
        label_names: prepared.label_names.clone(),
    });
    let data = TrainData {
        train: Examples::from_encoded(&prepared.encoded.train),
        validation: Examples::from_encoded(&prepared.encoded.validation),
        test: Examples::from_encoded(&prepared.encoded.test),
        pad: PadTo::for_max_length(prepared.padded_len),
        pad_id: i64::from(spam_data::PAD_TOKEN_ID),
        label_names: prepared.label_names.clone(),
    };
    // The padded length travels in `data.pad`; the classifier reads it back from there.
    Ok((prepared.label_names, data))
}

/// Resolves the weights and builds the classifier the settings describe, and says so; returns
/// it with what a hub id resolved to (recorded in the run's `config.json`).
fn build_model(
    config: &RunConfig,
    options: &FineTuneOptions,
    label_names: &[String],
    data: &TrainData,
) -> Result<(Classifier, Option<crate::weights::ResolvedWeights>)> {
    let events = &options.events;
    let device = config.model.device.resolve()?;
    // Hub weights: the snapshot, and the commit it names recorded in the saved settings.
    let hub_options = options
        .hub
        .clone()
        .unwrap_or_else(spam_hub::HubOptions::from_env);
    let hub = crate::weights::resolve_for_run(
        &config.model.weights,
        config.model.weights_resolved.as_ref(),
        &hub_options,
        events,
    )?;
    let weights = match &hub {
        Some((snapshot, _)) => spam_model::Weights::detect(&snapshot.dir)?,
        None => config
            .model
            .weights
            .resolve(config.model.init, config.model.init_seed)?,
    };
    let mut cc = ClassifierConfig::spam(config.model.size);
    if let Some(arch) = config.model.architecture {
        if !weights.is_random() {
            bail!(
                "an explicit architecture only works with random weights: a checkpoint brings its own"
            );
        }
        cc.model = arch;
        cc.size = arch.size();
    }
    if let Some(found) = weights.config()? {
        cc.model = found;
        cc.size = found.size();
    }
    cc.model.dropout = config.model.dropout;
    cc.num_classes = label_names.len() as i64;
    cc.label_names = label_names.to_vec();
    cc.max_length = padded_len(data.pad);
    cc.token_position = config.model.token_position;
    cc.trainable = config.model.trainable;
    cc.causal_mask = config.model.causal_mask;
    // The size the model really has: a checkpoint or an explicit architecture overrides
    // `size`.
    let size = match cc.size {
        Some(size) => size.to_string(),
        None => format!(
            "custom ({} layers, width {}, {} heads)",
            cc.model.n_layer, cc.model.n_embd, cc.model.n_head
        ),
    };
    let source = if weights.is_random() {
        "the model's architecture".to_string()
    } else {
        format!("the weights {}", config.model.weights)
    };
    data.check_fits(&cc.model, &source)?;
    let model = Classifier::new(cc, &weights, device, config.train.seed)?;
    events.emit(RunEvent::ModelReady {
        size,
        pretrained: !weights.is_random(),
        trainable_parameters: model.num_trainable_parameters(),
        trainable: config.model.trainable.name().to_string(),
        token_position: config.model.token_position.as_str().to_string(),
        device: format!("{device:?}"),
    });

    Ok((model, hub.map(|(_, resolved)| resolved)))
}

/// The padded length of fixed padding (`None`: each batch to its own longest row).
fn padded_len(pad: PadTo) -> Option<usize> {
    match pad {
        PadTo::Fixed(n) => Some(n),
        PadTo::Dynamic => None,
    }
}

/// What a finished run leaves in its folder: the model (and its decision threshold), the
/// metrics, the plots.
fn save_outputs(
    dir: &Path,
    config: &RunConfig,
    model: &Classifier,
    report: &Report,
    train_examples: usize,
    events: &RunEvents,
) -> Result<()> {
    model.save(&dir.join("model")).with_context(|| {
        format!(
            "could not save the model into {}",
            dir.join("model").display()
        )
    })?;
    if let Some(threshold) = config.train.threshold {
        let decision = spam_model::Decision { threshold };
        write_json(
            &dir.join("model").join(spam_model::DECISION_FILE),
            &decision,
        )?;
    }
    write_json(&dir.join("metrics.json"), report)?;
    // The plots are a view of metrics.json and log.jsonl: one that cannot be drawn
    // warns, and `spam-cli plot` can draw it later.
    #[cfg(not(feature = "plot"))]
    let _ = (train_examples, events);
    #[cfg(feature = "plot")]
    if let Err(e) = crate::run_dir::write_plots(dir, report, train_examples) {
        events.emit(RunEvent::PlotNotWritten {
            dir: dir.to_path_buf(),
            why: e.to_string(),
        });
    }
    Ok(())
}
