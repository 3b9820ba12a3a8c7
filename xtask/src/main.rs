//! Project chores, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! In the style of rust-analyzer's xtask: plain Rust instead of shell scripts, so the
//! chores run wherever cargo does. xtask never links libtorch, because its first job is
//! to install libtorch.

mod ci;
mod fetch;
mod fetch_data;
mod fetch_weights;
mod progress;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    about = "Project chores: fetch dependencies, run CI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch libtorch, GPT-2 weights and the SMS Spam Collection (all three when no part is named).
    Fetch(fetch::FetchArgs),
    /// Everything CI checks: set-up, fmt, tidy, lints, then each crate's tests as its own step.
    Ci(ci::CiArgs),
    /// Style rules clippy does not check: no printing in library crates, no `#[path]`
    /// includes across crates, ARCHITECTURE.md's dependency table true, no import circles
    /// between a crate's files, no function over 120 lines, one test binary per package;
    /// lists long files.
    Tidy {
        /// Only list the N longest functions in the packages' src/ (no checks).
        #[arg(long, value_name = "N")]
        longest: Option<usize>,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Fetch(args) => fetch::run(&args),
        Command::Ci(args) => ci::run(&args),
        Command::Tidy { longest: None } => xtask::tidy::run(&util::project_root()),
        Command::Tidy { longest: Some(n) } => xtask::tidy::print_longest(&util::project_root(), n),
    };
    if let Err(err) = result {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
