//! Sweeps: the trials' stable order, every key and value checked when the file is read, the
//! folder's definition written once, and the report's ranking, missing trials and files.

use std::path::Path;

use serde_json::{Value, json};
use spam_model::PadTo;
use spam_runs::{RunConfig, Sweep, TrialState, sweep_report};
use spam_train::BestMetric;
use spam_train::Report;
use spam_train::records::{BestRecord, FinalAccuracy, Timing};

use crate::common::tiny_data;

const GRID: &str = r#"
[train]
epochs = 2

[sweep.grid]
"train.optimizer.lr" = [1e-5, 5e-5, 1e-4]
"model.trainable" = ["last_block", "all"]
"#;

const RANDOM: &str = r#"
[sweep.random]
trials = 20
seed = 1
"train.optimizer.lr" = { log_uniform = [1e-5, 1e-3] }
"train.optimizer.weight_decay" = [0.0, 0.01, 0.1]
"train.batch_size" = { int_uniform = [2, 16] }
"#;

fn parse(text: &str) -> Sweep {
    Sweep::parse(text).expect("a valid sweep")
}

fn error(text: &str) -> String {
    format!("{:#}", Sweep::parse(text).expect_err("refused"))
}

/// The settings of trial `i` as `key=value` pairs.
fn settings(sweep: &Sweep, i: usize) -> Vec<(String, Value)> {
    sweep.trial(i).expect("a trial").settings
}

fn pairs(list: &[(&str, Value)]) -> Vec<(String, Value)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn a_grid_is_every_combination_in_a_stable_order() {
    let sweep = parse(GRID);
    assert_eq!(sweep.trial_count(), 6);
    assert_eq!(sweep.keys(), ["model.trainable", "train.optimizer.lr"]);
    // Keys sorted, the last changing fastest, values in the order given.
    assert_eq!(
        settings(&sweep, 0),
        pairs(&[
            ("model.trainable", json!("last_block")),
            ("train.optimizer.lr", json!(1e-5))
        ])
    );
    assert_eq!(
        settings(&sweep, 2),
        pairs(&[
            ("model.trainable", json!("last_block")),
            ("train.optimizer.lr", json!(1e-4))
        ])
    );
    assert_eq!(
        settings(&sweep, 4),
        pairs(&[
            ("model.trainable", json!("all")),
            ("train.optimizer.lr", json!(5e-5))
        ])
    );
    let t = sweep.trial(4).expect("trial 4");
    assert_eq!(t.config.train.optimizer.lr, 5e-5);
    assert_eq!(t.config.model.trainable.to_string(), "all");
    assert_eq!(t.config.train.epochs, 2, "the base settings stay");
    assert_eq!(
        t.describe(),
        "model.trainable=all, train.optimizer.lr=0.00005"
    );
    assert_eq!(sweep.trial_name(4), "trial-004");

    let again = parse(GRID);
    for i in 0..6 {
        assert_eq!(settings(&sweep, i), settings(&again, i), "trial {i}");
    }
    let err = format!("{:#}", sweep.trial(6).expect_err("no trial 6"));
    assert!(err.contains("the sweep has 6 trials, 0 to 5"), "{err}");
}

#[test]
fn random_samples_are_the_same_for_every_process() {
    let sweep = parse(RANDOM);
    assert_eq!(sweep.trial_count(), 20);
    assert_eq!(
        sweep.keys(),
        [
            "train.batch_size",
            "train.optimizer.lr",
            "train.optimizer.weight_decay"
        ]
    );
    // The values are SplitMix64's stream of the seed: fixed here, so a change of order shows.
    assert_eq!(
        settings(&sweep, 0),
        pairs(&[
            ("train.batch_size", json!(TRIAL0.0)),
            ("train.optimizer.lr", json!(TRIAL0.1)),
            ("train.optimizer.weight_decay", json!(TRIAL0.2)),
        ])
    );
    assert_eq!(
        settings(&sweep, 7),
        pairs(&[
            ("train.batch_size", json!(TRIAL7.0)),
            ("train.optimizer.lr", json!(TRIAL7.1)),
            ("train.optimizer.weight_decay", json!(TRIAL7.2)),
        ])
    );
    let again = parse(RANDOM);
    let mut lrs = Vec::new();
    for i in 0..20 {
        let s = settings(&sweep, i);
        assert_eq!(s, settings(&again, i), "trial {i}");
        let c = sweep.trial(i).expect("trial").config;
        assert!((2..=16).contains(&c.train.batch_size), "trial {i}");
        assert!((1e-5..1e-3).contains(&c.train.optimizer.lr), "trial {i}");
        assert!([0.0, 0.01, 0.1].contains(&c.train.optimizer.weight_decay));
        lrs.push(c.train.optimizer.lr);
    }
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    assert_eq!(lrs.len(), 20, "20 distinct learning rates");

    let other_seed = parse(&RANDOM.replace("seed = 1", "seed = 2"));
    assert_ne!(settings(&sweep, 0), settings(&other_seed, 0));
}

