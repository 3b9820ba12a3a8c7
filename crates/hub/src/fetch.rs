//! Downloading hub files into the cache (feature `download`); see `cache` for the layout. A
//! [`Session`] holds what every request of one resolution shares (the token, read once; the
//! client; the repository's cache folder) and the rules they follow: redirects judged after
//! they are resolved, the token only on the endpoint's origin, each file pinned to one commit.

use std::fs;
use std::path::{Path, PathBuf};

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_LENGTH, ETAG, HeaderMap, LOCATION};
use reqwest::{Method, StatusCode, Url};

use spam_data::{DataError, DownloadOptions, describe, download, redact_url};

use crate::cache::{HubId, HubOptions, HubProgress, HubSnapshot, is_commit_hash};
use crate::error::{HubError, Result};

/// What a `HEAD` of `resolve/REV/FILE` says about the file.
struct FileMeta {
    commit: String,
    etag: String,
    size: Option<u64>,
}

/// The requests of one resolution of `id`: the options with the token read, the client, and
/// the repository's folder in the cache.
pub(crate) struct Session<'a> {
    /// The repository asked for.
    pub(crate) id: &'a HubId,
    opts: HubOptions,
    client: Client,
    repo_dir: PathBuf,
}

impl<'a> Session<'a> {
    /// Reads the token (here, when a request needs it, and only here) and builds the client.
    pub(crate) fn new(id: &'a HubId, opts: &HubOptions) -> Result<Self> {
        let opts = HubOptions {
            token: opts.bearer_token()?,
            token_file: None,
            ..opts.clone()
        };
        let d = &opts.download;
        // Redirects are not followed by the client: each is judged here (see `follow`).
        let client = Client::builder()
            .connect_timeout(d.connect_timeout)
            .timeout(d.read_timeout)
            .user_agent(d.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                download_error(id, &opts, "the repository", &opts.endpoint, describe(&e))
            })?;
        Ok(Self {
            id,
            repo_dir: opts.cache.join(id.cache_folder()),
            client,
            opts,
        })
    }

    /// The hub's address (`HF_ENDPOINT`).
    pub(crate) fn endpoint(&self) -> &str {
        &self.opts.endpoint
    }

    /// `snapshots/COMMIT` in the repository's cache folder.
    pub(crate) fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.repo_dir.join("snapshots").join(commit)
    }

    /// The error for `file`, asked for at `url` (redacted in the message), failing with `why`.
    pub(crate) fn fail(&self, file: &str, url: &str, why: String) -> HubError {
        download_error(self.id, &self.opts, file, url, why)
    }

    /// Downloads `files` at revision `rev` into `snapshots/COMMIT/` and returns the commit.
    /// The later files are asked for at the commit the first one named (at `rev` itself when
    /// it is a commit), so a branch that moves meanwhile cannot mix two versions. The ref is
    /// not written ([`Session::write_ref`]).
    pub(crate) fn fetch_files(
        &self,
        rev: &str,
        files: &[&str],
        progress: &mut dyn FnMut(HubProgress<'_>),
    ) -> Result<String> {
        let mut commit = is_commit_hash(rev).then(|| rev.to_string());
        for file in files {
            let url = self
                .id
                .resolve_url(self.endpoint(), commit.as_deref().unwrap_or(rev), file);
            let meta = self.head(&url).map_err(|why| self.fail(file, &url, why))?;
            match &commit {
                Some(c) if *c != meta.commit => {
                    return Err(self.fail(
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
            self.fetch_blob(file, &meta, progress)?;
        }
        commit.ok_or_else(|| self.fail("", self.endpoint(), "no file to download".into()))
    }

    /// One file's blob, downloaded (unless already complete) at the commit its `HEAD` named,
    /// checked, and linked from `snapshots/COMMIT/FILE`.
    fn fetch_blob(
        &self,
        file: &str,
        meta: &FileMeta,
        progress: &mut dyn FnMut(HubProgress<'_>),
    ) -> Result<()> {
        let blob = self.repo_dir.join("blobs").join(&meta.etag);
        let have = blob.metadata().ok().map(|m| m.len());
        if have.is_none() || (meta.size.is_some() && have != meta.size) {
            // Large files' ETag is their sha256: the download checks it.
            let sha256 = (meta.etag.len() == 64
                && meta.etag.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| meta.etag.clone());
            let dl = DownloadOptions {
                expected_size: meta.size,
                sha256,
                bearer_token: self.opts.token.clone(),
                ..self.opts.download.clone()
            };
            let url = self.id.resolve_url(self.endpoint(), &meta.commit, file);
            download(&[&url], &blob, &dl, &mut |p| {
                progress(HubProgress {
                    file,
                    downloaded: p.downloaded,
                    total: p.total,
                })
            })
            .map_err(|e| self.fail(file, &url, format!("{e}")))?;
        }
        let link = self.snapshot_dir(&meta.commit).join(file);
        link_blob(&blob, &link, file, &meta.etag)
    }

    /// Writes `refs/REVISION` (atomically; a revision with `/` is a file in a subfolder, as the
    /// hub's libraries write it), unless the revision is the commit itself.
    pub(crate) fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision != commit {
            spam_data::write_atomic(self.repo_dir.join("refs").join(revision), commit.as_bytes())?;
        }
        Ok(())
    }

    /// `HEAD` of a resolve URL, stopping at the redirect that names the commit (a large file's
    /// redirect to its storage).
    fn head(&self, url: &str) -> std::result::Result<FileMeta, String> {
        let resp = self.follow(&Method::HEAD, url, &|h| h.contains_key("x-repo-commit"))?;
        let status = resp.status();
        if !(status.is_success() || status.is_redirection()) {
            return Err(self.status_hint(status));
        }
        file_meta(status, resp.headers(), &self.opts.endpoint)
    }

    /// Sends `method` to `url`, following only redirects within the endpoint's origin (a
    /// renamed repository) and stopping at one that `stop` accepts. A redirect is resolved
    /// before it is judged: one to another origin (scheme, host, port), whatever its form
    /// (`https://other/...`, `//other/...`), is not followed, so the token never leaves the
    /// endpoint's origin (huggingface_hub's rule).
    pub(crate) fn follow(
        &self,
        method: &Method,
        url: &str,
        stop: &dyn Fn(&HeaderMap) -> bool,
    ) -> std::result::Result<Response, String> {
        let mut url = Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
        // The endpoint's origin: the first URL asked for is on the endpoint.
        let start = url.clone();
        for _hop in 0..5 {
            let resp = self.send(method, &url, &start)?;
            let status = resp.status();
            let location = resp.headers().get(LOCATION).and_then(|v| v.to_str().ok());
            let Some(location) = location.filter(|_| status.is_redirection()) else {
                return Ok(resp);
            };
            if stop(resp.headers()) {
                return Ok(resp);
            }
            let next = url
                .join(location)
                .map_err(|_| format!("HTTP {status} with a malformed Location header"))?;
            if next.origin() != start.origin() {
                return Err(format!(
                    "HTTP {status} to another host ({}): not followed (the token is only sent \
                     to HF_ENDPOINT's origin); check HF_ENDPOINT",
                    redact_url(next.as_str())
                ));
            }
            url = next;
        }
        Err("too many redirects".into())
    }

    /// One request, retried on network errors, 5xx and 429 like the downloader; the token goes
    /// only to `endpoint`'s origin.
    fn send(
        &self,
        method: &Method,
        url: &Url,
        endpoint: &Url,
    ) -> std::result::Result<Response, String> {
        let d = &self.opts.download;
        let mut last = String::new();
        for attempt in 0..=d.retries {
            if attempt > 0 {
                std::thread::sleep(d.backoff.saturating_mul(1 << (attempt - 1).min(16)));
            }
            let mut req = self.client.request(method.clone(), url.clone());
            if let Some(token) = &self.opts.token
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

    /// What a refusal means, with or without a token sent.
    pub(crate) fn status_hint(&self, status: StatusCode) -> String {
        match status.as_u16() {
            401 | 403 if self.opts.token.is_some() => format!(
                "HTTP {status}: the token (HF_TOKEN or the token file) was refused or has no \
                 access to this repository"
            ),
            401 | 403 => format!(
                "HTTP {status}: the repository is private or gated; set HF_TOKEN to a token \
                 with access"
            ),
            404 => format!(
                "HTTP {status}: no such repository, revision or file; check the id and its \
                 @revision"
            ),
            _ => format!("HTTP {status}"),
        }
    }
}

/// The error for `file` of `id`, asked for at `url` (redacted in the message), failing with
/// `why`.
fn download_error(id: &HubId, opts: &HubOptions, file: &str, url: &str, why: String) -> HubError {
    HubError::Download {
        id: id.to_string(),
        file: file.to_string(),
        url: redact_url(url),
        cache: opts.cache.clone(),
        why: why.into(),
        kind: id.kind,
    }
}

/// The commit, ETag and size a resolve URL's answer (`status`, `headers`) gives; the hub's
/// `X-Linked-*` headers (a large file's) win over the plain ones.
fn file_meta(
    status: StatusCode,
    headers: &HeaderMap,
    endpoint: &str,
) -> std::result::Result<FileMeta, String> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    };
    let commit = text("x-repo-commit").ok_or_else(|| {
        format!(
            "HTTP {status} without an X-Repo-Commit header: {} does not answer as the hub does \
             (check HF_ENDPOINT)",
            redact_url(endpoint)
        )
    })?;
    if !is_commit_hash(&commit) {
        return Err(format!("X-Repo-Commit {commit:?} is not a commit hash"));
    }
    let etag = text("x-linked-etag")
        .or_else(|| text(ETAG.as_str()))
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
    Ok(FileMeta { commit, etag, size })
}

/// Downloads `files` of `id` into the cache: see [`Session::fetch_files`]; the ref last.
pub(crate) fn download_snapshot(
    id: &HubId,
    files: &[&str],
    opts: &HubOptions,
    progress: &mut dyn FnMut(HubProgress<'_>),
) -> Result<HubSnapshot> {
    let session = Session::new(id, opts)?;
    let commit = session.fetch_files(&id.revision, files, progress)?;
    session.write_ref(&id.revision, &commit)?;
    Ok(HubSnapshot {
        id: id.clone(),
        dir: session.snapshot_dir(&commit),
        commit,
        downloaded: true,
    })
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
