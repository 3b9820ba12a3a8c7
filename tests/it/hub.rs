//! End-to-end: weights by Hugging Face hub id (`--weights ORG/NAME[@REV]`, `--weights gpt2`)
//! read from a hub cache folder without network, and what a run says when they are not there.

use std::path::{Path, PathBuf};
use std::process::Command;

use spam_e2e::{root, sms_collection};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// `spam-cli ARGS` in `cwd` with the hub cache `cache`, offline: (exit code, stdout, stderr).
fn run_offline(cwd: &Path, cache: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(spam_e2e::spam_cli())
        .args(args)
        .current_dir(cwd)
        .env("HF_HUB_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_TOKEN")
        .env_remove("HF_ENDPOINT")
        .output()
        .expect("spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The model crate's tiny hub checkpoint (vocabulary 128) as snapshot `COMMIT` of `folder`
/// (`models--ORG--NAME`) in `cache`, with `refs/REF` naming it.
fn cache_tiny(cache: &Path, folder: &str, reference: &str) -> PathBuf {
    let fixture = root().join("crates/model/tests/fixtures/tiny/hub");
    let snapshot = cache.join(folder).join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).expect("snapshot");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture.join(f), snapshot.join(f)).expect("copy fixture");
    }
    let refs = cache.join(folder).join("refs");
    std::fs::create_dir_all(&refs).expect("refs");
    std::fs::write(refs.join(reference), COMMIT).expect("ref");
    snapshot
}

#[test]
fn generate_reads_weights_by_hub_id_and_revision_from_the_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("hub");
    cache_tiny(&cache, "models--tiny-org--tiny-gpt2", "v1");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("crates/model/tests/fixtures/tiny/expected.json"))
            .expect("expected.json"),
    )
    .expect("json");
    let greedy = &expected["greedy"];
    let prompt: Vec<String> = greedy["prompt_ids"]
        .as_array()
        .expect("prompt")
        .iter()
        .map(|v| v.to_string())
        .collect();
    let n = greedy["generated_ids"]
        .as_array()
        .expect("ids")
        .len()
        .to_string();
    let args = |weights: &'static str| {
        vec![
            "generate".to_string(),
            "--weights".into(),
            weights.into(),
            "--prompt-ids".into(),
            prompt.join(","),
            "--max-new-tokens".into(),
            n.clone(),
            "--json".into(),
            "--device".into(),
            "cpu".into(),
        ]
    };
    let a = args("tiny-org/tiny-gpt2@v1");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = run_offline(tmp.path(), &cache, &a);
    assert_eq!(code, 0, "{stderr}");
    let got: serde_json::Value = serde_json::from_str(&stdout).expect("generate json");
    assert_eq!(got["generated_ids"], greedy["generated_ids"]);

    // A revision the cache has no ref for is an error naming it and the cache.
    let a = args("tiny-org/tiny-gpt2@v2");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, _, stderr) = run_offline(tmp.path(), &cache, &a);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("tiny-org/tiny-gpt2@v2")
            && stderr.contains("refs/v2")
            && stderr.contains(&cache.display().to_string())
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn train_by_hub_id_offline_and_not_cached_says_which_and_where() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("empty-cache");
    let data = sms_collection();
    let out = tmp.path().join("run");
    let (code, _, stderr) = run_offline(
        tmp.path(),
        &cache,
        &[
            "train",
            "--weights",
            "gpt2",
            "--data",
            data.to_str().expect("utf-8"),
            "--device",
            "cpu",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("openai-community/gpt2 is not in the Hugging Face cache")
            && stderr.contains(&cache.display().to_string())
            && stderr.contains("HF_HUB_OFFLINE")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// Without `--weights` and without `models/gpt2/124M`, a run takes GPT-2 124M from the hub
/// cache when it is there (here the tiny checkpoint stands in for it, and is refused for its
/// vocabulary, which shows it was the one read); when it is not, the error says how to get it.
#[test]
fn default_weights_come_from_the_hub_cache_when_models_is_empty() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("hub");
    let data = sms_collection();
    let data = data.to_str().expect("utf-8");
    let train = [
        "train",
        "--data",
        data,
        "--device",
        "cpu",
        "--padding",
        "fixed:20",
    ];
    let (code, _, stderr) = run_offline(tmp.path(), &cache, &train);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--weights gpt2") && stderr.contains("cargo xtask fetch --weights"),
        "{stderr}"
    );

    cache_tiny(&cache, "models--openai-community--gpt2", "main");
    let (code, stdout, stderr) = run_offline(tmp.path(), &cache, &train);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!(
            "Weights: openai-community/gpt2 at commit {COMMIT}"
        )),
        "{stdout}"
    );
    assert!(
        stderr.contains("128") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
