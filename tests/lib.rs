//! Helpers for the workspace-level end-to-end tests: they drive the `spam-cli` binary as a
//! user would, so they need it built first (`spam_cli()` builds it on demand).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The shared input folder that CI places beside the clone (override: `SPAM_SHARED_DIR`).
pub use spam_test_support::shared_dir;

/// The real SMS Spam Collection; panics with a clear message when it is absent.
pub use spam_test_support::sms_collection;

/// Path of the `spam-cli` binary of the current profile, built once per test process.
pub fn spam_cli() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // CI passes the binary it built with the rest of the workspace.
        if let Some(bin) = std::env::var_os("SPAM_CLI_BIN") {
            return PathBuf::from(bin);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(root())
            .args(["build", "--quiet", "-p", "spam-cli", "--bin", "spam-cli"])
            .status()
            .expect("could not run cargo to build spam-cli");
        assert!(status.success(), "building spam-cli failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug").join("spam-cli")
    })
}

/// Runs `spam-cli` with `args`, returning (exit code, stdout, stderr).
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(spam_cli())
        .args(args)
        .output()
        .expect("could not start spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
