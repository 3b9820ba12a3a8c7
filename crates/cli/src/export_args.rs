//! Arguments of `spam-cli export` (kept out of `args.rs`, which is long enough).

use std::path::PathBuf;

use clap::Args;

/// `spam-cli export --model RUN_DIR --out DIR`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run directory (or its model/ folder) trained with `--token-position flexible`.
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// The folder to write; it must be new or empty unless --overwrite.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace an earlier export in --out (a folder holding other files is refused even so).
    #[arg(long)]
    pub overwrite: bool,
}

impl ExportArgs {
    /// The library's options.
    pub fn options(&self) -> spam_runs::ExportOptions {
        spam_runs::ExportOptions {
            model: self.model.clone(),
            out: self.out.clone(),
            overwrite: self.overwrite,
        }
    }
}
