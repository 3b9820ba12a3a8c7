//! `cargo xtask fetch --data`: the SMS Spam Collection into `datasets/sms_spam_collection/`.

use std::path::Path;

use anyhow::{Context, Result};
use spam_data::{SmsFetchOptions, fetch_sms, install_sms_from};

use crate::progress::DownloadBar;

pub fn run(root: &Path, from: Option<&Path>, force: bool) -> Result<()> {
    let dir = root.join("datasets").join("sms_spam_collection");
    let opts = SmsFetchOptions::default();
    if let Some(source) = from {
        let path = install_sms_from(source, &dir, &opts)?;
        println!(
            "data: installed {} from {}",
            path.display(),
            source.display()
        );
        return Ok(());
    }
    let dest = dir.join(&opts.member);
    if force && dest.exists() {
        std::fs::remove_file(&dest)
            .with_context(|| format!("could not remove {}", dest.display()))?;
    }
    let already = dest.exists();
    let mut bar = DownloadBar::new("SMS Spam Collection");
    let path = fetch_sms(&dir, &opts, &mut |p| bar.update(p.downloaded, p.total)).map_err(|e| {
        // `{:#}` prints the error's causes (an OS error, say) after it.
        let e = anyhow::Error::from(e);
        anyhow::anyhow!(
            "{e:#}\n  By hand: download the UCI zip ({}) on a machine with internet, then \
             `cargo xtask fetch --data --from sms+spam+collection.zip` (the zip or the \
             SMSSpamCollection file), or pass the file to `spam-cli train --data PATH`.",
            opts.urls.first().map(String::as_str).unwrap_or("")
        )
    })?;
    bar.finish();
    if already {
        println!(
            "data: {} already present and verified (nothing to do)",
            path.display()
        );
    } else {
        println!("data: {} (sha256 verified)", path.display());
    }
    Ok(())
}
