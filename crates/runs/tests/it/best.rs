//! Issue 18, items 1-3: split files used as given, the best evaluation's weights kept,
//! early stopping on the chosen metric, class weights in the loss, the decision threshold,
//! ROC AUC and average precision.

use std::path::Path;

use spam_model::{PadTo, Predictor, average_precision, decide, roc_auc};
use spam_model::{TokenPosition, Trainable};
use spam_runs::{FineTuneOptions, RunConfig, fine_tune};
use spam_train::internals::weighted_loss;
use spam_train::{BestMetric, ClassWeights, RunOptions, TrainConfig, train};
use tch::{Kind, Tensor};

use crate::common::{tiny_data, tiny_model};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// `n` rows of a CSV (`text,label`): spam rows say "prize"; `spam_every` sets the mix.
fn rows(n: usize, spam_every: usize, offset: usize) -> String {
    let mut text = String::from("text,label\n");
    for i in 0..n {
        if i % spam_every == spam_every - 1 {
            text.push_str(&format!(
                "win a prize now call {} to claim cash,spam\n",
                i + offset
            ));
        } else {
            text.push_str(&format!(
                "hello friend see you at {} tomorrow,ham\n",
                i + offset
            ));
        }
    }
    text
}

/// A tiny GPT-2-vocabulary model on split files in `dir` (train 30 rows, a third spam:
/// unbalanced on purpose; validation 10), no test file.
fn files_run(dir: &Path) -> RunConfig {
    write(&dir.join("train.csv"), &rows(30, 3, 0));
    write(&dir.join("validation.csv"), &rows(10, 2, 100));
    let mut c = crate::common::tiny_run_config();
    c.data.train_file = Some(dir.join("train.csv"));
    c.data.validation_file = Some(dir.join("validation.csv"));
    c.train.eval_freq = 2;
    c
}

#[test]
fn best_split_files_are_used_as_given_and_no_test_file_means_no_test_metrics() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let config = files_run(tmp.path());
    let out = tmp.path().join("run");
    let options = FineTuneOptions {
        out_dir: Some(out.clone()),
        ..Default::default()
    };
    let report = fine_tune(&config, &options).expect("run on split files");
    // Every row of each file, none balanced away or moved to another split.
    assert_eq!(
        (report.data.train, report.data.validation, report.data.test),
        (30, 10, 0)
    );
    assert_eq!(report.per_split["train"].examples, 30);
    assert_eq!(report.per_split["validation"].examples, 10);
    assert!(!report.per_split.contains_key("test"));
    let fin = report.final_accuracy.expect("final accuracy");
    assert!(fin.test_accuracy.is_nan());
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).expect("metrics"))
            .expect("json");
    assert!(metrics["final"]["test_accuracy"].is_null());
    // The run keeps the splits it used, as given.
    let kept = std::fs::read_to_string(out.join("data/train.csv")).expect("train.csv");
    assert_eq!(kept.lines().count(), 31);
    assert!(!out.join("data/test.csv").exists());
    // And a folder of them (`prepare`'s output) reads the same.
    let files = spam_data::SplitFiles::in_dir(&out.join("data")).expect("data dir");
    assert_eq!(files.test, None);
    let splits = spam_data::read_split_files(
        &files,
        &spam_data::SourceFormat::Sms(spam_data::ParseMode::default()),
    )
    .expect("prepare's split CSVs");
    assert_eq!((splits.train.len(), splits.validation.len()), (30, 10));
}

#[test]
fn best_a_label_missing_from_train_is_an_error_naming_file_line_and_label() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = files_run(tmp.path());
    let test = tmp.path().join("test.csv");
    write(&test, "text,label\nhello there,ham\nwhat is this,maybe\n");
    config.data.test_file = Some(test.clone());
    let err = fine_tune(&config, &FineTuneOptions::default())
        .expect_err("an unknown label")
        .to_string();
    assert!(
        err.contains(&format!("{}:3", test.display())) && err.contains("\"maybe\""),
        "{err}"
    );
    // A validation file without a training file is refused, naming the flag.
    let mut config = files_run(tmp.path());
    config.data.train_file = None;
    let err = fine_tune(&config, &FineTuneOptions::default()).expect_err("half a set");
    assert!(err.to_string().contains("--train-file"), "{err}");
}