const TRIAL0: (i64, f64, f64) = (10, 0.000310144, 0.1);
const TRIAL7: (i64, f64, f64) = (3, 0.0000981205, 0.0);

/// The documented example (docs/scale-out/sweep.toml) is a valid 6-trial sweep whose trials
/// 0-2 are `last_block` at the three learning rates, as the page says.
#[test]
fn the_documented_sweep_reads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scale-out/sweep.toml");
    let sweep = Sweep::read(&path).expect("docs/scale-out/sweep.toml");
    assert_eq!(sweep.trial_count(), 6);
    let described: Vec<String> = (0..6)
        .map(|i| sweep.trial(i).expect("trial").describe())
        .collect();
    assert_eq!(
        described,
        [
            "model.trainable=last_block, train.optimizer.lr=0.00001",
            "model.trainable=last_block, train.optimizer.lr=0.00005",
            "model.trainable=last_block, train.optimizer.lr=0.0001",
            "model.trainable=all, train.optimizer.lr=0.00001",
            "model.trainable=all, train.optimizer.lr=0.00005",
            "model.trainable=all, train.optimizer.lr=0.0001",
        ]
    );
    assert_eq!(
        sweep.base().train.metric_for_best,
        Some(BestMetric::ValLoss)
    );
}

const POINTS: &str = r#"
[train]
epochs = 2

[[sweep.points]]
name = "baseline"

[[sweep.points]]
name = "all-layers"
"model.trainable" = "all"
"train.optimizer.lr" = 1e-5

[[sweep.points]]
model = { trainable = "last_layer" }
"#;

/// `[[sweep.points]]`: the trials in the file's order, each only what it sets, in the folder
/// it names (else `trial-NNN`).
#[test]
fn points_are_the_trials_one_by_one_in_the_folders_they_name() {
    let sweep = parse(POINTS);
    assert_eq!(sweep.trial_count(), 3);
    assert_eq!(sweep.keys(), ["model.trainable", "train.optimizer.lr"]);
    assert_eq!(settings(&sweep, 0), vec![]);
    assert_eq!(
        settings(&sweep, 1),
        pairs(&[
            ("model.trainable", json!("all")),
            ("train.optimizer.lr", json!(1e-5))
        ])
    );
    assert_eq!(
        settings(&sweep, 2),
        pairs(&[("model.trainable", json!("last_layer"))])
    );
    let names: Vec<String> = (0..3).map(|i| sweep.trial_name(i)).collect();
    assert_eq!(names, ["baseline", "all-layers", "trial-002"]);
    let base = sweep.base().clone();
    assert_eq!(sweep.trial(0).expect("trial 0").config, base);
    let c = sweep.trial(1).expect("trial 1").config;
    assert_eq!(c.model.trainable.to_string(), "all");
    assert_eq!((c.train.optimizer.lr, c.train.epochs), (1e-5, 2));
}

