//! The cached and plain paths: equal math (losses step by step), repeated inputs computed
//! once, rows filled in beside the steps, the cache in bf16 or on disk, `auto`'s choice.

use crate::common::{assert_close, tiny_data, tiny_model};
use spam_model::PadTo;
use spam_model::{TokenPosition, Trainable};
use spam_train::internals::{AdamW, Runner, RunnerOptions, loss_of};
use spam_train::{AdamWConfig, CacheSettings, Engine};

/// The chapter's batches of 8 on `engine`, the cache kept as `cache` says.
fn cache_options(engine: Engine, cache: &CacheSettings) -> RunnerOptions {
    RunnerOptions {
        engine,
        cache: cache.clone(),
        ..RunnerOptions::default()
    }
}

/// Losses of the first `steps` training steps taken along `engine`.
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
    let batches = spam_train::internals::shuffled_batches(data.train.len(), 8, 123, true);
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
        "engines::rows_filled_in_alongside_the_steps_match_the_plain_path_and_threads_come_back",
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

/// `--cache-precision` takes `--precision`'s spellings, entry for entry (its table borrows
/// them from `Precision`'s by position).
#[test]
fn cache_precision_spells_as_precision() {
    use spam_data::Named;
    use spam_model::Precision;
    use spam_train::CachePrecision;
    assert_eq!(CachePrecision::NAMES.len(), Precision::NAMES.len());
    for (cache, compute) in CachePrecision::NAMES.iter().zip(Precision::NAMES) {
        // The same format (`Fp32`, `Bf16`) under the same name and aliases.
        assert_eq!(format!("{:?}", cache.0), format!("{:?}", compute.0));
        assert_eq!((cache.1, cache.2), (compute.1, compute.2));
    }
}
