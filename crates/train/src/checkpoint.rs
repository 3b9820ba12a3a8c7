//! Training checkpoints: trainable weights, optimizer state and the position in the data.
//!
//! The frozen weights are not saved: a resumed run rebuilds the model from the same
//! source (checkpoint file or seed), so only what training changed needs keeping. A
//! checkpoint folder is written whole beside the old one and swapped in by renames, so a
//! kill at any moment leaves one complete checkpoint.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Result, TrainError};
use serde::{Deserialize, Serialize};
use spam_model::Classifier;
use tch::Tensor;

use crate::optim::AdamW;
use crate::report::Report;

/// Where in the run a checkpoint was taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Epochs completed.
    pub epoch: usize,
    /// Batches of the current epoch completed.
    pub batch: usize,
    /// Steps taken in all (the next step's number).
    pub global_step: usize,
    /// Training examples seen so far.
    pub examples_seen: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct State {
    position: Position,
    report: Report,
}

const WEIGHTS: &str = "trainable.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
/// The best evaluation's trainable weights (runs with a best-model metric).
const BEST: &str = "best.safetensors";
/// The checkpoint's position and report; its presence marks a complete checkpoint.
pub const STATE: &str = "state.json";

/// Every file a checkpoint folder holds: what a run's `--overwrite` may replace there.
pub const FILES: [&str; 4] = [WEIGHTS, OPTIMIZER, BEST, STATE];

/// What a checkpoint holds: the trainable weights, the optimizer state, where the run is,
/// what it measured, and the best evaluation's weights (runs with a best-model metric).
pub struct Snapshot<'a> {
    /// The model whose trainable weights are kept.
    pub model: &'a Classifier,
    /// The optimizer whose state is kept.
    pub optimizer: &'a AdamW,
    /// Where the run is.
    pub position: &'a Position,
    /// What the run measured so far.
    pub report: &'a Report,
    /// The best evaluation's trainable weights, if the run keeps them.
    pub best: Option<&'a [(String, Tensor)]>,
}

/// Writes a checkpoint into `dir` (replacing the one there). The new checkpoint is written
/// whole into `dir.new` and swapped in by renames; if any write fails (a full disk), `dir.new`
/// is removed and `dir` is left as it was. `fail` injects such a failure half-way through the
/// optimizer file: the test hook `fail_checkpoint_write` asks for it (without the `test-hooks`
/// feature it is always false).
pub fn save(dir: &Path, snapshot: &Snapshot<'_>, fail: bool) -> Result<()> {
    let parent = spam_data::parent_dir(dir);
    fs::create_dir_all(parent).map_err(|e| TrainError::checkpoint_file("create", parent, e))?;
    let staging = sibling(dir, "new");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .map_err(|e| TrainError::checkpoint_file("remove", &staging, e))?;
    }
    fs::create_dir_all(&staging).map_err(|e| TrainError::checkpoint_file("create", &staging, e))?;
    if let Err(e) = write_files(&staging, snapshot, fail) {
        let _ = fs::remove_dir_all(&staging);
        return Err(TrainError::checkpoint_by(
            dir,
            format!(
                "could not write the checkpoint into {} (the previous one, if any, is kept)",
                dir.display()
            ),
            e,
        ));
    }
    // Swap: dir -> dir.old, staging -> dir, drop dir.old. `load` falls back to dir.old if a
    // kill lands between the two renames.
    let old = sibling(dir, "old");
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    if dir.exists() {
        fs::rename(dir, &old)?;
    }
    fs::rename(&staging, dir)
        .map_err(|e| TrainError::checkpoint_file("move the checkpoint into", dir, e))?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// The three files of a checkpoint, each synced so the renames that follow publish complete
/// files.
fn write_files(staging: &Path, snapshot: &Snapshot<'_>, fail: bool) -> Result<()> {
    let Snapshot {
        model,
        optimizer,
        position,
        report,
        best,
    } = *snapshot;
    if let Some(best) = best {
        // The weights of the best evaluation so far, so a resumed run keeps them.
        let best: Vec<(String, Tensor)> = best
            .iter()
            .map(|(n, t)| (n.clone(), t.to_device(tch::Device::Cpu)))
            .collect();
        let path = staging.join(BEST);
        Tensor::write_safetensors(&best, &path)
            .map_err(|e| TrainError::checkpoint_file("write", &path, e))?;
        sync(&path)?;
    }
    let params = model.trainable_parameters();
    let params: Vec<(String, Tensor)> = params
        .into_iter()
        .map(|(n, t)| (n, t.detach().to_device(tch::Device::Cpu)))
        .collect();
    let weights = staging.join(WEIGHTS);
    Tensor::write_safetensors(&params, &weights)
        .map_err(|e| TrainError::checkpoint_file("write", &weights, e))?;
    sync(&weights)?;
    let state: Vec<(String, Tensor)> = optimizer
        .state()
        .into_iter()
        .map(|(n, t)| (n, t.to_device(tch::Device::Cpu)))
        .collect();
    let opt = staging.join(OPTIMIZER);
    if fail {
        // What a full disk leaves: part of the file, then an error.
        fs::write(&opt, b"\x00\x01")?;
        return Err(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("{}: no space left on device (injected)", opt.display()),
        )
        .into());
    }
    Tensor::write_safetensors(&state, &opt)
        .map_err(|e| TrainError::checkpoint_file("write", &opt, e))?;
    sync(&opt)?;
    let json = serde_json::to_vec_pretty(&State {
        position: *position,
        report: report.clone(),
    })?;
    let state_path = staging.join(STATE);
    fs::write(&state_path, json)
        .map_err(|e| TrainError::checkpoint_file("write", &state_path, e))?;
    sync(&state_path)
}