#[test]
fn points_that_cannot_be_folders_or_trials_are_refused() {
    let point = |body: &str| format!("[[sweep.points]]\n{body}\n");
    let cases = [
        (
            format!("{}{}", point("name = \"a\""), point("name = \"a\"")),
            "points 0 and 1 have the same folder name `a`",
        ),
        (
            format!("{}{}", point("name = \"trial-001\""), point("")),
            "the same folder name `trial-001`",
        ),
        (point("name = \"../up\""), "is not a plain folder name"),
        (point("name = \".hidden\""), "is not a plain folder name"),
        (point("name = \"best\""), "is a file of the sweep folder"),
        (point("name = 3"), "`name` must be text"),
        (point("\"train.epoch\" = 3"), "did you mean: `train.epochs`"),
        (
            point("\"train.epochs\" = \"many\""),
            "sweep key `train.epochs`",
        ),
        (
            "[sweep]\npoints = []\n".to_string(),
            "sweep.points is empty",
        ),
        (
            "[sweep]\npoints = 3\n".to_string(),
            "write each as [[sweep.points]]",
        ),
        (
            format!("{}[sweep.grid]\n\"train.epochs\" = [1]\n", point("")),
            "more than one of grid, random and points",
        ),
    ];
    for (text, expected) in cases {
        let e = error(&text);
        assert!(e.contains(expected), "{text}\n=> {e}");
    }
}

#[test]
fn a_sweep_file_reads_back_as_the_same_sweep() {
    for text in [GRID, RANDOM, POINTS] {
        let sweep = parse(text);
        let back = parse(&sweep.to_toml().expect("toml"));
        assert_eq!(back, sweep);
    }
}

#[test]
fn every_key_and_value_is_checked_when_the_sweep_is_read() {
    let grid = |key: &str, values: &str| format!("[sweep.grid]\n\"{key}\" = {values}\n");
    let cases = [
        (
            grid("train.optimizer.lrr", "[1e-5]"),
            &[
                "`train.optimizer.lrr` is not a run setting",
                "`train.optimizer.lr`",
            ][..],
        ),
        (
            grid("model.trainable", "[\"all\", \"everything\"]"),
            &["sweep key `model.trainable` = \"everything\"", "everything"],
        ),
        (
            grid("train.batch_size", "[8, 0]"),
            &[
                "sweep key `train.batch_size` = 0",
                "batch size must be at least 1",
            ],
        ),
        (
            grid("train.batch_size", "[\"eight\"]"),
            &["sweep key `train.batch_size` = \"eight\""],
        ),
        (
            grid("data.padding", "[\"fixed:x\"]"),
            &["sweep key `data.padding`"],
        ),
        (
            grid("train.optimizer.lr", "[]"),
            &["`train.optimizer.lr` has no values"],
        ),
        (
            grid("train.optimizer.lr", "1e-5"),
            &["`train.optimizer.lr` must be a list of values"],
        ),
        (
            grid("train.metric_for_best", "[\"val_loss\"]"),
            &["`train.metric_for_best` cannot be swept"],
        ),
        (
            "[sweep.random]\ntrials = 3\n\"train.optimizer.lr\" = { log_uniform = [0.0, 1e-3] }\n"
                .into(),
            &["`train.optimizer.lr`: log_uniform needs [lo, hi] with lo < hi and lo above 0"],
        ),
        (
            "[sweep.random]\ntrials = 3\n\"train.optimizer.lr\" = { normal = [0.0, 1.0] }\n".into(),
            &[
                "`train.optimizer.lr.normal` is not a run setting",
                "{ log_uniform = [lo, hi] }, { uniform = [lo, hi] }",
            ],
        ),
        (
            "[sweep.random]\n\"train.optimizer.lr\" = [1e-5]\n".into(),
            &["[sweep.random] needs `trials`"],
        ),
        (
            "[sweep.random]\ntrials = 2\n\"train.optimizer.lr\" = { uniform = [-1.0, 1e-3] }\n"
                .into(),
            &[
                "sweep key `train.optimizer.lr` = -1.0",
                "learning rate must be positive",
            ],
        ),
        (
            "[train]\nepochs = 1\n".into(),
            &["there is no [sweep] table"],
        ),
        (
            "[sweep.grid]\n\"train.epochs\" = [1]\n[sweep.random]\ntrials = 1\n".into(),
            &["more than one of grid, random and points"],
        ),
        (
            "[sweep.grids]\n\"train.epochs\" = [1]\n".into(),
            &["[sweep] has `grids`"],
        ),
    ];
    for (text, wanted) in cases {
        let err = error(&text);
        for w in wanted {
            assert!(err.contains(w), "{text}\n  gave: {err}\n  wanted: {w}");
        }
    }
}

