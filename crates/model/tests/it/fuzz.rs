//! Property tests over the checkpoint readers (issue 15), through their public API only: the
//! safetensors header parser (`SafeTensorsFile::open`) and the TensorFlow bundle index parser
//! (`OpenAiCheckpoint::open`) get arbitrary bytes, structured mutations of valid files
//! (truncation, byte flips, forged lengths) and well-formed files whose fields take extreme
//! values (huge shapes, offsets and shard counts, negative numbers). Each must return `Ok` or
//! `Err`, never panic, and never ask for an absurd amount of memory; what it accepts must
//! keep the readers' promise (every tensor's bytes inside the file, and exactly as many as
//! its shape and dtype need).
//!
//! CI runs [`DEFAULT_CASES`] cases per property; for a long local run set `PROPTEST_CASES`,
//! e.g. `PROPTEST_CASES=100000 cargo test -p spam-model --test it fuzz`.

use proptest::prelude::*;
use proptest::test_runner::Config;
use spam_model::{OpenAiCheckpoint, RawTensor, SafeTensorsFile};
use spam_test_support::alloc_peak;
use spam_test_support::mutate::{mutate, mutation};

/// Cases per property in CI.
const DEFAULT_CASES: u32 = 128;

pub(crate) fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Checks what a reader accepted: bytes inside the file, and as many as shape and dtype need.
fn check_tensor(name: &str, raw: &RawTensor) {
    assert!(
        raw.start <= raw.end && raw.end <= raw.file.bytes().len(),
        "{name}"
    );
    if let Some(size) = raw.dtype.size() {
        let numel = raw
            .file_shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(u64::try_from(d).ok()?));
        assert_eq!(
            numel.and_then(|n| n.checked_mul(size as u64)),
            Some((raw.end - raw.start) as u64),
            "{name}: shape {:?} of {:?} accepted for {} bytes",
            raw.file_shape,
            raw.dtype,
            raw.end - raw.start
        );
        // Copying it out must work (or fail cleanly), never read past its bytes.
        let _ = raw.to_tensor();
    }
}

/// Runs `f`, checking that no single allocation on this thread exceeded `limit` bytes.
pub(crate) fn bounded<T>(limit: usize, f: impl FnOnce() -> T) -> T {
    alloc_peak::reset_peak();
    let out = f();
    let peak = alloc_peak::peak();
    assert!(
        peak <= limit,
        "one allocation of {peak} bytes (limit {limit})"
    );
    out
}

// ---- safetensors ----

fn interesting_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..64,
        Just(u64::MAX),
        Just(u64::MAX / 2),
        Just(1 << 32),
        Just(1 << 62),
        any::<u64>(),
    ]
}

pub(crate) fn interesting_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 0i64..5,
        1 => Just(-1i64),
        1 => Just(i64::MAX),
        1 => Just(i64::MIN),
        1 => Just(1i64 << 32),
        1 => any::<i64>(),
    ]
}

#[derive(Debug, Clone)]
struct StEntry {
    name: String,
    dtype: String,
    shape: Vec<i64>,
    offsets: (u64, u64),
}

fn st_entry() -> impl Strategy<Value = StEntry> {
    (
        prop::sample::select(vec!["wte.weight", "h.0.ln_1.weight", "__metadata__", "x"]),
        prop::sample::select(vec!["F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "Q4"]),
        prop::collection::vec(interesting_i64(), 0..4),
        (interesting_u64(), interesting_u64()),
    )
        .prop_map(|(name, dtype, shape, offsets)| StEntry {
            name: name.to_string(),
            dtype: dtype.to_string(),
            shape,
            offsets,
        })
}

/// A safetensors file from entries (the header as JSON, then `data`); `forged_len` replaces
/// the header length.
fn st_file(entries: &[StEntry], data: &[u8], forged_len: Option<u64>) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    for e in entries {
        let value = if e.name == "__metadata__" {
            serde_json::json!({"format": "pt"})
        } else {
            serde_json::json!({
                "dtype": e.dtype,
                "shape": e.shape,
                "data_offsets": [e.offsets.0, e.offsets.1],
            })
        };
        header.insert(e.name.clone(), value);
    }
    let json = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = forged_len
        .unwrap_or(json.len() as u64)
        .to_le_bytes()
        .to_vec();
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    out
}

/// A valid file: two float32 tensors packed after the header.
fn valid_st() -> Vec<u8> {
    let entries = [
        StEntry {
            name: "a".into(),
            dtype: "F32".into(),
            shape: vec![2, 3],
            offsets: (0, 24),
        },
        StEntry {
            name: "b".into(),
            dtype: "F16".into(),
            shape: vec![4],
            offsets: (24, 32),
        },
    ];
    st_file(&entries, &[7u8; 32], None)
}

fn open_st(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, bytes).expect("write");
    let opened = bounded((1 << 20) + 16 * bytes.len(), || {
        SafeTensorsFile::open(&path)
    });
    if let Ok(file) = opened {
        for (name, raw) in &file.tensors {
            check_tensor(name, raw);
        }
    }
}

