//! fp32 against bf16 matrix products at GPT-2 124M's shapes (the chapter's batch of 8 rows of
//! 120 tokens: 960 rows), as the model calls them (`bias.addmm(x, w)`, weight `[in, out]`).
//!
//! Run with `ONEDNN_VERBOSE=1` to see whether libtorch hands the bf16 products to oneDNN
//! (and which instruction set oneDNN picked: `avx512_core_bf16` or `avx512_core_amx` where
//! the CPU has them).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tch::{Device, Kind, Tensor};

/// (name, in, out) of the four projections of a block.
const SHAPES: [(&str, i64, i64); 4] = [
    ("c_attn_768x2304", 768, 2304),
    ("attn_c_proj_768x768", 768, 768),
    ("c_fc_768x3072", 768, 3072),
    ("mlp_c_proj_3072x768", 3072, 768),
];
/// Rows per product: the chapter's batch (8 x 120), and a batch of 64 rows as the cache builds.
const ROWS: [i64; 2] = [960, 7680];

fn matmuls(c: &mut Criterion) {
    tch::manual_seed(0);
    for rows in ROWS {
        let mut group = c.benchmark_group(format!("gpt2_124m_addmm_{rows}_rows"));
        group.sample_size(10);
        for (name, k, n) in SHAPES {
            products(&mut group, rows, name, k, n);
        }
        group.finish();
    }
}

fn products(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rows: i64,
    name: &str,
    k: i64,
    n: i64,
) {
    {
        group.throughput(Throughput::Elements((2 * rows * k * n) as u64));
        for (kind_name, kind) in [
            ("fp32", Kind::Float),
            ("bf16", Kind::BFloat16),
            ("fp16", Kind::Half),
        ] {
            let x = Tensor::randn([rows, k], (kind, Device::Cpu));
            let w = Tensor::randn([k, n], (kind, Device::Cpu));
            let b = Tensor::randn([n], (kind, Device::Cpu));
            group.bench_function(format!("{name}/{kind_name}"), |bench| {
                bench.iter(|| b.addmm(&x, &w))
            });
            // The same product with the weight stored `[out, in]` (torch.nn.Linear's layout).
            let w_t = w.tr().contiguous();
            group.bench_function(format!("{name}/{kind_name}_out_in"), |bench| {
                bench.iter(|| x.linear(&w_t, Some(&b)))
            });
        }
        // What the mixed-precision forward pays on top for a trainable weight: the cast.
        let w32 = Tensor::randn([k, n], (Kind::Float, Device::Cpu));
        group.bench_function(format!("{name}/cast_weight_to_bf16"), |bench| {
            bench.iter(|| w32.to_kind(Kind::BFloat16))
        });
    }
}

criterion_group!(benches, matmuls);
criterion_main!(benches);
