//! One GPT-2 124M block forward on a `[8, 120, 768]` batch (the chapter's batch and length).
use criterion::{Criterion, criterion_group, criterion_main};
use spam_model::{Config, Gpt2};
use tch::{Device, Kind, Tensor, nn};

fn block_forward(c: &mut Criterion) {
    tch::manual_seed(0);
    let cfg = Config {
        n_layer: 1,
        ..Config::gpt2_124m()
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let gpt = Gpt2::new(&vs.root(), &cfg);
    let x = Tensor::randn([8, 120, 768], (Kind::Float, Device::Cpu));
    let mut group = c.benchmark_group("gpt2_124m_block");
    group.sample_size(20);
    group.bench_function("forward_eval_8x120x768", |b| {
        b.iter(|| tch::no_grad(|| gpt.run_blocks(&x, 0..1, true, false)))
    });
    group.finish();
}

criterion_group!(benches, block_forward);
criterion_main!(benches);
