//! The training loop: it learns and reports the chapter's fields, resumes after a kill to the
//! same end, stops on a NaN loss; AdamW's fused and held-gradient forms match plain torch.

use crate::common::{assert_close, tiny_data, tiny_model};
use spam_model::PadTo;
use spam_model::{TokenPosition, Trainable};
use spam_train::internals::{AdamW, Runner, RunnerOptions, loss_of};
use spam_train::{AdamWConfig, Engine, RunOptions, TrainConfig, train};
use tch::Device;

fn small_config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        eval_freq: 5,
        eval_iter: 2,
        optimizer: AdamWConfig {
            lr: 1e-3,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn the_loop_learns_and_reports_the_chapter_fields() {
    let model = tiny_model(TokenPosition::Flexible, Trainable::All);
    let data = tiny_data(PadTo::Dynamic);
    let cfg = TrainConfig {
        epochs: 8,
        ..small_config()
    };
    let report = train(
        &model,
        &data,
        &cfg,
        &RunOptions {
            ..Default::default()
        },
    )
    .expect("train");
    assert_eq!(report.epochs.len(), 8);
    assert_eq!(report.steps, 8 * 8);
    assert_eq!(report.examples_seen, 8 * 64);
    // Step 0, 5, 10, ... of 64 steps.
    assert_eq!(report.evals.len(), 13);
    let fin = report.final_accuracy.as_ref().expect("final accuracy");
    for a in [
        fin.train_accuracy,
        fin.validation_accuracy,
        fin.test_accuracy,
    ] {
        assert!((0.0..=1.0).contains(&a));
    }
    assert!(fin.train_accuracy >= 0.9, "did not learn: {fin:?}");
    let test = &report.per_split["test"];
    assert_eq!(test.examples, 24);
    assert_eq!(test.confusion.iter().flatten().sum::<usize>(), 24);
    let json = serde_json::to_value(&report).expect("json");
    for key in [
        "config",
        "evals",
        "epochs",
        "final",
        "per_split",
        "timing",
        "examples_per_second",
    ] {
        assert!(json.get(key).is_some(), "metrics lack `{key}`");
    }
}

#[test]
fn resume_after_a_kill_ends_with_the_same_metrics() {
    let data = tiny_data(PadTo::Fixed(16));
    let cfg = TrainConfig {
        checkpoint_every: Some(4),
        ..small_config()
    };
    let quiet = |dir: &std::path::Path| RunOptions {
        checkpoint_dir: Some(dir.to_path_buf()),
        ..Default::default()
    };

    let whole_dir = tempfile::tempdir().expect("tempdir");
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let whole = train(&model, &data, &cfg, &quiet(whole_dir.path())).expect("uninterrupted run");

    let dir = tempfile::tempdir().expect("tempdir");
    // "Kill" mid-epoch 2 (8 steps per epoch): the last checkpoint is at step 12.
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let killed = {
        let _stop = spam_train::test_hooks::stop_after_steps(14);
        train(&model, &data, &cfg, &quiet(dir.path()))
    };
    let err = killed.expect_err("stopped");
    assert!(spam_train::test_hooks::is_stopped_for_test(&err), "{err}");
    drop(model);
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let resumed = train(
        &model,
        &data,
        &cfg,
        &RunOptions {
            resume: true,
            ..quiet(dir.path())
        },
    )
    .expect("resumed run");

    assert_eq!(resumed.steps, whole.steps);
    assert_eq!(resumed.final_accuracy, whole.final_accuracy);
    assert_eq!(resumed.per_split, whole.per_split);
    assert_eq!(resumed.epochs, whole.epochs);
    assert_eq!(resumed.evals.len(), whole.evals.len());
    // Steps 12 and 13 ran twice (before the kill and after the resume): the log keeps
    // the uninterrupted sequence because the checkpoint carried it.
    assert_close(&resumed.step_losses, &whole.step_losses, 1e-6);
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tiny_data(PadTo::Fixed(16));
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let cfg = TrainConfig {
        optimizer: AdamWConfig {
            lr: 1e30,
            weight_decay: 0.0,
            ..Default::default()
        },
        epochs: 3,
        ..small_config()
    };
    let err = train(
        &model,
        &data,
        &cfg,
        &RunOptions {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .expect_err("a diverging run must stop");
    let msg = format!("{err:#}");
    assert!(msg.contains("training loss became"), "{msg}");
    assert!(msg.contains("learning rate"), "{msg}");
}

#[test]
fn fused_adamw_matches_the_tensor_op_adamw() {
    // Seeds and draws from libtorch's global generator, which other tests seed too.
    let _generator = spam_model::global_generator();
    tch::manual_seed(5);
    let run = |fused: bool| {
        // Large enough for the parallel chunked path, plus a small tensor.
        let big =
            tch::Tensor::randn([300_000], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
        let small =
            tch::Tensor::randn([7, 3], (tch::Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (b0, s0) = (big.detach().copy(), small.detach().copy());
        let mut opt = AdamW::new(
            vec![
                ("big".into(), big.shallow_clone()),
                ("small".into(), small.shallow_clone()),
            ],
            AdamWConfig::default(),
        );
        opt.fused = fused;
        for step in 0..5 {
            let loss = (&big * &big).sum(tch::Kind::Float) * (step + 1) as f64
                + (&small * 3.0).sin().sum(tch::Kind::Float);
            loss.backward();
            opt.step(1e-2);
            opt.zero_grad();
        }
        let _ = (b0, s0);
        (big.detach().copy(), small.detach().copy())
    };
    tch::manual_seed(5);
    let (fb, fs) = run(true);
    tch::manual_seed(5);
    let (tb, ts) = run(false);
    let diff = |a: &tch::Tensor, b: &tch::Tensor| (a - b).abs().max().double_value(&[]);
    assert!(
        diff(&fb, &tb) < 1e-6,
        "fused and tensor paths differ by {}",
        diff(&fb, &tb)
    );
    assert!(
        diff(&fs, &ts) < 1e-6,
        "fused and tensor paths differ by {}",
        diff(&fs, &ts)
    );
    // And the parameters really moved.
    assert!(diff(&fb, &tch::Tensor::zeros_like(&fb)) > 0.0);
}

/// `AdamW::backward` (fresh gradients held by the optimizer, what the trainer uses) must
/// move the parameters exactly as `loss.backward()` into `.grad` does, with gradient
/// accumulation over two batches per update and with clipping.
#[test]
fn held_gradients_match_grad_buffers() {
    // The trainable parameters before and after four updates.
    let run = |held: bool| -> (Vec<tch::Tensor>, Vec<tch::Tensor>) {
        let model = tiny_model(TokenPosition::Flexible, Trainable::LastBlock);
        let data = tiny_data(PadTo::Dynamic);
        let runner =
            Runner::new(&model, &data, &RunnerOptions::engine(Engine::Cached)).expect("runner");
        let mut opt = AdamW::new(model.trainable_parameters(), AdamWConfig::default());
        let values = |opt: &AdamW| -> Vec<tch::Tensor> {
            opt.params()
                .iter()
                .map(|(_, p)| p.detach().copy())
                .collect()
        };
        let initial = values(&opt);
        let batches = spam_train::internals::shuffled_batches(data.train.len(), 4, 7, true);
        for pair in batches.chunks(2).take(4) {
            for indices in pair {
                let b = runner.train_batch(indices).expect("batch");
                let loss = loss_of(&runner.forward(&b, true), &b.labels, None) / 2.0;
                if held {
                    opt.backward(&loss).expect("backward");
                } else {
                    loss.backward();
                }
            }
            opt.clip_grad_norm(0.5);
            opt.step(1e-2);
            opt.zero_grad();
        }
        (initial, values(&opt))
    };
    let ((initial, held), (_, buffers)) = (run(true), run(false));
    assert_eq!(held.len(), buffers.len());
    for ((a, b), p0) in held.iter().zip(&buffers).zip(&initial) {
        assert!(a.equal(b), "held gradients moved a parameter differently");
        assert!(!a.equal(p0), "the parameter did not move");
    }
}

#[test]
fn settings_that_would_misbehave_are_refused_before_any_work() {
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                eval_iter: 0,
                ..TrainConfig::default()
            },
            "--eval-iter",
        ),
        (
            TrainConfig {
                early_stopping_patience: Some(0),
                ..TrainConfig::default()
            },
            "--early-stopping",
        ),
        (
            TrainConfig {
                checkpoint_every: Some(0),
                ..TrainConfig::default()
            },
            "--checkpoint-every",
        ),
        (
            TrainConfig {
                optimizer: AdamWConfig {
                    weight_decay: f64::NAN,
                    ..AdamWConfig::default()
                },
                ..TrainConfig::default()
            },
            "--weight-decay",
        ),
        (
            TrainConfig {
                schedule: spam_train::LrSchedule::WarmupCosine {
                    warmup_steps: 2,
                    min_lr: f64::NAN,
                },
                ..TrainConfig::default()
            },
            "--min-lr",
        ),
    ];
    for (config, flag) in cases {
        let err = config.validate().expect_err(flag);
        assert!(
            matches!(err, spam_train::TrainError::Settings(_)),
            "{flag}: {err:?}"
        );
        assert!(err.to_string().contains(flag), "{flag}: {err}");
    }
    assert!(TrainConfig::default().validate().is_ok());
}
