//! `precision: bf16` (mixed precision) runs: the loss goes down, the run says it is not exact
//! (config, log, metrics, compute path), a resume keeps bf16 and ends where an uninterrupted
//! run ends, and a predictor in bf16 gives probabilities near fp32's.

use std::path::Path;

use spam_model::Predictor;
use spam_model::{Precision, TokenPosition, Trainable};
use spam_runs::{FineTuneOptions, RunConfig, fine_tune, resume};
use spam_train::records::{LogLine, read_log};
use spam_train::{Engine, Report};

use crate::common::small_run;

fn options(out: &Path) -> FineTuneOptions {
    FineTuneOptions {
        out_dir: Some(out.to_path_buf()),
        ..Default::default()
    }
}

fn bf16_run(dir: &Path, epochs: usize) -> RunConfig {
    let mut c = small_run(dir, epochs);
    c.train.precision = Precision::Bf16;
    c
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn bf16_training_lowers_the_loss_and_says_it_is_not_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The plain path (dynamic padding, `last`) and the cached one (longest padding), where the
    // frozen prefix is computed in bf16 too.
    for (engine, padding) in [
        (Engine::Plain, spam_data::Padding::Dynamic),
        (Engine::Cached, spam_data::Padding::Longest),
    ] {
        let mut config = bf16_run(dir.path(), 4);
        config.train.engine = engine;
        config.data.padding = padding;
        config.model.token_position = TokenPosition::Flexible;
        config.model.trainable = Trainable::LastBlock;
        // Two blocks, so the cached path has a frozen one.
        if let Some(a) = config.model.architecture.as_mut() {
            a.n_layer = 2;
        }
        let run = dir.path().join(format!("{engine:?}"));
        let report = fine_tune(&config, &options(&run)).expect("bf16 run");
        let losses = &report.step_losses;
        let (first, last) = (mean(&losses[..5]), mean(&losses[losses.len() - 5..]));
        assert!(
            last < 0.5 * first,
            "{engine:?}: the loss went from {first:.4} to {last:.4}"
        );
        let accuracy = report.final_accuracy.as_ref().expect("final");
        assert!(accuracy.test_accuracy >= 0.9, "{engine:?}: {accuracy:?}");
        assert!(!report.exact, "{engine:?}");
        assert!(
            report.path.contains("bf16 mixed precision: not exact"),
            "{}",
            report.path
        );
        let is_cached = report.path.starts_with("cached");
        assert_eq!(is_cached, engine == Engine::Cached, "{}", report.path);

        let saved: RunConfig =
            serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config.json"))
                .expect("config");
        assert_eq!(saved.train.precision, Precision::Bf16);
        let metrics: Report =
            serde_json::from_slice(&std::fs::read(run.join("metrics.json")).expect("metrics.json"))
                .expect("metrics");
        assert!(!metrics.exact);
        assert_eq!(metrics.config.precision, Precision::Bf16);
        let log = read_log(&run.join("log.jsonl")).expect("log");
        assert!(
            matches!(
                log[0],
                LogLine::Start {
                    precision: Precision::Bf16,
                    exact: false,
                    ..
                }
            ),
            "{:?}",
            log[0]
        );
    }
}

#[test]
fn an_fp32_run_says_it_is_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let report = fine_tune(&small_run(dir.path(), 1), &options(&run)).expect("fp32 run");
    assert!(report.exact);
    assert!(!report.path.contains("bf16"), "{}", report.path);
    let log = read_log(&run.join("log.jsonl")).expect("log");
    assert!(matches!(
        log[0],
        LogLine::Start {
            precision: Precision::Fp32,
            exact: true,
            ..
        }
    ));
}

#[test]
fn a_bf16_run_resumed_from_a_checkpoint_ends_where_an_uninterrupted_one_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = bf16_run(dir.path(), 2);
    config.train.checkpoint_every = Some(1);
    let whole = fine_tune(&config, &options(&dir.path().join("whole"))).expect("whole run");

    let run = dir.path().join("resumed");
    let err = {
        let _stop = spam_train::test_hooks::stop_after_steps(9);
        fine_tune(&config, &options(&run)).expect_err("stopped")
    };
    assert!(spam_train::test_hooks::is_stopped_for_test(&*err), "{err}");
    // The resume reads bf16 from the run's own config.json: nothing is passed here.
    let resumed = resume(&run, &FineTuneOptions::default()).expect("resume");
    assert_eq!(resumed.config.precision, Precision::Bf16);
    assert!(!resumed.exact);
    assert_eq!(resumed.steps, whole.steps);
    assert_eq!(resumed.step_losses, whole.step_losses);
    assert_eq!(resumed.evals, whole.evals);
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);

    // The same run in fp32 differs: bf16 really was in use after the resume.
    let mut fp32 = config.clone();
    fp32.train.precision = Precision::Fp32;
    let exact = fine_tune(&fp32, &options(&dir.path().join("fp32"))).expect("fp32 run");
    assert_ne!(exact.step_losses[9..], resumed.step_losses[9..]);
}

#[test]
fn a_bf16_predictor_gives_probabilities_near_fp32() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    fine_tune(&small_run(dir.path(), 2), &options(&run)).expect("run");
    let texts = [
        "win a prize now call 5 to claim cash",
        "hello friend see you at 3 tomorrow",
        "a message unlike any of the training rows, longer than them all by far",
    ];
    let mut predictor = Predictor::load(&run, tch::Device::Cpu).expect("load");
    assert_eq!(predictor.precision(), Precision::Fp32);
    let exact = predictor.classify(&texts);
    predictor.set_precision(Precision::Bf16);
    assert_eq!(predictor.precision(), Precision::Bf16);
    let bf16 = predictor.classify(&texts);
    let mut differs = false;
    for (a, b) in exact.iter().zip(&bf16) {
        assert_eq!(a.label, b.label, "{a:?} vs {b:?}");
        for (p, q) in a.probabilities.iter().zip(&b.probabilities) {
            assert!((p - q).abs() < 0.02, "{a:?} vs {b:?}");
            differs |= p != q;
        }
    }
    assert!(differs, "bf16 gave fp32's probabilities bit for bit");
}
