//! Weights by Hugging Face hub id (`openai-community/gpt2`, `gpt2-medium@main`): found in the
//! local hub cache without network, or downloaded into it.
//!
//! The cache is the one the hub's own libraries use, so a model they downloaded is found here
//! and the other way round: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`; a repository lives in `models--ORG--NAME/` (a dataset in
//! `datasets--ORG--NAME/`) with
//!
//! ```text
//! blobs/ETAG                      the files, named by their hub ETag (sha256 for large files)
//! snapshots/COMMIT/FILE           a relative symbolic link to ../../blobs/ETAG (a copy where
//!                                 links are not possible)
//! refs/REVISION                   the commit a branch or tag named when it was downloaded
//! ```
//!
//! Resolution never touches the network when the files are cached; otherwise (unless
//! `HF_HUB_OFFLINE` is set) each file is asked for at `{endpoint}/{repo}/resolve/{rev}/{file}`
//! (`{endpoint}/datasets/{repo}/...` for a dataset):
//! a `HEAD` (redirects not followed) gives the commit (`X-Repo-Commit`) and the blob's ETag
//! and size, then the blob is downloaded through spam-data's `download` (resumable, size- and
//! sha256-checked, renamed into place when complete) and linked into the snapshot. The later
//! files are asked for at the commit the first one named, so a branch that moves meanwhile
//! cannot mix two versions.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use spam_data::BearerToken;
#[cfg(feature = "download")]
use spam_data::DownloadOptions;

use crate::error::{HubError, Result};
use crate::kind::RepoKind;

/// The hub's default address (`HF_ENDPOINT` overrides it).
pub const HUB_ENDPOINT: &str = "https://huggingface.co";

/// The short names of the four GPT-2 sizes and the repositories they stand for.
pub const GPT2_HUB_ALIASES: [(&str, &str); 4] = [
    ("gpt2", "openai-community/gpt2"),
    ("gpt2-medium", "openai-community/gpt2-medium"),
    ("gpt2-large", "openai-community/gpt2-large"),
    ("gpt2-xl", "openai-community/gpt2-xl"),
];

/// What a GPT-2 snapshot must hold: the safetensors loader reads the hub's tensor names, and
/// `config.json` comes along as the hub's description of the model.
pub const GPT2_HUB_FILES: [&str; 2] = ["config.json", "model.safetensors"];

/// A repository on the hub (a model unless `kind` says otherwise) and the revision wanted (a
/// branch, tag or commit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HubId {
    /// `ORG/NAME`; an alias (`gpt2`) is stored as the repository it stands for.
    pub repo: String,
    /// Branch, tag or 40-digit commit; `main` unless `@REVISION` says otherwise.
    pub revision: String,
    /// A model or a dataset repository.
    pub kind: RepoKind,
}

/// The revision `ORG/NAME` means without `@REVISION`.
pub(crate) const DEFAULT_REVISION: &str = "main";

