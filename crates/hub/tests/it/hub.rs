//! Weights by hub id: ids and aliases, the environment's cache and token, resolution from a fake
//! cache folder, the offline error, and (feature `download`) downloads into the cache from the
//! local test server standing in for the hub.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use spam_hub::{GPT2_HUB_FILES, HubError, HubId, HubOptions, find_cached, resolve_hub};

const C1: &str = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
const C2: &str = "11c5a3d5811f50298f278a704980280950aedb10";

fn vars(pairs: &[(&str, &str)]) -> HubOptions {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    HubOptions::from_vars(|k| map.get(k).cloned())
}

fn options(cache: &Path, offline: bool) -> HubOptions {
    let mut o = vars(&[("HF_HUB_CACHE", cache.to_str().unwrap())]);
    o.offline = offline;
    o
}

/// A snapshot folder holding `files` (plain files, as a copy-based cache has).
fn snapshot(cache: &Path, folder: &str, commit: &str, files: &[&str]) -> PathBuf {
    let dir = cache.join(folder).join("snapshots").join(commit);
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        std::fs::write(dir.join(f), format!("{f} of {commit}")).unwrap();
    }
    dir
}

fn set_ref(cache: &Path, folder: &str, name: &str, commit: &str) {
    let path = cache.join(folder).join("refs").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, commit).unwrap();
}

#[test]
fn ids_aliases_and_revisions_parse() {
    let id = HubId::parse("gpt2").unwrap();
    assert_eq!(
        (id.repo.as_str(), id.revision.as_str()),
        ("openai-community/gpt2", "main")
    );
    assert_eq!(id.to_string(), "openai-community/gpt2");
    for (alias, repo) in [
        ("gpt2-medium", "openai-community/gpt2-medium"),
        ("gpt2-large", "openai-community/gpt2-large"),
        ("gpt2-xl", "openai-community/gpt2-xl"),
    ] {
        assert_eq!(HubId::parse(alias).unwrap().repo, repo);
    }
    let id: HubId = format!("openai-community/gpt2@{C1}").parse().unwrap();
    assert_eq!(id.revision, C1);
    assert_eq!(id.to_string(), format!("openai-community/gpt2@{C1}"));
    let id = HubId::parse("gpt2-xl@refs/pr/3").unwrap();
    assert_eq!(
        (id.repo.as_str(), id.revision.as_str()),
        ("openai-community/gpt2-xl", "refs/pr/3")
    );
    assert_eq!(id.cache_folder(), "models--openai-community--gpt2-xl");

    for bad in [
        "bert",
        "a/b/c",
        "/abs/path",
        "./x",
        "org/",
        "org/../x",
        "org/na me",
        "org/name@",
        "org/name@../../etc",
        "org/-name",
        "org/na--me",
        "",
    ] {
        let err = HubId::parse(bad).unwrap_err().to_string();
        assert!(err.contains("not a hub model id"), "{bad:?}: {err}");
    }
}

#[test]
fn environment_names_the_cache_endpoint_token_and_offline() {
    // HF_HUB_CACHE wins over HF_HOME; HF_HOME's cache is HF_HOME/hub.
    let o = vars(&[
        ("HF_HUB_CACHE", "/c/hub"),
        ("HF_HOME", "/h"),
        ("HOME", "/u"),
    ]);
    assert_eq!(o.cache, Path::new("/c/hub"));
    let o = vars(&[("HF_HOME", "/h"), ("HOME", "/u"), ("XDG_CACHE_HOME", "/x")]);
    assert_eq!(o.cache, Path::new("/h/hub"));
    let o = vars(&[("HOME", "/u"), ("XDG_CACHE_HOME", "/x")]);
    assert_eq!(o.cache, Path::new("/x/huggingface/hub"));
    let o = vars(&[("HOME", "/u"), ("HF_HUB_CACHE", "")]);
    assert_eq!(o.cache, Path::new("/u/.cache/huggingface/hub"));

    assert_eq!(o.endpoint, "https://huggingface.co");
    assert!(!o.offline);
    assert!(o.token.is_none());
    let o = vars(&[
        ("HF_ENDPOINT", "http://mirror.test:8080/"),
        ("HF_HUB_OFFLINE", "1"),
    ]);
    assert_eq!(o.endpoint, "http://mirror.test:8080");
    assert!(o.offline);
    for (v, offline) in [
        ("true", true),
        ("YES", true),
        ("on", true),
        ("0", false),
        ("", false),
    ] {
        assert_eq!(vars(&[("HF_HUB_OFFLINE", v)]).offline, offline, "{v:?}");
    }

    // HF_TOKEN, else the token file in HF_HOME; the token never shows in Debug.
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("token"), "hf_fromfile\n").unwrap();
    let h = home.path().to_str().unwrap();
    let o = vars(&[("HF_HOME", h)]);
    // The file is read when a request needs the token, not when the options are made.
    assert!(o.token.is_none());
    assert_eq!(o.bearer_token().unwrap().unwrap().expose(), "hf_fromfile");
    assert!(!format!("{o:?}").contains("hf_fromfile"));
    let o = vars(&[("HF_HOME", h), ("HF_TOKEN", "hf_fromenv")]);
    assert_eq!(o.token.as_ref().unwrap().expose(), "hf_fromenv");
}

