//! `cargo xtask fetch`: libtorch, GPT-2 weights, the SMS Spam Collection.
//!
//! Each part is independent: one that cannot be fetched (no network, say) reports what
//! failed and how to supply the files by hand, and the others still get installed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::util::{project_root, sh};

/// The libtorch version tch 0.26 is built against; tch refuses any other.
pub const TORCH_VERSION: &str = "2.13.0";
/// CPU set: torch without its CUDA dependency tree, plus the two CUDA libraries that
/// libtorch's CPU code path still links against. About 1.2 GB.
const CPU_PACKAGES: &[&str] = &[
    "torch==2.13.0",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cuda-cupti==13.0.85",
];
const MARKER: &str = "INSTALLED";

#[derive(Args, Debug)]
pub struct FetchArgs {
    /// Install libtorch (the version tch expects) into `libtorch/` through pip.
    #[arg(long)]
    libtorch: bool,
    /// Download the OpenAI GPT-2 checkpoint into `models/gpt2/<size>/`.
    #[arg(long)]
    weights: bool,
    /// Download the SMS Spam Collection into `datasets/sms_spam_collection/`.
    #[arg(long)]
    data: bool,
    /// With --libtorch: install the full CUDA dependency set (about 4.5 GB) instead of the CPU set.
    #[arg(long)]
    cuda: bool,
    /// With --weights: the model size (124M, 355M, 774M or 1558M).
    #[arg(long, default_value = "124M")]
    size: String,
    /// Import files you already have instead of downloading: with --weights a checkpoint
    /// folder or a .safetensors file, with --data a zip or the SMSSpamCollection file.
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
    /// Reinstall even when the part is already present.
    #[arg(long)]
    force: bool,
}

pub fn run(args: &FetchArgs) -> Result<()> {
    let all = !(args.libtorch || args.weights || args.data);
    if args.from.is_some() && (all || (args.weights && args.data)) {
        bail!("--from imports one part: add either --weights or --data");
    }
    let root = project_root();
    let mut failures = Vec::new();
    if (all || args.libtorch)
        && let Err(err) = fetch_libtorch(&root, args.cuda, args.force)
    {
        {
            failures.push(format!(
                "libtorch: {err:#}\n  By hand: `pip install --no-deps --target libtorch {}`, \
                 or point LIBTORCH at an existing libtorch {TORCH_VERSION} (its lib/ must be \
                 on the library path at run time).",
                CPU_PACKAGES.join(" ")
            ));
        }
    }
    if all || args.weights {
        let result = crate::fetch_weights::run(&root, &args.size, args.from.as_deref(), args.force);
        if let Err(err) = result {
            failures.push(format!("weights: {err:#}"));
        }
    }
    if all || args.data {
        let result = crate::fetch_data::run(&root, args.from.as_deref(), args.force);
        if let Err(err) = result {
            failures.push(format!("data: {err:#}"));
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    for failure in &failures {
        eprintln!("\nfetch failed, {failure}");
    }
    bail!(
        "{} of the requested parts could not be fetched (see above)",
        failures.len()
    )
}

/// The folder `.cargo/config.toml` points LIBTORCH at.
pub fn libtorch_dir(root: &Path) -> PathBuf {
    root.join("libtorch")
}

/// Installs libtorch unless the right one is already there (`fetch --libtorch`).
pub fn fetch_libtorch(root: &Path, cuda: bool, force: bool) -> Result<()> {
    let dir = libtorch_dir(root);
    let variant = if cuda { "cuda" } else { "cpu" };
    let wanted = format!("torch {TORCH_VERSION} {variant}\n");
    if let Ok(found) = std::env::var("LIBTORCH") {
        // cargo's [env] sets LIBTORCH to ours unless the user set their own, which then wins.
        if Path::new(&found) != dir.join("torch") {
            println!(
                "note: LIBTORCH={found} is set in your environment; builds use it, not libtorch/"
            );
        }
    }
    if !force && let Ok(installed) = fs::read_to_string(dir.join(MARKER)) {
        {
            // A CUDA install also serves CPU builds.
            let satisfied = installed == wanted || (!cuda && installed.ends_with("cuda\n"));
            // The fast check (files and version) keeps a second run under a second; the
            // full check, loading the libraries, ran when the install was made.
            if satisfied && verify_files(&dir).is_ok() {
                println!(
                    "libtorch: {} already installed in {} (nothing to do; --force reinstalls)",
                    installed.trim(),
                    dir.display()
                );
                return Ok(());
            }
        }
    }

    let python = find_pip()?;
    let staging = root.join("libtorch.partial");
    if staging.exists() {
        fs::remove_dir_all(&staging)
            .with_context(|| format!("could not remove the leftover {}", staging.display()))?;
    }
    println!(
        "libtorch: installing torch {TORCH_VERSION} ({variant} set{}) into {} through pip...",
        if cuda {
            ", about 4.5 GB"
        } else {
            ", about 1.2 GB"
        },
        dir.display()
    );
    let start = Instant::now();
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        // The unpacked copy in libtorch/ is what counts; a cached ~1 GB wheel is only disk.
        "--no-cache-dir",
    ])
    .args(["--progress-bar", "on", "--target"])
    .arg(&staging);
    if cuda {
        cmd.arg(format!("torch=={TORCH_VERSION}"));
    } else {
        cmd.arg("--no-deps").args(CPU_PACKAGES);
    }
    sh(&mut cmd).context(
        "pip could not install torch: is the Python package registry reachable? \
         (pip's message above says why)",
    )?;
    verify(&staging).context("the fresh install does not work")?;
    fs::write(staging.join(MARKER), &wanted)?;
    // Swap in only a verified install, so a failure never leaves a half-installed libtorch/.
    if dir.exists() {
        fs::remove_dir_all(&dir)
            .with_context(|| format!("could not remove the old {}", dir.display()))?;
    }
    fs::rename(&staging, &dir)
        .with_context(|| format!("could not move {} into place", staging.display()))?;
    println!(
        "libtorch: installed in {:.0} s ({:.2} GB) at {}",
        start.elapsed().as_secs_f64(),
        dir_size(&dir) as f64 / 1e9,
        dir.display()
    );
    Ok(())
}

