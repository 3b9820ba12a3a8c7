//! Weights by Hugging Face hub id for a run: spam-data finds the snapshot in the local hub
//! cache or downloads it (with spam-train's `download` feature); the run reports both as
//! events and records the commit in its `config.json` (`model.weights_resolved`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use spam_data::Named;
use spam_hub::{GPT2_HUB_FILES, HubId, HubOptions, HubSnapshot, RepoKind};
use spam_model::{ModelSize, RandomInit, Weights};

use crate::events::{RunEvent, RunEvents};

/// The snapshot of `id` holding GPT-2's files, from the cache or downloaded into it; reports
/// download progress to `events`.
pub(crate) fn fetch(id: &HubId, opts: &HubOptions, events: &RunEvents) -> Result<HubSnapshot> {
    let snapshot = spam_hub::resolve_hub(id, &GPT2_HUB_FILES, opts, &mut |p| {
        events.emit(RunEvent::WeightsDownload {
            file: p.file.to_string(),
            downloaded: p.downloaded,
            total: p.total,
        });
    })?;
    Ok(snapshot)
}

/// For hub weights: the snapshot the run uses (the commit `resolved` records, when a run
/// being resumed recorded one for the same repository and revision, else what the revision
/// names now) and what to record of it. `None` for other weights.
pub(crate) fn resolve_for_run(
    weights: &WeightsSource,
    resolved: Option<&ResolvedWeights>,
    opts: &HubOptions,
    events: &RunEvents,
) -> Result<Option<(HubSnapshot, ResolvedWeights)>> {
    let WeightsSource::Hub(id) = weights else {
        return Ok(None);
    };
    let wanted = match resolved {
        Some(r) if r.repo == id.repo && r.revision == id.revision => HubId {
            revision: r.commit.clone(),
            ..id.clone()
        },
        _ => id.clone(),
    };
    let snapshot = fetch(&wanted, opts, events)?;
    events.emit(RunEvent::WeightsResolved {
        id: id.to_string(),
        commit: snapshot.commit.clone(),
        dir: snapshot.dir.clone(),
        downloaded: snapshot.downloaded,
    });
    let record = ResolvedWeights {
        repo: id.repo.clone(),
        revision: id.revision.clone(),
        commit: snapshot.commit.clone(),
    };
    Ok(Some((snapshot, record)))
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
            kind: RepoKind::Model,
        };
        let cache = HubOptions::from_env().cache;
        if spam_hub::find_cached(&id, &GPT2_HUB_FILES, &cache).is_ok() {
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

/// Where the backbone's weights come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WeightsSource {
    /// Random weights, seeded by `init_seed`.
    #[default]
    Random,
    /// An OpenAI checkpoint folder, or a `.safetensors` file (or its folder).
    Path(PathBuf),
    /// A Hugging Face hub id (`openai-community/gpt2`, `gpt2-medium@REV`): the snapshot in
    /// the local hub cache, downloaded into it when missing (see `crate::hub`).
    Hub(HubId),
}

impl Named for WeightsSource {
    const WHAT: &'static str = "weights";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] =
        &[(Self::Random, "random", &[])];
    const FORMS: &'static [&'static str] = &["a checkpoint path", "a hub id"];
}

impl WeightsSource {
    /// The weights to build the model from (`init` and `init_seed` for random ones; a hub id
    /// is resolved with the environment's settings, without progress reports).
    pub fn resolve(&self, init: RandomInit, init_seed: u64) -> Result<Weights> {
        Ok(match self {
            Self::Random => init.weights(init_seed),
            Self::Path(path) => Weights::detect(path).map_err(|e| missing_path_hint(path, e))?,
            Self::Hub(id) => {
                let snapshot = fetch(
                    id,
                    &spam_hub::HubOptions::from_env(),
                    &crate::RunEvents::none(),
                )?;
                Weights::detect(&snapshot.dir)?
            }
        })
    }
}

/// A weights path that does not exist, shaped like a hub id that is not one (`a/b/c`): say
/// what a hub id is as well as that the file is missing, since either may have been meant.
fn missing_path_hint(path: &Path, err: spam_model::ModelError) -> anyhow::Error {
    let text = path.to_string_lossy();
    let looks_like_id = !path.exists()
        && !path.is_absolute()
        && text.contains('/')
        && !text.starts_with('.')
        && !text.contains('\\');
    match HubId::parse(&text) {
        Err(why) if looks_like_id => anyhow::Error::new(err).context(format!(
            "`{text}` is not an existing checkpoint path, and not a hub id either ({why})"
        )),
        _ => err.into(),
    }
}

impl fmt::Display for WeightsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name_of(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Path(path)) => write!(f, "{}", path.display()),
            (None, Self::Hub(id)) => write!(f, "{id}"),
            (None, other) => write!(f, "{other:?}"),
        }
    }
}

impl FromStr for WeightsSource {
    type Err = anyhow::Error;
    /// A name of [`Named::NAMES`] (`random`), else a path or a hub id.
    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() {
            bail!("empty weights: give {}", Self::accepted());
        }
        if let Some(named) = Self::from_name(s) {
            return Ok(named);
        }
        // A path that exists is a path (as the hub's own libraries decide); otherwise a hub id
        // (`ORG/NAME[@REV]`, `gpt2`, ...) is one; anything else is a path, which then fails as
        // a missing file.
        if Path::new(s).exists() || Path::new(&format!("{s}.index")).exists() {
            return Ok(Self::Path(PathBuf::from(s)));
        }
        match HubId::parse(s) {
            Ok(id) => Ok(Self::Hub(id)),
            // `@` marks a revision: this was meant as a hub id, so say what is wrong with it
            // rather than "file not found" later.
            Err(e) if s.contains('@') => Err(anyhow::Error::new(e).context(format!(
                "`{s}` is not an existing checkpoint path, and not a valid hub id"
            ))),
            Err(_) => Ok(Self::Path(PathBuf::from(s))),
        }
    }
}

/// The snapshot a hub id resolved to: which weights a run started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedWeights {
    /// The repository (`openai-community/gpt2`).
    pub repo: String,
    /// The revision asked for (`main`).
    pub revision: String,
    /// The commit it named.
    pub commit: String,
}
