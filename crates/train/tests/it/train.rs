//! The training loop: equal math on both paths, resume after a kill, NaN handling.

use crate::common::{tiny_data, tiny_model};
use spam_model::{TokenPosition, Trainable};
use spam_train::{
    AdamW, AdamWConfig, CacheSettings, Engine, PadTo, RunOptions, Runner, RunnerOptions,
    TrainConfig, loss_of, train,
};
use tch::Device;

/// Losses of the first `steps` training steps taken along `engine`.
/// The chapter's batches of 8 on `engine`, the cache kept as `cache` says.
fn cache_options(engine: Engine, cache: &CacheSettings) -> RunnerOptions {
    RunnerOptions {
        engine,
        cache: cache.clone(),
        ..RunnerOptions::default()
    }
}

fn step_losses(
    engine: Engine,
    position: TokenPosition,
    pad: PadTo,
    steps: usize,
) -> (Vec<f64>, String) {
    step_losses_with(engine, position, pad, steps, &CacheSettings::default())
}

/// [`step_losses`] with the cache kept as `cache` says.
fn step_losses_with(
    engine: Engine,
    position: TokenPosition,
    pad: PadTo,
    steps: usize,
    cache: &CacheSettings,
) -> (Vec<f64>, String) {
    let model = tiny_model(position, Trainable::LastBlock);
    let data = tiny_data(pad);
    let runner = Runner::new(&model, &data, &cache_options(engine, cache)).expect("runner");
    let mut opt = AdamW::new(
        model.trainable_parameters(),
        AdamWConfig {
            lr: 1e-3,
            ..Default::default()
        },
    );
    let batches = spam_train::shuffled_batches(data.train.len(), 8, 123, true);
    let mut losses = Vec::new();
    for i in 0..steps {
        let b = runner
            .train_batch(&batches[i % batches.len()])
            .expect("batch");
        let loss = loss_of(&runner.forward(&b, true), &b.labels, None);
        losses.push(loss.double_value(&[]));
        opt.backward(&loss).expect("backward");
        opt.step(1e-3);
        opt.zero_grad();
    }
    (losses, runner.describe())
}

fn assert_close(a: &[f64], b: &[f64], rel: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / y.abs().max(1e-12);
        assert!(err <= rel, "step {i}: {x} vs {y} (relative error {err:e})");
    }
}

#[test]
fn cached_path_gives_the_plain_losses_last_token() {
    let (plain, how_plain) = step_losses(Engine::Plain, TokenPosition::Last, PadTo::Fixed(16), 20);
    let (cached, how_cached) =
        step_losses(Engine::Cached, TokenPosition::Last, PadTo::Fixed(16), 20);
    assert!(how_plain.starts_with("plain"), "{how_plain}");
    assert!(how_cached.starts_with("cached"), "{how_cached}");
    assert_close(&cached, &plain, 1e-4);
    // The loss really moves, so the comparison is not between constants.
    assert!((plain[0] - plain[19]).abs() > 1e-3, "{plain:?}");
}

#[test]
fn cached_path_gives_the_plain_losses_flexible_dynamic() {
    let (plain, _) = step_losses(Engine::Plain, TokenPosition::Flexible, PadTo::Dynamic, 20);
    let (cached, how) = step_losses(Engine::Cached, TokenPosition::Flexible, PadTo::Dynamic, 20);
    assert!(how.starts_with("cached"), "{how}");
    assert_close(&cached, &plain, 1e-4);
}

/// Data whose splits repeat rows, within a split and across splits (the SMS collection does).
fn data_with_duplicates(pad: PadTo) -> spam_train::TrainData {
    let mut data = tiny_data(pad);
    for i in 0..10 {
        let (ids, label) = (data.train.ids[i].clone(), data.train.labels[i]);
        data.train.ids.push(ids.clone());
        data.train.labels.push(label);
        data.test.ids.push(ids);
        data.test.labels.push(label);
    }
    data
}

/// Both runners give the same mean loss over all of `split` (to float rounding).
fn assert_same_loss(cached: &Runner, plain: &Runner, split: spam_train::Split) {
    let loss = |r: &Runner| r.loss(split, 100, None).expect("loss");
    let (a, b) = (loss(cached), loss(plain));
    assert!(
        (a - b).abs() <= 1e-5 * b.abs(),
        "{split:?} ({}): {a} vs {b}",
        cached.describe()
    );
}

