//! LoRA as the chapter's appendix E builds it: one adapter per `Linear`, so the fused
//! query/key/value projection carries three, with the chapter's parameter count.
use spam_model::{
    Classifier, ClassifierConfig, Config, Dense, DenseOptions, Layout, LoraShape, TokenPosition,
    Trainable, Weights,
};
use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

fn lora_classifier(split_qkv: bool) -> Classifier {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.token_position = TokenPosition::Flexible;
    cc.trainable = Trainable::Lora {
        rank: 4,
        alpha: 2.0,
    };
    cc.pad_id = 0;
    cc.lora_split_qkv = split_qkv;
    Classifier::new(cc, &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("tiny classifier")
}

/// What appendix E's `replace_linear_with_lora` adds to a `GPTModel`: rank x (in + out) for
/// each `Linear` (query, key, value, out_proj, the two feed-forward layers, the head).
fn chapter_adapter_parameters(e: i64, n_layer: i64, rank: i64, classes: i64) -> i64 {
    let per_block = 4 * rank * (e + e) + 2 * rank * (e + 4 * e);
    n_layer * per_block + rank * (e + classes)
}

/// What the chapter's experiments script trains with `--trainable_layers lora`: the adapters
/// and the new head (built after the model is frozen, so it trains).
fn chapter_lora_trainable(e: i64, n_layer: i64, rank: i64, classes: i64) -> i64 {
    chapter_adapter_parameters(e, n_layer, rank, classes) + e * classes + classes
}

#[test]
fn the_adapters_have_the_chapters_shapes_and_parameter_count() {
    // The chapter's 124M count of adapter parameters, as its appendix E prints it.
    assert_eq!(chapter_adapter_parameters(768, 12, 16, 2), 2_666_528);

    let c = lora_classifier(true);
    let vars = c.vs.variables();
    assert_eq!(vars["h.0.attn.c_attn.lora_a"].size(), vec![16, 3 * 4]);
    assert_eq!(vars["h.0.attn.c_attn.lora_b"].size(), vec![4, 48]);
    assert_eq!(vars["h.0.attn.c_proj.lora_a"].size(), vec![16, 4]);
    let trainable: i64 = c
        .trainable_variables()
        .iter()
        .map(Tensor::numel)
        .sum::<usize>() as i64;
    assert_eq!(trainable, chapter_lora_trainable(16, 2, 4, 2));
    // Every A is drawn like appendix E's (uniform in ±1/sqrt(rank)), B is zero.
    let a = &vars["h.1.attn.c_attn.lora_a"];
    assert!(a.abs().max().double_value(&[]) <= 0.5);
    assert!(a.abs().max().double_value(&[]) > 0.25);
    assert_eq!(
        vars["h.1.attn.c_attn.lora_b"].abs().max().double_value(&[]),
        0.0
    );

    // One fused adapter (models saved before the split) has fewer.
    let fused = lora_classifier(false);
    assert_eq!(
        fused.vs.variables()["h.0.attn.c_attn.lora_a"].size(),
        vec![16, 4]
    );
    let n: usize = fused.trainable_variables().iter().map(Tensor::numel).sum();
    assert_eq!(
        n as i64,
        chapter_lora_trainable(16, 2, 4, 2) - 2 * 4 * 2 * 16
    );
}

/// A layer with three adapters side by side computes, for each third of its output, what a
/// separate adapter on that third computes: `alpha * x @ A_i @ B_i`, and its merged weight
/// gives the same output.
#[test]
fn a_split_adapter_is_three_separate_adapters() {
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let opts = DenseOptions {
        in_dim: 8,
        out_dim: 12,
        bias: true,
        layout: Layout::InOut,
        weight_init: Some(Init::Uniform { lo: -0.5, up: 0.5 }),
    };
    let mut layer = Dense::new(&root, "c_attn", opts);
    let (rank, alpha) = (2, 1.5);
    layer.add_lora(
        &root,
        LoraShape {
            rank,
            alpha,
            parts: 3,
        },
    );
    let lora = layer.lora.as_ref().expect("adapter");
    assert_eq!((lora.a.size(), lora.b.size()), (vec![8, 6], vec![2, 12]));
    tch::no_grad(|| {
        let _ = lora.b.shallow_clone().uniform_(-1.0, 1.0);
    });
    let x = Tensor::randn([5, 8], (Kind::Float, Device::Cpu));
    let plain = x.matmul(&layer.weight) + layer.bias.as_ref().expect("bias");
    let expected: Vec<Tensor> = (0..3)
        .map(|i| {
            let a = lora.a.narrow(1, i * rank, rank);
            let b = lora.b.narrow(1, i * 4, 4);
            x.matmul(&a).matmul(&b) * alpha
        })
        .collect();
    let expected = plain + Tensor::cat(&expected, 1);
    let got = tch::no_grad(|| layer.forward(&x));
    assert!((&got - &expected).abs().max().double_value(&[]) < 1e-5);
    let merged = x.matmul(&layer.merged_weight()) + layer.bias.as_ref().expect("bias");
    assert!((&merged - &expected).abs().max().double_value(&[]) < 1e-5);
}

/// A model saved with one fused adapter (its `classifier.json` has no `lora_split_qkv`, as
/// before the setting existed) loads as it was saved and gives the same logits.
#[test]
fn a_model_saved_with_one_fused_adapter_still_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = lora_classifier(false);
    tch::no_grad(|| {
        for t in c.trainable_variables() {
            let _ = t.shallow_clone().uniform_(-0.3, 0.3);
        }
    });
    let x = Tensor::from_slice(&[5i64, 6, 7, 8, 9, 10]).view([2, 3]);
    let before = c.forward(&x, None, false);
    c.save(dir.path()).expect("save");
    let file = dir.path().join("classifier.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    let removed = json
        .as_object_mut()
        .expect("object")
        .remove("lora_split_qkv");
    assert_eq!(removed, Some(serde_json::Value::Bool(false)));
    std::fs::write(&file, json.to_string()).expect("write");

    let loaded = Classifier::load(dir.path(), Device::Cpu).expect("load");
    assert!(!loaded.config.lora_split_qkv);
    let after = loaded.forward(&x, None, false);
    assert_eq!((&before - &after).abs().max().double_value(&[]), 0.0);
}
