use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// The workspace root: xtask lives one level below it.
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs `cmd` with inherited stdio, failing with the command line when it fails.
pub fn sh(cmd: &mut Command) -> Result<()> {
    let line = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {line}"))?;
    if !status.success() {
        bail!("{line} failed ({status})");
    }
    Ok(())
}

/// A titled step with its duration, as CI logs show it.
pub fn step<T>(title: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    println!("\n==> {title}");
    let start = Instant::now();
    let out = f();
    let secs = start.elapsed().as_secs_f64();
    match &out {
        Ok(_) => println!("<== {title}: ok in {secs:.1} s"),
        Err(_) => println!("<== {title}: FAILED after {secs:.1} s"),
    }
    out
}