/// A finished trial as `run_trial` leaves it: its `config.json` and a `metrics.json`.
fn finish(dir: &Path, config: &RunConfig, best_loss: f64, test: f64, seconds: f64) {
    let mut report = Report::new(&config.train, "cached", &tiny_data(PadTo::Dynamic));
    report.final_accuracy = Some(FinalAccuracy {
        train_accuracy: 1.0,
        validation_accuracy: 0.9,
        test_accuracy: test,
    });
    report.best = Some(BestRecord {
        metric: BestMetric::ValLoss,
        step: 10,
        epoch: 1,
        value: best_loss,
    });
    report.timing = Some(Timing {
        total_seconds: seconds,
        cache_seconds: 0.0,
        training_seconds: seconds,
        final_eval_seconds: 0.0,
        seconds_per_step: 0.1,
    });
    std::fs::create_dir_all(dir).expect("mkdir");
    let write = |name: &str, v: String| std::fs::write(dir.join(name), v).expect("write");
    write("config.json", serde_json::to_string(config).expect("json"));
    write(
        "metrics.json",
        serde_json::to_string(&report).expect("json"),
    );
}

#[test]
fn the_report_ranks_finished_trials_and_lists_the_missing_ones() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path();
    let sweep = parse(&GRID.replace("epochs = 2", "epochs = 2\nmetric_for_best = \"val_loss\""));
    std::fs::write(dir.join("sweep.toml"), sweep.to_toml().expect("toml")).expect("write");
    let config = |i: usize| sweep.trial(i).expect("trial").config;
    finish(&dir.join("trial-000"), &config(0), 0.50, 0.80, 10.0);
    finish(&dir.join("trial-002"), &config(2), 0.25, 0.95, 12.5);
    finish(&dir.join("trial-005"), &config(5), 0.40, 0.90, 30.0);
    // Trial 1 has a run in progress (its staging folder with a log); trial 3 holds a run of
    // other settings (the sweep changed); trial 4 was never started.
    let partial = dir.join(".trial-001.partial-4242-0");
    std::fs::create_dir_all(&partial).expect("mkdir");
    std::fs::write(partial.join("log.jsonl"), "").expect("write");
    finish(&dir.join("trial-003"), &config(0), 0.10, 1.0, 1.0);

    let report = sweep_report(dir).expect("report");
    assert_eq!(report.trial_count, 6);
    assert_eq!(report.metric, Some(BestMetric::ValLoss));
    assert_eq!(report.metric_name(), "val_loss");
    assert!(report.lower_is_better());
    let ranked: Vec<(usize, f64)> = report.ranked.iter().map(|r| (r.index, r.metric)).collect();
    assert_eq!(ranked, [(2, 0.25), (5, 0.40), (0, 0.50)]);
    let missing: Vec<(usize, &TrialState)> =
        report.missing.iter().map(|m| (m.index, &m.state)).collect();
    assert_eq!(missing[0], (1, &TrialState::Started));
    assert!(
        matches!(missing[1], (3, TrialState::OtherSettings(d)) if d.contains("`model.trainable`")),
        "{missing:?}"
    );
    assert_eq!(missing[2], (4, &TrialState::NotStarted));
    assert_eq!(missing.len(), 3);

    let csv = std::fs::read_to_string(dir.join("sweep.csv")).expect("sweep.csv");
    assert_eq!(
        csv,
        "rank,trial,folder,model.trainable,train.optimizer.lr,best_val_loss,val_accuracy,\
         test_accuracy,wall_seconds\n\
         1,2,trial-002,last_block,0.0001,0.25,0.9,0.95,12.5\n\
         2,5,trial-005,all,0.0001,0.4,0.9,0.9,30\n\
         3,0,trial-000,last_block,0.00001,0.5,0.9,0.8,10\n"
    );
    let md = std::fs::read_to_string(dir.join("sweep.md")).expect("sweep.md");
    assert!(md.contains("3 of 6 trials finished"), "{md}");
    assert!(md.contains("Best: trial-002"), "{md}");
    assert!(
        md.contains("| 1 | trial-002 | last_block | 0.0001 | 0.2500 | 90.00% | 95.00% | 12.5 s |"),
        "{md}"
    );
    assert!(md.contains("- trial-004 (trial 4): not started"), "{md}");
    assert_eq!(
        std::fs::read_link(dir.join("best")).expect("best is a link"),
        Path::new("trial-002")
    );

    // Trial 4 finishes with the best loss: the next report moves the link.
    finish(&dir.join("trial-004"), &config(4), 0.05, 0.97, 8.0);
    let report = sweep_report(dir).expect("report");
    assert_eq!(report.ranked[0].index, 4);
    assert_eq!(report.missing.len(), 2);
    assert_eq!(
        std::fs::read_link(dir.join("best")).expect("link"),
        Path::new("trial-004")
    );
}

