//! Untrusted model folders and checkpoints: every number of a settings file is checked against
//! the file's tensors and sane limits before anything is allocated; NaN weights and tensors
//! sharing bytes are refused, naming the file and tensor.
use std::path::Path;

use crate::bad_checkpoints::{
    assert_mentions, load_err, rewrite_bundle, rewrite_st_header, tiny_copy,
};
use spam_model::{Classifier, ClassifierConfig, Config, ModelError, Weights};
use tch::Device;

/// A saved tiny classifier (vocab 512, context 32, width 16, 2 blocks, 2 classes).
fn saved_classifier() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.pad_id = 0;
    let c = Classifier::new(cc, &Weights::Random { seed: 1 }, Device::Cpu, 1).expect("model");
    c.save(tmp.path()).expect("save");
    tmp
}

/// Sets `key` (a JSON pointer) of the saved `classifier.json` in `dir` to `value`.
fn set_config(dir: &Path, pointer: &str, value: serde_json::Value) {
    let path = dir.join("classifier.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    *v.pointer_mut(pointer).expect("key") = value;
    std::fs::write(&path, v.to_string()).expect("write");
}

#[test]
fn classifier_settings_out_of_range_or_against_the_file_are_refused() {
    // (pointer, value, words the error must contain). Before: pad ids outside the vocabulary
    // loaded and panicked at the first text, a huge n_ctx panicked in libtorch's allocator and
    // a huge n_layer aborted the process.
    let cases: &[(&str, serde_json::Value, &[&str])] = &[
        (
            "/pad_id",
            serde_json::json!(-5),
            &["pad_id -5", "vocabulary"],
        ),
        (
            "/pad_id",
            serde_json::json!(1_000_000_000),
            &["pad_id 1000000000"],
        ),
        ("/pad_id", serde_json::json!(512), &["pad_id 512"]),
        (
            "/model/n_ctx",
            serde_json::json!(1_000_000_000_000i64),
            &["n_ctx"],
        ),
        (
            "/model/n_ctx",
            serde_json::json!(64),
            &["n_ctx is 64", "wpe.weight"],
        ),
        (
            "/model/n_layer",
            serde_json::json!(1_000_000_000),
            &["n_layer"],
        ),
        (
            "/model/n_layer",
            serde_json::json!(5),
            &["n_layer is 5", "2 blocks"],
        ),
        (
            "/model/n_layer",
            serde_json::json!(1),
            &["n_layer is 1", "2 blocks"],
        ),
        ("/model/n_embd", serde_json::json!(1_000_000), &["n_embd"]),
        (
            "/model/vocab_size",
            serde_json::json!(1024),
            &["vocab_size is 1024"],
        ),
        (
            "/num_classes",
            serde_json::json!(1_000_000_000),
            &["num_classes"],
        ),
        ("/model/n_head", serde_json::json!(-2), &["n_head"]),
    ];
    for (pointer, value, words) in cases {
        let tmp = saved_classifier();
        set_config(tmp.path(), pointer, value.clone());
        let err = Classifier::load(tmp.path(), Device::Cpu)
            .err()
            .unwrap_or_else(|| panic!("{pointer} = {value} loaded"));
        assert_mentions(&err, &["classifier.json"]);
        assert_mentions(&err, words);
    }
}

#[test]
fn non_finite_weights_are_refused_naming_the_tensor() {
    let tmp = saved_classifier();
    let st = tmp.path().join("model.safetensors");
    let file = spam_model::SafeTensorsFile::open(&st).expect("open");
    let end = file.tensors["h.1.mlp.c_fc.bias"].end;
    drop(file);
    for bad in [f32::NAN, f32::INFINITY] {
        let mut bytes = std::fs::read(&st).expect("read");
        bytes[end - 4..end].copy_from_slice(&bad.to_le_bytes());
        std::fs::write(&st, &bytes).expect("write");
        let err = Classifier::load(tmp.path(), Device::Cpu).expect_err("NaN weights loaded");
        assert!(matches!(err, ModelError::NonFinite { .. }), "{err}");
        assert_mentions(&err, &["model.safetensors", "h.1.mlp.c_fc.bias", "NaN"]);
    }

    // A backbone checkpoint: refused when loaded for generation or fine-tuning.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    let t = spam_model::SafeTensorsFile::open(&st)
        .expect("open")
        .tensors["ln_f.weight"]
        .clone();
    let (start, end) = (t.start, t.end);
    drop(t);
    let mut bytes = std::fs::read(&st).expect("read");
    bytes[start..end].fill(0xff); // all-ones exponent: NaN
    std::fs::write(&st, &bytes).expect("write");
    let err = load_err(&st);
    assert_mentions(&err, &["ln_f.weight", "NaN"]);
}

#[test]
fn overlapping_safetensors_offsets_are_refused() {
    let tmp = saved_classifier();
    let st = tmp.path().join("model.safetensors");
    rewrite_st_header(&st, |h| {
        // Both biases of the head's width (2 floats) now read the same bytes.
        let at = h["ln_f.bias"]["data_offsets"][0].as_u64().expect("offset");
        h["out_head.bias"]["data_offsets"] = serde_json::json!([at, at + 8]);
    });
    let err = spam_model::SafeTensorsFile::open(&st).expect_err("overlap accepted");
    assert_mentions(
        &err,
        &["model.safetensors", "out_head.bias", "ln_f.bias", "share"],
    );
    let err = Classifier::load(tmp.path(), Device::Cpu).expect_err("overlap loaded");
    assert_mentions(&err, &["share"]);
}

#[test]
fn a_checkpoint_claiming_many_blocks_is_refused_before_allocation() {
    // One tensor renamed into block 999999999: before, the layer count came from the highest
    // block index and building the model aborted the process.
    let rename = |to: &'static str| {
        move |h: &mut serde_json::Map<String, serde_json::Value>| {
            let entry = h.remove("h.1.ln_1.bias").expect("tensor");
            h.insert(to.into(), entry);
        }
    };
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, rename("h.999999999.ln_1.bias"));
    let err = load_err(&st);
    assert_mentions(&err, &["hub/model.safetensors", "n_layer"]);
    // A gap in the blocks is a missing tensor, named before anything is built.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, rename("h.7.ln_1.bias"));
    let err = load_err(&st);
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert_mentions(&err, &["h.1.ln_1.bias"]);
}

