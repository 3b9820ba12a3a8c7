//! A generic, resumable HTTP downloader (also used for GPT-2 weights of ~500 MB).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use sha2::{Digest, Sha256};

use crate::checksum::hex;
use crate::error::{DataError, Result};

/// Download settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOptions {
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for the response headers and for each read of the body.
    pub read_timeout: Duration,
    /// Retries per URL after the first attempt.
    pub retries: u32,
    /// Wait before the first retry, doubled on each further retry.
    pub backoff: Duration,
    /// Expected size in bytes, if known.
    pub expected_size: Option<u64>,
    /// Expected sha256 (hex), if known.
    pub sha256: Option<String>,
    /// User-Agent header.
    pub user_agent: String,
    /// Sent as `Authorization: Bearer ...` (a private or gated hub repository). reqwest drops
    /// it on a redirect to another host, so a CDN never sees it.
    pub bearer_token: Option<BearerToken>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(60),
            retries: 3,
            backoff: Duration::from_secs(1),
            expected_size: None,
            sha256: None,
            user_agent: concat!("spam-data/", env!("CARGO_PKG_VERSION")).to_string(),
            bearer_token: None,
        }
    }
}

/// A progress report: bytes on disk so far (resumed bytes included) and the total if known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress<'a> {
    /// The URL being downloaded.
    pub url: &'a str,
    /// Bytes downloaded so far, including a resumed prefix.
    pub downloaded: u64,
    /// Total size, when the server or the options say.
    pub total: Option<u64>,
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The file written.
    pub path: PathBuf,
    /// The URL that served it.
    pub url: String,
    /// Its size.
    pub bytes: u64,
    /// Its sha256 (lowercase hex).
    pub sha256: String,
    /// Whether a partial download was resumed.
    pub resumed: bool,
}

