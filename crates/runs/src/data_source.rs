//! Data paths as users give them: a local path, or a Hugging Face hub dataset
//! (`hf:ORG/NAME[@REVISION]`) resolved through the same hub cache as the weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The prefix of a hub dataset id given where a data path goes.
pub const HUB_DATA_PREFIX: &str = "hf:";

/// A data path as a local one: `hf:ORG/NAME[@REVISION]` is the snapshot folder of that hub
/// dataset's Parquet files (from the hub cache; downloaded into it when missing, unless
/// `HF_HUB_OFFLINE` is set); any other path is itself.
pub fn local_data(path: &Path) -> Result<PathBuf> {
    let Some(id) = path.to_str().and_then(|s| s.strip_prefix(HUB_DATA_PREFIX)) else {
        return Ok(path.to_path_buf());
    };
    let id = spam_hub::HubId::parse_dataset(id)?;
    let snapshot =
        spam_hub::resolve_hub_dataset(&id, &spam_hub::HubOptions::from_env(), &mut |_| {})
            .with_context(|| format!("could not get the hub dataset {id}"))?;
    tracing::info!(
        dataset = %id,
        commit = %snapshot.commit,
        revision = %snapshot.revision,
        files = snapshot.files.len(),
        "hub dataset"
    );
    Ok(snapshot.dir)
}