#[test]
fn impossible_tensorflow_shapes_are_refused() {
    // A negative dimension in the index: before, computing its byte size overflowed (a panic
    // in debug builds).
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    rewrite_bundle(&openai, |entries| {
        for e in entries.iter_mut().filter(|e| e.0 == "model/ln_f/b") {
            e.2 = vec![-1, 32];
        }
    });
    let err = load_err(&openai);
    assert_mentions(
        &err,
        &["model.ckpt.index", "model/ln_f/b", "impossible shape"],
    );
}

/// Weights and settings files that are not regular files (a FIFO, a device) are refused
/// before they are opened or mapped: loading never blocks and never maps a device.
#[cfg(unix)]
#[test]
fn weights_and_settings_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("model.safetensors");
    spam_test_support::special_files::mkfifo(&fifo);
    let paths = [fifo, std::path::PathBuf::from("/dev/zero")];
    let got = spam_test_support::special_files::within(
        std::time::Duration::from_secs(10),
        "opening the weights",
        move || -> Vec<String> {
            paths
                .iter()
                .map(|p| match spam_model::SafeTensorsFile::open(p) {
                    Ok(_) => "opened".to_string(),
                    Err(e) => e.to_string(),
                })
                .collect()
        },
    );
    for msg in got {
        assert!(msg.contains("not a regular file"), "{msg}");
    }
}
