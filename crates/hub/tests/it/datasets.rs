//! Datasets by hub id: dataset ids, the Parquet files of a cached snapshot (links, folders,
//! the converted branch), the offline error, and (feature `download`) downloads through the
//! revision API of the local test server standing in for the hub.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use spam_hub::{
    HubError, HubId, PARQUET_REVISION, RepoKind, find_cached_dataset, resolve_hub_dataset,
};

use crate::hub::{C1, options};

const C2: &str = "2b7e1c0f9d3a5e4b6c8d0e2f4a6b8c0d1e3f5a7b";
const FOLDER: &str = "datasets--org--name";
const TRAIN: &str = "data/train-00000-of-00001.parquet";
const TEST: &str = "data/test-00000-of-00001.parquet";

fn dataset(s: &str) -> HubId {
    HubId::parse_dataset(s).unwrap()
}

/// `files` written into `FOLDER/snapshots/COMMIT` as blobs with relative links (as the hub's
/// libraries write them where links work), each holding its name.
#[cfg(unix)]
fn linked_snapshot(cache: &Path, commit: &str, files: &[&str]) -> PathBuf {
    let repo = cache.join(FOLDER);
    let dir = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    for (i, f) in files.iter().enumerate() {
        let etag = format!("{commit}{i}");
        std::fs::write(repo.join("blobs").join(&etag), f).unwrap();
        let link = dir.join(f);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        let up = "../".repeat(f.split('/').count() + 1);
        std::os::unix::fs::symlink(format!("{up}blobs/{etag}"), link).unwrap();
    }
    dir
}

fn set_ref(cache: &Path, name: &str, commit: &str) {
    let path = cache.join(FOLDER).join("refs").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, commit).unwrap();
}

#[test]
fn dataset_ids_parse_and_round_trip_and_bad_ones_show_the_syntax() {
    let id = dataset("org/name");
    assert_eq!(
        (id.repo.as_str(), id.revision.as_str(), id.kind),
        ("org/name", "main", RepoKind::Dataset)
    );
    assert_eq!(id.cache_folder(), FOLDER);
    for s in [
        "org/name",
        "org/name@v1.0",
        "org/name@refs/convert/parquet",
        &format!("org/name@{C1}"),
    ] {
        let id = dataset(s);
        assert_eq!(id.to_string(), s);
        assert_eq!(HubId::parse_dataset(&id.to_string()).unwrap(), id);
    }
    assert_eq!(
        dataset("org/name@refs/convert/parquet").revision,
        PARQUET_REVISION
    );
    // The model parser and its kind are unchanged; the kinds differ.
    let model = HubId::parse("org/name").unwrap();
    assert_eq!(model.kind, RepoKind::Model);
    assert_eq!(model.cache_folder(), "models--org--name");
    assert_ne!(model, dataset("org/name"));

    for bad in [
        "a",
        "gpt2",
        "a/b/c",
        "org/name@",
        "org/",
        "/name",
        "",
        "org/na me",
        "org/name@../x",
        "org/name@a b",
        "hf:org/name",
    ] {
        let err = HubId::parse_dataset(bad).unwrap_err();
        assert!(matches!(err, HubError::InvalidId(_)), "{bad:?}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("not a hub dataset id") && msg.contains("hf:ORG/NAME[@REVISION]"),
            "{bad:?}: {msg}"
        );
    }
}

