#![allow(dead_code)]
use std::path::PathBuf;

use spam_model::PadTo;
use spam_model::{Classifier, ClassifierConfig, Config, TokenPosition, Trainable, Weights};
use spam_train::{Examples, TrainData};
use tch::Device;

/// Deterministic synthetic data: label 1 rows contain token 7 somewhere, label 0 rows don't.
pub fn synthetic(n: usize, seed: u64, vocab: i64) -> Examples {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as i64
    };
    let mut ids = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let len = 3 + (next() % 14) as usize;
        let label = (i % 2) as i64;
        let mut row: Vec<i64> = (0..len).map(|_| 10 + next() % (vocab - 10)).collect();
        if label == 1 {
            let at = (next() as usize) % len;
            row[at] = 7;
        }
        ids.push(row);
        labels.push(label);
    }
    Examples { ids, labels }
}

pub fn tiny_data(pad: PadTo) -> TrainData {
    let vocab = Config::tiny().vocab_size;
    TrainData {
        train: synthetic(64, 1, vocab),
        validation: synthetic(16, 2, vocab),
        test: synthetic(24, 3, vocab),
        pad,
        pad_id: 0,
        label_names: vec!["ham".into(), "spam".into()],
    }
}

pub fn tiny_model(position: TokenPosition, trainable: Trainable) -> Classifier {
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.pad_id = 0;
    cc.token_position = position;
    cc.trainable = trainable;
    Classifier::new(cc, &Weights::Random { seed: 7 }, Device::Cpu, 123).expect("tiny classifier")
}

/// The real SMS Spam Collection beside the clone (override with SPAM_SHARED_DIR).
pub fn sms_collection() -> PathBuf {
    spam_test_support::sms_collection()
}

/// Runs the calling test alone, in a child process of this test binary, and returns `true`
/// there (and `false` in the parent once the child passed). For tests that assert
/// process-wide libtorch state, such as its thread count, which the other tests of the binary
/// change while they run. `name` is the test's full name (`module::test`).
pub fn isolated(name: &str) -> bool {
    const CHILD: &str = "SPAM_TRAIN_ISOLATED_TEST";
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own process:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    false
}

/// Asserts `a` and `b` agree element by element within relative error `rel`.
pub fn assert_close(a: &[f64], b: &[f64], rel: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let err = (x - y).abs() / y.abs().max(1e-12);
        assert!(err <= rel, "step {i}: {x} vs {y} (relative error {err:e})");
    }
}
