//! Resolving a hub id: the cache first, then (not offline, with the `download` feature) a
//! download into it.

use crate::cache::is_repo_path;
use crate::cache::{DatasetSnapshot, HubId, HubOptions, HubProgress, HubSnapshot, find_cached};
use crate::dataset::find_cached_dataset;
use crate::error::{HubError, Result};

/// Finds `id` in the cache, or (not offline, with the `download` feature) downloads `files`
/// into it. `progress` sees each download's bytes.
pub fn resolve_hub(
    id: &HubId,
    files: &[&str],
    opts: &HubOptions,
    #[allow(unused_variables)] progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<HubSnapshot> {
    if let Some(bad) = files.iter().find(|f| !is_repo_path(f)) {
        return Err(HubError::InvalidId(format!(
            "hub file name {bad:?} is not a relative path inside the repository"
        )));
    }
    let why = match find_cached(id, files, &opts.cache) {
        Ok(snapshot) => return Ok(snapshot),
        Err(why) => why,
    };
    #[cfg(feature = "download")]
    if !opts.offline {
        return crate::fetch::download_snapshot(id, files, opts, progress);
    }
    Err(not_cached(id, opts, why))
}

/// The Parquet files of dataset `id` (see [`HubId::parse_dataset`]): found in the cache as
/// [`find_cached_dataset`](crate::find_cached_dataset) finds them (no network), or (not
/// offline, with the `download` feature) downloaded into it. A download asks the hub's
/// revision API (`{endpoint}/api/datasets/ORG/NAME/revision/REV`) for the commit and the
/// files, then fetches each `.parquet` file as [`resolve_hub`] fetches a model's (checked,
/// linked from `snapshots/COMMIT/`), all at that commit, and writes the ref last. When the
/// default `main` holds no Parquet file, the hub's converted branch
/// ([`PARQUET_REVISION`](crate::PARQUET_REVISION)) is used instead, and
/// [`DatasetSnapshot::revision`] says so. `progress` sees each download's bytes.
pub fn resolve_hub_dataset(
    id: &HubId,
    opts: &HubOptions,
    #[allow(unused_variables)] progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<DatasetSnapshot> {
    let why = match find_cached_dataset(id, &opts.cache) {
        Ok(snapshot) => return Ok(snapshot),
        Err(why) => why,
    };
    #[cfg(feature = "download")]
    if !opts.offline {
        return crate::fetch_dataset::download_dataset(id, opts, progress);
    }
    Err(not_cached(id, opts, why))
}

/// The error for `id` not in the cache (`why`) when nothing may be downloaded: offline, or a
/// build without the `download` feature.
fn not_cached(id: &HubId, opts: &HubOptions, why: String) -> HubError {
    let instead = id.kind.local_alternative();
    let hint = if opts.offline {
        format!(
            "HF_HUB_OFFLINE is set, so nothing is downloaded: unset it to download, or copy the \
             snapshot into the cache from a machine that has it{instead}"
        )
    } else {
        format!(
            "this build cannot download (spam-data's `download` feature is off): fill the \
             cache on a machine that can{instead}"
        )
    };
    HubError::NotCached {
        id: id.to_string(),
        cache: opts.cache.clone(),
        why,
        hint,
    }
}
