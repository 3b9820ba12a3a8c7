//! Downloading a dataset's Parquet files into the cache (feature `download`): the hub's
//! revision API names the commit and lists the files, then each Parquet file is fetched as a
//! model's files are ([`Session::fetch_files`]), pinned to that commit.

use std::io::Read;

use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cache::{
    DEFAULT_REVISION, DatasetSnapshot, HubId, HubOptions, HubProgress, PARQUET_REVISION,
    is_commit_hash, is_repo_path,
};
use crate::error::{HubError, Result};
use crate::fetch::Session;

/// The largest answer of the revision API read (a listing of a few thousand files is well
/// under a megabyte).
const MAX_API_BYTES: u64 = 16 << 20;

/// The longest file name a message shows (a longer one is cut, marked with `…`).
const MAX_NAME_SHOWN: usize = 120;

/// What the revision API says of a revision: its commit and its Parquet files (sorted).
struct RevisionInfo {
    commit: String,
    parquet: Vec<String>,
}

/// Downloads the Parquet files of `id` at its revision (for the default `main` holding none,
/// at [`PARQUET_REVISION`]) into the cache, then writes the revision's ref.
pub(crate) fn download_dataset(
    id: &HubId,
    opts: &HubOptions,
    progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<DatasetSnapshot> {
    let session = Session::new(id, opts)?;
    let mut revision = id.revision.clone();
    let mut info = revision_info(&session, &revision, false)?;
    let converted =
        info.as_ref().is_some_and(|i| i.parquet.is_empty()) && id.revision == DEFAULT_REVISION;
    if converted {
        revision = PARQUET_REVISION.to_string();
        // A dataset the hub never converted has no such branch: no Parquet files either.
        info = revision_info(&session, &revision, true)?;
    }
    let Some(info) = info.filter(|i| !i.parquet.is_empty()) else {
        return Err(HubError::NoParquet {
            repo: id.repo.clone(),
            revision: id.revision.clone(),
            tried_converted: converted,
        });
    };
    let files: Vec<&str> = info.parquet.iter().map(String::as_str).collect();
    // Asked for at the commit the listing named, so the files are the ones listed.
    let commit = session.fetch_files(&info.commit, &files, progress)?;
    session.write_ref(&revision, &commit)?;
    Ok(DatasetSnapshot {
        id: id.clone(),
        dir: session.snapshot_dir(&commit),
        commit,
        revision,
        files: info.parquet,
        downloaded: true,
    })
}

/// `GET {endpoint}/api/datasets/ORG/NAME/revision/REV`: the commit and the Parquet files.
/// `Ok(None)` for a 404 when `missing_ok` (a branch that may not exist).
fn revision_info(
    session: &Session<'_>,
    rev: &str,
    missing_ok: bool,
) -> Result<Option<RevisionInfo>> {
    let url = session.id.api_url(session.endpoint(), rev);
    let fail = |why: String| session.fail("the list of files", &url, why);
    let resp = session
        .follow(&Method::GET, &url, &|_| false)
        .map_err(fail)?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND && missing_ok {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(fail(session.status_hint(status)));
    }
    let body = read_capped(resp, MAX_API_BYTES).map_err(fail)?;
    let info = parse_revision(&body, session.endpoint()).map_err(fail)?;
    if is_commit_hash(rev) && info.commit != rev {
        return Err(fail(format!(
            "the hub answered for commit {}, not the one asked for",
            info.commit
        )));
    }
    Ok(Some(info))
}

/// The body of `resp`, refused (never read further) past `cap` bytes.
fn read_capped(resp: Response, cap: u64) -> std::result::Result<Vec<u8>, String> {
    if let Some(n) = resp.content_length().filter(|n| *n > cap) {
        return Err(format!(
            "the answer announces {n} bytes, more than the {cap} allowed"
        ));
    }
    let mut body = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the answer failed ({})", e.kind()))?;
    if body.len() as u64 > cap {
        return Err(format!("the answer has more than the {cap} bytes allowed"));
    }
    Ok(body)
}

/// The revision API's JSON: `{"sha": COMMIT, "siblings": [{"rfilename": PATH}, ...]}`. Every
/// Parquet file's path is checked before it becomes a path in the cache; other files are not
/// used. Messages describe the answer, never quote it (but for a refused file name, cut short).
fn parse_revision(body: &[u8], endpoint: &str) -> std::result::Result<RevisionInfo, String> {
    let not_hub = |what: String| {
        format!(
            "{what}: {} does not answer as the hub does (check HF_ENDPOINT)",
            spam_data::redact_url(endpoint)
        )
    };
    let json: Value = serde_json::from_slice(body).map_err(|e| {
        not_hub(format!(
            "the answer is not JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let commit = json
        .get("sha")
        .and_then(Value::as_str)
        .filter(|c| is_commit_hash(c))
        .ok_or_else(|| not_hub("the answer names no commit (\"sha\", 40 hex digits)".into()))?;
    let siblings = json
        .get("siblings")
        .and_then(Value::as_array)
        .ok_or_else(|| not_hub("the answer has no \"siblings\" list of files".into()))?;
    let mut parquet = Vec::new();
    for sibling in siblings {
        let name = sibling
            .get("rfilename")
            .and_then(Value::as_str)
            .ok_or_else(|| not_hub("a \"siblings\" entry has no \"rfilename\"".into()))?;
        if !name.ends_with(".parquet") {
            continue;
        }
        if !is_repo_path(name) {
            return Err(format!(
                "the hub lists a file {}, which is not a relative path inside the repository: \
                 refused",
                shown(name)
            ));
        }
        parquet.push(name.to_string());
    }
    parquet.sort();
    parquet.dedup();
    Ok(RevisionInfo {
        commit: commit.to_string(),
        parquet,
    })
}

/// `name` quoted and escaped for a message, cut after [`MAX_NAME_SHOWN`] characters.
fn shown(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME_SHOWN) {
        Some((end, _)) => format!("{:?}…", &name[..end]),
        None => format!("{name:?}"),
    }
}
