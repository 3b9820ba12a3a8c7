//! This crate must never pull in libtorch, and without `download` no HTTP client either.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

/// The crate names in spam-data's dependency tree (normal and build edges), with `extra`
/// arguments for `cargo tree`.
fn dependency_names(extra: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "spam-data",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(extra)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    assert!(
        tree.lines().any(|l| l.starts_with("spam-data ")),
        "unexpected output:\n{tree}"
    );
    tree.lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn dependency_tree_has_no_torch() {
    let names = dependency_names(&[]);
    assert!(names.iter().any(|n| n == "tiktoken-rs"));
    let torch: Vec<&String> = names
        .iter()
        .filter(|n| *n == "tch" || *n == "torch-sys")
        .collect();
    assert!(torch.is_empty(), "spam-data depends on libtorch: {torch:?}");
}

/// Without the `download` feature nothing pulls in an HTTP client or a TLS stack, so crates
/// that only need the data types (spam-model) stay light.
#[test]
fn no_default_features_tree_has_no_http_client() {
    let names = dependency_names(&["--no-default-features"]);
    let http: Vec<&String> = names
        .iter()
        .filter(|n| ["reqwest", "hyper", "rustls", "native-tls", "openssl"].contains(&n.as_str()))
        .collect();
    assert!(
        http.is_empty(),
        "spam-data without `download` depends on: {http:?}"
    );
}
