//! The head reads one position per row; the last block computes the rest of its work at
//! that position only. It must give what the full computation gives.

use spam_model::{Classifier, ClassifierConfig, Config, TokenPosition, Trainable, Weights};
use tch::{Device, Kind, Tensor};

fn full_computation(m: &Classifier, ids: &Tensor, lengths: &Tensor, train: bool) -> Tensor {
    let x = m.gpt.embed(ids, train);
    let x = m
        .gpt
        .run_blocks(&x, 0..m.gpt.n_layer(), m.config.causal_mask, train);
    let x = m.gpt.final_norm(&x);
    let (b, t) = (x.size()[0], x.size()[1]);
    let pos = match m.config.token_position {
        TokenPosition::Last => Tensor::full([b], t - 1, (Kind::Int64, Device::Cpu)),
        TokenPosition::First => Tensor::zeros([b], (Kind::Int64, Device::Cpu)),
        _ => lengths - 1,
    };
    let rows = Tensor::arange(b, (Kind::Int64, Device::Cpu));
    m.head.forward(&x.index(&[Some(rows), Some(pos)]))
}

/// Three rows of 4, 6 and 2 tokens, right-padded with 0.
fn batch() -> (Tensor, Tensor) {
    let ids = Tensor::from_slice(&[
        5i64, 9, 13, 200, 0, 0, 7, 8, 9, 10, 11, 12, 300, 301, 0, 0, 0, 0,
    ])
    .view([3, 6]);
    (ids, Tensor::from_slice(&[4i64, 6, 2]))
}

#[test]
fn single_position_compute_equals_the_full_computation() {
    let (ids, lengths) = batch();
    for position in [
        TokenPosition::Last,
        TokenPosition::First,
        TokenPosition::Flexible,
    ] {
        for trainable in [
            Trainable::LastBlock,
            Trainable::All,
            Trainable::Lora {
                rank: 2,
                alpha: 4.0,
            },
        ] {
            for causal in [true, false] {
                let mut cc = ClassifierConfig::new(Config::tiny(), 3);
                cc.token_position = position;
                cc.trainable = trainable;
                cc.causal_mask = causal;
                cc.pad_id = 0;
                let m = Classifier::new(cc, &Weights::Random { seed: 3 }, Device::Cpu, 4)
                    .expect("classifier");
                if let Trainable::Lora { .. } = trainable {
                    // Non-zero adapters, so the LoRA branch of the split projection is exercised.
                    tch::no_grad(|| {
                        for (name, mut t) in m.vs.variables() {
                            if name.ends_with("lora_b") {
                                let _ = t.fill_(0.05);
                            }
                        }
                    });
                }
                let fast = tch::no_grad(|| m.forward(&ids, Some(&lengths), false));
                let full = tch::no_grad(|| full_computation(&m, &ids, &lengths, false));
                let diff = (&fast - &full).abs().max().double_value(&[]);
                assert!(
                    diff < 1e-5,
                    "{position:?} {trainable:?} causal={causal}: differs by {diff}"
                );
            }
        }
    }
}

/// The packed key rows (only positions a causal query can see) must give the full
/// computation's gradients too, since training steps backpropagate through them. In
/// training mode (dropout 0) ln_1's scale and shift are folded into the key/value
/// projection, which must give the same gradients as well.
#[test]
fn single_position_gradients_equal_the_full_computation() {
    let (ids, lengths) = batch();
    for (position, train) in [
        (TokenPosition::Flexible, false),
        (TokenPosition::First, false),
        (TokenPosition::Flexible, true),
        (TokenPosition::First, true),
        (TokenPosition::Last, true),
    ] {
        let mut cc = ClassifierConfig::new(Config::tiny(), 3);
        cc.token_position = position;
        cc.trainable = Trainable::LastBlock;
        cc.pad_id = 0;
        let m =
            Classifier::new(cc, &Weights::Random { seed: 5 }, Device::Cpu, 4).expect("classifier");
        let grads = |logits: Tensor| -> Vec<(String, Tensor)> {
            for mut p in m.vs.trainable_variables() {
                p.zero_grad();
            }
            logits.square().sum(Kind::Float).backward();
            let mut named: Vec<(String, Tensor)> =
                m.vs.variables()
                    .into_iter()
                    .filter(|(_, t)| t.requires_grad())
                    .map(|(n, t)| (n, t.grad().copy()))
                    .collect();
            named.sort_by(|a, b| a.0.cmp(&b.0));
            named
        };
        let fast = grads(m.forward(&ids, Some(&lengths), train));
        let full = grads(full_computation(&m, &ids, &lengths, train));
        assert!(fast.iter().any(|(n, _)| n.contains("ln_1")), "ln_1 trains");
        for ((name, a), (_, b)) in fast.iter().zip(&full) {
            let scale = b.abs().max().double_value(&[]).max(1e-6);
            let diff = (a - b).abs().max().double_value(&[]) / scale;
            assert!(
                diff < 1e-5,
                "{position:?} train={train}: gradient of {name} differs by {diff}"
            );
        }
    }
}
