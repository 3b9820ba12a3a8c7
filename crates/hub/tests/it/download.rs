//! Downloads into the hub cache from the local test server standing in for the hub: the
//! snapshot layout, checked blobs, the token kept on the endpoint's origin, what a refused or
//! foreign answer says.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use spam_hub::{GPT2_HUB_FILES, HubError, HubId, HubOptions, resolve_hub};

use crate::hub::{C1, options, vars};
use spam_test_support::http_server::{Route, Server};

pub(crate) fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

struct Hub {
    server: Server,
    config: Vec<u8>,
    weights: Vec<u8>,
    sha: String,
}

/// The hub's answers for openai-community/gpt2: config.json served directly (git ETag),
/// model.safetensors redirected to storage elsewhere (its sha256 as X-Linked-Etag).
fn hub(weights_sha: Option<&str>) -> Hub {
    let config = br#"{"model_type": "gpt2", "n_layer": 2}"#.to_vec();
    let weights: Vec<u8> = (0..70_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let sha = weights_sha.map_or_else(|| spam_data::sha256_hex(&weights), str::to_string);
    let config_headers = h(&[("X-Repo-Commit", C1), ("ETag", "\"0a1b2c3d\"")]);
    let size = weights.len().to_string();
    let lfs = h(&[
        ("X-Repo-Commit", C1),
        ("X-Linked-Etag", &format!("\"{sha}\"")),
        ("X-Linked-Size", &size),
    ]);
    let server = Server::start(vec![
        (
            "/openai-community/gpt2/resolve/main/config.json",
            Route::Headers(config_headers.clone(), config.clone()),
        ),
        (
            &format!("/openai-community/gpt2/resolve/{C1}/config.json"),
            Route::Headers(config_headers, config.clone()),
        ),
        (
            &format!("/openai-community/gpt2/resolve/{C1}/model.safetensors"),
            Route::Redirect(302, "/storage/blob-1".into(), lfs),
        ),
        ("/storage/blob-1", Route::File(weights.clone())),
    ]);
    Hub {
        server,
        config,
        weights,
        sha,
    }
}

pub(crate) fn online(cache: &Path, server: &Server, token: Option<&str>) -> HubOptions {
    let mut pairs = vec![
        ("HF_HUB_CACHE", cache.to_str().unwrap()),
        ("HF_ENDPOINT", server.base.as_str()),
    ];
    if let Some(t) = token {
        pairs.push(("HF_TOKEN", t));
    }
    let mut o = vars(&pairs);
    o.download.retries = 0;
    o.download.connect_timeout = std::time::Duration::from_secs(2);
    o.download.read_timeout = std::time::Duration::from_secs(5);
    o
}

#[test]
fn downloads_into_the_snapshot_layout_then_needs_no_network() {
    let hub = hub(None);
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path();
    let opts = online(cache, &hub.server, Some("hf_secret"));
    let id = HubId::parse("gpt2").unwrap();
    let mut seen = 0;
    let got = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |p| {
        if p.file == "model.safetensors" {
            seen = p.downloaded;
        }
    })
    .unwrap();
    let repo = cache.join("models--openai-community--gpt2");
    assert_eq!(got.commit, C1);
    assert_eq!(got.dir, repo.join("snapshots").join(C1));
    assert!(got.downloaded);
    assert_eq!(seen, hub.weights.len() as u64);
    assert_eq!(
        std::fs::read(got.dir.join("config.json")).unwrap(),
        hub.config
    );
    assert_eq!(
        std::fs::read(got.dir.join("model.safetensors")).unwrap(),
        hub.weights
    );
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), C1);
    assert_eq!(
        std::fs::read(repo.join("blobs").join(&hub.sha)).unwrap(),
        hub.weights
    );
    assert_eq!(
        std::fs::read(repo.join("blobs/0a1b2c3d")).unwrap(),
        hub.config
    );
    #[cfg(unix)]
    assert_eq!(
        std::fs::read_link(got.dir.join("model.safetensors")).unwrap(),
        Path::new("../../blobs").join(&hub.sha)
    );
    // No leftovers of the atomic writes.
    let names: Vec<String> = std::fs::read_dir(repo.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // The token went to the hub as a bearer token; later files were asked for at the
    // commit the first one named.
    let requests = hub.server.requests();
    let to_hub: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with("/openai-community/"))
        .collect();
    assert!(!to_hub.is_empty());
    for r in &to_hub {
        assert_eq!(r.header("authorization"), Some("Bearer hf_secret"), "{r:?}");
    }
    assert!(
        requests
            .iter()
            .any(|r| r.method == "HEAD" && r.path.ends_with("/resolve/main/config.json"))
    );
    assert!(requests.iter().any(|r| {
        r.method == "GET"
            && r.path
                .ends_with(&format!("/resolve/{C1}/model.safetensors"))
    }));

    // A second resolve is served by the cache alone, even offline.
    let before = hub.server.requests().len();
    let again = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |_| {}).unwrap();
    assert_eq!(
        (again.dir.clone(), again.downloaded),
        (got.dir.clone(), false)
    );
    let offline = options(cache, true);
    let again = resolve_hub(&id, &GPT2_HUB_FILES, &offline, &mut |_| {}).unwrap();
    assert_eq!(again.commit, C1);
    assert_eq!(hub.server.requests().len(), before);
}