fn sync(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| TrainError::checkpoint_file("sync", path, e))
}

/// What [`load`] restored besides the weights and the optimizer state.
#[derive(Debug)]
pub struct Restored {
    /// Where the run was.
    pub position: Position,
    /// What the run had measured so far.
    pub report: Report,
    /// The best evaluation's trainable weights, when the run keeps them.
    pub best: Option<Vec<(String, Tensor)>>,
}

/// The folder `load` would read: `dir`, or `dir.old` when a kill interrupted a swap; `None`
/// when no checkpoint was written.
pub fn written(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), sibling(dir, "old")]
        .into_iter()
        .find(|d| d.join(STATE).is_file())
}

/// Where the checkpoint in `dir` (see [`written`]) was taken, if there is a readable one.
pub fn position(dir: &Path) -> Option<Position> {
    let bytes = fs::read(written(dir)?.join(STATE)).ok()?;
    serde_json::from_slice::<State>(&bytes)
        .ok()
        .map(|s| s.position)
}

/// Restores a checkpoint into `model` and `optimizer`, returning where the run was.
pub fn load(dir: &Path, model: &Classifier, optimizer: &mut AdamW) -> Result<Restored> {
    let Some(dir) = written(dir) else {
        return Err(TrainError::checkpoint(
            dir,
            format!(
                "no checkpoint in {}: was the run started with a run directory?",
                dir.display()
            ),
        ));
    };
    let state_path = dir.join(STATE);
    let state: State = serde_json::from_slice(
        &fs::read(&state_path).map_err(|e| TrainError::checkpoint_file("read", &state_path, e))?,
    )
    .map_err(|e| {
        TrainError::checkpoint_by(
            &state_path,
            format!("{} is not a checkpoint state file", state_path.display()),
            e,
        )
    })?;
    let weights_path = dir.join(WEIGHTS);
    let saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(&weights_path)
        .map_err(|e| TrainError::checkpoint_file("read", &weights_path, e))?
        .into_iter()
        .collect();
    let params = model.trainable_parameters();
    // Check everything before copying anything, so a bad checkpoint changes nothing.
    for (name, p) in &params {
        let Some(t) = saved.get(name) else {
            return Err(TrainError::checkpoint(
                &weights_path,
                format!(
                    "{} has no tensor `{name}`: it belongs to another model or trainable mode",
                    weights_path.display()
                ),
            ));
        };
        if t.size() != p.size() {
            return Err(TrainError::checkpoint(
                &weights_path,
                format!(
                    "{}: tensor `{name}` has shape {:?}, the model needs {:?}",
                    weights_path.display(),
                    t.size(),
                    p.size()
                ),
            ));
        }
    }
    let opt_path = dir.join(OPTIMIZER);
    let opt_state: BTreeMap<String, Tensor> = Tensor::read_safetensors(&opt_path)
        .map_err(|e| TrainError::checkpoint_file("read", &opt_path, e))?
        .into_iter()
        .collect();
    optimizer
        .load_state(&opt_state)
        .map_err(|e| TrainError::checkpoint(&opt_path, format!("{}: {e}", opt_path.display())))?;
    tch::no_grad(|| {
        for (name, mut p) in params {
            if let Some(t) = saved.get(&name) {
                p.copy_(&t.to_device(p.device()).to_kind(p.kind()));
            }
        }
    });
    let best_path = dir.join(BEST);
    let best = if best_path.is_file() {
        let saved: BTreeMap<String, Tensor> = Tensor::read_safetensors(&best_path)
            .map_err(|e| TrainError::checkpoint_file("read", &best_path, e))?
            .into_iter()
            .collect();
        let mut best = Vec::new();
        for (name, p) in model.trainable_parameters() {
            match saved.get(&name) {
                Some(t) if t.size() == p.size() => {
                    best.push((name, t.to_device(p.device()).to_kind(p.kind())));
                }
                _ => {
                    return Err(TrainError::checkpoint(
                        &best_path,
                        format!(
                            "{}: tensor `{name}` is missing or has the wrong shape",
                            best_path.display()
                        ),
                    ));
                }
            }
        }
        Some(best)
    } else {
        None
    };
    Ok(Restored {
        position: state.position,
        report: state.report,
        best,
    })
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!("{name}.{suffix}"))
}