/// Links into blobs/ count, folders are walked, other files are left out, and the list is
/// sorted; a commit needs no ref; a dangling link makes the snapshot incomplete.
#[cfg(unix)]
#[test]
fn cached_parquet_files_are_listed_through_links_and_folders() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path();
    let snap = linked_snapshot(cache, C1, &[TRAIN, TEST, "README.md", "b/c/d.parquet"]);
    set_ref(cache, "main", &format!("{C1}\n"));
    for id in ["org/name", "org/name@main", &format!("org/name@{C1}")] {
        let got = find_cached_dataset(&dataset(id), cache).unwrap();
        assert_eq!((got.commit.as_str(), &got.dir), (C1, &snap), "{id}");
        assert_eq!(got.files, ["b/c/d.parquet", TEST, TRAIN], "{id}");
        assert!(!got.downloaded);
        assert_eq!(got.revision, dataset(id).revision);
    }
    // A model of the same name is another folder.
    let none = spam_hub::find_cached(&HubId::parse("org/name").unwrap(), &[TRAIN], cache);
    assert!(none.unwrap_err().contains("no models--org--name"));

    let blob = std::fs::read_link(snap.join(TEST)).unwrap();
    std::fs::remove_file(snap.join("data").join(blob)).unwrap();
    let why = find_cached_dataset(&dataset("org/name"), cache).unwrap_err();
    assert!(why.contains(&format!("lacks {TEST}")), "{why}");
}

/// Main holding no Parquet file (or not cached at all) falls back to the converted branch,
/// whose ref is where the hub's libraries write it; an explicit other revision does not.
#[cfg(unix)]
#[test]
fn cached_main_without_parquet_falls_back_to_the_converted_branch() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path();
    linked_snapshot(cache, C1, &["README.md", "data.csv"]);
    set_ref(cache, "main", C1);
    set_ref(cache, "v1", C1);
    let converted = linked_snapshot(cache, C2, &["default/train/0000.parquet"]);
    let ref_file = cache.join(FOLDER).join("refs/refs/convert/parquet");
    std::fs::create_dir_all(ref_file.parent().unwrap()).unwrap();
    std::fs::write(&ref_file, C2).unwrap();

    let got = find_cached_dataset(&dataset("org/name"), cache).unwrap();
    assert_eq!(
        (got.revision.as_str(), got.commit.as_str(), &got.dir),
        (PARQUET_REVISION, C2, &converted)
    );
    assert_eq!(got.files, ["default/train/0000.parquet"]);
    let why = find_cached_dataset(&dataset("org/name@v1"), cache).unwrap_err();
    assert!(why.contains("holds no Parquet file"), "{why}");
    assert!(!why.contains("convert"), "{why}");

    // Without refs/main at all, the converted branch is still found.
    std::fs::remove_file(cache.join(FOLDER).join("refs/main")).unwrap();
    let got = find_cached_dataset(&dataset("org/name"), cache).unwrap();
    assert_eq!(got.commit, C2);
}