impl HubId {
    /// Parses a model id: `ORG/NAME`, `ORG/NAME@REVISION`, or a GPT-2 alias (`gpt2`,
    /// `gpt2-medium`, `gpt2-large`, `gpt2-xl`, each optionally `@REVISION`).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            HubError::InvalidId(format!(
                "{s:?} is not a hub model id ({why}); give ORG/NAME or ORG/NAME@REVISION, or one \
                 of gpt2, gpt2-medium, gpt2-large, gpt2-xl"
            ))
        };
        let (name, revision) = split_revision(s).map_err(bad)?;
        let repo = match GPT2_HUB_ALIASES.iter().find(|(alias, _)| *alias == name) {
            Some((_, repo)) => (*repo).to_string(),
            None => check_repo(name).map_err(bad)?,
        };
        Ok(Self {
            repo,
            revision: revision.to_string(),
            kind: RepoKind::Model,
        })
    }

    /// Parses a dataset id: `ORG/NAME` or `ORG/NAME@REVISION` (the part after a caller's
    /// `hf:`). A bare `NAME` is refused (datasets have no aliases); the revision follows the
    /// rules of [`HubId::parse`].
    pub fn parse_dataset(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            HubError::InvalidId(format!(
                "{s:?} is not a hub dataset id ({why}); the syntax is hf:ORG/NAME[@REVISION]"
            ))
        };
        let (name, revision) = split_revision(s).map_err(bad)?;
        Ok(Self {
            repo: check_repo(name).map_err(bad)?,
            revision: revision.to_string(),
            kind: RepoKind::Dataset,
        })
    }

    /// The cache folder of the repository (`models--ORG--NAME`, `datasets--ORG--NAME`).
    pub fn cache_folder(&self) -> String {
        hf_folder(&self.repo, self.kind)
    }

    /// Cache folders to look in, in order: the repository's own, then for a GPT-2 alias the one
    /// older downloads under the bare name (`models--gpt2`) used.
    fn cache_folders(&self) -> Vec<String> {
        let mut folders = vec![self.cache_folder()];
        if self.kind == RepoKind::Model
            && let Some((alias, _)) = GPT2_HUB_ALIASES.iter().find(|(_, r)| *r == self.repo)
        {
            folders.push(hf_folder(alias, self.kind));
        }
        folders
    }

    /// `{endpoint}/[datasets/]ORG/NAME/resolve/{rev}/{file}`, the revision and the file
    /// percent-encoded as the hub's libraries encode them (the file keeps its `/`).
    #[cfg(feature = "download")]
    pub(crate) fn resolve_url(&self, endpoint: &str, rev: &str, file: &str) -> String {
        format!(
            "{endpoint}/{}{}/resolve/{}/{}",
            self.kind.url_prefix().0,
            self.repo,
            url_encode(rev, false),
            url_encode(file, true)
        )
    }

    /// `{endpoint}/api/{models|datasets}/ORG/NAME/revision/{rev}`: the commit a revision
    /// names and the files it holds.
    #[cfg(feature = "download")]
    pub(crate) fn api_url(&self, endpoint: &str, rev: &str) -> String {
        format!(
            "{endpoint}/api/{}/{}/revision/{}",
            self.kind.url_prefix().1,
            self.repo,
            url_encode(rev, false)
        )
    }
}

/// `s` with every byte but ASCII letters, digits and `-._~` (and `/` when `keep_slash`)
/// percent-encoded.
#[cfg(feature = "download")]
fn url_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `NAME[@REVISION]` split at the first `@` (`main` when there is none), the revision checked:
/// not empty, no empty, `.` or `..` part, no whitespace, control characters, `\`, `@`, `?`,
/// `#` or `%`.
fn split_revision(s: &str) -> std::result::Result<(&str, &str), &'static str> {
    let (name, revision) = s.split_once('@').unwrap_or((s, DEFAULT_REVISION));
    if revision.is_empty()
        || revision
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
        || revision.chars().any(|c| {
            c.is_control() || c.is_whitespace() || matches!(c, '\\' | '@' | '?' | '#' | '%')
        })
    {
        return Err("bad revision after @");
    }
    Ok((name, revision))
}

/// `ORG/NAME` checked part by part.
fn check_repo(name: &str) -> std::result::Result<String, &'static str> {
    let Some((org, repo)) = name.split_once('/') else {
        return Err("no ORG/ before the name");
    };
    if !valid_part(org) || !valid_part(repo) {
        return Err(
            "each part is letters, digits, `-`, `_` or `.`, up to 96, not starting or ending in `-` or `.`",
        );
    }
    Ok(name.to_string())
}

/// Whether `f` can name a file inside a repository, and so a path below a snapshot folder:
/// relative, `/`-separated parts that are neither empty, `.` nor `..`, no `\`, no control
/// characters.
pub(crate) fn is_repo_path(f: &str) -> bool {
    !f.is_empty()
        && !f.starts_with('/')
        && !f.chars().any(|c| c == '\\' || c.is_control())
        && f.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
        && Path::new(f)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// The cache folder of a repository, named by the hub's own Rust client (hf-hub), so the
/// layout is the one its users and the Python libraries share.
fn hf_folder(repo: &str, kind: RepoKind) -> String {
    hf_hub::Repo::new(repo.to_string(), kind.hf_type()).folder_name()
}

fn valid_part(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 96
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !p.starts_with(['-', '.'])
        && !p.ends_with(['-', '.'])
        && !p.contains("--")
        && !p.contains("..")
}

impl fmt::Display for HubId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revision == DEFAULT_REVISION {
            f.write_str(&self.repo)
        } else {
            write!(f, "{}@{}", self.repo, self.revision)
        }
    }
}

