//! `cargo xtask ci`: the README's test command and what `.ci/run` calls.
//!
//! Set-up first (libtorch), then the cheap checks (fmt, tidy, clippy), then each crate's
//! tests as a step of its own so a failure names the crate and the log shows where the
//! time goes.

use std::process::Command;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;

use crate::util::{project_root, sh, step};

/// Packages whose tests run, each as its own step, in dependency order.
const PACKAGES: &[&str] = &[
    "spam-data",
    "spam-hub",
    "spam-model",
    "spam-train",
    "spam-runs",
    "spam-serve",
    "spam-cli",
    "spam-e2e",
    "xtask",
];

#[derive(Args, Debug)]
pub struct CiArgs {
    /// Skip `cargo fmt --check`, tidy and clippy (tests only).
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
        cmd.current_dir(&root).env("CARGO_INCREMENTAL", "0");
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
        // In-process: a nested `cargo xtask` could rebuild xtask itself.
        crate::fetch::fetch_libtorch(&root, false, false)
    })?;
    timed(
        "set-up: chromium (browser test of the web page)".into(),
        &mut ensure_chromium,
    )?;
    if !args.tests_only {
        timed("cargo fmt --check".into(), &mut || {
            sh(cargo_cmd().args(["fmt", "--all", "--check"]))
        })?;
        timed("tidy".into(), &mut || xtask::tidy::run(&root))?;
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
    // One build of every test binary for the whole workspace: `cargo test -p X` per crate
    // would resolve features per crate and rebuild shared dependencies for each. The
    // binaries are then run crate by crate, each crate a step of its own.
    let mut binaries: Vec<TestBinary> = Vec::new();
    timed("build tests".into(), &mut || {
        binaries = build_tests(&cargo, &root)?;
        Ok(())
    })?;
    let spam_cli = binaries
        .iter()
        .find(|b| b.package == "spam-cli" && b.kind == "bin" && !b.test)
        .map(|b| b.path.clone());
    let mut failed = Vec::new();
    for p in &packages {
        // Keep going after a failure so one run reports every broken crate.
        let ok = timed(format!("tests: {p}"), &mut || {
            let mine: Vec<&TestBinary> = binaries
                .iter()
                .filter(|b| b.package == *p && b.test)
                .collect();
            if mine.is_empty() {
                bail!("no test binaries were built for {p}");
            }
            let mut errors = Vec::new();
            for b in mine {
                let mut cmd = Command::new(&b.path);
                cmd.current_dir(&b.manifest_dir).env("CARGO", &cargo);
                if let Some(cli) = &spam_cli {
                    // The end-to-end tests use this binary instead of building their own.
                    cmd.env("SPAM_CLI_BIN", cli);
                }
                println!("     Running {} ({})", b.target, b.path.display());
                if let Err(e) = sh(&mut cmd) {
                    errors.push(format!("{e:#}"));
                }
            }
            if errors.is_empty() {
                Ok(())
            } else {
                bail!(errors.join("; "))
            }
        })
        .is_ok();
        if !ok {
            failed.push(*p);
        }
    }

    // Doc tests of every library in one go, with the same features as the build above.
    if timed("tests: doc tests".into(), &mut || {
        sh(cargo_cmd().args(["test", "--workspace", "--doc"]))
    })
    .is_err()
    {
        failed.push("doc tests");
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

/// A compiled test (or binary) target, from cargo's JSON messages.
#[derive(Debug)]
struct TestBinary {
    package: String,
    target: String,
    kind: String,
    test: bool,
    path: std::path::PathBuf,
    manifest_dir: std::path::PathBuf,
}

/// `cargo test --workspace --no-run`, returning every executable it built.
fn build_tests(cargo: &str, root: &std::path::Path) -> Result<Vec<TestBinary>> {
    let out = Command::new(cargo)
        .current_dir(root)
        // A one-off build: incremental state would only take disk (~1 GB).
        .env("CARGO_INCREMENTAL", "0")
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("building the tests failed ({})", out.status);
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = msg["manifest_path"].as_str().unwrap_or_default();
        let package = package_name(msg["package_id"].as_str().unwrap_or_default());
        found.push(TestBinary {
            package,
            target: msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            kind: msg["target"]["kind"][0]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            test: msg["profile"]["test"].as_bool().unwrap_or(false),
            path: exe.into(),
            manifest_dir: std::path::Path::new(manifest)
                .parent()
                .unwrap_or(root)
                .to_path_buf(),
        });
    }
    Ok(found)
}

/// The package name in a cargo package id: `path+file:///…/tests#spam-e2e@0.1.0`, or
/// `path+file:///…/xtask#0.1.0` when the folder already bears the name.
fn package_name(id: &str) -> String {
    let (path, fragment) = id.rsplit_once('#').unwrap_or((id, ""));
    match fragment.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => path.rsplit('/').next().unwrap_or_default().to_string(),
    }
}