// ---- TensorFlow bundle index ----

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One SSTable block (no key sharing, one restart point) followed by its trailer.
fn block(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (k, v) in entries {
        varint(&mut b, 0);
        varint(&mut b, k.len() as u64);
        varint(&mut b, v.len() as u64);
        b.extend_from_slice(k);
        b.extend_from_slice(v);
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b
}

fn with_trailer(file: &mut Vec<u8>, contents: &[u8]) -> (u64, u64) {
    let at = file.len() as u64;
    file.extend_from_slice(contents);
    let crc = crc32c::crc32c_append(crc32c::crc32c(contents), &[0]);
    file.push(0);
    file.extend_from_slice(&mask_crc(crc).to_le_bytes());
    (at, contents.len() as u64)
}

/// An index file whose single data block holds `entries` (sorted by key).
fn index_file(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.dedup_by(|a, b| a.0 == b.0);
    let mut file = Vec::new();
    let data = with_trailer(&mut file, &block(&entries));
    let meta = with_trailer(&mut file, &block(&[]));
    let mut handle = Vec::new();
    varint(&mut handle, data.0);
    varint(&mut handle, data.1);
    let last = entries.last().map(|e| e.0.clone()).unwrap_or_default();
    let index = with_trailer(&mut file, &block(&[(last, handle)]));
    let mut footer = Vec::new();
    for v in [meta.0, meta.1, index.0, index.1] {
        varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
    file.extend_from_slice(&footer);
    file
}

fn proto_varint(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

fn proto_bytes(out: &mut Vec<u8>, field: u64, b: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

#[derive(Debug, Clone)]
struct TfEntry {
    name: String,
    dtype: u64,
    shape: Vec<u64>,
    shard: u64,
    offset: u64,
    size: u64,
    /// Whether the crc32c is the one of the bytes it names (else a forged one).
    right_crc: bool,
    sliced: bool,
}

fn tf_entry() -> impl Strategy<Value = TfEntry> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "model/wte".to_string(),
            "model/wpe".to_string(),
            "model/h0/ln_1/g".to_string(),
            "model/h0/attn/c_attn/w".to_string(),
            "model/ln_f/b".to_string(),
            "global_step".to_string(),
        ]),
        prop_oneof![Just(i64::MAX as u64), any::<u64>()].prop_map(|n| format!("model/h{n}/ln_1/g")),
        "[a-z/0-9]{0,12}",
    ];
    (
        name,
        prop::sample::select(vec![1u64, 2, 14, 19, 3, 0, 99, u64::MAX]),
        prop::collection::vec(interesting_u64(), 0..4),
        prop_oneof![Just(0u64), interesting_u64()],
        interesting_u64(),
        interesting_u64(),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            |(name, dtype, shape, shard, offset, size, right_crc, sliced)| TfEntry {
                name,
                dtype,
                shape,
                shard,
                offset,
                size,
                right_crc,
                sliced,
            },
        )
}

fn tf_entry_proto(e: &TfEntry, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    proto_varint(&mut p, 1, e.dtype);
    let mut shape = Vec::new();
    for &d in &e.shape {
        let mut dim = Vec::new();
        proto_varint(&mut dim, 1, d);
        proto_bytes(&mut shape, 2, &dim);
    }
    proto_bytes(&mut p, 2, &shape);
    proto_varint(&mut p, 3, e.shard);
    proto_varint(&mut p, 4, e.offset);
    proto_varint(&mut p, 5, e.size);
    let crc = usize::try_from(e.offset)
        .ok()
        .zip(usize::try_from(e.offset.saturating_add(e.size)).ok())
        .and_then(|(a, b)| data.get(a..b))
        .filter(|_| e.right_crc)
        .map_or(0x1234_5678, |b| mask_crc(crc32c::crc32c(b)));
    varint(&mut p, (6 << 3) | 5);
    p.extend_from_slice(&crc.to_le_bytes());
    if e.sliced {
        proto_bytes(&mut p, 7, b"");
    }
    p
}

/// Writes a checkpoint folder (`hparams.json`, index, one data shard) and opens it.
fn open_tf(index: &[u8], data: &[u8], hparams: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("hparams.json"), hparams).expect("write");
    std::fs::write(dir.path().join("model.ckpt.index"), index).expect("write");
    std::fs::write(dir.path().join("model.ckpt.data-00000-of-00001"), data).expect("write");
    let limit = (1 << 20) + 16 * (index.len() + data.len());
    if let Ok(ckpt) = bounded(limit, || OpenAiCheckpoint::open(dir.path())) {
        for (name, raw) in &ckpt.tensors.tensors {
            check_tensor(name, raw);
        }
    }
}