impl FromStr for HubId {
    type Err = HubError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Whether `s` is a full commit hash (40 lowercase hex digits).
pub fn is_commit_hash(s: &str) -> bool {
    s.len() == 40
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where the hub and its cache are, as the hub's own libraries read them from the environment.
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The cache folder (holding `models--ORG--NAME/`).
    pub cache: PathBuf,
    /// The hub's address, without a trailing slash.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` (private and gated repositories): `HF_TOKEN`, or one
    /// the caller sets. When `None`, [`HubOptions::bearer_token`] reads `token_file`.
    pub token: Option<BearerToken>,
    /// The token file (`HF_TOKEN_PATH`, else `$HF_HOME/token`), read only when a request
    /// needs a token: a lookup in the cache, or a run from random weights, never opens it.
    pub token_file: Option<PathBuf>,
    /// Never download (`HF_HUB_OFFLINE`): a file not cached is an error.
    pub offline: bool,
    /// Timeouts and retries of the downloads (its token and expected size are set per file).
    #[cfg(feature = "download")]
    pub download: DownloadOptions,
}

impl HubOptions {
    /// From the process environment; see [`HubOptions::from_vars`].
    pub fn from_env() -> Self {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// From environment variables read through `var`: the cache is `HF_HUB_CACHE`, else
    /// `HF_HOME/hub`, where `HF_HOME` defaults to `$XDG_CACHE_HOME/huggingface`, else
    /// `~/.cache/huggingface`; the endpoint `HF_ENDPOINT`; the token `HF_TOKEN`, else the file
    /// `HF_TOKEN_PATH` (default `$HF_HOME/token`); offline when `HF_HUB_OFFLINE` is `1`, `on`,
    /// `yes` or `true`. Empty variables count as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let set = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let home = set("HOME")
            .or_else(|| set("USERPROFILE"))
            .map(PathBuf::from);
        let hf_home = set("HF_HOME")
            .map(PathBuf::from)
            .or_else(|| set("XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("huggingface")))
            .or_else(|| home.map(|h| h.join(".cache").join("huggingface")))
            .unwrap_or_else(|| PathBuf::from(".cache").join("huggingface"));
        let cache = set("HF_HUB_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let endpoint = set("HF_ENDPOINT")
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .unwrap_or_else(|| HUB_ENDPOINT.to_string());
        let token_file = set("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("token"));
        let token = set("HF_TOKEN")
            .map(|t| BearerToken::new(&t))
            .filter(|t| !t.expose().is_empty());
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "on" | "yes" | "true"
            )
        });
        Self {
            cache,
            endpoint,
            token,
            token_file: Some(token_file),
            offline,
            #[cfg(feature = "download")]
            download: DownloadOptions::default(),
        }
    }
}

impl HubOptions {
    /// The token to send: [`HubOptions::token`], else the content of `token_file` (a missing
    /// file is no token). A token file that is not a regular file (a FIFO, a device) or is
    /// larger than [`MAX_TOKEN_FILE_BYTES`] is refused, naming it; its content is never
    /// shown.
    pub fn bearer_token(&self) -> Result<Option<BearerToken>> {
        if self.token.is_some() {
            return Ok(self.token.clone());
        }
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let Some(bytes) =
            read_small_file(path, MAX_TOKEN_FILE_BYTES).map_err(|why| HubError::TokenFile {
                path: path.clone(),
                why,
            })?
        else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|_| HubError::TokenFile {
            path: path.clone(),
            why: "it is not UTF-8 text".into(),
        })?;
        Ok(Some(BearerToken::new(&text)).filter(|t| !t.expose().is_empty()))
    }
}

/// The largest token file read (a hub token is a few dozen bytes).
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// The largest `refs/REVISION` file read (a commit hash and a newline).
const MAX_REF_BYTES: u64 = 1024;

/// The content of `path`, at most `cap` bytes; `Ok(None)` when there is no such file. A path
/// that is not a regular file is refused before it is opened, so a FIFO never blocks and a
/// device is never read; the reason never quotes the content.
fn read_small_file(path: &Path, cap: u64) -> std::result::Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it ({e})")),
    };
    if !meta.is_file() {
        return Err("it is not a regular file (a FIFO, a device or a folder?)".into());
    }
    if meta.len() > cap {
        return Err(format!(
            "it has {} bytes, more than the {cap} allowed",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read it ({e})"))?;
    if bytes.len() as u64 > cap {
        return Err(format!("it has more than the {cap} bytes allowed"));
    }
    Ok(Some(bytes))
}

/// Progress of a hub download: the file and its bytes so far (total when known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubProgress<'a> {
    /// The file in the repository (`model.safetensors`).
    pub file: &'a str,
    /// Bytes on disk so far.
    pub downloaded: u64,
    /// The file's size, when known.
    pub total: Option<u64>,
}

/// A resolved snapshot: the folder holding the files of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSnapshot {
    /// The id asked for.
    pub id: HubId,
    /// The commit the revision named.
    pub commit: String,
    /// `CACHE/models--ORG--NAME/snapshots/COMMIT`.
    pub dir: PathBuf,
    /// Whether any file was downloaded (false: all came from the cache).
    pub downloaded: bool,
}

