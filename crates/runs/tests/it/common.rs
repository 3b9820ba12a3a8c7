#![allow(dead_code)]
use std::path::{Path, PathBuf};

use spam_data::{Padding, SourceKind};
use spam_model::PadTo;
use spam_model::{
    Classifier, ClassifierConfig, Config, DeviceChoice, TokenPosition, Trainable, Weights,
};
use spam_runs::{RunConfig, WeightsSource};
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

/// A tiny random model (one block of width 16, last block trainable) on a labelled table with
/// dynamic padding: one epoch, an estimate every 3 steps, lr 1e-3. The data are the caller's.
pub fn tiny_run_config() -> RunConfig {
    let mut c = RunConfig::default();
    c.data.format = SourceKind::Table;
    c.data.padding = Padding::Dynamic;
    c.model.weights = WeightsSource::Random;
    c.model.device = DeviceChoice::Cpu;
    c.model.trainable = Trainable::LastBlock;
    c.model.architecture = Some(tiny_gpt2_vocab(1));
    c.train.epochs = 1;
    c.train.eval_freq = 3;
    c.train.eval_iter = 1;
    c.train.optimizer.lr = 1e-3;
    c
}

/// [`tiny_run_config`] on a small labelled CSV in `dir` (spam rows say "prize"): 80 rows, 56
/// for training, 7 steps an epoch; a run takes seconds.
pub fn small_run(dir: &Path, epochs: usize) -> RunConfig {
    let csv = dir.join("examples.csv");
    let mut text = String::from("text,label\n");
    for i in 0..40 {
        text.push_str(&format!("hello friend see you at {i} tomorrow,ham\n"));
        text.push_str(&format!("win a prize now call {i} to claim cash,spam\n"));
    }
    std::fs::write(&csv, text).expect("csv");
    let mut c = tiny_run_config();
    c.data.source = csv;
    c.train.epochs = epochs;
    c
}

/// A tiny architecture with GPT-2's vocabulary, so the GPT-2 tokenizer's ids fit: `n_layer`
/// blocks of width 16 and 2 heads, 64 positions, no dropout.
pub fn tiny_gpt2_vocab(n_layer: i64) -> Config {
    Config {
        vocab_size: 50257,
        n_ctx: 64,
        n_embd: 16,
        n_layer,
        n_head: 2,
        dropout: 0.0,
        qkv_bias: true,
    }
}

/// A random two-block ham/spam classifier of [`tiny_gpt2_vocab`] reading `position`, trained
/// on `max_length` tokens, saved as a run's `model/` folder in `dir`.
pub fn save_tiny_run(dir: &Path, position: TokenPosition, max_length: usize) {
    let mut cc = ClassifierConfig::new(tiny_gpt2_vocab(2), 2);
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.max_length = Some(max_length);
    cc.token_position = position;
    let model =
        Classifier::new(cc, &Weights::Random { seed: 3 }, Device::Cpu, 5).expect("tiny classifier");
    model.save(&dir.join("model")).expect("save the tiny model");
}