fn best_config(metric: BestMetric) -> TrainConfig {
    TrainConfig {
        epochs: 4,
        eval_freq: 2,
        eval_iter: 1,
        metric_for_best: Some(metric),
        optimizer: spam_train::AdamWConfig {
            lr: 3e-3,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn best_model_is_the_best_evaluation_not_the_last() {
    let data = tiny_data(PadTo::Fixed(16));
    let model = tiny_model(TokenPosition::Last, Trainable::All);
    let report = train(
        &model,
        &data,
        &best_config(BestMetric::ValLoss),
        &RunOptions::default(),
    )
    .expect("train");
    let best = report.best.clone().expect("a best evaluation");
    let history = &report.best_metric_history;
    assert_eq!(history.len(), report.evals.len());
    let last = history.last().expect("evaluations");
    // The run must have one whose best is not its last, or the test proves nothing.
    assert_ne!(best.step, last.step, "history {history:?}");
    let lowest = history
        .iter()
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .expect("min");
    assert_eq!((best.step, best.value), (lowest.step, lowest.value));
    // The model holds the best weights: its whole-validation loss is the best one's.
    let runner = spam_train::internals::Runner::new(
        &model,
        &data,
        &spam_train::internals::RunnerOptions::default(),
    )
    .expect("runner");
    let now = runner
        .loss(spam_train::Split::Validation, usize::MAX, None)
        .expect("loss");
    assert!((now - best.value).abs() < 1e-6, "{now} vs {}", best.value);
    assert!((now - last.value).abs() > 1e-6);

    // With accuracy, the final validation metrics are the best evaluation's.
    let model = tiny_model(TokenPosition::Last, Trainable::All);
    let report = train(
        &model,
        &data,
        &best_config(BestMetric::ValAccuracy),
        &RunOptions::default(),
    )
    .expect("train");
    let best = report.best.expect("best");
    assert_eq!(report.per_split["validation"].accuracy, best.value);
}

#[test]
fn best_early_stopping_counts_the_chosen_metric() {
    let data = tiny_data(PadTo::Fixed(16));
    let model = tiny_model(TokenPosition::Last, Trainable::All);
    let config = TrainConfig {
        epochs: 20,
        early_stopping_patience: Some(2),
        ..best_config(BestMetric::ValAccuracy)
    };
    let report = train(&model, &data, &config, &RunOptions::default()).expect("train");
    assert!(report.stopped_early);
    let history = &report.best_metric_history;
    let best = report.best.expect("best");
    // Stopped right after two evaluations that did not beat the best accuracy.
    let at = history
        .iter()
        .position(|p| p.step == best.step)
        .expect("best in history");
    assert_eq!(history.len(), at + 3, "{history:?}");
    assert!(history[at + 1..].iter().all(|p| p.value <= best.value));
    assert!(report.steps < 20 * 8);
}

#[test]
fn best_class_weights_give_the_hand_computed_weighted_cross_entropy() {
    let logits = Tensor::from_slice(&[1.0f32, 2.0, 0.5, -1.0, 3.0, 0.0]).view([3, 2]);
    let labels = Tensor::from_slice(&[1i64, 0, 0]);
    let w = [0.25f64, 3.0];
    let weights = Tensor::from_slice(&w).to_kind(Kind::Float);
    let got = weighted_loss(&logits, &labels, None, Some(&weights)).double_value(&[]);
    let nll = |a: f64, b: f64, y: usize| {
        let z = a.exp() + b.exp();
        -([a, b][y].exp() / z).ln()
    };
    let rows = [(1.0, 2.0, 1usize), (0.5, -1.0, 0), (3.0, 0.0, 0)];
    let num: f64 = rows.iter().map(|&(a, b, y)| w[y] * nll(a, b, y)).sum();
    let den: f64 = rows.iter().map(|&(_, _, y)| w[y]).sum();
    assert!((got - num / den).abs() < 1e-6, "{got} vs {}", num / den);
    let plain = weighted_loss(&logits, &labels, None, None).double_value(&[]);
    let mean: f64 = rows.iter().map(|&(a, b, y)| nll(a, b, y)).sum::<f64>() / 3.0;
    assert!((plain - mean).abs() < 1e-6);
    assert!((got - plain).abs() > 1e-3);

    // auto: n_samples / (n_classes * count), sklearn's "balanced".
    let auto = ClassWeights::Auto.resolve(&[0, 0, 0, 1], 2).expect("auto");
    assert_eq!(auto, vec![4.0 / 6.0, 2.0]);
    let err = ClassWeights::Given(vec![1.0])
        .resolve(&[0, 1], 2)
        .expect_err("one weight");
    assert!(err.to_string().contains("--class-weights"), "{err}");
    assert!("1,-2".parse::<ClassWeights>().is_err());

    // In a run: the recorded weights, and a first step loss that differs from the plain run.
    let data = tiny_data(PadTo::Fixed(16));
    let run = |weights: Option<ClassWeights>| {
        let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
        let config = TrainConfig {
            epochs: 1,
            class_weights: weights,
            final_eval: false,
            ..Default::default()
        };
        train(&model, &data, &config, &RunOptions::default()).expect("train")
    };
    let plain = run(None);
    let weighted = run(Some(ClassWeights::Given(vec![0.5, 2.0])));
    assert_eq!(weighted.class_weights, Some(vec![0.5, 2.0]));
    assert_ne!(plain.step_losses[0], weighted.step_losses[0]);
}

#[test]
fn best_threshold_flips_a_label_and_is_stored_with_the_run() {
    assert_eq!(decide(&[0.7, 0.3], None), 0);
    assert_eq!(decide(&[0.7, 0.3], Some(0.25)), 1);
    assert_eq!(decide(&[0.2, 0.8], Some(0.9)), 0);
    // More than two classes: the most probable, whatever the threshold.
    assert_eq!(decide(&[0.2, 0.3, 0.5], Some(0.1)), 2);

    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = files_run(tmp.path());
    config.train.threshold = Some(0.001);
    let out = tmp.path().join("run");
    let options = FineTuneOptions {
        out_dir: Some(out.clone()),
        ..Default::default()
    };
    let report = fine_tune(&config, &options).expect("run");
    // Everything is spam from probability 0.001 on: no ham predicted.
    let confusion = &report.per_split["validation"].confusion;
    assert_eq!((confusion[0][0], confusion[1][0]), (0, 0), "{confusion:?}");
    let mut predictor = Predictor::load(&out, tch::Device::Cpu).expect("load");
    assert_eq!(predictor.threshold(), Some(0.001));
    let text = ["hello friend see you at 3 tomorrow"];
    assert_eq!(predictor.classify(&text)[0].label, "spam");
    predictor.set_threshold(Some(0.999)).expect("override");
    assert_eq!(predictor.classify(&text)[0].label, "ham");
    assert!(predictor.set_threshold(Some(1.5)).is_err());
}

#[test]
fn best_aucs_match_hand_checked_examples_with_ties() {
    let (t, f) = (true, false);
    // Positives {0.9, 0.4}, negatives {0.1, 0.4}: pairs 1 + 1 + 1 + 0.5 (the tie) of 4.
    assert_eq!(roc_auc(&[t, f, t, f], &[0.9, 0.1, 0.4, 0.4]), Some(0.875));
    // Thresholds 0.9 (recall 1/2, precision 1), 0.4 (recall 1, precision 2/3).
    let ap = average_precision(&[t, f, t, f], &[0.9, 0.1, 0.4, 0.4]).expect("ap");
    assert!((ap - (0.5 + 0.5 * 2.0 / 3.0)).abs() < 1e-12, "{ap}");
    // All tied: ROC 0.5, AP the positive rate.
    assert_eq!(roc_auc(&[t, f, f, f], &[0.3; 4]), Some(0.5));
    assert_eq!(average_precision(&[t, f, f, f], &[0.3; 4]), Some(0.25));
    // Perfect and reversed rankings.
    assert_eq!(roc_auc(&[f, f, t], &[0.1, 0.2, 0.3]), Some(1.0));
    assert_eq!(roc_auc(&[t, f, f], &[0.1, 0.2, 0.3]), Some(0.0));
    assert_eq!(average_precision(&[f, f, t], &[0.1, 0.2, 0.3]), Some(1.0));
    // One class only: undefined.
    assert_eq!(roc_auc(&[t, t], &[0.1, 0.2]), None);
    assert_eq!(average_precision(&[f, f], &[0.1, 0.2]), None);
    // And in a run's metrics, per split.
    let data = tiny_data(PadTo::Fixed(16));
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let config = TrainConfig {
        epochs: 1,
        ..Default::default()
    };
    let report = train(&model, &data, &config, &RunOptions::default()).expect("train");
    for split in ["train", "validation", "test"] {
        let m = &report.per_split[split];
        let (roc, pr) = (m.roc_auc.expect("roc"), m.pr_auc.expect("pr"));
        assert!(
            (0.0..=1.0).contains(&roc) && (0.0..=1.0).contains(&pr),
            "{split}"
        );
    }
}

#[test]
fn best_settings_round_trip_through_toml_and_json_and_old_configs_load() {
    let mut c = RunConfig::default();
    c.data.train_file = Some("a/train.csv".into());
    c.data.validation_file = Some("a/validation.csv".into());
    c.data.fractions = (0.8, 0.1);
    c.train.metric_for_best = Some(BestMetric::ValF1);
    c.train.early_stopping_threshold = 0.01;
    c.train.class_weights = Some(ClassWeights::Given(vec![1.0, 2.5]));
    c.train.threshold = Some(0.3);
    let json = serde_json::to_string(&c).expect("json");
    assert_eq!(serde_json::from_str::<RunConfig>(&json).expect("back"), c);
    let toml_text = r#"
        [data]
        train_file = "a/train.csv"
        validation_file = "a/validation.csv"
        fractions = [0.8, 0.1]
        [train]
        metric_for_best = "val_f1"
        early_stopping_threshold = 0.01
        class_weights = "1,2.5"
        threshold = 0.3
    "#;
    assert_eq!(toml::from_str::<RunConfig>(toml_text).expect("toml"), c);
    let auto: RunConfig = toml::from_str("[train]\nclass_weights = \"auto\"\n").expect("auto");
    assert_eq!(auto.train.class_weights, Some(ClassWeights::Auto));
    assert!(toml::from_str::<RunConfig>("[train]\nmetric_for_best = \"val_auc\"\n").is_err());
    // A run directory's config.json from before these keys still loads, with the defaults.
    let old: RunConfig = serde_json::from_str(r#"{"train": {"epochs": 2}}"#).expect("old config");
    assert_eq!(old.train.metric_for_best, None);
    assert_eq!(old.train.threshold, None);
    assert_eq!(old.data.train_file, None);
}

#[test]
fn best_a_resumed_run_keeps_the_best_so_far() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut config = files_run(tmp.path());
    config.train.epochs = 3;
    config.train.eval_freq = 1;
    config.train.checkpoint_every = Some(1);
    config.train.optimizer.lr = 3e-2;
    config.train.metric_for_best = Some(BestMetric::ValLoss);
    let whole = fine_tune(
        &config,
        &FineTuneOptions {
            out_dir: Some(tmp.path().join("whole")),
            ..Default::default()
        },
    )
    .expect("uninterrupted run");
    let best = whole.best.clone().expect("best");
    // The best is not the last evaluation: the resumed part must bring it back from the
    // checkpoint.
    let last = whole.best_metric_history.last().expect("history");
    assert!(best.step < last.step, "{:?}", whole.best_metric_history);
    // Killed after the best evaluation, then resumed: the same best, the same final metrics.
    let killed = tmp.path().join("killed");
    let stop = FineTuneOptions {
        out_dir: Some(killed.clone()),
        ..Default::default()
    };
    {
        let _stop = spam_train::test_hooks::stop_after_steps(best.step + 1);
        assert!(fine_tune(&config, &stop).is_err());
    }
    let resumed = spam_runs::resume(&killed, &FineTuneOptions::default()).expect("resume");
    assert_eq!(resumed.best, whole.best);
    assert_eq!(resumed.best_metric_history, whole.best_metric_history);
    assert_eq!(resumed.per_split, whole.per_split);
}

/// A threshold needs two classes: a run of three is refused before it trains, not accepted
/// and then never applied.
#[test]
fn a_threshold_on_more_than_two_classes_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = crate::common::small_run(dir.path(), 1);
    let csv = dir.path().join("three.csv");
    let mut text = String::from("text,label\n");
    for i in 0..30 {
        for c in ["a", "b", "c"] {
            text.push_str(&format!("row {i} of {c},{c}\n"));
        }
    }
    std::fs::write(&csv, text).expect("csv");
    config.data.source = csv;
    config.train.threshold = Some(0.7);
    let err = spam_runs::fine_tune(&config, &spam_runs::FineTuneOptions::default())
        .expect_err("three classes")
        .to_string();
    assert!(
        err.contains("--threshold needs data of two classes") && err.contains("a, b, c"),
        "{err}"
    );
}

/// Class weights are checked in the precision the loss uses (f32): one finite only in f64,
/// or one that rounds to 0 in f32, is refused when it is read.
#[test]
fn class_weights_outside_f32_are_refused_when_read() {
    for bad in ["1e39,1", "1,1e-50", "0,1", "nan,1"] {
        let err = bad.parse::<ClassWeights>().expect_err(bad);
        assert!(err.contains("f32"), "{bad}: {err}");
    }
    assert!("2.5,1".parse::<ClassWeights>().is_ok());
}