#[test]
fn the_cache_computes_repeated_inputs_once_and_serves_every_copy() {
    use spam_train::Split;
    for (position, pad) in [
        (TokenPosition::Last, PadTo::Fixed(16)),
        (TokenPosition::Flexible, PadTo::Dynamic),
    ] {
        let model = tiny_model(position, Trainable::LastBlock);
        let data = data_with_duplicates(pad);
        let cached =
            Runner::new(&model, &data, &RunnerOptions::engine(Engine::Cached)).expect("cached");
        let how = cached.describe();
        assert!(how.contains("104 for 124 examples"), "{how}");
        let plain =
            Runner::new(&model, &data, &RunnerOptions::engine(Engine::Plain)).expect("plain");
        for split in [Split::Train, Split::Validation, Split::Test] {
            assert_same_loss(&cached, &plain, split);
            assert_eq!(
                cached.predictions(split).expect("predictions"),
                plain.predictions(split).expect("predictions"),
                "{split:?}"
            );
        }
        // All splits at once (the final pass): the plain path then runs each distinct input
        // once, across splits too, and must give every copy its answer.
        let splits = [Split::Train, Split::Validation, Split::Test];
        let one_by_one: Vec<_> = splits
            .iter()
            .map(|&s| cached.predictions(s).expect("predictions"))
            .collect();
        assert_eq!(
            plain.predictions_of(splits).expect("all").to_vec(),
            one_by_one
        );
        assert_eq!(
            cached.predictions_of(splits).expect("all").to_vec(),
            one_by_one
        );
        // Row by row as well: every example's logits, duplicates included.
        let idx: Vec<usize> = (0..data.test.len()).collect();
        let logits = |r: &Runner| r.forward(&r.batch(Split::Test, &idx).expect("batch"), false);
        let diff = (logits(&cached) - logits(&plain))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-5, "{pad:?}: max |delta logit| {diff}");
    }
}

/// With more than one libtorch thread only the training rows are computed up front; the
/// validation and test rows fill in on a second thread alongside the steps (or on the
/// steps' thread when it needs them first). Every split must still get what the plain path
/// computes, the steps' thread must keep one libtorch thread while the runner lives (a
/// count that changed when the fill ends would make rounding depend on timing) and get its
/// count back on drop, and a runner dropped with rows still pending must not hang.
#[test]
fn rows_filled_in_alongside_the_steps_match_the_plain_path_and_threads_come_back() {
    use spam_train::Split;
    // The thread count is process-wide and the other tests change it as they run.
    if !super::common::isolated(
        "train::rows_filled_in_alongside_the_steps_match_the_plain_path_and_threads_come_back",
    ) {
        return;
    }
    tch::set_num_threads(2);
    for (position, pad) in [
        (TokenPosition::Last, PadTo::Fixed(16)),
        (TokenPosition::Flexible, PadTo::Dynamic),
    ] {
        let model = tiny_model(position, Trainable::LastBlock);
        let data = data_with_duplicates(pad);
        {
            let cached =
                Runner::new(&model, &data, &RunnerOptions::engine(Engine::Cached)).expect("cached");
            assert_eq!(
                tch::get_num_threads(),
                1,
                "{pad:?}: one thread while it fills"
            );
            let plain =
                Runner::new(&model, &data, &RunnerOptions::engine(Engine::Plain)).expect("plain");
            // Test first: its rows are queued last, so the steps' thread computes some itself.
            for split in [Split::Test, Split::Validation, Split::Train] {
                assert_same_loss(&cached, &plain, split);
            }
            assert_eq!(
                tch::get_num_threads(),
                1,
                "{pad:?}: still one after the fill"
            );
        }
        assert_eq!(tch::get_num_threads(), 2, "{pad:?}: given back on drop");
        drop(Runner::new(&model, &data, &RunnerOptions::engine(Engine::Cached)).expect("cached"));
        assert_eq!(
            tch::get_num_threads(),
            2,
            "{pad:?}: given back by a pending runner"
        );
    }
}

