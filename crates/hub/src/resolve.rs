//! Resolving a hub id: the cache first, then (not offline, with the `download` feature) a
//! download into it.

use crate::cache::{HubId, HubOptions, HubProgress, HubSnapshot, find_cached};
use crate::error::{HubError, Result};

/// Finds `id` in the cache, or (not offline, with the `download` feature) downloads `files`
/// into it. `progress` sees each download's bytes.
pub fn resolve_hub(
    id: &HubId,
    files: &[&str],
    opts: &HubOptions,
    #[allow(unused_variables)] progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<HubSnapshot> {
    if let Some(bad) = files.iter().find(|f| {
        f.is_empty() || f.starts_with('/') || f.split('/').any(|p| p == ".." || p.is_empty())
    }) {
        return Err(HubError::InvalidId(format!(
            "hub file name {bad:?} is not a relative path inside the repository"
        )));
    }
    let why = match find_cached(id, files, &opts.cache) {
        Ok(snapshot) => return Ok(snapshot),
        Err(why) => why,
    };
    let not_cached = |hint: &str| HubError::NotCached {
        id: id.to_string(),
        cache: opts.cache.clone(),
        why: why.clone(),
        hint: hint.to_string(),
    };
    if opts.offline {
        return Err(not_cached(
            "HF_HUB_OFFLINE is set, so nothing is downloaded: unset it to download, or copy the \
             snapshot into the cache from a machine that has it, or pass a local checkpoint \
             with --weights PATH",
        ));
    }
    #[cfg(feature = "download")]
    {
        crate::fetch::download_snapshot(id, files, opts, progress)
    }
    #[cfg(not(feature = "download"))]
    {
        Err(not_cached(
            "this build cannot download (spam-data's `download` feature is off): fill the \
             cache on a machine that can, or pass a local checkpoint with --weights PATH",
        ))
    }
}