#[test]
fn cached_snapshots_resolve_by_ref_commit_and_alias() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path();
    let repo = "models--openai-community--gpt2";
    let s1 = snapshot(cache, repo, C1, &GPT2_HUB_FILES);
    let s2 = snapshot(cache, repo, C2, &GPT2_HUB_FILES);
    set_ref(cache, repo, "main", &format!("{C1}\n"));
    set_ref(cache, repo, "v2", C2);

    for id in [
        "gpt2",
        "openai-community/gpt2",
        "openai-community/gpt2@main",
    ] {
        let got = find_cached(&HubId::parse(id).unwrap(), &GPT2_HUB_FILES, cache).unwrap();
        assert_eq!((got.commit.as_str(), &got.dir), (C1, &s1), "{id}");
        assert!(!got.downloaded);
    }
    // A commit needs no ref; a tag goes through refs/.
    let got = find_cached(
        &HubId::parse(&format!("gpt2@{C2}")).unwrap(),
        &GPT2_HUB_FILES,
        cache,
    );
    assert_eq!(got.unwrap().dir, s2);
    let got = find_cached(&HubId::parse("gpt2@v2").unwrap(), &GPT2_HUB_FILES, cache);
    assert_eq!(got.unwrap().commit, C2);

    let why = find_cached(&HubId::parse("gpt2@v3").unwrap(), &GPT2_HUB_FILES, cache).unwrap_err();
    assert!(why.contains("refs/v3"), "{why}");
    // A snapshot missing a file (or holding a dangling link) does not count.
    std::fs::remove_file(s1.join("model.safetensors")).unwrap();
    let why = find_cached(&HubId::parse("gpt2").unwrap(), &GPT2_HUB_FILES, cache).unwrap_err();
    assert!(why.contains("lacks model.safetensors"), "{why}");

    // An alias is also found under the bare name older downloads used.
    snapshot(cache, "models--gpt2-medium", C2, &GPT2_HUB_FILES);
    set_ref(cache, "models--gpt2-medium", "main", C2);
    let got = find_cached(
        &HubId::parse("gpt2-medium").unwrap(),
        &GPT2_HUB_FILES,
        cache,
    )
    .unwrap();
    assert_eq!(
        got.dir,
        cache.join("models--gpt2-medium/snapshots").join(C2)
    );

    // A ref that is not a commit is refused rather than used as a path.
    set_ref(cache, repo, "bad", "../../../etc");
    let why = find_cached(&HubId::parse("gpt2@bad").unwrap(), &GPT2_HUB_FILES, cache).unwrap_err();
    assert!(why.contains("not a commit"), "{why}");
}

/// A ref that is a link to the token file is refused without printing what it holds.
#[cfg(unix)]
#[test]
fn a_bad_ref_is_described_never_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hub");
    let repo = "models--openai-community--gpt2";
    snapshot(&cache, repo, C1, &GPT2_HUB_FILES);
    let token = dir.path().join("token");
    std::fs::write(&token, "hf_verysecrettoken\n").unwrap();
    std::fs::create_dir_all(cache.join(repo).join("refs")).unwrap();
    std::os::unix::fs::symlink(&token, cache.join(repo).join("refs").join("main")).unwrap();
    let why = find_cached(&HubId::parse("gpt2").unwrap(), &GPT2_HUB_FILES, &cache).unwrap_err();
    assert!(!why.contains("hf_verysecret"), "{why}");
    assert!(
        why.contains("refs/main is not a commit hash (19 bytes"),
        "{why}"
    );
}

/// FIFOs at the ref and at the token path never block: the ref is refused, and the token
/// file is not even opened by a lookup that needs no network.
#[cfg(unix)]
#[test]
fn fifos_at_the_ref_or_the_token_path_never_block() {
    let mkfifo = |p: &Path| {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let cache = home.join("hub");
    let repo = "models--openai-community--gpt2";
    snapshot(&cache, repo, C1, &GPT2_HUB_FILES);
    std::fs::create_dir_all(cache.join(repo).join("refs")).unwrap();
    mkfifo(&cache.join(repo).join("refs").join("main"));
    mkfifo(&home.join("token"));
    let opts = vars(&[("HF_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")]);
    let (send, recv) = std::sync::mpsc::channel();
    let id = HubId::parse("gpt2").unwrap();
    let o = opts.clone();
    std::thread::spawn(move || {
        let _ = send.send(resolve_hub(&id, &GPT2_HUB_FILES, &o, &mut |_| {}).map(|_| ()));
    });
    let got = recv
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("resolution blocked on a FIFO");
    let msg = got.unwrap_err().to_string();
    assert!(msg.contains("not a regular file"), "{msg}");
    // Asked for explicitly, the FIFO token file is refused, not opened.
    let err = opts.bearer_token().unwrap_err();
    assert!(matches!(err, HubError::TokenFile { .. }), "{err:?}");
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

#[test]
fn offline_and_not_cached_names_the_id_and_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), true);
    let id = HubId::parse("openai-community/gpt2-large@v1").unwrap();
    let err = resolve_hub(&id, &GPT2_HUB_FILES, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("openai-community/gpt2-large@v1")
            && msg.contains(&dir.path().display().to_string())
            && msg.contains("HF_HUB_OFFLINE")
            && msg.contains("--weights PATH"),
        "{msg}"
    );
}

#[cfg(feature = "download")]
mod download {
    use super::*;
    use spam_test_support::http_server::{Route, Server};

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
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

    fn online(cache: &Path, server: &Server, token: Option<&str>) -> HubOptions {
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
}
