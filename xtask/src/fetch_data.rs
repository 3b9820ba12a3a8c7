//! `cargo xtask fetch --data`.
use std::path::Path;

use anyhow::{Result, bail};

pub fn run(_root: &Path, _from: Option<&Path>, _force: bool) -> Result<()> {
    bail!(
        "downloading the SMS Spam Collection is not implemented yet (tracked by the data issue). \
         Meanwhile pass the SMSSpamCollection file to `--data PATH`."
    )
}
