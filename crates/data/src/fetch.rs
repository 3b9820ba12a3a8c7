//! Getting the SMS Spam Collection: download the UCI zip (or the chapter's mirror), extract
//! `SMSSpamCollection`, check its sha256; or install it from a local zip or file (`--from PATH`).

use std::path::{Path, PathBuf};

use crate::checksum::{check_sha256, sha256_file};
use crate::download::{DownloadOptions, DownloadProgress, download};
use crate::error::{DataError, Result};
use crate::sms::{SMS_MEMBER, SMS_SHA256};
use crate::unzip::{is_zip, read_zip_member};

/// The UCI download, then the mirror the chapter uses.
pub const SMS_URLS: [&str; 2] = [
    "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip",
    "https://f001.backblazeb2.com/file/LLMs-from-scratch/sms%2Bspam%2Bcollection.zip",
];
/// Name of the downloaded zip inside the target directory.
pub const SMS_ZIP: &str = "sms_spam_collection.zip";

/// Where to fetch the SMS collection from and what to expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsFetchOptions {
    /// URLs of the zip, tried in order.
    pub urls: Vec<String>,
    /// Member to extract.
    pub member: String,
    /// Expected sha256 of the extracted file (`None` skips the check).
    pub sha256: Option<String>,
    /// Download settings.
    pub download: DownloadOptions,
}

impl Default for SmsFetchOptions {
    fn default() -> Self {
        SmsFetchOptions {
            urls: SMS_URLS.iter().map(|s| s.to_string()).collect(),
            member: SMS_MEMBER.to_string(),
            sha256: Some(SMS_SHA256.to_string()),
            download: DownloadOptions::default(),
        }
    }
}

/// Makes sure `dir/SMSSpamCollection` exists and is the expected file, downloading and
/// extracting the zip when needed (the zip is kept as `dir/sms_spam_collection.zip`). Returns the
/// path of the data file.
pub fn fetch_sms(
    dir: &Path,
    opts: &SmsFetchOptions,
    progress: &mut dyn FnMut(DownloadProgress<'_>),
) -> Result<PathBuf> {
    let dest = dir.join(&opts.member);
    if dest.exists() {
        match &opts.sha256 {
            None => return Ok(dest),
            Some(expected) if sha256_file(&dest)?.eq_ignore_ascii_case(expected) => {
                return Ok(dest);
            }
            Some(_) => tracing::warn!("{}: unexpected sha256, fetching it again", dest.display()),
        }
    }
    let zip_path = dir.join(SMS_ZIP);
    let urls: Vec<&str> = opts.urls.iter().map(String::as_str).collect();
    let have_zip = zip_path.exists() && install_sms_from(&zip_path, dir, opts).is_ok();
    if !have_zip {
        download(&urls, &zip_path, &opts.download, progress)?;
        install_sms_from(&zip_path, dir, opts).map_err(|e| match e {
            DataError::Zip { .. }
            | DataError::ZipMember { .. }
            | DataError::ZipSlip { .. }
            | DataError::Checksum { .. } => {
                // A bad archive must not be reused on the next run.
                let _ = std::fs::remove_file(&zip_path);
                e
            }
            other => other,
        })?;
    }
    Ok(dest)
}

/// Installs the collection from a local file (`--from PATH`): either the zip or the
/// `SMSSpamCollection` file itself. Checks the sha256 and writes `dir/<member>` atomically.
pub fn install_sms_from(source: &Path, dir: &Path, opts: &SmsFetchOptions) -> Result<PathBuf> {
    let bytes = crate::input::read_file(source)?;
    let (data, shown) = if is_zip(&bytes) {
        (
            read_zip_member(source, &bytes, &opts.member)?,
            source.join(&opts.member),
        )
    } else {
        (bytes, source.to_path_buf())
    };
    if let Some(expected) = &opts.sha256 {
        check_sha256(&shown, &data, expected)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create the directory", e))?;
    let dest = dir.join(&opts.member);
    crate::atomic::write_atomic(&dest, &data)?;
    Ok(dest)
}