#[test]
fn offline_and_not_cached_names_the_dataset_folder_and_hf_hub_offline() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path(), true);
    let id = dataset("org/name@v2");
    let err = resolve_hub_dataset(&id, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(err, HubError::NotCached { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("org/name@v2")
            && msg.contains(&format!("no {FOLDER}"))
            && msg.contains(&dir.path().display().to_string())
            && msg.contains("HF_HUB_OFFLINE"),
        "{msg}"
    );
    // No model's advice for a dataset.
    assert!(!msg.contains("--weights"), "{msg}");
}

#[cfg(feature = "download")]
mod download {
    use super::*;
    use crate::download::{h, online};
    use spam_test_support::http_server::{Route, Server};

    struct Hub {
        server: Server,
        storage: Server,
        train: Vec<u8>,
        test: Vec<u8>,
        test_sha: String,
    }

    fn listing(sha: &str, files: &[&str]) -> Vec<u8> {
        let siblings: Vec<String> = files
            .iter()
            .map(|f| format!(r#"{{"rfilename": {f:?}}}"#))
            .collect();
        format!(
            r#"{{"id": "org/name", "sha": "{sha}", "private": false, "siblings": [{}]}}"#,
            siblings.join(", ")
        )
        .into_bytes()
    }

    /// The hub's answers for dataset org/name at `commit`, listed by the revision API at `rev`
    /// (URL-encoded): the train file served directly (git ETag), the test file redirected to
    /// storage on another origin (its sha256 as X-Linked-Etag).
    fn hub(rev: &str, commit: &str, extra: Vec<(String, Route)>) -> Hub {
        let train = b"PAR1 train rows PAR1".to_vec();
        let test: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let test_sha = spam_data::sha256_hex(&test);
        let storage = Server::start(vec![("/blob/test", Route::File(test.clone()))]);
        let size = test.len().to_string();
        let lfs = h(&[
            ("X-Repo-Commit", commit),
            ("X-Linked-Etag", &format!("\"{test_sha}\"")),
            ("X-Linked-Size", &size),
        ]);
        let mut routes = vec![
            (
                format!("/api/datasets/org/name/revision/{rev}"),
                Route::File(listing(
                    commit,
                    &[".gitattributes", "README.md", TRAIN, TEST],
                )),
            ),
            (
                format!("/datasets/org/name/resolve/{commit}/{TRAIN}"),
                Route::Headers(
                    h(&[("X-Repo-Commit", commit), ("ETag", "\"5e1f\"")]),
                    train.clone(),
                ),
            ),
            (
                format!("/datasets/org/name/resolve/{commit}/{TEST}"),
                Route::Redirect(302, storage.url("/blob/test"), lfs),
            ),
        ];
        routes.extend(extra);
        let server = Server::start(
            routes
                .iter()
                .map(|(p, r)| (p.as_str(), r.clone()))
                .collect(),
        );
        Hub {
            server,
            storage,
            train,
            test,
            test_sha,
        }
    }

    #[test]
    fn downloads_parquet_files_into_the_dataset_layout_then_needs_no_network() {
        let hub = hub("main", C1, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        let opts = online(cache, &hub.server, Some("hf_secret"));
        let id = dataset("org/name");
        let mut seen = 0;
        let got = resolve_hub_dataset(&id, &opts, &mut |p| {
            if p.file == TEST {
                seen = p.downloaded;
            }
        })
        .unwrap();
        let repo = cache.join(FOLDER);
        assert_eq!(
            (got.commit.as_str(), got.revision.as_str(), got.downloaded),
            (C1, "main", true)
        );
        assert_eq!(got.dir, repo.join("snapshots").join(C1));
        assert_eq!(got.files, [TEST, TRAIN]);
        assert_eq!(seen, hub.test.len() as u64);
        assert_eq!(std::fs::read(got.dir.join(TRAIN)).unwrap(), hub.train);
        assert_eq!(std::fs::read(got.dir.join(TEST)).unwrap(), hub.test);
        assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), C1);
        assert_eq!(
            std::fs::read(repo.join("blobs").join(&hub.test_sha)).unwrap(),
            hub.test
        );
        assert_eq!(std::fs::read(repo.join("blobs/5e1f")).unwrap(), hub.train);
        #[cfg(unix)]
        assert_eq!(
            std::fs::read_link(got.dir.join(TRAIN)).unwrap(),
            Path::new("../../../blobs/5e1f")
        );
        // Only the listed Parquet files were asked for, each pinned to the listing's commit.
        let requests = hub.server.requests();
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths[0], "/api/datasets/org/name/revision/main",
            "{paths:?}"
        );
        assert!(
            paths[1..]
                .iter()
                .all(|p| p.starts_with(&format!("/datasets/org/name/resolve/{C1}/data/"))),
            "{paths:?}"
        );
        // The token went to the endpoint (API and resolve URLs), not to the storage's origin.
        for r in &requests {
            assert_eq!(r.header("authorization"), Some("Bearer hf_secret"), "{r:?}");
        }
        let stored = hub.storage.requests();
        assert!(!stored.is_empty());
        assert!(
            stored.iter().all(|r| r.header("authorization").is_none()),
            "{stored:?}"
        );

        // A second resolve is served by the cache alone, even offline.
        let before = hub.server.requests().len();
        let again = resolve_hub_dataset(&id, &opts, &mut |_| {}).unwrap();
        assert_eq!(
            (&again.dir, &again.files, again.downloaded),
            (&got.dir, &got.files, false)
        );
        let again = resolve_hub_dataset(&id, &options(cache, true), &mut |_| {}).unwrap();
        assert_eq!(again.commit, C1);
        assert_eq!(hub.server.requests().len(), before);
    }

    /// Main lists no Parquet file: the converted branch is asked for (its name URL-encoded),
    /// downloaded, its ref written where the hub's libraries write it, and found there next
    /// time without network.
    #[test]
    fn main_without_parquet_falls_back_to_the_converted_branch() {
        let main = (
            "/api/datasets/org/name/revision/main".to_string(),
            Route::File(listing(C1, &["README.md", "data.csv"])),
        );
        let hub = hub("refs%2Fconvert%2Fparquet", C2, vec![main]);
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path();
        let opts = online(cache, &hub.server, None);
        let id = dataset("org/name");
        let got = resolve_hub_dataset(&id, &opts, &mut |_| {}).unwrap();
        assert_eq!(
            (got.revision.as_str(), got.commit.as_str()),
            (PARQUET_REVISION, C2)
        );
        assert_eq!(got.files, [TEST, TRAIN]);
        let repo = cache.join(FOLDER);
        assert_eq!(
            std::fs::read_to_string(repo.join("refs/refs/convert/parquet")).unwrap(),
            C2
        );
        assert!(!repo.join("refs/main").exists());
        assert_eq!(std::fs::read(got.dir.join(TRAIN)).unwrap(), hub.train);

        let before = hub.server.requests().len();
        for o in [&opts, &options(cache, true)] {
            let again = resolve_hub_dataset(&id, o, &mut |_| {}).unwrap();
            assert_eq!(
                (
                    again.revision.as_str(),
                    again.commit.as_str(),
                    again.downloaded
                ),
                (PARQUET_REVISION, C2, false)
            );
        }
        assert_eq!(hub.server.requests().len(), before);
    }

    /// No Parquet file on main nor a converted branch (404), or none at an explicit revision.
    #[test]
    fn a_dataset_without_parquet_files_says_so() {
        let server = Server::start(vec![
            (
                "/api/datasets/org/name/revision/main",
                Route::File(listing(C1, &["README.md"])),
            ),
            (
                "/api/datasets/org/name/revision/v1",
                Route::File(listing(C1, &["data.csv"])),
            ),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let opts = online(dir.path(), &server, None);
        let err = resolve_hub_dataset(&dataset("org/name"), &opts, &mut |_| {}).unwrap_err();
        assert!(matches!(err, HubError::NoParquet { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("org/name has no Parquet files at main (nor on refs/convert/parquet)"),
            "{err}"
        );
        let msg = resolve_hub_dataset(&dataset("org/name@v1"), &opts, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("org/name has no Parquet files at v1;"),
            "{msg}"
        );
        assert!(
            server
                .requests()
                .iter()
                .any(|r| r.path == "/api/datasets/org/name/revision/refs%2Fconvert%2Fparquet")
        );
        assert!(!dir.path().join(FOLDER).join("refs").exists());
    }

    /// A listed Parquet file that is not a plain relative path is refused before anything is
    /// asked for or written.
    #[test]
    fn malicious_file_names_are_refused() {
        for bad in [
            "../x.parquet",
            "/etc/x.parquet",
            "data/../../x.parquet",
            "data//x.parquet",
            "./x.parquet",
            "data\\..\\x.parquet",
        ] {
            let server = Server::start(vec![(
                "/api/datasets/org/name/revision/main",
                Route::File(listing(C1, &[TRAIN, bad])),
            )]);
            let dir = tempfile::tempdir().unwrap();
            let cache = dir.path().join("hub");
            let opts = online(&cache, &server, None);
            let err = resolve_hub_dataset(&dataset("org/name"), &opts, &mut |_| {}).unwrap_err();
            assert!(matches!(err, HubError::Download { .. }), "{bad:?}: {err:?}");
            let msg = err.to_string();
            assert!(
                msg.contains("not a relative path inside the repository"),
                "{bad:?}: {msg}"
            );
            assert_eq!(server.requests().len(), 1, "{bad:?}");
            assert!(!cache.exists(), "{bad:?}");
        }
    }

    /// Answers that are not the hub's revision JSON, or too large, are refused with a reason
    /// that does not quote them; a 404 names the repository or revision.
    #[test]
    fn answers_that_are_not_the_hubs_are_refused() {
        let huge = b"[".repeat(64 * 1024);
        for (body, expected) in [
            (Route::File(b"<html>hf_leak</html>".to_vec()), "is not JSON"),
            (
                Route::File(br#"{"sha": "hf_leak", "siblings": []}"#.to_vec()),
                "names no commit",
            ),
            (
                Route::File(format!(r#"{{"sha": "{C1}"}}"#).into_bytes()),
                "no \"siblings\"",
            ),
            (Route::Endless(huge), "more than the 16777216 bytes allowed"),
            (Route::Status(404), "HTTP 404"),
        ] {
            let server = Server::start(vec![("/api/datasets/org/name/revision/main", body)]);
            let dir = tempfile::tempdir().unwrap();
            let opts = online(dir.path(), &server, None);
            let msg = resolve_hub_dataset(&dataset("org/name"), &opts, &mut |_| {})
                .unwrap_err()
                .to_string();
            assert!(msg.contains(expected) && msg.contains("org/name"), "{msg}");
            assert!(
                !msg.contains("hf_leak") && !msg.contains("--weights"),
                "{msg}"
            );
        }
    }

    /// The API's redirect to another origin is not followed (the token stays home); within
    /// the endpoint (a renamed dataset) it is, with the token.
    #[test]
    fn the_token_never_leaves_the_endpoints_origin_for_the_listing() {
        let other = Server::start(vec![(
            "/api/datasets/org/name/revision/main",
            Route::File(listing(C1, &[TRAIN])),
        )]);
        let location = other.url("/api/datasets/org/name/revision/main");
        let endpoint = Server::start(vec![(
            "/api/datasets/org/old/revision/main",
            Route::Redirect(307, location, vec![]),
        )]);
        let dir = tempfile::tempdir().unwrap();
        let opts = online(dir.path(), &endpoint, Some("hf_secret"));
        let msg = resolve_hub_dataset(&dataset("org/old"), &opts, &mut |_| {})
            .unwrap_err()
            .to_string();
        let host_port = other.base.trim_start_matches("http://");
        assert!(
            msg.contains("another host") && msg.contains(host_port),
            "{msg}"
        );
        assert!(other.requests().is_empty(), "{:?}", other.requests());

        // Within the endpoint (a renamed dataset: its listing and files redirected), the
        // redirects are followed with the token.
        let mut moved = vec![(
            "/api/datasets/org/old/revision/main".to_string(),
            Route::Redirect(307, "/api/datasets/org/name/revision/main".into(), vec![]),
        )];
        for f in [TRAIN, TEST] {
            moved.push((
                format!("/datasets/org/old/resolve/{C1}/{f}"),
                Route::Redirect(301, format!("/datasets/org/name/resolve/{C1}/{f}"), vec![]),
            ));
        }
        let renamed = hub("main", C1, moved);
        let opts = online(dir.path(), &renamed.server, Some("hf_secret"));
        let got = resolve_hub_dataset(&dataset("org/old"), &opts, &mut |_| {}).unwrap();
        assert_eq!(got.files, [TEST, TRAIN]);
        assert_eq!(std::fs::read(got.dir.join(TEST)).unwrap(), renamed.test);
        assert!(
            dir.path()
                .join("datasets--org--old/snapshots")
                .join(C1)
                .join(TRAIN)
                .is_file()
        );
        let requests = renamed.server.requests();
        assert!(requests.len() > 3, "{requests:?}");
        for r in &requests {
            assert_eq!(r.header("authorization"), Some("Bearer hf_secret"), "{r:?}");
        }
    }
}
