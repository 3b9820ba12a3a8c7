//! Arguments of `plot` (a run's plots redrawn from its log) and `completions` (the shell's
//! completion script for this command line).

use std::path::PathBuf;

use clap::Args;

/// `spam-cli plot RUN_DIR`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A run directory (or the staging folder of a run in progress or interrupted).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

/// `spam-cli completions SHELL`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
