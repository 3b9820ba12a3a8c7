//! `cargo xtask fetch --weights` against a local HTTP server: the OpenAI files, a dropped
//! connection resumed, the hub fallback into the hub cache, and the message when both fail.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

use spam_test_support::http_server::{Route, Server};

const FILES: [&str; 7] = [
    "checkpoint",
    "encoder.json",
    "hparams.json",
    "model.ckpt.data-00000-of-00001",
    "model.ckpt.index",
    "model.ckpt.meta",
    "vocab.bpe",
];

fn body(name: &str, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7) ^ name.len() as u8)
        .collect()
}

fn fetch(server: &Server, models: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fetch", "--weights", "--size", "355M"])
        .args(extra)
        .env("SPAM_MODELS_DIR", models)
        .env("SPAM_OPENAI_BASE_URL", server.url("/openai"))
        .env("HF_ENDPOINT", &server.base)
        .env("HF_HUB_CACHE", models.join("hub-cache"))
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("HF_TOKEN")
        .output()
        .unwrap()
}

#[test]
fn openai_files_download_and_a_dropped_connection_resumes() {
    let mut routes: Vec<(String, Route)> = FILES
        .iter()
        .map(|f| (format!("/openai/355M/{f}"), Route::File(body(f, 1000))))
        .collect();
    // The big file drops its connection after 150 kB; the retry resumes with Range.
    let big = body("data", 400_000);
    routes[3].1 = Route::DropFirst(big.clone(), 150_000);
    let server = Server::start(
        routes
            .iter()
            .map(|(p, r)| (p.as_str(), r.clone()))
            .collect(),
    );
    let models = tempfile::tempdir().unwrap();

    let out = fetch(&server, models.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = models.path().join("gpt2/355M");
    assert_eq!(
        std::fs::read(dir.join("model.ckpt.data-00000-of-00001")).unwrap(),
        big
    );
    for f in FILES {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let hits = server.hits("/openai/355M/model.ckpt.data-00000-of-00001");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[1].as_deref(), Some("bytes=150000-"));
    assert!(!dir.join("model.ckpt.data-00000-of-00001.partial").exists());

    // A second run is a no-op.
    let out = fetch(&server, models.path(), &[]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"));
}

#[test]
fn falls_back_to_the_hub_cache_then_explains_when_both_fail() {
    const COMMIT: &str = "11c5a3d5811f50298f278a704980280950aedb10";
    let st = body("safetensors", 5000);
    let config = b"{}".to_vec();
    let headers = |etag: &str| {
        vec![
            ("X-Repo-Commit".to_string(), COMMIT.to_string()),
            ("ETag".to_string(), format!("\"{etag}\"")),
        ]
    };
    let repo = "/openai-community/gpt2-medium/resolve";
    let server = Server::start(vec![
        (
            &format!("{repo}/main/config.json"),
            Route::Headers(headers("c0ffee"), config.clone()),
        ),
        (
            &format!("{repo}/{COMMIT}/config.json"),
            Route::Headers(headers("c0ffee"), config.clone()),
        ),
        (
            &format!("{repo}/{COMMIT}/model.safetensors"),
            Route::Headers(headers("5afe"), st.clone()),
        ),
    ]);
    let models = tempfile::tempdir().unwrap();
    let out = fetch(&server, models.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The files are in the hub cache's layout, and the run says where.
    let snapshot = models
        .path()
        .join("hub-cache/models--openai-community--gpt2-medium/snapshots")
        .join(COMMIT);
    assert_eq!(
        std::fs::read(snapshot.join("model.safetensors")).unwrap(),
        st
    );
    assert_eq!(std::fs::read(snapshot.join("config.json")).unwrap(), config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&snapshot.display().to_string())
            && stdout.contains("--weights gpt2-medium"),
        "{stdout}"
    );
    assert!(!models.path().join("gpt2/355M").exists());
    // A second run finds them there.
    let out = fetch(&server, models.path(), &[]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("already in the Hugging Face cache"),
        "{stdout}"
    );

    let empty = Server::start(vec![]);
    let models = tempfile::tempdir().unwrap();
    let out = fetch(&empty, models.path(), &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--from DIR") && stderr.contains("--weights random"),
        "{stderr}"
    );
}

#[test]
fn from_imports_a_checkpoint_folder_and_rejects_others() {
    let src = tempfile::tempdir().unwrap();
    for f in [
        "hparams.json",
        "model.ckpt.index",
        "model.ckpt.data-00000-of-00001",
    ] {
        std::fs::write(src.path().join(f), body(f, 64)).unwrap();
    }
    let server = Server::start(vec![]);
    let models = tempfile::tempdir().unwrap();
    let out = fetch(
        &server,
        models.path(),
        &["--from", src.path().to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(models.path().join("gpt2/355M/model.ckpt.index").is_file());

    std::fs::remove_file(src.path().join("model.ckpt.index")).unwrap();
    let out = fetch(
        &server,
        models.path(),
        &["--from", src.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("model.ckpt.index"));
}