/// Finds a Python with pip, or says how to get one.
fn find_pip() -> Result<String> {
    for python in ["python3", "python"] {
        let ok = Command::new(python)
            .args(["-m", "pip", "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Ok(python.to_string());
        }
    }
    bail!(
        "no Python with pip found (tried `python3 -m pip` and `python -m pip`): install Python 3 \
         with pip (Debian: `apt-get install python3-pip`), or install libtorch {TORCH_VERSION} by \
         hand and set LIBTORCH to it"
    )
}

/// Checks that an install has the right version, headers and loadable libraries.
fn verify(dir: &Path) -> Result<()> {
    verify_files(dir)?;
    let lib = dir.join("torch").join("lib");
    // Load the libraries a tch binary links against, so missing shared dependencies show
    // up now rather than as a loader error in the first test run.
    let script = format!(
        "import ctypes\nfor n in ['libc10.so', 'libtorch_cpu.so']:\n    ctypes.CDLL({:?} + '/' + n, mode=ctypes.RTLD_GLOBAL)\n",
        lib.display().to_string()
    );
    if let Ok(python) = find_pip() {
        let out = Command::new(python).args(["-c", &script]).output()?;
        if !out.status.success() {
            bail!(
                "libtorch's libraries do not load: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(())
}

/// Version, headers and library files are where tch looks for them.
fn verify_files(dir: &Path) -> Result<()> {
    let torch = dir.join("torch");
    let version_file = torch.join("version.py");
    let version = fs::read_to_string(&version_file)
        .with_context(|| format!("{} is missing", version_file.display()))?;
    let wanted = format!("__version__ = '{TORCH_VERSION}");
    if !version.lines().any(|l| l.starts_with(&wanted)) {
        bail!("{} is not torch {TORCH_VERSION}", version_file.display());
    }
    let header = torch.join("include/torch/csrc/api/include/torch/torch.h");
    if !header.is_file() {
        bail!(
            "{} is missing: the install has no C++ headers",
            header.display()
        );
    }
    let lib = torch.join("lib");
    for name in ["libc10.so", "libtorch_cpu.so"] {
        if !lib.join(name).is_file() {
            bail!("{} is missing", lib.join(name).display());
        }
    }
    Ok(())
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(entry.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
