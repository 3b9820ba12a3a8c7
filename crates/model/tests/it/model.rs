//! GPT-2 and classifier behaviour on a tiny random model (no fixtures needed).
use std::collections::HashMap;

use spam_model::{
    Classifier, ClassifierConfig, Config, GenerateOptions, Gpt2, TokenPosition, Trainable, Weights,
    generate, try_generate, try_generate_with,
};
use tch::{Device, Kind, Tensor, nn};

fn ids(rows: &[&[i64]]) -> Tensor {
    let t = rows[0].len() as i64;
    let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, t])
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

fn tiny(position: TokenPosition, trainable: Trainable) -> Classifier {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.token_position = position;
    cc.trainable = trainable;
    cc.pad_id = 0;
    Classifier::new(cc, &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("tiny classifier")
}

#[test]
fn variable_names_match_the_hub() {
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = Config::tiny();
    let _gpt = Gpt2::new(&vs.root(), &cfg);
    let vars: HashMap<String, Tensor> = vs.variables();
    let e = cfg.n_embd;
    let expect: &[(&str, &[i64])] = &[
        ("wte.weight", &[cfg.vocab_size, e]),
        ("wpe.weight", &[cfg.n_ctx, e]),
        ("h.0.ln_1.weight", &[e]),
        ("h.0.ln_1.bias", &[e]),
        ("h.0.attn.c_attn.weight", &[e, 3 * e]),
        ("h.0.attn.c_attn.bias", &[3 * e]),
        ("h.0.attn.c_proj.weight", &[e, e]),
        ("h.0.attn.c_proj.bias", &[e]),
        ("h.0.ln_2.weight", &[e]),
        ("h.0.mlp.c_fc.weight", &[e, 4 * e]),
        ("h.0.mlp.c_fc.bias", &[4 * e]),
        ("h.1.mlp.c_proj.weight", &[4 * e, e]),
        ("h.1.mlp.c_proj.bias", &[e]),
        ("ln_f.weight", &[e]),
        ("ln_f.bias", &[e]),
    ];
    for (name, shape) in expect {
        assert_eq!(
            vars.get(*name).map(|t| t.size()),
            Some(shape.to_vec()),
            "{name}"
        );
    }
    assert_eq!(vars.len(), 2 + 2 * 12 + 2);
    let n: i64 = vars.values().map(|t| t.numel() as i64).sum();
    assert_eq!(n, cfg.num_parameters());
}

#[test]
fn forward_shapes_and_causality() {
    let vs = nn::VarStore::new(Device::Cpu);
    tch::manual_seed(1);
    let gpt = Gpt2::new(&vs.root(), &Config::tiny());
    let a = ids(&[&[1, 2, 3, 4, 5]]);
    let b = ids(&[&[1, 2, 3, 9, 9]]);
    let la = gpt.forward(&a, false);
    let lb = gpt.forward(&b, false);
    assert_eq!(la.size(), vec![1, 5, 512]);
    // Positions before the change are unaffected (causal mask).
    assert!(max_abs(&la.narrow(1, 0, 3), &lb.narrow(1, 0, 3)) < 1e-6);
    assert!(max_abs(&la.narrow(1, 3, 2), &lb.narrow(1, 3, 2)) > 1e-4);
    // Without the mask the early positions see the later tokens.
    let x = gpt.embed(&a, false);
    let y = gpt.embed(&b, false);
    let hx = gpt.run_blocks(&x, 0..2, false, false);
    let hy = gpt.run_blocks(&y, 0..2, false, false);
    assert!(max_abs(&hx.narrow(1, 0, 3), &hy.narrow(1, 0, 3)) > 1e-5);
}

#[test]
fn last_positions_only_attention_matches_full() {
    // A block computing only the last query (the speed-up the classifier can use) agrees with
    // the full computation at that position.
    let q = Tensor::randn([2, 2, 7, 8], (Kind::Float, Device::Cpu));
    let k = Tensor::randn([2, 2, 7, 8], (Kind::Float, Device::Cpu));
    let v = Tensor::randn([2, 2, 7, 8], (Kind::Float, Device::Cpu));
    let full = spam_model::attend(&q, &k, &v, true, 0.0);
    let last = spam_model::attend(&q.narrow(2, 5, 2), &k, &v, true, 0.0);
    assert!(max_abs(&full.narrow(2, 5, 2), &last) < 1e-6);
}

#[test]
fn random_init_is_seeded_and_gpt2_like() {
    let cfg = Config::tiny();
    let a = spam_model::LanguageModel::load_with_config(
        &cfg,
        &Weights::Random { seed: 5 },
        Device::Cpu,
    )
    .expect("random model");
    let b = spam_model::LanguageModel::load_with_config(
        &cfg,
        &Weights::Random { seed: 5 },
        Device::Cpu,
    )
    .expect("random model");
    let c = spam_model::LanguageModel::load_with_config(
        &cfg,
        &Weights::Random { seed: 6 },
        Device::Cpu,
    )
    .expect("random model");
    let (va, vb, vc) = (a.vs.variables(), b.vs.variables(), c.vs.variables());
    for (name, t) in &va {
        assert_eq!(max_abs(t, &vb[name]), 0.0, "{name}");
    }
    assert!(max_abs(&va["wte.weight"], &vc["wte.weight"]) > 0.0);
    let std = va["wte.weight"].std(true).double_value(&[]);
    assert!((std - 0.02).abs() < 0.002, "wte std {std}");
    let std = va["h.0.mlp.c_proj.weight"].std(true).double_value(&[]);
    assert!((std - 0.01).abs() < 0.002, "c_proj std {std}");
    assert_eq!(
        va["h.0.ln_1.weight"].mean(Kind::Float).double_value(&[]),
        1.0
    );
    assert_eq!(
        va["h.0.attn.c_attn.bias"]
            .abs()
            .sum(Kind::Float)
            .double_value(&[]),
        0.0
    );
}

#[test]
fn trainable_modes_freeze_the_right_variables() {
    let names = |c: &Classifier| c.trainable_names();
    let c = tiny(TokenPosition::Last, Trainable::LastLayer);
    assert_eq!(names(&c), vec!["out_head.bias", "out_head.weight"]);
    assert_eq!(c.frozen_blocks(), 2);

    let c = tiny(TokenPosition::Last, Trainable::LastBlock);
    let n = names(&c);
    assert!(
        n.iter()
            .all(|n| n.starts_with("h.1.") || n.starts_with("ln_f.") || n.starts_with("out_head."))
    );
    assert_eq!(n.len(), 12 + 2 + 2);
    assert_eq!(c.frozen_blocks(), 1);
    // The var store's trainable list (what `nn::Optimizer` uses) holds exactly these.
    assert_eq!(c.vs.trainable_variables().len(), n.len());
    assert_eq!(c.trainable_variables().len(), n.len());

    let c = tiny(TokenPosition::Last, Trainable::LastTwoBlocks);
    assert_eq!(names(&c).len(), 2 * 12 + 2 + 2);
    assert_eq!(c.frozen_blocks(), 0);

    let c = tiny(TokenPosition::Last, Trainable::All);
    assert_eq!(names(&c).len(), c.vs.variables().len());
    assert_eq!(c.frozen_blocks(), 0);

    let c = tiny(
        TokenPosition::Last,
        Trainable::Lora {
            rank: 4,
            alpha: 8.0,
        },
    );
    let n = names(&c);
    // 4 projections x 2 blocks + head, each with A and B, and the head's weight and bias.
    assert_eq!(n.len(), (4 * 2 + 1) * 2 + 2);
    assert!(
        n.iter().all(|n| n.ends_with(".lora_a")
            || n.ends_with(".lora_b")
            || n.starts_with("out_head."))
    );
    assert_eq!(c.vs.variables()["out_head.lora_a"].size(), vec![16, 4]);
    assert_eq!(c.vs.variables()["out_head.lora_b"].size(), vec![4, 2]);
    assert_eq!(
        c.vs.variables()["h.0.attn.c_attn.lora_b"].size(),
        vec![4, 48]
    );
}

#[test]
fn lora_starts_as_identity_and_trains() {
    let plain = tiny(TokenPosition::Last, Trainable::All);
    let lora = tiny(
        TokenPosition::Last,
        Trainable::Lora {
            rank: 2,
            alpha: 4.0,
        },
    );
    let x = ids(&[&[5, 6, 7, 8], &[9, 10, 11, 0]]);
    // B = 0, so LoRA adds nothing at first.
    assert!(
        max_abs(
            &plain.forward(&x, None, false),
            &lora.forward(&x, None, false)
        ) < 1e-6
    );
    // Gradients reach the adapters only.
    let loss = lora.forward(&x, None, true).sum(Kind::Float);
    loss.backward();
    let vars = lora.vs.variables();
    assert!(vars["h.0.attn.c_attn.lora_b"].grad().defined());
    assert!(!vars["h.0.attn.c_attn.weight"].grad().defined());
}

#[test]
fn prefix_then_suffix_equals_forward() {
    for trainable in [
        Trainable::LastLayer,
        Trainable::LastBlock,
        Trainable::LastTwoBlocks,
        Trainable::All,
    ] {
        for position in [
            TokenPosition::Last,
            TokenPosition::First,
            TokenPosition::Flexible,
            TokenPosition::Pooled,
        ] {
            let c = tiny(position, trainable);
            let x = ids(&[&[5, 6, 7, 8, 0, 0], &[9, 10, 11, 12, 13, 14]]);
            let lengths = c.lengths_from_padding(&x);
            let full = c.forward(&x, Some(&lengths), false);
            let split = c.forward_suffix(&c.forward_prefix(&x), Some(&lengths), false);
            assert_eq!(full.size(), vec![2, 2]);
            assert!(max_abs(&full, &split) < 1e-6, "{trainable:?} {position:?}");
            let train = c.forward(&x, Some(&lengths), true);
            assert!(max_abs(&full, &train) < 1e-6, "dropout 0: train == eval");
        }
    }
}

#[test]
fn token_positions_select_what_they_say() {
    let x = ids(&[&[5, 6, 7, 0, 0], &[9, 10, 11, 12, 13]]);
    let lengths = Tensor::from_slice(&[3i64, 5]);
    let last = tiny(TokenPosition::Last, Trainable::LastBlock);
    let flex = tiny(TokenPosition::Flexible, Trainable::LastBlock);
    let first = tiny(TokenPosition::First, Trainable::LastBlock);
    let pooled = tiny(TokenPosition::Pooled, Trainable::LastBlock);
    // Flexible on row 0 = last on the unpadded row; row 1 has no padding.
    let flex_out = flex.forward(&x, Some(&lengths), false);
    let short = last.forward(&ids(&[&[5, 6, 7]]), None, false);
    assert!(max_abs(&flex_out.get(0), &short.get(0)) < 1e-5);
    assert!(max_abs(&flex_out.get(1), &last.forward(&x, None, false).get(1)) < 1e-6);
    // First token only depends on the first token (causal).
    let f = first.forward(&x, None, false);
    assert!(max_abs(&f.get(0), &first.forward(&ids(&[&[5]]), None, false).get(0)) < 1e-5);
    // Pooled with lengths = mean over the real tokens = pooled over the unpadded row.
    let p = pooled.forward(&x, Some(&lengths), false);
    let p_short = pooled.forward(&ids(&[&[5, 6, 7]]), None, false);
    assert!(max_abs(&p.get(0), &p_short.get(0)) < 1e-5);
    // Pooled without lengths averages the head over every position (the bonus script).
    let hidden = pooled.gpt.final_norm(&pooled.gpt.run_blocks(
        &pooled.gpt.embed(&x, false),
        0..2,
        true,
        false,
    ));
    let per_position = pooled.head.forward(&hidden).mean_dim(1, false, Kind::Float);
    assert!(max_abs(&pooled.forward(&x, None, false), &per_position) < 1e-5);
}

#[test]
fn causal_mask_switch_changes_first_position() {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.token_position = TokenPosition::First;
    let masked =
        Classifier::new(cc.clone(), &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("model");
    cc.causal_mask = false;
    let open = Classifier::new(cc, &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("model");
    let x = ids(&[&[5, 6, 7, 8]]);
    assert!(
        max_abs(
            &masked.forward(&x, None, false),
            &open.forward(&x, None, false)
        ) > 1e-5
    );
}

#[test]
fn head_seed_is_reproducible() {
    let a = tiny(TokenPosition::Last, Trainable::LastBlock);
    let b = tiny(TokenPosition::Last, Trainable::LastBlock);
    let (va, vb) = (a.vs.variables(), b.vs.variables());
    assert_eq!(max_abs(&va["out_head.weight"], &vb["out_head.weight"]), 0.0);
    let bound = 1.0 / 16f64.sqrt();
    assert!(va["out_head.weight"].abs().max().double_value(&[]) <= bound);
    assert!(va["out_head.bias"].abs().max().double_value(&[]) > 0.0);
}

#[test]
fn save_and_load_give_identical_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let x = ids(&[&[5, 6, 7, 8, 0], &[9, 10, 11, 12, 13]]);
    for trainable in [
        Trainable::LastBlock,
        Trainable::Lora {
            rank: 2,
            alpha: 3.0,
        },
    ] {
        let c = tiny(TokenPosition::Flexible, trainable);
        // Make the LoRA adapters non-trivial.
        tch::no_grad(|| {
            for t in c.trainable_variables() {
                let _ = t.shallow_clone().uniform_(-0.3, 0.3);
            }
        });
        let lengths = c.lengths_from_padding(&x);
        let before = c.forward(&x, Some(&lengths), false);
        let path = dir.path().join(trainable.name());
        c.save(&path).expect("save");
        assert!(path.join("model.safetensors").is_file() && path.join("classifier.json").is_file());
        let leftovers: Vec<_> = std::fs::read_dir(&path)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left behind");
        #[cfg(unix)]
        {
            // As readable as any file the user creates there (not a temp file's 0600).
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| p.metadata().expect("metadata").permissions().mode();
            let plain = path.join("plain");
            std::fs::write(&plain, b"x").expect("write");
            for f in ["model.safetensors", "classifier.json"] {
                assert_eq!(mode(&path.join(f)), mode(&plain), "{f}");
            }
        }
        let loaded = Classifier::load(&path, Device::Cpu).expect("load");
        assert_eq!(loaded.config, c.config);
        assert_eq!(
            max_abs(&before, &loaded.forward(&x, Some(&lengths), false)),
            0.0
        );
        assert_eq!(loaded.trainable_names(), c.trainable_names());

        let merged_path = dir.path().join(format!("{}-merged", trainable.name()));
        c.save_merged(&merged_path).expect("save merged");
        let merged = Classifier::load(&merged_path, Device::Cpu).expect("load merged");
        assert!(merged.vs.variables().keys().all(|k| !k.contains("lora")));
        assert!(max_abs(&before, &merged.forward(&x, Some(&lengths), false)) < 1e-5);
    }
}

#[test]
fn generation_streams_tokens_and_is_bounded_by_the_context() {
    let lm = spam_model::LanguageModel::load_with_config(
        &Config::tiny(),
        &Weights::Random { seed: 3 },
        Device::Cpu,
    )
    .expect("model");
    // Each token reaches the callback as it is chosen, in order, with its step.
    let opts = GenerateOptions {
        max_new_tokens: 32, // the whole context of the tiny model
        ..GenerateOptions::default()
    };
    let mut seen = Vec::new();
    let g = try_generate_with(&lm.gpt, &[1, 2, 3], &opts, |id, step| {
        seen.push((id, step.top_ids[0]));
    })
    .expect("generate");
    assert_eq!(seen.len(), 32);
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        g.generated_ids
    );
    assert!(seen.iter().all(|(id, top)| id == top), "greedy");
    // One beyond the context length: refused, saying the limit (before: accepted, and any
    // number ran, without bound).
    let too_many = GenerateOptions {
        max_new_tokens: 33,
        ..GenerateOptions::default()
    };
    let err = try_generate(&lm.gpt, &[1, 2, 3], &too_many).expect_err("beyond the context");
    let msg = err.to_string();
    assert!(msg.contains("33") && msg.contains("(32)"), "{msg}");
}

#[test]
fn generation_greedy_and_sampled() {
    let lm = spam_model::LanguageModel::load_with_config(
        &Config::tiny(),
        &Weights::Random { seed: 3 },
        Device::Cpu,
    )
    .expect("model");
    let opts = GenerateOptions {
        max_new_tokens: 6,
        ..GenerateOptions::default()
    };
    let g = generate(&lm.gpt, &[1, 2, 3], &opts);
    assert_eq!(g.prompt_ids, vec![1, 2, 3]);
    assert_eq!(g.generated_ids.len(), 6);
    assert_eq!(g.steps.len(), 6);
    for (step, id) in g.steps.iter().zip(&g.generated_ids) {
        assert_eq!(step.top_ids.len(), 10);
        assert_eq!(step.top_ids[0], *id, "greedy takes the top logit");
        assert!(step.top_logits.windows(2).all(|w| w[0] >= w[1]));
    }
    // Greedy = argmax of a full forward pass over the sequence so far.
    let all = Tensor::from_slice(&g.all_ids()[..5]).unsqueeze(0);
    let logits = tch::no_grad(|| lm.gpt.forward(&all, false));
    assert_eq!(
        logits.get(0).get(4).argmax(-1, false).int64_value(&[]),
        g.generated_ids[2]
    );
    let json = serde_json::to_value(&g).expect("json");
    assert!(json["steps"][0]["top_ids"].is_array() && json["prompt_ids"].is_array());

    let sample = GenerateOptions {
        max_new_tokens: 5,
        temperature: 1.5,
        top_k: Some(20),
        seed: 9,
        ..GenerateOptions::default()
    };
    let s1 = generate(&lm.gpt, &[1, 2, 3], &sample);
    let s2 = generate(&lm.gpt, &[1, 2, 3], &sample);
    assert_eq!(s1, s2, "seeded sampling is reproducible");
    for (step, id) in s1.steps.iter().zip(&s1.generated_ids) {
        let _ = (step, id);
    }
    // Top-k 1 is greedy whatever the temperature.
    let k1 = generate(
        &lm.gpt,
        &[1, 2, 3],
        &GenerateOptions {
            top_k: Some(1),
            temperature: 2.0,
            max_new_tokens: 6,
            ..GenerateOptions::default()
        },
    );
    assert_eq!(k1.generated_ids, g.generated_ids);
    // eos stops without emitting it.
    let eos = generate(
        &lm.gpt,
        &[1, 2, 3],
        &GenerateOptions {
            eos_id: Some(g.generated_ids[0]),
            ..opts.clone()
        },
    );
    assert!(eos.generated_ids.is_empty() && eos.steps.is_empty());
    // Long prompts are cropped to the context.
    let long: Vec<i64> = (0..40).map(|i| i % 500).collect();
    assert_eq!(generate(&lm.gpt, &long, &opts).generated_ids.len(), 6);

    assert!(try_generate(&lm.gpt, &[], &opts).is_err());
    assert!(try_generate(&lm.gpt, &[600], &opts).is_err());
    assert!(
        try_generate(
            &lm.gpt,
            &[1],
            &GenerateOptions {
                top_k: Some(0),
                ..opts.clone()
            }
        )
        .is_err()
    );
}

#[test]
fn cuda_matches_cpu_when_available() {
    // Runs only where a GPU is present; the CUDA path compiles everywhere.
    let device = spam_model::DeviceChoice::Auto
        .resolve()
        .expect("auto device");
    if device == Device::Cpu {
        assert!(
            "cuda"
                .parse::<spam_model::DeviceChoice>()
                .expect("parse")
                .resolve()
                .is_err()
        );
        return;
    }
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.token_position = TokenPosition::Flexible;
    let cpu =
        Classifier::new(cc.clone(), &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("cpu");
    let gpu = Classifier::new(cc, &Weights::Random { seed: 7 }, device, 123).expect("gpu");
    let x = ids(&[&[5, 6, 7, 8, 0], &[9, 10, 11, 12, 13]]);
    let l = Tensor::from_slice(&[4i64, 5]);
    let a = cpu.forward(&x, Some(&l), false);
    let b = gpu
        .forward(&x.to_device(device), Some(&l.to_device(device)), false)
        .to_device(Device::Cpu);
    assert!(max_abs(&a, &b) < 1e-4);
}

#[test]
fn a_replica_shares_the_weights_and_runs_on_another_thread() {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.trainable = Trainable::Lora {
        rank: 2,
        alpha: 2.0,
    };
    let model =
        Classifier::new(cc, &Weights::Random { seed: 4 }, Device::Cpu, 9).expect("tiny classifier");
    let ids = Tensor::from_slice(&[3i64, 14, 15, 92, 65, 35]).view([2, 3]);
    let here = model.forward(&ids, None, false);
    let replica = model.replica();
    let ids2 = ids.shallow_clone();
    let there = std::thread::spawn(move || replica.forward(&ids2, None, false))
        .join()
        .expect("thread");
    assert_eq!((&here - &there).abs().max().double_value(&[]), 0.0);
    // An update through the original is seen by a replica (same tensors, same variable store).
    let replica = model.replica();
    tch::no_grad(|| {
        let _ = model.head.weight.shallow_clone().fill_(0.25);
    });
    let after = replica.forward(&ids, None, false);
    assert!((&after - &here).abs().max().double_value(&[]) > 1e-6);
    assert_eq!(
        replica.trainable_variables().len(),
        model.trainable_variables().len()
    );
}