fn tf_index(entries: &[TfEntry], header: Option<(u64, u64)>, data: &[u8]) -> Vec<u8> {
    let mut kv: Vec<(Vec<u8>, Vec<u8>)> = entries
        .iter()
        .map(|e| (e.name.clone().into_bytes(), tf_entry_proto(e, data)))
        .collect();
    if let Some((shards, endianness)) = header {
        let mut h = Vec::new();
        proto_varint(&mut h, 1, shards);
        proto_varint(&mut h, 2, endianness);
        kv.push((Vec::new(), h));
    }
    index_file(kv)
}

fn hparams() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(r#"{"n_vocab": 2, "n_ctx": 2, "n_embd": 2, "n_head": 1, "n_layer": 1}"#.to_string()),
        1 => (interesting_i64(), interesting_i64(), interesting_i64(), interesting_i64(), interesting_i64())
            .prop_map(|(a, b, c, d, e)| format!(
                r#"{{"n_vocab": {a}, "n_ctx": {b}, "n_embd": {c}, "n_head": {d}, "n_layer": {e}}}"#
            )),
    ]
}

// What the properties found, kept as plain tests (each panicked or was accepted before).

const HPARAMS: &str = r#"{"n_vocab": 2, "n_ctx": 2, "n_embd": 2, "n_head": 1, "n_layer": 1}"#;

#[test]
fn safetensors_offsets_near_u64_max_are_an_error() {
    let e = StEntry {
        name: "a".into(),
        dtype: "F32".into(),
        shape: vec![1],
        offsets: (u64::MAX - 3, u64::MAX),
    };
    open_st(&st_file(&[e], &[0; 8], None)); // was: overflow in the error message
}

#[test]
fn safetensors_shape_whose_size_overflows_is_refused() {
    let e = StEntry {
        name: "a".into(),
        dtype: "F32".into(),
        shape: vec![i64::MAX, 4],
        offsets: (0, 8),
    };
    open_st(&st_file(&[e], &[0; 8], None)); // was: accepted, 8 bytes for 2^65 floats
}

fn f32_entry(name: &str, shape: Vec<u64>) -> TfEntry {
    TfEntry {
        name: name.into(),
        dtype: 1,
        shape,
        shard: 0,
        offset: 0,
        size: 4,
        right_crc: true,
        sliced: false,
    }
}

#[test]
fn tf_huge_shard_count_is_not_allocated() {
    let data = [0u8; 4];
    let entries = [f32_entry("model/ln_f/g", vec![1])];
    open_tf(
        &tf_index(&entries, Some((1 << 62, 0)), &data),
        &data,
        HPARAMS,
    ); // was: capacity overflow
}

#[test]
fn tf_shape_whose_size_overflows_is_refused() {
    let data = [0u8; 4];
    let entries = [f32_entry("model/ln_f/g", vec![1 << 62, 4])];
    open_tf(&tf_index(&entries, Some((1, 0)), &data), &data, HPARAMS); // was: overflow panic
}

#[test]
fn tf_block_number_at_i64_max_is_an_error() {
    let data = [0u8; 4];
    let entries = [f32_entry(&format!("model/h{}/ln_1/g", i64::MAX), vec![1])];
    open_tf(&tf_index(&entries, Some((1, 0)), &data), &data, HPARAMS); // was: overflow panic
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn safetensors_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        open_st(&bytes);
    }

    #[test]
    fn safetensors_on_mutated_files(m in prop::collection::vec(mutation(), 1..6)) {
        open_st(&mutate(valid_st(), &m));
    }

    #[test]
    fn safetensors_with_extreme_fields(
        entries in prop::collection::vec(st_entry(), 0..5),
        data in prop::collection::vec(any::<u8>(), 0..128),
        forged_len in prop::option::weighted(0.2, interesting_u64()),
    ) {
        open_st(&st_file(&entries, &data, forged_len));
    }

    #[test]
    fn tf_index_on_arbitrary_bytes(
        mut bytes in prop::collection::vec(any::<u8>(), 0..512),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        // With the table magic at the end, so the parser gets past the footer check.
        bytes.extend_from_slice(&0xdb47_7524_8b80_fb57u64.to_le_bytes());
        open_tf(&bytes, &data, r#"{"n_vocab": 2, "n_ctx": 2, "n_embd": 2, "n_head": 1, "n_layer": 1}"#);
    }

    #[test]
    fn tf_index_on_mutated_files(
        entries in prop::collection::vec(tf_entry(), 1..4),
        m in prop::collection::vec(mutation(), 1..4),
    ) {
        let data = [3u8; 64];
        open_tf(&mutate(tf_index(&entries, Some((1, 0)), &data), &m), &data, "{}");
    }

    #[test]
    fn tf_index_with_extreme_fields(
        entries in prop::collection::vec(tf_entry(), 0..5),
        header in prop::option::weighted(0.9, (prop_oneof![Just(1u64), interesting_u64()], prop_oneof![Just(0u64), interesting_u64()])),
        data in prop::collection::vec(any::<u8>(), 0..96),
        hparams in hparams(),
    ) {
        open_tf(&tf_index(&entries, header, &data), &data, &hparams);
    }
}
