//! Downloading a hub snapshot into the cache (feature `download`); see `hub` for the layout.

use std::fs;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{CONTENT_LENGTH, ETAG, LOCATION};

use spam_data::{DataError, DownloadOptions, describe, download, redact_url};

use crate::cache::{HubId, HubOptions, HubProgress, HubSnapshot, is_commit_hash};
use crate::error::{HubError, Result};

/// What a `HEAD` of `resolve/REV/FILE` says about the file.
struct FileMeta {
    commit: String,
    etag: String,
    size: Option<u64>,
}

pub(crate) fn download_snapshot(
    id: &HubId,
    files: &[&str],
    opts: &HubOptions,
    progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<HubSnapshot> {
    // The token file is read here, when a request needs it, and only here.
    let opts = &HubOptions {
        token: opts.bearer_token()?,
        token_file: None,
        ..opts.clone()
    };
    let repo_dir = opts.cache.join(id.cache_folder());
    let fail = |file: &str, url: &str, why: String| HubError::Download {
        id: id.to_string(),
        file: file.to_string(),
        url: redact_url(url),
        cache: opts.cache.clone(),
        why: why.into(),
    };
    let d = &opts.download;
    // Redirects are not followed: the hub's answer, not the CDN's, carries the commit and ETag.
    let client = Client::builder()
        .connect_timeout(d.connect_timeout)
        .timeout(d.read_timeout)
        .user_agent(d.user_agent.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| {
            fail(
                files.first().copied().unwrap_or(""),
                &opts.endpoint,
                describe(&e),
            )
        })?;
    let mut commit = is_commit_hash(&id.revision).then(|| id.revision.clone());
    for file in files {
        let rev = commit.as_deref().unwrap_or(&id.revision);
        let url = format!(
            "{}/{}/resolve/{}/{file}",
            opts.endpoint,
            id.repo,
            rev.replace('/', "%2F")
        );
        let meta = head(&client, &url, opts).map_err(|why| fail(file, &url, why))?;
        match &commit {
            Some(c) if *c != meta.commit => {
                return Err(fail(
                    file,
                    &url,
                    format!(
                        "the hub answered for commit {} after {c}; try again",
                        meta.commit
                    ),
                ));
            }
            Some(_) => {}
            None => commit = Some(meta.commit.clone()),
        }
        let blob = repo_dir.join("blobs").join(&meta.etag);
        let have = blob.metadata().ok().map(|m| m.len());
        if have.is_none() || (meta.size.is_some() && have != meta.size) {
            // Large files' ETag is their sha256: the download checks it.
            let sha256 = (meta.etag.len() == 64
                && meta.etag.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| meta.etag.clone());
            let dl = DownloadOptions {
                expected_size: meta.size,
                sha256,
                bearer_token: opts.token.clone(),
                ..d.clone()
            };
            let url = format!(
                "{}/{}/resolve/{}/{file}",
                opts.endpoint, id.repo, meta.commit
            );
            download(&[&url], &blob, &dl, &mut |p| {
                progress(HubProgress {
                    file,
                    downloaded: p.downloaded,
                    total: p.total,
                })
            })
            .map_err(|e| fail(file, &url, format!("{e}")))?;
        }
        let link = repo_dir.join("snapshots").join(&meta.commit).join(file);
        link_blob(&blob, &link, file, &meta.etag)?;
    }
    let commit = commit.unwrap_or_default();
    if id.revision != commit {
        spam_data::write_atomic(repo_dir.join("refs").join(&id.revision), commit.as_bytes())?;
    }
    Ok(HubSnapshot {
        id: id.clone(),
        dir: repo_dir.join("snapshots").join(&commit),
        commit,
        downloaded: true,
    })
}

/// `HEAD` of a resolve URL, following only redirects within the hub (a renamed repository)
/// and stopping at the one that names the commit (a large file's redirect to its storage).
/// A redirect is resolved before it is judged: one to another origin (scheme, host, port),
/// whatever its form (`https://other/...`, `//other/...`), is not followed, so the token
/// never leaves the endpoint's origin (huggingface_hub's rule).
fn head(client: &Client, url: &str, opts: &HubOptions) -> std::result::Result<FileMeta, String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    // The endpoint's origin: the first URL asked for is on the endpoint.
    let start = url.clone();
    for _hop in 0..5 {
        let resp = send_head(client, &url, opts, &start)?;
        let status = resp.status();
        let headers = resp.headers();
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        if status.is_redirection()
            && text("x-repo-commit").is_none()
            && let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok())
        {
            let next = url
                .join(location)
                .map_err(|_| format!("HTTP {status} with a malformed Location header"))?;
            if next.origin() != start.origin() {
                return Err(format!(
                    "HTTP {status} to another host ({}) without naming a commit: not followed \
                     (the token is only sent to HF_ENDPOINT's origin); check HF_ENDPOINT",
                    redact_url(next.as_str())
                ));
            }
            url = next;
            continue;
        }
        if !(status.is_success() || status.is_redirection()) {
            return Err(status_hint(status, opts.token.is_some()));
        }
        let commit = text("x-repo-commit").ok_or_else(|| {
            format!(
                "HTTP {status} without an X-Repo-Commit header: {} does not answer as the hub \
                 does (check HF_ENDPOINT)",
                redact_url(&opts.endpoint)
            )
        })?;
        if !is_commit_hash(&commit) {
            return Err(format!("X-Repo-Commit {commit:?} is not a commit hash"));
        }
        let etag = text("x-linked-etag")
            .or_else(|| {
                headers
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .map(|e| {
                e.trim()
                    .trim_start_matches("W/")
                    .trim_matches('"')
                    .to_string()
            })
            .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .ok_or_else(|| "no usable ETag header to name the blob".to_string())?;
        let size = text("x-linked-size")
            .or_else(|| text(CONTENT_LENGTH.as_str()).filter(|_| status.is_success()))
            .and_then(|s| s.parse().ok());
        return Ok(FileMeta { commit, etag, size });
    }
    Err("too many redirects".into())
}

/// One `HEAD`, retried on network errors, 5xx and 429 like the downloader.
fn send_head(
    client: &Client,
    url: &reqwest::Url,
    opts: &HubOptions,
    endpoint: &reqwest::Url,
) -> std::result::Result<reqwest::blocking::Response, String> {
    let d = &opts.download;
    let mut last = String::new();
    for attempt in 0..=d.retries {
        if attempt > 0 {
            std::thread::sleep(d.backoff.saturating_mul(1 << (attempt - 1).min(16)));
        }
        let mut req = client.head(url.clone());
        if let Some(token) = &opts.token
            && url.origin() == endpoint.origin()
        {
            req = req.bearer_auth(token.expose());
        }
        match req.send() {
            Ok(resp)
                if resp.status().is_server_error()
                    || resp.status() == StatusCode::TOO_MANY_REQUESTS =>
            {
                last = format!("HTTP {}", resp.status());
            }
            Ok(resp) => return Ok(resp),
            Err(e) => last = describe(&e),
        }
    }
    Err(last)
}

fn status_hint(status: StatusCode, sent_token: bool) -> String {
    match status.as_u16() {
        401 | 403 if sent_token => format!(
            "HTTP {status}: the token (HF_TOKEN or the token file) was refused or has no access \
             to this repository"
        ),
        401 | 403 => format!(
            "HTTP {status}: the repository is private or gated; set HF_TOKEN to a token with \
             access"
        ),
        404 => format!(
            "HTTP {status}: no such repository, revision or file; check the id and its @revision"
        ),
        _ => format!("HTTP {status}"),
    }
}

/// Puts `snapshots/COMMIT/FILE` in place: a relative link to the blob (as the hub's own
/// libraries make), made under a temporary name and renamed over; a copy where links fail.
fn link_blob(blob: &Path, link: &Path, file: &str, etag: &str) -> Result<()> {
    let dir = spam_data::parent_dir(link);
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create the directory", e))?;
    let tmp = link.with_file_name(format!(
        ".{}.{}.tmp",
        link.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    // From snapshots/COMMIT/FILE back up to the repository folder, then into blobs/.
    let up = "../".repeat(file.split('/').count() + 1);
    let target = PathBuf::from(format!("{up}blobs/{etag}"));
    if symlink(&target, &tmp).is_err() {
        fs::copy(blob, &tmp).map_err(|e| DataError::io(&tmp, "copy the blob into", e))?;
    }
    fs::rename(&tmp, link).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        DataError::io(link, "rename into place", e)
    })?;
    spam_data::sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, _link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("no symbolic links here"))
}
