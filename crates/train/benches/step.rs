//! One training step and the frozen-prefix cache build at GPT-2 124M shapes (random
//! weights, batch 8 x 120 tokens, the chapter's `last_block` setting), and one step of the
//! `flexible` setting with dynamic padding (batches of 30-89 token inputs). Then fp32 against
//! bf16 mixed precision: a step with every layer trainable, the cache build, and a no-grad
//! forward pass of the whole model.

use criterion::{Criterion, criterion_group, criterion_main};
use spam_model::PadTo;
use spam_model::{
    Classifier, ClassifierConfig, ModelSize, Precision, TokenPosition, Trainable, Weights,
};
use spam_train::internals::{AdamW, Runner, RunnerOptions, loss_of};
use spam_train::{AdamWConfig, Engine, Examples, TrainData};
use tch::{Device, Kind, Tensor};

fn data(n: usize, pad: PadTo) -> TrainData {
    let ex = Examples {
        ids: (0..n)
            .map(|i| {
                (0..30 + (i % 60) as i64)
                    .map(|t| (t * 97 + i as i64) % 50_000)
                    .collect()
            })
            .collect(),
        labels: (0..n).map(|i| (i % 2) as i64).collect(),
    };
    TrainData {
        train: ex.clone(),
        validation: ex.clone(),
        test: ex,
        pad,
        pad_id: 50256,
        label_names: vec!["ham".into(), "spam".into()],
    }
}

/// One training step as the trainer takes it: forward, backward, AdamW update.
fn step(runner: &Runner, opt: &mut AdamW, batch: &[usize]) {
    let bt = runner.train_batch(batch).expect("batch");
    let loss = loss_of(&runner.forward(&bt, true), &bt.labels, None);
    opt.backward(&loss).expect("backward");
    opt.step(5e-5);
    opt.zero_grad();
}

fn bench(c: &mut Criterion) {
    // As `spam-cli` and `train` run: freed tensor memory kept for reuse.
    spam_model::reuse_freed_memory();
    let model = Classifier::new(
        ClassifierConfig::spam(ModelSize::S124M),
        &Weights::Random { seed: 1 },
        Device::Cpu,
        1,
    )
    .expect("124M classifier");
    let mut group = c.benchmark_group("124M");
    group.sample_size(10);

    let small = data(16, PadTo::Fixed(120));
    group.bench_function(
        "cache build, 16 distinct inputs x 120 tokens (48 examples)",
        |b| {
            b.iter(|| {
                Runner::new(&model, &small, &RunnerOptions::engine(Engine::Cached)).expect("runner")
            })
        },
    );

    for engine in [Engine::Cached, Engine::Plain] {
        let d = data(16, PadTo::Fixed(120));
        let runner = Runner::new(&model, &d, &RunnerOptions::engine(engine)).expect("runner");
        let mut opt = AdamW::new(model.trainable_parameters(), AdamWConfig::default());
        let batch: Vec<usize> = (0..8).collect();
        group.bench_function(
            format!("training step, batch 8 x 120, {engine:?} path"),
            |b| b.iter(|| step(&runner, &mut opt, &batch)),
        );
    }

    let mut flexible = ClassifierConfig::spam(ModelSize::S124M);
    flexible.token_position = TokenPosition::Flexible;
    let model = Classifier::new(flexible, &Weights::Random { seed: 1 }, Device::Cpu, 1)
        .expect("124M classifier");
    let d = data(64, PadTo::Dynamic);
    let runner = Runner::new(&model, &d, &RunnerOptions::engine(Engine::Cached)).expect("runner");
    let mut opt = AdamW::new(model.trainable_parameters(), AdamWConfig::default());
    // Rows of different lengths, as a shuffled batch has them.
    let batch: Vec<usize> = (0..8).map(|i| i * 7).collect();
    group.bench_function(
        "training step, flexible, dynamic padding, Cached path",
        |b| b.iter(|| step(&runner, &mut opt, &batch)),
    );
    group.finish();
}

fn model(trainable: Trainable, precision: Precision) -> Classifier {
    let mut cc = ClassifierConfig::spam(ModelSize::S124M);
    cc.trainable = trainable;
    let mut m =
        Classifier::new(cc, &Weights::Random { seed: 1 }, Device::Cpu, 1).expect("124M model");
    m.set_precision(precision);
    m
}

fn precision(c: &mut Criterion) {
    spam_model::reuse_freed_memory();
    let mut group = c.benchmark_group("124M precision");
    group.sample_size(10);
    for precision in [Precision::Fp32, Precision::Bf16] {
        let m = model(Trainable::All, precision);
        let d = data(8, PadTo::Fixed(120));
        let runner = Runner::new(&m, &d, &RunnerOptions::engine(Engine::Plain)).expect("runner");
        let mut opt = AdamW::new(m.trainable_parameters(), AdamWConfig::default());
        let batch: Vec<usize> = (0..8).collect();
        group.bench_function(
            format!("training step, all layers, batch 8 x 120, {precision}"),
            |b| b.iter(|| step(&runner, &mut opt, &batch)),
        );

        let m = model(Trainable::LastBlock, precision);
        let small = data(16, PadTo::Fixed(120));
        group.bench_function(
            format!("cache build, 16 inputs x 120 tokens, 11 blocks, {precision}"),
            |b| {
                b.iter(|| {
                    Runner::new(&m, &small, &RunnerOptions::engine(Engine::Cached)).expect("runner")
                })
            },
        );

        let ids = Tensor::randint(50_000, [8, 120], (Kind::Int64, Device::Cpu));
        group.bench_function(
            format!("forward, no grad, batch 8 x 120, {precision}"),
            |b| b.iter(|| tch::no_grad(|| m.forward(&ids, None, false))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench, precision);
criterion_main!(benches);
