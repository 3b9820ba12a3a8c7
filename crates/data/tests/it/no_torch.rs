//! This crate must never pull in libtorch.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[test]
fn dependency_tree_has_no_torch() {
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
    assert!(tree.lines().any(|l| l.starts_with("tiktoken-rs ")));
    let torch: Vec<&str> = tree
        .lines()
        .filter(|l| {
            let name = l.split_whitespace().next().unwrap_or("");
            name == "tch" || name == "torch-sys"
        })
        .collect();
    assert!(torch.is_empty(), "spam-data depends on libtorch: {torch:?}");
}

/// Without the `download` feature nothing pulls in an HTTP client or a TLS stack, so crates
/// that only need the data types (spam-model) stay light.
#[test]
fn no_default_features_tree_has_no_http_client() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "spam-data",
            "--no-default-features",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
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
    let http: Vec<&str> = tree
        .lines()
        .filter(|l| {
            let name = l.split_whitespace().next().unwrap_or("");
            ["reqwest", "hyper", "rustls", "native-tls", "openssl"].contains(&name)
        })
        .collect();
    assert!(
        http.is_empty(),
        "spam-data without `download` depends on: {http:?}"
    );
}
