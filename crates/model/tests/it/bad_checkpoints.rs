//! Damaged checkpoints give a clear error naming the file and the tensor, never a panic nor a
//! half-loaded model. Each case mutates a copy of the good fixtures in a tempdir.
use std::path::{Path, PathBuf};

use crate::common::*;
use spam_model::{
    BundleTensor, Classifier, ClassifierConfig, Config, LanguageModel, ModelError, Weights,
    write_bundle,
};
use tch::Device;

pub(crate) fn tiny_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("tiny");
    copy_dir(&tiny_dir(), &dir);
    (tmp, dir)
}

pub(crate) fn load_err(path: &Path) -> ModelError {
    match Weights::detect(path).and_then(|w| LanguageModel::load(&w, Device::Cpu)) {
        Ok(_) => panic!("{} loaded but should not", path.display()),
        Err(e) => e,
    }
}

pub(crate) fn assert_mentions(err: &ModelError, parts: &[&str]) {
    let msg = err.to_string();
    for p in parts {
        assert!(msg.contains(p), "error {msg:?} should mention {p:?}");
    }
}

/// Rewrites the OpenAI checkpoint in `dir` through `edit` (a list of entries to change).
pub(crate) fn rewrite_bundle(
    dir: &Path,
    edit: impl FnOnce(&mut Vec<(String, i64, Vec<i64>, Vec<u8>)>),
) {
    let ckpt = spam_model::OpenAiCheckpoint::open(dir).expect("open good checkpoint");
    let mut entries: Vec<(String, i64, Vec<i64>, Vec<u8>)> = ckpt
        .tensors
        .tensors
        .values()
        .map(|r| (r.key.clone(), 1, r.file_shape.clone(), r.bytes().to_vec()))
        .collect();
    drop(ckpt);
    edit(&mut entries);
    let tensors: Vec<BundleTensor<'_>> = entries
        .iter()
        .map(|(name, dtype, shape, data)| BundleTensor {
            name: name.clone(),
            dtype: *dtype,
            shape: shape.clone(),
            data,
        })
        .collect();
    write_bundle(&dir.join("model.ckpt"), &tensors).expect("write bundle");
}

/// Rewrites the safetensors header of `file` through `edit`, keeping the data.
pub(crate) fn rewrite_st_header(
    file: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) {
    let bytes = std::fs::read(file).expect("read");
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[..8]);
    let n = u64::from_le_bytes(n) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).expect("header");
    edit(&mut header);
    let mut h = serde_json::to_vec(&header).expect("json");
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(file, out).expect("write");
}

// ----- missing files

#[test]
fn missing_data_file() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    std::fs::remove_file(openai.join("model.ckpt.data-00000-of-00001")).expect("rm");
    let err = load_err(&openai);
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");
    assert_mentions(&err, &["model.ckpt.data-00000-of-00001", "download"]);
}

#[test]
fn missing_hparams_and_index() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    std::fs::remove_file(openai.join("hparams.json")).expect("rm");
    let err = load_err(&openai);
    assert_mentions(&err, &["hparams.json"]);
    let (_t2, dir2) = tiny_copy();
    let openai2 = dir2.join("openai");
    std::fs::remove_file(openai2.join("model.ckpt.index")).expect("rm");
    std::fs::remove_file(openai2.join("checkpoint")).expect("rm");
    let err = load_err(&openai2);
    assert!(matches!(err, ModelError::UnknownWeights { .. }), "{err}");
    let err = OpenAiCheckpoint_open_err(&openai2);
    assert_mentions(&err, &["model.ckpt.index"]);
}

#[allow(non_snake_case)]
fn OpenAiCheckpoint_open_err(p: &Path) -> ModelError {
    spam_model::OpenAiCheckpoint::open(p).expect_err("should fail")
}

#[test]
fn missing_path_and_unknown_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = load_err(&tmp.path().join("nope"));
    assert!(matches!(err, ModelError::MissingFile { .. }), "{err}");
    let err = load_err(tmp.path());
    assert!(matches!(err, ModelError::UnknownWeights { .. }), "{err}");
    let err = SafeTensors_err(&tmp.path().join("missing.safetensors"));
    assert_mentions(&err, &["missing.safetensors"]);
}

#[allow(non_snake_case)]
fn SafeTensors_err(p: &Path) -> ModelError {
    LanguageModel::load(&Weights::SafeTensors(p.to_path_buf()), Device::Cpu)
        .expect_err("should fail")
}

// ----- damaged data

#[test]
fn truncated_data_file() {
    let (_t, dir) = tiny_copy();
    let data = dir.join("openai/model.ckpt.data-00000-of-00001");
    let len = std::fs::metadata(&data).expect("meta").len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&data)
        .expect("open");
    f.set_len(len - 100).expect("truncate");
    let err = load_err(&dir.join("openai"));
    assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
    // Tensors are laid out in key order: the last one, model/wte, runs past the end.
    assert_mentions(
        &err,
        &["model.ckpt.data-00000-of-00001", "model/wte", "truncated"],
    );
}