#[test]
fn a_blob_whose_sha256_differs_is_refused_and_not_linked() {
    let hub = hub(Some(&"ab".repeat(32)));
    let dir = tempfile::tempdir().unwrap();
    let opts = online(dir.path(), &hub.server, None);
    let id = HubId::parse("openai-community/gpt2").unwrap();
    let err = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, HubError::Download { .. }), "{err:?}");
    assert!(
        msg.contains("model.safetensors") && msg.contains("sha256 mismatch"),
        "{msg}"
    );
    let repo = dir.path().join("models--openai-community--gpt2");
    assert!(
        !repo
            .join("snapshots")
            .join(C1)
            .join("model.safetensors")
            .exists()
    );
    assert!(!repo.join("refs/main").exists());
    // No authorization header when no token is set.
    assert!(
        hub.server
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
}

#[test]
fn gated_and_missing_repositories_say_what_to_do() {
    let server = Server::start(vec![(
        "/org/private/resolve/main/config.json",
        Route::Status(401),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let opts = online(dir.path(), &server, None);
    let id = HubId::parse("org/private").unwrap();
    let msg = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("org/private") && msg.contains("set HF_TOKEN"),
        "{msg}"
    );

    let id = HubId::parse("org/absent@v9").unwrap();
    let msg = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("org/absent@v9") && msg.contains("HTTP 404"),
        "{msg}"
    );

    // A server that is not the hub (no X-Repo-Commit) is named as such.
    let plain = Server::start(vec![(
        "/org/plain/resolve/main/config.json",
        Route::File(b"{}".to_vec()),
    )]);
    let opts = online(dir.path(), &plain, None);
    let msg = resolve_hub(
        &HubId::parse("org/plain").unwrap(),
        &["config.json"],
        &opts,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("X-Repo-Commit") && msg.contains("HF_ENDPOINT"),
        "{msg}"
    );
}

/// A redirect to another origin, in any form (absolute, protocol-relative), is not
/// followed and the token never reaches that host; a same-origin redirect still is.
#[test]
fn the_token_never_leaves_the_endpoints_origin() {
    let other = Server::start(vec![(
        "/steal/config.json",
        Route::Headers(
            h(&[("X-Repo-Commit", C1), ("ETag", "\"0a\"")]),
            b"{}".to_vec(),
        ),
    )]);
    let host_port = other.base.trim_start_matches("http://").to_string();
    for location in [
        format!("//{host_port}/steal/config.json"),
        format!("http://{host_port}/steal/config.json"),
    ] {
        let hub = Server::start(vec![(
            "/org/moved/resolve/main/config.json",
            Route::Redirect(302, location.clone(), vec![]),
        )]);
        let dir = tempfile::tempdir().unwrap();
        let opts = online(dir.path(), &hub, Some("hf_secret"));
        let msg = resolve_hub(
            &HubId::parse("org/moved").unwrap(),
            &["config.json"],
            &opts,
            &mut |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("another host") && msg.contains(&host_port),
            "{location}: {msg}"
        );
    }
    assert!(
        other
            .requests()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "{:?}",
        other.requests()
    );

    // Within the endpoint (a renamed repository), the redirect is followed with the token.
    let config = b"{}".to_vec();
    let same = Server::start(vec![
        (
            "/org/old/resolve/main/config.json",
            Route::Redirect(301, "/org/new/resolve/main/config.json".into(), vec![]),
        ),
        (
            "/org/new/resolve/main/config.json",
            Route::Headers(h(&[("X-Repo-Commit", C1), ("ETag", "\"0b\"")]), config),
        ),
        (
            &format!("/org/old/resolve/{C1}/config.json"),
            Route::Headers(
                h(&[("X-Repo-Commit", C1), ("ETag", "\"0b\"")]),
                b"{}".to_vec(),
            ),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let opts = online(dir.path(), &same, Some("hf_secret"));
    let got = resolve_hub(
        &HubId::parse("org/old").unwrap(),
        &["config.json"],
        &opts,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(got.commit, C1);
    assert!(
        same.requests()
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer hf_secret"))
    );
}

/// Credentials in HF_ENDPOINT (user:password, a query) never appear in a message.
#[test]
fn endpoint_credentials_are_not_printed() {
    let server = Server::start(vec![(
        "/org/plain/resolve/main/config.json",
        Route::File(b"{}".to_vec()),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = online(dir.path(), &server, None);
    opts.endpoint = server
        .base
        .replace("http://", "http://user:hunter2@")
        .to_string();
    let msg = resolve_hub(
        &HubId::parse("org/plain").unwrap(),
        &["config.json"],
        &opts,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(!msg.contains("hunter2") && !msg.contains("user:"), "{msg}");
    assert!(msg.contains("***@127.0.0.1"), "{msg}");
}