/// `<dest>.partial`, where an unfinished download lives.
pub fn partial_download_path(dest: &Path) -> PathBuf {
    let mut name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Downloads the first URL that works into `dest`:
///
/// * tries each URL in order (a mirror after the primary), retrying network errors, 5xx, 408 and
///   429 with exponential backoff; other 4xx responses move on to the next URL at once;
/// * connect and read timeouts (a stalled transfer fails instead of hanging);
/// * downloads into `<dest>.partial` and resumes it with an HTTP `Range` request after a dropped
///   connection, or on the next run;
/// * checks the expected size and sha256 when given, then fsyncs and renames into place, so
///   `dest` only ever holds a complete, verified file;
/// * reports progress through a callback (e.g. to drive an indicatif bar).
///
/// ```no_run
/// use spam_data::{download, DownloadOptions};
/// let got = download(
///     &["https://example.org/file.bin", "https://mirror.example.org/file.bin"],
///     std::path::Path::new("models/file.bin"),
///     &DownloadOptions { expected_size: Some(1234), ..DownloadOptions::default() },
///     &mut |p| eprintln!("{} / {:?}", p.downloaded, p.total),
/// )?;
/// println!("{} bytes from {}", got.bytes, got.url);
/// # Ok::<(), spam_data::DataError>(())
/// ```
pub fn download(
    urls: &[&str],
    dest: &Path,
    opts: &DownloadOptions,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> Result<Downloaded> {
    if urls.is_empty() {
        return Err(DataError::InvalidOption("download: no URL given".into()));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create the directory", e))?;
    }
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.read_timeout)
        .user_agent(opts.user_agent.clone())
        .build()
        .map_err(|e| DataError::Download {
            dest: dest.to_path_buf(),
            attempts: vec![format!("HTTP client: {e}")],
        })?;
    let partial = partial_download_path(dest);
    let mut attempts = Vec::new();
    for (u, url) in urls.iter().enumerate() {
        if u > 0 {
            // A partial file from another URL might be another version: start afresh.
            let _ = fs::remove_file(&partial);
        }
        let mut resumed = false;
        let mut last = String::new();
        for attempt in 0..=opts.retries {
            if attempt > 0 {
                let wait = opts.backoff.saturating_mul(1 << (attempt - 1).min(16));
                tracing::warn!(
                    "{}: {last}; retry {attempt}/{} in {wait:?}",
                    redact_url(url),
                    opts.retries
                );
                std::thread::sleep(wait);
            }
            resumed |= partial.metadata().is_ok_and(|m| m.len() > 0);
            match fetch_once(&client, url, &partial, opts, progress) {
                Ok(()) => match verify(&partial, opts) {
                    Ok((bytes, sha256)) => {
                        fs::rename(&partial, dest)
                            .map_err(|e| DataError::io(dest, "rename into place", e))?;
                        if let Some(dir) = dest.parent() {
                            crate::atomic::sync_dir(dir);
                        }
                        return Ok(Downloaded {
                            path: dest.to_path_buf(),
                            url: url.to_string(),
                            bytes,
                            sha256,
                            resumed,
                        });
                    }
                    Err(msg) => {
                        let _ = fs::remove_file(&partial);
                        last = msg;
                        break;
                    }
                },
                Err(Failure::Retry(msg)) => last = msg,
                Err(Failure::Fatal(msg)) => {
                    last = msg;
                    break;
                }
            }
        }
        let shown = redact_url(url);
        tracing::warn!("{shown}: {last}");
        attempts.push(format!("{shown}: {last}"));
    }
    Err(DataError::Download {
        dest: dest.to_path_buf(),
        attempts,
    })
}

enum Failure {
    /// Worth retrying on the same URL (the partial file is kept for a resume).
    Retry(String),
    /// Give up on this URL.
    Fatal(String),
}

/// One request: appends to `partial` (resuming it when it already has bytes).
fn fetch_once(
    client: &reqwest::blocking::Client,
    url: &str,
    partial: &Path,
    opts: &DownloadOptions,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> std::result::Result<(), Failure> {
    let have = resume_offset(partial, opts);
    let mut resp = send_request(client, url, opts, have)?;
    let (from, total) = match read_answer(&resp, partial, opts, have)? {
        Answer::Complete => return Ok(()),
        Answer::Body { from, total } => (from, total),
    };
    check_announced_size(total, partial, opts)?;
    let total = total.or(opts.expected_size);
    write_body(&mut resp, url, partial, from, total, progress)
}

/// How many bytes of `partial` to keep and resume after: none when it holds more than the
/// expected size.
fn resume_offset(partial: &Path, opts: &DownloadOptions) -> u64 {
    let have = partial.metadata().map(|m| m.len()).unwrap_or(0);
    if let Some(expected) = opts.expected_size.filter(|&e| have > e) {
        tracing::warn!(
            "{}: {have} bytes, more than the expected {expected}; starting over",
            partial.display()
        );
        return 0;
    }
    have
}

/// Sends the GET, with the bearer token and, when resuming, a `Range` from `have`.
fn send_request(
    client: &reqwest::blocking::Client,
    url: &str,
    opts: &DownloadOptions,
    have: u64,
) -> std::result::Result<reqwest::blocking::Response, Failure> {
    let mut req = client.get(url);
    if let Some(token) = &opts.bearer_token {
        req = req.bearer_auth(token.expose());
    }
    if have > 0 {
        req = req.header(RANGE, format!("bytes={have}-"));
    }
    req.send().map_err(|e| Failure::Retry(describe(&e)))
}

/// What the server's status says about the body to come.
enum Answer {
    /// The partial file already holds the whole download.
    Complete,
    /// A body follows that starts at byte `from` of the file, of `total` bytes when announced.
    Body { from: u64, total: Option<u64> },
}

/// Reads the status (and `Content-Range` when resuming from `have`) of the response.
fn read_answer(
    resp: &reqwest::blocking::Response,
    partial: &Path,
    opts: &DownloadOptions,
    have: u64,
) -> std::result::Result<Answer, Failure> {
    let status = resp.status();
    match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let range = content_range(resp);
            match parse_content_range(range) {
                Some((start, total)) if start == have => Ok(Answer::Body { from: have, total }),
                _ => {
                    let _ = fs::remove_file(partial);
                    Err(Failure::Retry(format!(
                        "server answered the resume with range {range:?}"
                    )))
                }
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            let range = content_range(resp);
            let total = range
                .strip_prefix("bytes */")
                .and_then(|t| t.parse::<u64>().ok());
            if total == Some(have) || (total.is_none() && opts.expected_size == Some(have)) {
                return Ok(Answer::Complete); // already complete
            }
            let _ = fs::remove_file(partial);
            Err(Failure::Retry(
                "server refused to resume; starting over".into(),
            ))
        }
        s if s.is_success() => Ok(Answer::Body {
            from: 0,
            total: resp.content_length(),
        }),
        s if s.is_server_error()
            || s == StatusCode::REQUEST_TIMEOUT
            || s == StatusCode::TOO_MANY_REQUESTS =>
        {
            Err(Failure::Retry(format!("HTTP {s}")))
        }
        s => Err(Failure::Fatal(format!("HTTP {s}"))),
    }
}

/// The response's `Content-Range` header, or "" when it has none (or not as text).
fn content_range(resp: &reqwest::blocking::Response) -> &str {
    resp.headers()
        .get(CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Gives up (removing the partial file) when the server announces another size than expected.
fn check_announced_size(
    total: Option<u64>,
    partial: &Path,
    opts: &DownloadOptions,
) -> std::result::Result<(), Failure> {
    if let (Some(t), Some(e)) = (total, opts.expected_size)
        && t != e
    {
        let _ = fs::remove_file(partial);
        return Err(Failure::Fatal(format!(
            "size mismatch: the server announces {t} bytes, expected {e}"
        )));
    }
    Ok(())
}

/// Writes the body into `partial` (appended after its first `from` bytes, or replacing it when
/// `from` is 0), reporting progress, and checks that all `total` bytes came.
fn write_body(
    resp: &mut reqwest::blocking::Response,
    url: &str,
    partial: &Path,
    from: u64,
    total: Option<u64>,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> std::result::Result<(), Failure> {
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(from > 0)
        .truncate(from == 0)
        .open(partial)
        .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", partial.display())))?;
    let mut done = from;
    // `total` is what the server (Content-Length) or the caller (the hub's X-Linked-Size)
    // announced: a body that keeps coming past it is not the file asked for, and is never
    // read forever.
    let limit = total;
    progress(DownloadProgress {
        url,
        downloaded: done,
        total,
    });
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = file.sync_all();
                return Err(Failure::Retry(format!(
                    "connection lost after {done} bytes ({e})"
                )));
            }
        };
        if let Some(limit) = limit.filter(|&l| done + n as u64 > l) {
            drop(file);
            let _ = fs::remove_file(partial);
            return Err(Failure::Fatal(format!(
                "the server sent more than the {limit} bytes announced for this file; stopped \
                 reading (the answer is not the file asked for)"
            )));
        }
        file.write_all(&buf[..n])
            .map_err(|e| Failure::Fatal(format!("cannot write {}: {e}", partial.display())))?;
        done += n as u64;
        progress(DownloadProgress {
            url,
            downloaded: done,
            total,
        });
    }
    file.sync_all()
        .map_err(|e| Failure::Fatal(format!("cannot sync {}: {e}", partial.display())))?;
    if let Some(t) = total.filter(|&t| done < t) {
        return Err(Failure::Retry(format!(
            "connection closed after {done} of {t} bytes"
        )));
    }
    Ok(())
}

/// Checks size and sha256 of a complete partial file; returns (size, sha256).
fn verify(partial: &Path, opts: &DownloadOptions) -> std::result::Result<(u64, String), String> {
    let mut f =
        File::open(partial).map_err(|e| format!("cannot read {}: {e}", partial.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", partial.display()))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    if let Some(expected) = opts.expected_size.filter(|&e| e != size) {
        return Err(format!(
            "size mismatch: got {size} bytes, expected {expected}"
        ));
    }
    let digest = hex(&hasher.finalize());
    if let Some(expected) = opts
        .sha256
        .as_deref()
        .filter(|e| !e.eq_ignore_ascii_case(&digest))
    {
        return Err(format!(
            "sha256 mismatch: got {digest}, expected {expected}"
        ));
    }
    Ok((size, digest))
}

/// A reqwest error as one line: its kind (timed out, cannot connect, request failed) and
/// its chain of causes.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    // reqwest's message names the URL: never with its credentials or query.
    match e.url() {
        Some(url) => msg.replace(url.as_str(), &redact_url(url.as_str())),
        None => msg,
    }
}

/// Parses `bytes START-END/TOTAL` (TOTAL may be `*`); returns (START, TOTAL).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 100-199/200"),
            Some((100, Some(200)))
        );
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
        assert_eq!(
            partial_download_path(Path::new("a/b.zip")),
            Path::new("a/b.zip.partial")
        );
    }
}

/// A secret sent as `Authorization: Bearer`; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token (surrounding whitespace, as in a token file, is removed).
    pub fn new(token: &str) -> Self {
        Self(token.trim().to_string())
    }

    /// The token itself, for the header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// `url` as it may be shown in a message or a log: without the user name and password of its
/// authority (`http://user:secret@host` is `http://***@host`) and without its query and
/// fragment (`?token=...` is `?***`), which may hold credentials too.
pub fn redact_url(url: &str) -> String {
    let (head, had_query) = match url.find(['?', '#']) {
        Some(i) => (&url[..i], true),
        None => (url, false),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}{path}"),
                None => head.to_string(),
            }
        }
        None => head.to_string(),
    };
    if had_query {
        out.push_str("?***");
    }
    out
}