#[test]
fn crc_mismatch() {
    let (_t, dir) = tiny_copy();
    let data = dir.join("openai/model.ckpt.data-00000-of-00001");
    let mut bytes = std::fs::read(&data).expect("read");
    bytes[10] ^= 0x40; // inside the first tensor in key order
    std::fs::write(&data, bytes).expect("write");
    let err = load_err(&dir.join("openai"));
    assert!(matches!(err, ModelError::CrcMismatch { .. }), "{err}");
    assert_mentions(
        &err,
        &[
            "model.ckpt.data-00000-of-00001",
            "model/h0/attn/c_attn/b",
            "crc32c",
        ],
    );
}

#[test]
fn damaged_index() {
    let (_t, dir) = tiny_copy();
    let index = dir.join("openai/model.ckpt.index");
    let mut bytes = std::fs::read(&index).expect("read");
    bytes[20] ^= 0xff;
    std::fs::write(&index, &bytes).expect("write");
    let err = load_err(&dir.join("openai"));
    assert!(matches!(err, ModelError::Corrupt { .. }), "{err}");
    assert_mentions(&err, &["model.ckpt.index"]);
    // Not a table at all.
    std::fs::write(&index, b"hello").expect("write");
    assert_mentions(
        &load_err(&dir.join("openai")),
        &["model.ckpt.index", "not a TensorFlow checkpoint"],
    );
}

// ----- wrong contents

#[test]
fn wrong_shape() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    rewrite_bundle(&openai, |e| {
        let w = e
            .iter_mut()
            .find(|x| x.0 == "model/h1/attn/c_attn/w")
            .expect("entry");
        w.2 = vec![1, 96, 32]; // same size, transposed
    });
    let err = load_err(&openai);
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");
    assert_mentions(
        &err,
        &[
            "model.ckpt.data-00000-of-00001",
            "model/h1/attn/c_attn/w",
            "[1, 96, 32]",
            "[32, 96]",
        ],
    );

    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, |h| {
        h["h.0.ln_2.weight"]["shape"] = serde_json::json!([4, 8]);
    });
    let err = load_err(&st);
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");
    assert_mentions(
        &err,
        &["hub/model.safetensors", "h.0.ln_2.weight", "[4, 8]"],
    );
}

#[test]
fn missing_tensor() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    rewrite_bundle(&openai, |e| e.retain(|x| x.0 != "model/h1/mlp/c_proj/b"));
    let err = load_err(&openai);
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert_mentions(
        &err,
        &["model.ckpt.index", "h.1.mlp.c_proj.bias", "missing"],
    );

    let (_t, dir) = tiny_copy();
    let st = dir.join("hf/model.safetensors");
    rewrite_st_header(&st, |h| {
        h.remove("transformer.ln_f.bias");
    });
    let err = load_err(&st);
    assert!(matches!(err, ModelError::MissingTensor { .. }), "{err}");
    assert_mentions(&err, &["hf/model.safetensors", "ln_f.bias"]);
}

#[test]
fn unexpected_tensor() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    rewrite_bundle(&openai, |e| {
        e.push(("global_step".into(), 1, vec![], vec![0; 4]))
    });
    let err = load_err(&openai);
    assert!(matches!(err, ModelError::UnexpectedTensor { .. }), "{err}");
    assert_mentions(&err, &["global_step"]);
}

#[test]
fn unsupported_dtype() {
    let (_t, dir) = tiny_copy();
    let openai = dir.join("openai");
    rewrite_bundle(&openai, |e| {
        e.iter_mut()
            .find(|x| x.0 == "model/ln_f/g")
            .expect("entry")
            .1 = 3; // DT_INT32, same size
    });
    let err = load_err(&openai);
    assert!(matches!(err, ModelError::UnsupportedDtype { .. }), "{err}");
    assert_mentions(
        &err,
        &["model.ckpt.data-00000-of-00001", "model/ln_f/g", "DT_INT32"],
    );

    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, |h| {
        h["wpe.weight"]["dtype"] = serde_json::json!("I32");
    });
    let err = load_err(&st);
    assert!(matches!(err, ModelError::UnsupportedDtype { .. }), "{err}");
    assert_mentions(&err, &["hub/model.safetensors", "wpe.weight", "I32"]);
}

#[test]
fn half_precision_safetensors_load() {
    // float16 weights are converted, not refused.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    let src = spam_model::SafeTensorsFile::open(&st).expect("open");
    let tensors: Vec<(String, tch::Tensor)> = src
        .tensors
        .values()
        .map(|r| {
            (
                r.key.clone(),
                r.to_tensor().expect("tensor").to_kind(tch::Kind::Half),
            )
        })
        .collect();
    drop(src);
    spam_model::write_safetensors_atomic(&st, &tensors, None).expect("write");
    let lm = LanguageModel::from_path(&st, Device::Cpu).expect("fp16 loads");
    let e = expected(&tiny_dir());
    let out = tch::no_grad(|| lm.gpt.forward(&input_ids(&e), false));
    assert!(max_abs(&out, &logits(&e, "chapter_logits")) < 0.1);
}