#[test]
fn a_folder_without_a_sweep_is_not_reported() {
    let out = tempfile::tempdir().expect("tempdir");
    let err = format!("{:#}", sweep_report(out.path()).expect_err("no sweep.toml"));
    assert!(
        err.contains("is not a sweep folder (it has no sweep.toml)"),
        "{err}"
    );
}

#[test]
fn a_folder_holding_another_sweep_is_refused_naming_both_files() {
    let out = tempfile::tempdir().expect("tempdir");
    let first = out.path().join("first.toml");
    std::fs::write(&first, GRID).expect("write");
    let second = out.path().join("second.toml");
    std::fs::write(&second, GRID.replace("5e-5", "3e-5")).expect("write");
    let dir = out.path().join("sweep");
    let first = Sweep::read(&first).expect("first");
    let second = Sweep::read(&second).expect("second");
    let options = spam_runs::FineTuneOptions::default();
    // Trial 9 does not exist: the definition is checked and saved before anything runs.
    let err = format!(
        "{:#}",
        spam_runs::run_trial(&first, 9, &dir, &options).expect_err("no trial 9")
    );
    assert!(err.contains("no trial 9"), "{err}");
    assert!(
        !dir.join("sweep.toml").exists(),
        "nothing written for a bad index"
    );
    spam_runs::save_sweep(&first, &dir).expect("saved");
    spam_runs::save_sweep(&first, &dir).expect("the same sweep again is fine");
    let saved = std::fs::read_to_string(dir.join("sweep.toml")).expect("sweep.toml");
    assert_eq!(parse(&saved), parse(GRID), "the base in full, then [sweep]");
    let err = format!(
        "{:#}",
        spam_runs::save_sweep(&second, &dir).expect_err("another")
    );
    assert!(err.contains("second.toml"), "{err}");
    assert!(
        err.contains(&dir.join("sweep.toml").display().to_string()),
        "{err}"
    );
    assert!(
        err.contains("the swept values or the sampling differ"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("sweep.toml")).expect("kept"),
        saved,
        "the first sweep's file is kept"
    );
}

/// A report of points: each trial in the folder it names, a key a point leaves at the base's
/// value an empty cell.
#[test]
fn the_report_of_points_names_their_folders_and_leaves_unset_keys_empty() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path();
    let sweep = parse(&POINTS.replace("epochs = 2", "epochs = 2\nmetric_for_best = \"val_loss\""));
    spam_runs::save_sweep(&sweep, dir).expect("saved");
    let config = |i: usize| sweep.trial(i).expect("trial").config;
    finish(&dir.join("baseline"), &config(0), 0.3, 0.9, 5.0);
    finish(&dir.join("trial-002"), &config(2), 0.2, 0.8, 7.0);
    let report = sweep_report(dir).expect("report");
    assert_eq!(report.missing.len(), 1);
    assert_eq!(report.missing[0].name, "all-layers");
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).expect("sweep.csv");
    assert_eq!(
        csv,
        "rank,trial,folder,model.trainable,train.optimizer.lr,best_val_loss,val_accuracy,\
         test_accuracy,wall_seconds\n\
         1,2,trial-002,last_layer,,0.2,0.9,0.8,7\n\
         2,0,baseline,,,0.3,0.9,0.9,5\n"
    );
    let best = std::fs::read_link(dir.join("best")).expect("best is a link");
    assert_eq!(best, Path::new("trial-002"));
}
