//! Issue 15: what a run saves reads back exactly, and errors print each cause once.

use std::collections::BTreeMap;

use spam_model::{PadTo, Predictor};
use spam_train::records::{DataSummary, EpochRecord, EvalRecord, FinalAccuracy, Timing};
use spam_train::{Report, TrainConfig};

/// f64s whose shortest decimal form serde_json's fast parser used to read back one bit off
/// (found by trying random losses), then some more random ones.
fn hard_floats() -> Vec<f64> {
    let mut v: Vec<f64> = [
        0x4004c7f75c889425u64,
        0x3fbadd5eff2ab9f8,
        0x3ff01356dea08f53,
        0x3fef9c258ac8e024,
        0x4001b19693de74a6,
        0x3ff12b7aa85c9788,
        0x3ffdd17176f6993c,
        0x3fed9de111940fb1,
    ]
    .into_iter()
    .map(f64::from_bits)
    .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push((x >> 11) as f64 / (1u64 << 53) as f64 * 3.0);
    }
    v
}

#[test]
fn losses_and_metrics_survive_the_json_round_trip_bit_for_bit() {
    let losses = hard_floats();
    let report = Report {
        config: TrainConfig::default(),
        path: "plain".into(),
        exact: true,
        data: DataSummary {
            train: 1,
            validation: 1,
            test: 1,
            padding: PadTo::Dynamic,
            label_names: vec!["ham".into(), "spam".into()],
            positive_class: Some("spam".into()),
        },
        evals: losses
            .chunks(2)
            .enumerate()
            .map(|(i, c)| EvalRecord {
                step: i,
                epoch: 1,
                examples_seen: i * 8,
                train_loss: c[0],
                val_loss: c[c.len() - 1],
            })
            .collect(),
        epochs: vec![EpochRecord {
            epoch: 1,
            examples_seen: 8,
            train_accuracy: losses[0],
            val_accuracy: losses[1],
        }],
        final_accuracy: Some(FinalAccuracy {
            train_accuracy: losses[2],
            validation_accuracy: losses[3],
            test_accuracy: losses[4],
        }),
        per_split: BTreeMap::new(),
        timing: Some(Timing {
            total_seconds: losses[5],
            cache_seconds: losses[6],
            training_seconds: losses[7],
            final_eval_seconds: losses[0],
            seconds_per_step: losses[1],
        }),
        examples_per_second: losses[2],
        examples_seen: 8,
        steps: 1,
        stopped_early: false,
        step_losses: losses.clone(),
        best: None,
        best_metric_history: Vec::new(),
        class_weights: None,
    };
    // As the run directory and the checkpoint write and read it.
    let bytes = serde_json::to_vec_pretty(&report).expect("serialize");
    let back: Report = serde_json::from_slice(&bytes).expect("parse");
    let off: Vec<(f64, f64)> = losses
        .iter()
        .zip(&back.step_losses)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .map(|(a, b)| (*a, *b))
        .take(5)
        .collect();
    assert!(off.is_empty(), "read back differently (first 5): {off:?}");
    assert_eq!(back.step_losses.len(), losses.len());
    let evals = |r: &Report| {
        r.evals
            .iter()
            .flat_map(|e| [e.train_loss.to_bits(), e.val_loss.to_bits()])
            .collect::<Vec<_>>()
    };
    assert_eq!(evals(&back), evals(&report));
    assert_eq!(back, report);
}

#[test]
fn a_load_error_prints_its_os_cause_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The "model folder" is a file: reading classifier.json inside it fails with an OS error
    // (not a directory). (A folder as classifier.json is refused before any OS call.)
    let file = dir.path().join("plain");
    std::fs::write(&file, "x").expect("write");
    let err = match Predictor::load(&file, tch::Device::Cpu) {
        Ok(_) => panic!("loaded"),
        Err(e) => e,
    };
    // As spam-cli prints it.
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert_eq!(msg.matches("(os error").count(), 1, "{msg}");
    assert!(msg.contains("could not load the classifier"), "{msg}");
}