#[test]
fn hparams_disagree_with_tensors() {
    for (field, value, words) in [
        ("n_layer", 3, vec!["n_layer is 3", "2 blocks"]),
        ("n_embd", 64, vec!["model/wte", "n_vocab/n_ctx/n_embd"]),
        ("n_ctx", 1024, vec!["model/wpe"]),
        ("n_head", 5, vec!["not divisible by n_head"]),
    ] {
        let (_t, dir) = tiny_copy();
        let hp = dir.join("openai/hparams.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&hp).expect("read")).expect("json");
        v[field] = serde_json::json!(value);
        std::fs::write(&hp, v.to_string()).expect("write");
        let err = load_err(&dir.join("openai"));
        assert!(
            matches!(err, ModelError::HparamsMismatch { .. }),
            "{field}: {err}"
        );
        let mut parts = vec!["hparams.json"];
        parts.extend(words.iter().copied());
        assert_mentions(&err, &parts);
    }
    let (_t, dir) = tiny_copy();
    std::fs::write(dir.join("openai/hparams.json"), "{\"n_vocab\": 128").expect("write");
    assert!(matches!(
        load_err(&dir.join("openai")),
        ModelError::Json { .. }
    ));
}

#[test]
fn safetensors_offsets_past_the_file() {
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, |h| {
        h["ln_f.weight"]["data_offsets"] = serde_json::json!([1_000_000, 1_000_128]);
    });
    let err = load_err(&st);
    assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
    assert_mentions(&err, &["hub/model.safetensors", "ln_f.weight"]);

    // Header length beyond the file, and a file cut short.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    let mut bytes = std::fs::read(&st).expect("read");
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(&st, &bytes).expect("write");
    assert_mentions(&load_err(&st), &["hub/model.safetensors", "header length"]);
    let (_t, dir) = tiny_copy();
    let st = dir.join("hf/model.safetensors");
    let len = std::fs::metadata(&st).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&st)
        .expect("open")
        .set_len(len - 1)
        .expect("truncate");
    let err = load_err(&st);
    assert!(matches!(err, ModelError::Truncated { .. }), "{err}");
    // Offsets that disagree with the shape.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, |h| {
        let off = h["ln_f.bias"]["data_offsets"][0].as_u64().expect("offset");
        h["ln_f.bias"]["data_offsets"] = serde_json::json!([off, off + 8]);
    });
    assert_mentions(&load_err(&st), &["ln_f.bias", "needs 128 bytes"]);
}

#[test]
fn wrong_model_size_for_classifier() {
    // A classifier asking for another architecture than the checkpoint is refused up front.
    let cc = ClassifierConfig::new(Config::tiny(), 2);
    let err = Classifier::new(
        cc,
        &Weights::OpenAi(tiny_dir().join("openai")),
        Device::Cpu,
        1,
    )
    .expect_err("should fail");
    assert_mentions(&err, &["openai", "width 32", "width 16"]);
}

#[test]
fn no_half_loaded_model() {
    // A bad tensor late in the file: the error comes before any variable is written.
    let (_t, dir) = tiny_copy();
    let st = dir.join("hub/model.safetensors");
    rewrite_st_header(&st, |h| {
        h["wte.weight"]["dtype"] = serde_json::json!("I32");
    });
    let source = spam_model::SafeTensorsFile::open(&st)
        .expect("open")
        .into_gpt2_source();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let cfg = Config {
        vocab_size: 128,
        n_ctx: 24,
        n_embd: 32,
        n_head: 4,
        n_layer: 2,
        ..Config::tiny()
    };
    let _gpt = spam_model::Gpt2::with_init(&vs.root(), &cfg, spam_model::InitMode::Zeros);
    let vars = vs.variables();
    assert!(source.copy_into(&vars).is_err());
    let total: f64 = vars
        .iter()
        .filter(|(n, _)| !n.contains("ln_"))
        .map(|(_, t)| t.abs().sum(tch::Kind::Float).double_value(&[]))
        .sum();
    assert_eq!(total, 0.0, "nothing was copied");
}

#[test]
fn classifier_load_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = Classifier::load(tmp.path(), Device::Cpu).expect_err("should fail");
    assert_mentions(&err, &["classifier.json"]);
    let mut cc = ClassifierConfig::new(Config::tiny(), 2);
    cc.pad_id = 0;
    let c = Classifier::new(cc, &Weights::Random { seed: 1 }, Device::Cpu, 1).expect("model");
    c.save(tmp.path()).expect("save");
    let mut v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("classifier.json")).expect("read"),
    )
    .expect("json");
    v["num_classes"] = serde_json::json!(3);
    v["label_names"] = serde_json::json!(["a", "b", "c"]);
    std::fs::write(tmp.path().join("classifier.json"), v.to_string()).expect("write");
    let err = Classifier::load(tmp.path(), Device::Cpu).expect_err("should fail");
    assert_mentions(
        &err,
        &[
            "classifier.json",
            "num_classes is 3",
            "model.safetensors",
            "out_head",
        ],
    );
}
