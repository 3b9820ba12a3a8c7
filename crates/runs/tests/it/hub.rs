//! Weights by hub id in a run: read from a hub cache folder, the commit recorded in the run's
//! `config.json`, the same commit loaded again on resume, and the offline error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use spam_hub::HubOptions;
use spam_model::{LanguageModel, Weights};
use spam_runs::{FineTuneOptions, ResolvedWeights, RunConfig, WeightsSource, fine_tune, resume};
use spam_runs::{RunEvent, RunEvents};

const C1: &str = "1111111111111111111111111111111111111111";
const C2: &str = "2222222222222222222222222222222222222222";
const REPO: &str = "test-org/tiny-gpt2";

/// A GPT-2 backbone (GPT-2's vocabulary, 1 small block) saved under the hub's tensor names
/// into the snapshot `commit` of `cache`.
fn cached_snapshot(cache: &Path, commit: &str, seed: u64) -> PathBuf {
    let cfg = crate::common::tiny_gpt2_vocab(1);
    let dir = cache
        .join("models--test-org--tiny-gpt2/snapshots")
        .join(commit);
    std::fs::create_dir_all(&dir).expect("snapshot dir");
    let lm = LanguageModel::load_with_config(&cfg, &Weights::Random { seed }, tch::Device::Cpu)
        .expect("tiny model");
    lm.vs.save(dir.join("model.safetensors")).expect("save");
    // transformers' config.json: the loader reads the head count from it.
    std::fs::write(
        dir.join("config.json"),
        r#"{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 64, "n_embd": 16, "n_layer": 1, "n_head": 2}"#,
    )
    .expect("config");
    dir
}

fn set_main(cache: &Path, commit: &str) {
    let refs = cache.join("models--test-org--tiny-gpt2/refs");
    std::fs::create_dir_all(&refs).expect("refs");
    std::fs::write(refs.join("main"), commit).expect("ref");
}

fn offline(cache: &Path) -> HubOptions {
    let mut o = HubOptions::from_vars(|_| None);
    o.cache = cache.to_path_buf();
    o.offline = true;
    o
}

/// The small CSV run of `common::small_run`, with the backbone (and so the architecture)
/// from the hub repository.
fn run_config(dir: &Path) -> RunConfig {
    let mut c = crate::common::small_run(dir, 1);
    c.model.weights = REPO.parse().expect("hub id");
    c.model.architecture = None;
    c.train.optimizer.lr = RunConfig::default().train.optimizer.lr;
    c
}

fn recorded(hub: HubOptions) -> (FineTuneOptions, Arc<Mutex<Vec<RunEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = FineTuneOptions {
        events: RunEvents::new(move |e| sink.lock().expect("events").push(e.clone())),
        hub: Some(hub),
        ..Default::default()
    };
    (options, seen)
}

fn resolved_commits(seen: &Mutex<Vec<RunEvent>>) -> Vec<String> {
    seen.lock()
        .expect("events")
        .iter()
        .filter_map(|e| match e {
            RunEvent::WeightsResolved {
                id,
                commit,
                downloaded,
                ..
            } => {
                assert_eq!((id.as_str(), *downloaded), (REPO, false));
                Some(commit.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn weights_source_reads_paths_and_hub_ids() {
    let here = tempfile::tempdir().expect("tempdir");
    let path = here.path().to_str().expect("utf-8");
    assert_eq!(
        path.parse::<WeightsSource>().expect("path"),
        WeightsSource::Path(here.path().to_path_buf())
    );
    let hub: WeightsSource = "gpt2-medium@v2".parse().expect("alias");
    assert_eq!(hub.to_string(), "openai-community/gpt2-medium@v2");
    assert_eq!(
        hub.to_string().parse::<WeightsSource>().expect("again"),
        hub
    );
    // Not a hub id and not there: a path, which fails as a missing file when loaded.
    assert_eq!(
        "models/gpt2/124M".parse::<WeightsSource>().expect("path"),
        WeightsSource::Path("models/gpt2/124M".into())
    );
    assert_eq!(
        "random".parse::<WeightsSource>().expect("random"),
        WeightsSource::Random
    );
}

#[test]
fn a_run_records_the_commit_and_a_resume_loads_the_same_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("hub");
    cached_snapshot(&cache, C1, 1);
    set_main(&cache, C1);
    let run = dir.path().join("run");
    let config = run_config(dir.path());
    let (mut options, seen) = recorded(offline(&cache));
    options.out_dir = Some(run.clone());
    fine_tune(&config, &options).expect("run from hub weights");
    assert_eq!(resolved_commits(&seen), [C1]);

    let saved: RunConfig =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config.json"))
            .expect("run config");
    assert_eq!(saved.model.weights.to_string(), REPO);
    assert_eq!(
        saved.model.weights_resolved,
        Some(ResolvedWeights {
            repo: REPO.into(),
            revision: "main".into(),
            commit: C1.into(),
        })
    );

    // `main` moves on; the resumed run still loads the commit it started from.
    cached_snapshot(&cache, C2, 2);
    set_main(&cache, C2);
    let (mut options, seen) = recorded(offline(&cache));
    options.out_dir = Some(run.clone());
    options.epochs = Some(2);
    resume(&run, &options).expect("resume");
    assert_eq!(resolved_commits(&seen), [C1]);
    // A fresh run takes what `main` names now.
    let (options, seen) = recorded(offline(&cache));
    fine_tune(&config, &options).expect("fresh run");
    assert_eq!(resolved_commits(&seen), [C2]);
}

#[test]
fn hub_weights_not_cached_offline_name_the_id_and_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = dir.path().join("empty-cache");
    let config = run_config(dir.path());
    let (options, _) = recorded(offline(&cache));
    let err = fine_tune(&config, &options).expect_err("not cached");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(REPO)
            && msg.contains(&cache.display().to_string())
            && msg.contains("HF_HUB_OFFLINE"),
        "{msg}"
    );
}

/// A malformed hub id (one with `@`) says what a hub id is, not "file not found".
#[test]
fn a_malformed_hub_id_explains_the_syntax() {
    for bad in ["gpt2@", "org/name@", "a/b/c@main"] {
        let err = bad.parse::<spam_runs::WeightsSource>().expect_err(bad);
        let msg = format!("{err:#}");
        assert!(
            msg.contains("not a valid hub id") && msg.contains("ORG/NAME@REVISION"),
            "{bad}: {msg}"
        );
    }
}

/// A path that does not exist and looks like a hub id but is not one (`a/b/c`, no `@`) is
/// reported as both: the missing file, and why it is not a hub id.
#[test]
fn a_missing_path_shaped_like_a_hub_id_explains_both() {
    let source: WeightsSource = "a/b/c".parse().expect("a path until loaded");
    let err = source
        .resolve(spam_model::RandomInit::default(), 1)
        .expect_err("no such weights");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("`a/b/c` is not an existing checkpoint path, and not a hub id")
            && msg.contains("ORG/NAME@REVISION")
            && msg.contains("a/b/c"),
        "{msg}"
    );
    // A plain missing path (not id-shaped) keeps the file-not-found message alone.
    let err = WeightsSource::Path("/nowhere/124M".into())
        .resolve(spam_model::RandomInit::default(), 1)
        .expect_err("no such weights");
    assert!(!format!("{err:#}").contains("hub id"), "{err:#}");
}