/// A resolved dataset snapshot: the Parquet files of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSnapshot {
    /// The id asked for.
    pub id: HubId,
    /// The commit the revision named.
    pub commit: String,
    /// The revision actually used: the one asked for, or [`PARQUET_REVISION`] when the
    /// default `main` holds no Parquet files.
    pub revision: String,
    /// `CACHE/datasets--ORG--NAME/snapshots/COMMIT`.
    pub dir: PathBuf,
    /// The Parquet files, as paths inside the repository (`data/train-00000-of-00001.parquet`),
    /// sorted; each is `dir.join(file)`.
    pub files: Vec<String>,
    /// Whether any file was downloaded (false: all came from the cache).
    pub downloaded: bool,
}

/// The hub's branch of Parquet files converted from a dataset's own files, used when the
/// default `main` holds none. Its ref is cached where the hub's own libraries put it:
/// `refs/refs/convert/parquet` inside the repository folder.
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// The snapshot of `id` holding every one of `files`, from the cache only (no network).
/// `Err` says why it is not there (for the error message), `Ok` is the snapshot.
pub fn find_cached(
    id: &HubId,
    files: &[&str],
    cache: &Path,
) -> std::result::Result<HubSnapshot, String> {
    let mut why = Vec::new();
    for folder in id.cache_folders() {
        let repo_dir = cache.join(&folder);
        if !repo_dir.is_dir() {
            why.push(format!("no {folder}"));
            continue;
        }
        let commit = match cached_commit(&repo_dir, &folder, &id.revision) {
            Ok(commit) => commit,
            Err(reason) => {
                why.push(reason);
                continue;
            }
        };
        let dir = repo_dir.join("snapshots").join(&commit);
        // `is_file` follows the link: a link to a missing blob counts as missing.
        let missing: Vec<&str> = files
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if missing.is_empty() {
            return Ok(HubSnapshot {
                id: id.clone(),
                commit,
                dir,
                downloaded: false,
            });
        }
        why.push(format!(
            "{folder}/snapshots/{commit} lacks {}",
            missing.join(", ")
        ));
    }
    Err(why.join("; "))
}

/// The commit `revision` names in the repository folder `repo_dir` (called `folder` in
/// messages): a commit hash itself, else the content of `refs/REVISION` (a branch with a `/`,
/// such as `refs/convert/parquet`, is a file in a subfolder there, as the hub's libraries
/// write it). `Err` says why there is none; it never quotes the ref file.
pub(crate) fn cached_commit(
    repo_dir: &Path,
    folder: &str,
    revision: &str,
) -> std::result::Result<String, String> {
    if is_commit_hash(revision) {
        return Ok(revision.to_string());
    }
    let refs = repo_dir.join("refs").join(revision);
    match read_small_file(&refs, MAX_REF_BYTES) {
        Ok(Some(c)) => match std::str::from_utf8(&c).map(str::trim) {
            Ok(c) if is_commit_hash(c) => Ok(c.to_string()),
            // Never quote it: a ref that is a link to another file (a token) must not print
            // that file.
            _ => Err(format!(
                "{} is not a commit hash ({} bytes; a ref holds 40 hexadecimal digits): delete \
                 it and download again",
                refs.display(),
                c.len()
            )),
        },
        Ok(None) => Err(format!("no {folder}/refs/{revision}")),
        Err(reason) => Err(format!("{}: {reason}", refs.display())),
    }
}
