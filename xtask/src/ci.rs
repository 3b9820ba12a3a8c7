//! `cargo xtask ci`: the README's test command and what `.ci/run` calls.
//!
//! Set-up first (libtorch), then the cheap checks, then each crate's tests as a step of
//! its own so a failure names the crate and the log shows where the time goes.

use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use crate::util::{project_root, sh, step};

/// Packages whose tests run, each as its own step, in dependency order.
const PACKAGES: &[&str] = &[
    "spam-data",
    "spam-model",
    "spam-train",
    "spam-cli",
    "spam-e2e",
    "xtask",
];

#[derive(Args, Debug)]
pub struct CiArgs {
    /// Skip `cargo fmt --check` and clippy (tests only).
    #[arg(long)]
    tests_only: bool,
    /// Run the tests of these packages only (default: all).
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    packages: Vec<String>,
}

pub fn run(args: &CiArgs) -> Result<()> {
    let root = project_root();
    let start = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let cargo_cmd = || {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root);
        cmd
    };
    let mut timings = Vec::new();
    let mut timed = |title: String, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        let out = step(&title, f);
        timings.push((title, t.elapsed().as_secs_f64(), out.is_ok()));
        out
    };

    timed("set-up: libtorch".into(), &mut || {
        sh(cargo_cmd().args(["xtask", "fetch", "--libtorch"]))
    })?;
    timed(
        "set-up: chromium (browser test of the web page)".into(),
        &mut ensure_chromium,
    )?;
    if !args.tests_only {
        timed("cargo fmt --check".into(), &mut || {
            sh(cargo_cmd().args(["fmt", "--all", "--check"]))
        })?;
        timed("cargo clippy".into(), &mut || {
            sh(cargo_cmd().args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        })?;
    }
    let packages: Vec<&str> = if args.packages.is_empty() {
        PACKAGES.to_vec()
    } else {
        args.packages.iter().map(String::as_str).collect()
    };
    timed("build tests".into(), &mut || {
        let mut cmd = cargo_cmd();
        cmd.args(["test", "--no-run"]);
        for p in &packages {
            cmd.args(["-p", p]);
        }
        sh(&mut cmd)
    })?;
    let mut failed = Vec::new();
    for p in &packages {
        // Keep going after a failure so one run reports every broken crate.
        if timed(format!("tests: {p}"), &mut || {
            sh(cargo_cmd().args(["test", "-p", p]))
        })
        .is_err()
        {
            failed.push(*p);
        }
    }

    println!("\nCI summary:");
    for (title, secs, ok) in &timings {
        println!(
            "  {:<28} {:>7.1} s  {}",
            title,
            secs,
            if *ok { "ok" } else { "FAILED" }
        );
    }
    println!("  {:<28} {:>7.1} s", "total", start.elapsed().as_secs_f64());
    if !failed.is_empty() {
        bail!("tests failed in: {}", failed.join(", "));
    }
    Ok(())
}

/// The serve crate's page test drives Debian's Chromium. Installs it when missing and we
/// can (root with apt-get, as on CI); otherwise says how, and the test will say so too.
fn ensure_chromium() -> Result<()> {
    if std::path::Path::new("/usr/bin/chromium").exists()
        || std::env::var_os("SPAM_SKIP_BROWSER").is_some()
    {
        return Ok(());
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let has_apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !(is_root && has_apt) {
        println!(
            "chromium is not installed: install it (Debian: `apt-get install chromium`) or set \
             SPAM_SKIP_BROWSER=1 to skip the browser test"
        );
        return Ok(());
    }
    sh(Command::new("apt-get").args(["update", "-qq"]))?;
    sh(Command::new("apt-get")
        .args([
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
        ])
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
