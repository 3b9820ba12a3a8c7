//! Weights by Hugging Face hub id for a run: spam-data finds the snapshot in the local hub
//! cache or downloads it (with spam-train's `download` feature); the run reports both as
//! events and records the commit in its `config.json` (`model.weights_resolved`).

use std::path::Path;

use spam_data::{GPT2_HUB_FILES, HubId, HubOptions, HubSnapshot};
use spam_model::ModelSize;

use crate::error::{Result, bail};
use crate::events::{Event, Events};
use crate::run_config::{ModelSettings, ResolvedWeights, WeightsSource};

/// The snapshot of `id` holding GPT-2's files, from the cache or downloaded into it; reports
/// download progress to `events`.
pub(crate) fn fetch(id: &HubId, opts: &HubOptions, events: &Events) -> Result<HubSnapshot> {
    let snapshot = spam_data::resolve_hub(id, &GPT2_HUB_FILES, opts, &mut |p| {
        events.emit(Event::WeightsDownload {
            file: p.file.to_string(),
            downloaded: p.downloaded,
            total: p.total,
        });
    })?;
    Ok(snapshot)
}

/// For hub weights: the snapshot the run uses (the commit recorded by the run being resumed,
/// else what the revision names now) and the settings to save with it. `None` for other
/// weights.
pub(crate) fn resolve_for_run(
    model: &ModelSettings,
    opts: &HubOptions,
    events: &Events,
) -> Result<Option<(HubSnapshot, ModelSettings)>> {
    let WeightsSource::Hub(id) = &model.weights else {
        return Ok(None);
    };
    let wanted = match &model.weights_resolved {
        Some(r) if r.repo == id.repo && r.revision == id.revision => HubId {
            repo: id.repo.clone(),
            revision: r.commit.clone(),
        },
        _ => id.clone(),
    };
    let snapshot = fetch(&wanted, opts, events)?;
    events.emit(Event::WeightsResolved {
        id: id.to_string(),
        commit: snapshot.commit.clone(),
        dir: snapshot.dir.clone(),
        downloaded: snapshot.downloaded,
    });
    let mut saved = model.clone();
    saved.weights_resolved = Some(ResolvedWeights {
        repo: id.repo.clone(),
        revision: id.revision.clone(),
        commit: snapshot.commit.clone(),
    });
    Ok(Some((snapshot, saved)))
}

impl WeightsSource {
    /// The weights of a run that names none: `root/SIZE` (where `cargo xtask fetch
    /// --weights` puts them) when it exists, else the size's hub id when the hub cache holds
    /// it (no network); otherwise an error saying how to get them.
    pub fn default_for(size: ModelSize, root: &Path) -> Result<Self> {
        let dir = root.join(size.to_string());
        if dir.exists() {
            return Ok(Self::Path(dir));
        }
        let alias = size.hub_name();
        let id = HubId {
            repo: format!("openai-community/{alias}"),
            revision: "main".into(),
        };
        let cache = HubOptions::from_env().cache;
        if spam_data::find_cached(&id, &GPT2_HUB_FILES, &cache).is_ok() {
            return Ok(Self::Hub(id));
        }
        bail!(
            "no GPT-2 {size} weights: {} does not exist and the Hugging Face cache {} does not \
             hold {id}. Either run `cargo xtask fetch --weights` (offline: \
             `cargo xtask fetch --weights --from DIR`), or pass --weights {alias} to download \
             them from the hub, or --weights PATH, or train from random weights with \
             --weights random",
            dir.display(),
            cache.display()
        )
    }
}
