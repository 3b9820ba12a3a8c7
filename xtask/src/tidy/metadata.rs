//! The workspace's packages as tidy needs them, read from `cargo metadata`.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::violation::Violation;

/// A workspace package as tidy needs it, read from `cargo metadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// The manifest's folder relative to the workspace root (`crates/data`, `xtask`).
    pub dir: String,
    /// The library target's root file relative to the workspace root, if there is one.
    pub lib: Option<String>,
    /// The binary targets' root files relative to the workspace root.
    pub bins: Vec<String>,
    /// The integration-test targets (kind `test`): name and root file relative to the
    /// workspace root.
    pub tests: Vec<(String, String)>,
    /// Normal (not dev, not build) dependencies, by package name, on any platform.
    pub normal_deps: BTreeSet<String>,
}

impl Package {
    /// A library crate for the printing rule: a library target, and living under `crates/`
    /// (`tests/` and `xtask` are tools that print by design).
    pub fn is_library_crate(&self) -> bool {
        self.lib.is_some() && self.dir.starts_with("crates/")
    }
}

/// The workspace members in `cargo metadata --format-version 1 --no-deps` output.
pub fn packages_from_metadata(metadata: &Value) -> Result<Vec<Package>> {
    let root = metadata["workspace_root"]
        .as_str()
        .context("cargo metadata has no workspace_root")?;
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .context("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let relative = |p: &str| -> String {
        let p = Path::new(p);
        let rel = p.strip_prefix(root).unwrap_or(p);
        rel.to_string_lossy().replace('\\', "/")
    };
    let mut out = Vec::new();
    for p in metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages")?
    {
        if !members.contains(p["id"].as_str().unwrap_or_default()) {
            continue;
        }
        let name = p["name"].as_str().context("a package without a name")?;
        let manifest = p["manifest_path"]
            .as_str()
            .with_context(|| format!("package {name} has no manifest_path"))?;
        let dir = relative(
            &Path::new(manifest)
                .parent()
                .unwrap_or(Path::new(""))
                .to_string_lossy(),
        );
        let mut lib = None;
        let mut bins = Vec::new();
        let mut tests = Vec::new();
        for t in p["targets"].as_array().into_iter().flatten() {
            let kinds: Vec<&str> = t["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let src = relative(t["src_path"].as_str().unwrap_or_default());
            if kinds.iter().any(|k| {
                matches!(
                    *k,
                    "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
                )
            }) {
                lib = Some(src);
            } else if kinds.contains(&"bin") {
                bins.push(src);
            } else if kinds.contains(&"test") {
                let name = t["name"].as_str().unwrap_or_default().to_string();
                tests.push((name, src));
            }
        }
        let normal_deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str().map(str::to_string))
            .collect();
        out.push(Package {
            name: name.to_string(),
            dir,
            lib,
            bins,
            tests,
            normal_deps,
        });
    }
    Ok(out)
}

/// Packages with more than one integration-test binary: each is a separate link of the
/// package and its dependencies, so they are modules of one binary instead.
pub fn check_test_binaries(packages: &[Package]) -> Vec<Violation> {
    packages
        .iter()
        .filter(|p| p.tests.len() > 1)
        .map(|p| {
            let names: Vec<String> = p
                .tests
                .iter()
                .map(|(name, src)| format!("`{name}` ({src})"))
                .collect();
            let manifest = if p.dir.is_empty() {
                "Cargo.toml".to_string()
            } else {
                format!("{}/Cargo.toml", p.dir)
            };
            Violation::new(
                &manifest,
                0,
                format!(
                    "`{}` has {} integration-test binaries, {}: make them modules of one \
                     binary (tests/it/main.rs, `autotests = false` and one `[[test]]` named \
                     `it`)",
                    p.name,
                    p.tests.len(),
                    names.join(", ")
                ),
            )
        })
        .collect()
}