#[test]
fn flexible_gives_the_same_losses_padded_to_a_fixed_length_or_dynamically() {
    // The classified position (the last real token) never sees padding under the causal
    // mask, so dynamic padding is the same math as the chapter's fixed length.
    let (fixed, _) = step_losses(Engine::Plain, TokenPosition::Flexible, PadTo::Fixed(16), 20);
    let (dynamic, how) = step_losses(Engine::Auto, TokenPosition::Flexible, PadTo::Dynamic, 20);
    assert!(how.starts_with("cached"), "{how}");
    assert_close(&dynamic, &fixed, 1e-4);
}

#[test]
fn a_bf16_cache_stays_close_to_the_plain_path_and_says_it_is_not_exact() {
    use spam_train::CachePrecision;
    use spam_train::Split;
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let data = tiny_data(PadTo::Fixed(16));
    let bf16 = Runner::new(
        &model,
        &data,
        &cache_options(
            Engine::Cached,
            &CacheSettings {
                precision: CachePrecision::Bf16,
                ..Default::default()
            },
        ),
    )
    .expect("bf16 runner");
    assert!(
        bf16.describe().contains("bf16: not exact"),
        "{}",
        bf16.describe()
    );
    let plain = Runner::new(&model, &data, &RunnerOptions::engine(Engine::Plain)).expect("plain");
    let idx: Vec<usize> = (0..data.test.len()).collect();
    let a = bf16.forward(&bf16.batch(Split::Test, &idx).expect("batch"), false);
    let b = plain.forward(&plain.batch(Split::Test, &idx).expect("batch"), false);
    assert_eq!(a.kind(), tch::Kind::Float);
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    // bf16 keeps 8 bits of mantissa: close, not equal.
    assert!(
        diff < 0.05 * scale.max(1.0),
        "max |delta logit| {diff} (scale {scale})"
    );
    assert!(diff > 0.0, "a bf16 cache cannot be bit-exact");
}

#[test]
fn an_on_disk_cache_gives_the_in_memory_losses_and_leaves_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on_disk = CacheSettings {
        dir: Some(dir.path().join("cache")),
        ..Default::default()
    };
    for (position, pad) in [
        (TokenPosition::Last, PadTo::Fixed(16)),
        (TokenPosition::Flexible, PadTo::Dynamic),
    ] {
        let (memory, _) = step_losses(Engine::Cached, position, pad, 20);
        let (disk, how) = step_losses_with(Engine::Cached, position, pad, 20, &on_disk);
        assert!(how.contains("on disk in"), "{how}");
        // fp32 bytes round-trip exactly: the very same losses.
        assert_eq!(disk, memory, "{pad:?}");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
            .expect("cache dir")
            .collect();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }
}

#[test]
fn an_unusable_cache_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").expect("write");
    let model = tiny_model(TokenPosition::Last, Trainable::LastBlock);
    let data = tiny_data(PadTo::Fixed(16));
    let cache = CacheSettings {
        dir: Some(not_a_dir.clone()),
        ..Default::default()
    };
    let err = Runner::new(&model, &data, &cache_options(Engine::Auto, &cache))
        .expect_err("a file is not a cache directory");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("cache directory") && msg.contains(&not_a_dir.display().to_string()),
        "{msg}"
    );
}

#[test]
fn auto_takes_the_plain_path_when_caching_would_change_the_math() {
    let model = tiny_model(TokenPosition::Last, Trainable::All);
    let data = tiny_data(PadTo::Fixed(16));
    let runner = Runner::new(&model, &data, &RunnerOptions::engine(Engine::Auto)).expect("runner");
    assert!(
        runner.describe().starts_with("plain (no frozen blocks"),
        "{}",
        runner.describe()
    );
    let err = Runner::new(&model, &data, &RunnerOptions::engine(Engine::Cached))
        .expect_err("cached must refuse");
    assert!(err.to_string().contains("cannot be used"), "{err}");
}

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
    let killed = train(
        &model,
        &data,
        &cfg,
        &RunOptions {
            stop_after_steps: Some(14),
            ..quiet(dir.path())
        },
    );
    assert!(killed.is_err());
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
        let batches = spam_train::shuffled_batches(data.train.len(), 4, 7, true);
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
