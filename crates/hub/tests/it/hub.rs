//! Weights by hub id: ids and aliases, the environment's cache and token, resolution from a fake
//! cache folder, the offline error, and (feature `download`) downloads into the cache from the
//! local test server standing in for the hub.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use spam_hub::{GPT2_HUB_FILES, HubError, HubId, HubOptions, find_cached, resolve_hub};

pub(crate) const C1: &str = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
const C2: &str = "11c5a3d5811f50298f278a704980280950aedb10";

pub(crate) fn vars(pairs: &[(&str, &str)]) -> HubOptions {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    HubOptions::from_vars(|k| map.get(k).cloned())
}

pub(crate) fn options(cache: &Path, offline: bool) -> HubOptions {
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
    use spam_test_support::special_files::{mkfifo, within};
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let cache = home.join("hub");
    let repo = "models--openai-community--gpt2";
    snapshot(&cache, repo, C1, &GPT2_HUB_FILES);
    std::fs::create_dir_all(cache.join(repo).join("refs")).unwrap();
    mkfifo(&cache.join(repo).join("refs").join("main"));
    mkfifo(&home.join("token"));
    let opts = vars(&[("HF_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")]);
    let id = HubId::parse("gpt2").unwrap();
    let o = opts.clone();
    let got = within(
        std::time::Duration::from_secs(10),
        "resolution",
        move || resolve_hub(&id, &GPT2_HUB_FILES, &o, &mut |_| {}).map(|_| ()),
    );
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
