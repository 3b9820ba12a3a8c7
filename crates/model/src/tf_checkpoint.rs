//! OpenAI's GPT-2 checkpoints (TensorFlow tensor bundles), read in pure Rust.
//!
//! A bundle is `PREFIX.index` plus `PREFIX.data-SSSSS-of-NNNNN` shards. The index is a
//! LevelDB-style SSTable: data blocks of prefix-compressed key/value entries with restart
//! points, a meta-index block, an index block (keys to data-block handles) and a 48-byte footer
//! ending in the magic `0xdb4775248b80fb57`; each block is followed by a 5-byte trailer
//! (compression type, masked crc32c of block + type). Key `""` holds a `BundleHeaderProto`;
//! every other key is a tensor name whose value is a `BundleEntryProto` (dtype, shape, shard,
//! offset, size, masked crc32c of the tensor bytes). Both protos are decoded by hand here.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::tensors::{DType, MappedFile, RawTensor, TensorSource};

const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;
const BLOCK_TRAILER_LEN: usize = 5;
const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// TensorFlow's masking of stored crc32c values.
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

/// Inverse of [`mask_crc`].
pub fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(CRC_MASK_DELTA).rotate_left(15)
}

/// `hparams.json` of an OpenAI checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HParams {
    pub n_vocab: i64,
    pub n_ctx: i64,
    pub n_embd: i64,
    pub n_head: i64,
    pub n_layer: i64,
}

impl HParams {
    pub fn to_config(self) -> Config {
        Config {
            vocab_size: self.n_vocab,
            n_ctx: self.n_ctx,
            n_embd: self.n_embd,
            n_layer: self.n_layer,
            n_head: self.n_head,
            ..Config::gpt2_124m()
        }
    }
}

/// `BundleHeaderProto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleHeader {
    pub num_shards: i64,
    /// 0 little-endian, 1 big-endian.
    pub endianness: i64,
}

/// `BundleEntryProto` (the fields GPT-2 checkpoints use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleEntry {
    pub dtype: i64,
    pub shape: Vec<i64>,
    pub shard_id: i64,
    pub offset: i64,
    pub size: i64,
    /// Masked crc32c of the tensor bytes.
    pub crc32c: u32,
    /// The tensor is stored as slices (partitioned variable): not supported.
    pub sliced: bool,
}

/// A parsed `.index` file.
#[derive(Debug, Clone, Default)]
pub struct BundleIndex {
    pub header: BundleHeader,
    /// Tensor name -> entry, in key order.
    pub entries: Vec<(String, BundleEntry)>,
}

fn tf_dtype(code: i64) -> DType {
    match code {
        1 => DType::F32,
        2 => DType::F64,
        14 => DType::BF16,
        19 => DType::F16,
        3 => DType::Unsupported("DT_INT32".into()),
        9 => DType::Unsupported("DT_INT64".into()),
        7 => DType::Unsupported("DT_STRING".into()),
        10 => DType::Unsupported("DT_BOOL".into()),
        other => DType::Unsupported(format!("TensorFlow dtype {other}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Byte-level decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn fixed32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}

/// One protobuf field: number and value.
enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

fn proto_fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.done() {
        let tag = r.varint()?;
        let field = match tag & 7 {
            0 => Field::Varint(r.varint()?),
            1 => {
                r.fixed64()?;
                Field::Fixed64
            }
            2 => {
                let n = usize::try_from(r.varint()?).ok()?;
                Field::Bytes(r.bytes(n)?)
            }
            5 => Field::Fixed32(r.fixed32()?),
            _ => return None,
        };
        out.push((tag >> 3, field));
    }
    Some(out)
}

fn parse_shape(buf: &[u8]) -> Option<Vec<i64>> {
    let mut dims = Vec::new();
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (2, Field::Bytes(dim)) => {
                let mut size = 0i64;
                for (n, f) in proto_fields(dim)? {
                    if let (1, Field::Varint(v)) = (n, f) {
                        size = v as i64;
                    }
                }
                dims.push(size);
            }
            (3, Field::Varint(v)) if v != 0 => return None, // unknown rank
            _ => {}
        }
    }
    Some(dims)
}

fn parse_entry(buf: &[u8]) -> Option<BundleEntry> {
    let mut e = BundleEntry::default();
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (1, Field::Varint(v)) => e.dtype = v as i64,
            (2, Field::Bytes(b)) => e.shape = parse_shape(b)?,
            (3, Field::Varint(v)) => e.shard_id = v as i64,
            (4, Field::Varint(v)) => e.offset = v as i64,
            (5, Field::Varint(v)) => e.size = v as i64,
            (6, Field::Fixed32(v)) => e.crc32c = v,
            (7, _) => e.sliced = true,
            _ => {}
        }
    }
    Some(e)
}

fn parse_header(buf: &[u8]) -> Option<BundleHeader> {
    let mut h = BundleHeader {
        num_shards: 1,
        endianness: 0,
    };
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (1, Field::Varint(v)) => h.num_shards = v as i64,
            (2, Field::Varint(v)) => h.endianness = v as i64,
            _ => {}
        }
    }
    Some(h)
}

/// A block handle: offset and size of a block (without its trailer).
fn parse_handle(r: &mut Reader<'_>) -> Option<(u64, u64)> {
    Some((r.varint()?, r.varint()?))
}

fn read_block<'a>(file: &'a [u8], (offset, size): (u64, u64), path: &Path) -> Result<&'a [u8]> {
    let bad = |d: String| {
        ModelError::corrupt(
            path,
            format!("{d}; the index file is damaged: download it again"),
        )
    };
    let start = usize::try_from(offset).map_err(|_| bad("block offset overflows".into()))?;
    let size = usize::try_from(size).map_err(|_| bad("block size overflows".into()))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            bad(format!(
                "block at {start} (+{size}) runs past the end of the file ({} bytes)",
                file.len()
            ))
        })?;
    let contents = &file[start..start + size];
    let trailer = &file[start + size..end];
    if trailer[0] != 0 {
        return Err(ModelError::corrupt(
            path,
            format!(
                "block at {start} uses compression type {}, only uncompressed tables are supported",
                trailer[0]
            ),
        ));
    }
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    let actual = crc32c::crc32c_append(crc32c::crc32c(contents), &trailer[..1]);
    if unmask_crc(stored) != actual {
        return Err(bad(format!("block at {start} fails its crc32c check")));
    }
    Ok(contents)
}

/// Entries `(key, value)` of one SSTable block.
fn block_entries<'a>(block: &'a [u8], path: &Path) -> Result<Vec<(Vec<u8>, &'a [u8])>> {
    let bad = || {
        ModelError::corrupt(
            path,
            "malformed table block; the index file is damaged: download it again",
        )
    };
    if block.len() < 4 {
        return Err(bad());
    }
    let n = block.len();
    let num_restarts =
        u32::from_le_bytes([block[n - 4], block[n - 3], block[n - 2], block[n - 1]]) as usize;
    let limit = num_restarts
        .checked_mul(4)
        .and_then(|r| n.checked_sub(4 + r))
        .ok_or_else(bad)?;
    let mut r = Reader::new(&block[..limit]);
    let mut key: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while !r.done() {
        let shared = r.varint().ok_or_else(bad)? as usize;
        let non_shared = r.varint().ok_or_else(bad)? as usize;
        let value_len = r.varint().ok_or_else(bad)? as usize;
        if shared > key.len() {
            return Err(bad());
        }
        key.truncate(shared);
        key.extend_from_slice(r.bytes(non_shared).ok_or_else(bad)?);
        let value = r.bytes(value_len).ok_or_else(bad)?;
        out.push((key.clone(), value));
    }
    Ok(out)
}

/// Parses a tensor-bundle `.index` file.
pub fn parse_index(bytes: &[u8], path: &Path) -> Result<BundleIndex> {
    let bad = |d: &str| {
        ModelError::corrupt(
            path,
            format!("{d}; this is not a TensorFlow checkpoint index, or it is damaged"),
        )
    };
    if bytes.len() < FOOTER_LEN {
        return Err(bad("file too short for a table footer"));
    }
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&footer[40..48]);
    if u64::from_le_bytes(magic) != TABLE_MAGIC {
        return Err(bad("bad table magic number"));
    }
    let mut r = Reader::new(&footer[..40]);
    let _meta = parse_handle(&mut r).ok_or_else(|| bad("bad footer"))?;
    let index_handle = parse_handle(&mut r).ok_or_else(|| bad("bad footer"))?;
    let index_block = read_block(bytes, index_handle, path)?;
    let mut index = BundleIndex::default();
    let mut have_header = false;
    for (_, handle) in block_entries(index_block, path)? {
        let handle =
            parse_handle(&mut Reader::new(handle)).ok_or_else(|| bad("bad block handle"))?;
        let block = read_block(bytes, handle, path)?;
        for (key, value) in block_entries(block, path)? {
            if key.is_empty() {
                index.header = parse_header(value).ok_or_else(|| bad("malformed bundle header"))?;
                have_header = true;
                continue;
            }
            let name = String::from_utf8_lossy(&key).into_owned();
            let entry = parse_entry(value).ok_or_else(|| {
                ModelError::corrupt(path, format!("tensor `{name}`: malformed bundle entry"))
            })?;
            index.entries.push((name, entry));
        }
    }
    if !have_header {
        return Err(bad("no bundle header"));
    }
    Ok(index)
}

// ---------------------------------------------------------------------------------------------
// Checkpoint directories

/// Where the files of one checkpoint are.
#[derive(Debug, Clone)]
pub struct CheckpointFiles {
    /// Path prefix, e.g. `DIR/model.ckpt`.
    pub prefix: PathBuf,
    pub hparams: PathBuf,
}

impl CheckpointFiles {
    /// Locates a checkpoint from a directory, its `.index` file or its prefix.
    ///
    /// In a directory the prefix comes from the `checkpoint` file (`model_checkpoint_path`),
    /// else `model.ckpt`, else the single `*.index` file.
    pub fn locate(path: &Path) -> Result<Self> {
        let (dir, prefix) = if path.is_dir() {
            (path.to_path_buf(), Self::prefix_in_dir(path)?)
        } else if let Some(stem) = path.to_str().and_then(|s| s.strip_suffix(".index")) {
            let prefix = PathBuf::from(stem);
            (parent_dir(&prefix), prefix)
        } else if PathBuf::from(format!("{}.index", path.display())).exists() {
            (parent_dir(path), path.to_path_buf())
        } else {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
                what: "TensorFlow checkpoint",
                hint: "pass the checkpoint directory (with hparams.json and model.ckpt.*)".into(),
            });
        };
        Ok(Self {
            prefix,
            hparams: dir.join("hparams.json"),
        })
    }

    fn prefix_in_dir(dir: &Path) -> Result<PathBuf> {
        if let Ok(text) = std::fs::read_to_string(dir.join("checkpoint")) {
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("model_checkpoint_path:") {
                    let name = rest.trim().trim_matches('"');
                    let p = Path::new(name);
                    let prefix = if p.is_absolute() {
                        p.to_path_buf()
                    } else {
                        dir.join(p)
                    };
                    if PathBuf::from(format!("{}.index", prefix.display())).exists() {
                        return Ok(prefix);
                    }
                    // A `checkpoint` file with a path from the machine that wrote it: use the
                    // file name in this directory.
                    if let Some(file) = p.file_name() {
                        let local = dir.join(file);
                        if PathBuf::from(format!("{}.index", local.display())).exists() {
                            return Ok(local);
                        }
                    }
                }
            }
        }
        let default = dir.join("model.ckpt");
        if dir.join("model.ckpt.index").exists() {
            return Ok(default);
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| ModelError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "index"))
            .collect();
        match found.len() {
            1 => Ok(found.remove(0).with_extension("")),
            0 => Err(ModelError::MissingFile {
                path: dir.join("model.ckpt.index"),
                what: "TensorFlow checkpoint index",
                hint: "the directory holds no *.index file: download the checkpoint again".into(),
            }),
            _ => Err(ModelError::corrupt(
                dir,
                "several *.index files and no `checkpoint` file naming one: pass the .index file",
            )),
        }
    }

    pub fn index(&self) -> PathBuf {
        PathBuf::from(format!("{}.index", self.prefix.display()))
    }

    pub fn data(&self, shard: i64, num_shards: i64) -> PathBuf {
        PathBuf::from(format!(
            "{}.data-{shard:05}-of-{num_shards:05}",
            self.prefix.display()
        ))
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads `hparams.json`.
pub fn read_hparams(path: &Path) -> Result<HParams> {
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ModelError::MissingFile {
            path: path.to_path_buf(),
            what: "hparams.json",
            hint: "an OpenAI checkpoint directory must contain hparams.json (n_vocab, n_ctx, n_embd, n_head, n_layer)".into(),
        },
        _ => ModelError::io(path, e),
    })?;
    serde_json::from_str(&text).map_err(|source| ModelError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Maps an OpenAI variable name to the model's name: `model/h3/attn/c_attn/w` ->
/// `h.3.attn.c_attn.weight`, `model/ln_f/g` -> `ln_f.weight`, `model/wte` -> `wte.weight`.
pub fn map_openai_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("model/")?;
    if rest == "wte" || rest == "wpe" {
        return Some(format!("{rest}.weight"));
    }
    let mut parts: Vec<&str> = rest.split('/').collect();
    let leaf = match parts.pop()? {
        "w" | "g" => "weight",
        "b" => "bias",
        _ => return None,
    };
    let mut out = Vec::with_capacity(parts.len() + 2);
    for (i, p) in parts.iter().enumerate() {
        if i == 0
            && let Some(n) = p.strip_prefix('h')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
        {
            out.push("h".to_string());
            out.push(n.to_string());
            continue;
        }
        out.push((*p).to_string());
    }
    out.push(leaf.to_string());
    Some(out.join("."))
}

/// An OpenAI GPT-2 checkpoint, validated (every tensor's bytes are inside its shard and pass
/// their crc32c) and memory-mapped.
#[derive(Debug)]
pub struct OpenAiCheckpoint {
    pub files: CheckpointFiles,
    pub hparams: HParams,
    pub tensors: TensorSource,
}

impl OpenAiCheckpoint {
    /// Opens and fully validates a checkpoint (see [`CheckpointFiles::locate`]).
    pub fn open(path: &Path) -> Result<Self> {
        let files = CheckpointFiles::locate(path)?;
        let index_path = files.index();
        let hparams = read_hparams(&files.hparams)?;
        let index_file = MappedFile::open(&index_path).map_err(|e| match e {
            ModelError::MissingFile { path, .. } => ModelError::MissingFile {
                path,
                what: "TensorFlow checkpoint index",
                hint: "download the checkpoint again".into(),
            },
            e => e,
        })?;
        let index = parse_index(index_file.bytes(), &index_path)?;
        if index.header.endianness != 0 {
            return Err(ModelError::corrupt(
                &index_path,
                "big-endian checkpoints are not supported",
            ));
        }
        let num_shards = index.header.num_shards.max(1);
        let mut shards: Vec<Option<Arc<MappedFile>>> = vec![None; num_shards as usize];
        let mut tensors = TensorSource {
            path: index_path.clone(),
            ..Default::default()
        };
        let mut crc_jobs = Vec::with_capacity(index.entries.len());
        for (key, entry) in &index.entries {
            let Some(name) = map_openai_name(key) else {
                return Err(ModelError::UnexpectedTensor {
                    path: index_path.clone(),
                    tensor: key.clone(),
                });
            };
            if entry.sliced {
                return Err(ModelError::corrupt(
                    &index_path,
                    format!(
                        "tensor `{key}` is stored in slices (partitioned variable), which is not supported"
                    ),
                ));
            }
            if entry.shard_id < 0 || entry.shard_id >= num_shards {
                return Err(ModelError::corrupt(
                    &index_path,
                    format!(
                        "tensor `{key}` names shard {} of {num_shards}",
                        entry.shard_id
                    ),
                ));
            }
            let shard = entry.shard_id as usize;
            let data_path = files.data(entry.shard_id, num_shards);
            let file = match &shards[shard] {
                Some(f) => f.clone(),
                None => {
                    let f = Arc::new(MappedFile::open(&data_path).map_err(|e| match e {
                        ModelError::MissingFile { path, .. } => ModelError::MissingFile {
                            path,
                            what: "TensorFlow checkpoint data shard",
                            hint: "the data file next to the .index is missing: download the checkpoint again".into(),
                        },
                        e => e,
                    })?);
                    shards[shard] = Some(f.clone());
                    f
                }
            };
            let dtype = tf_dtype(entry.dtype);
            let numel: i64 = entry.shape.iter().product();
            let (start, end) = (
                entry.offset as u64,
                (entry.offset as u64).saturating_add(entry.size as u64),
            );
            if entry.offset < 0 || entry.size < 0 || end > file.len() {
                return Err(ModelError::Truncated {
                    path: data_path,
                    tensor: key.clone(),
                    start,
                    end,
                    len: file.len(),
                });
            }
            if let Some(sz) = dtype.size()
                && (numel as u64).saturating_mul(sz as u64) != entry.size as u64
            {
                return Err(ModelError::corrupt(
                    &index_path,
                    format!(
                        "tensor `{key}`: shape {:?} of {} needs {} bytes but the entry says {}",
                        entry.shape,
                        dtype.name(),
                        numel as u64 * sz as u64,
                        entry.size
                    ),
                ));
            }
            crc_jobs.push((
                key.clone(),
                data_path,
                file.clone(),
                start as usize,
                end as usize,
                unmask_crc(entry.crc32c),
            ));
            // OpenAI stores projection weights as [1, in, out] (a 1x1 convolution).
            let shape = if key.ends_with("/w") && entry.shape.len() == 3 && entry.shape[0] == 1 {
                entry.shape[1..].to_vec()
            } else {
                entry.shape.clone()
            };
            tensors.tensors.insert(
                name,
                RawTensor {
                    key: key.clone(),
                    dtype,
                    shape,
                    file_shape: entry.shape.clone(),
                    file,
                    start: start as usize,
                    end: end as usize,
                },
            );
        }
        // Verify every tensor's crc32c (in parallel), reporting the first bad one in key order.
        let bad = crc_jobs
            .par_iter()
            .map(|(key, path, file, start, end, expected)| {
                let actual = crc32c::crc32c(&file.bytes()[*start..*end]);
                (actual != *expected).then(|| ModelError::CrcMismatch {
                    path: path.clone(),
                    tensor: key.clone(),
                    expected: *expected,
                    actual,
                })
            })
            .collect::<Vec<_>>();
        if let Some(err) = bad.into_iter().flatten().next() {
            return Err(err);
        }
        check_hparams(&hparams, &tensors, &files.hparams)?;
        Ok(Self {
            files,
            hparams,
            tensors,
        })
    }

    /// The model configuration from `hparams.json` (dropout 0, qkv bias).
    pub fn config(&self) -> Config {
        self.hparams.to_config()
    }
}

/// Checks `hparams.json` against the tensors: `wte` `[n_vocab, n_embd]`, `wpe`
/// `[n_ctx, n_embd]`, exactly `n_layer` blocks, `n_head` dividing `n_embd`.
fn check_hparams(h: &HParams, t: &TensorSource, path: &Path) -> Result<()> {
    let mismatch = |detail: String| {
        Err(ModelError::HparamsMismatch {
            path: path.to_path_buf(),
            detail,
        })
    };
    if h.n_head <= 0 || h.n_embd <= 0 || h.n_embd % h.n_head != 0 {
        return mismatch(format!(
            "n_embd {} is not divisible by n_head {}",
            h.n_embd, h.n_head
        ));
    }
    for (name, want) in [
        ("wte.weight", [h.n_vocab, h.n_embd]),
        ("wpe.weight", [h.n_ctx, h.n_embd]),
    ] {
        if let Some(raw) = t.get(name)
            && raw.shape != want
        {
            return mismatch(format!(
                "tensor `{}` has shape {:?} but n_vocab/n_ctx/n_embd give {want:?}",
                raw.key, raw.file_shape
            ));
        }
    }
    let layers = t
        .tensors
        .keys()
        .filter_map(|k| k.strip_prefix("h.")?.split('.').next()?.parse::<i64>().ok())
        .max()
        .map_or(0, |m| m + 1);
    if layers != h.n_layer {
        return mismatch(format!(
            "n_layer is {} but the checkpoint has {layers} blocks",
            h.n_layer
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Writing

/// One tensor to write with [`write_bundle`].
#[derive(Debug, Clone)]
pub struct BundleTensor<'a> {
    /// Variable name, e.g. `model/h0/attn/c_attn/w`.
    pub name: String,
    /// TensorFlow dtype code (1 = float32).
    pub dtype: i64,
    pub shape: Vec<i64>,
    /// Little-endian element bytes.
    pub data: &'a [u8],
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

/// Finishes an SSTable block (every entry is a restart point) and appends it with its trailer
/// to `file`, returning its handle.
fn put_block(file: &mut Vec<u8>, entries: &[(Vec<u8>, Vec<u8>)]) -> (u64, u64) {
    let mut block = Vec::new();
    let mut restarts = Vec::new();
    for (k, v) in entries {
        restarts.push(block.len() as u32);
        put_varint(&mut block, 0);
        put_varint(&mut block, k.len() as u64);
        put_varint(&mut block, v.len() as u64);
        block.extend_from_slice(k);
        block.extend_from_slice(v);
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    for r in &restarts {
        block.extend_from_slice(&r.to_le_bytes());
    }
    block.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    let handle = (file.len() as u64, block.len() as u64);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&block), &[0]);
    file.extend_from_slice(&block);
    file.push(0);
    file.extend_from_slice(&mask_crc(crc).to_le_bytes());
    handle
}

/// Writes a single-shard TensorFlow tensor bundle (`PREFIX.index`,
/// `PREFIX.data-00000-of-00001`) that TensorFlow's own reader accepts: an uncompressed
/// SSTable with the bundle header under key `""` and one `BundleEntryProto` per tensor
/// (sorted by name), each tensor's masked crc32c included. Files are written atomically.
/// Meant for tests and conversions; OpenAI checkpoints are read with [`OpenAiCheckpoint`].
pub fn write_bundle(prefix: &Path, tensors: &[BundleTensor<'_>]) -> Result<()> {
    let mut sorted: Vec<&BundleTensor<'_>> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut data = Vec::new();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(sorted.len() + 1);
    // BundleHeaderProto: num_shards 1, little-endian, version { producer: 1 }.
    let mut header = Vec::new();
    put_varint_field(&mut header, 1, 1);
    put_bytes_field(&mut header, 3, &[0x08, 0x01]);
    entries.push((Vec::new(), header));
    for t in sorted {
        let mut shape = Vec::new();
        for &d in &t.shape {
            let mut dim = Vec::new();
            put_varint_field(&mut dim, 1, d as u64);
            put_bytes_field(&mut shape, 2, &dim);
        }
        let mut e = Vec::new();
        put_varint_field(&mut e, 1, t.dtype as u64);
        put_bytes_field(&mut e, 2, &shape);
        put_varint_field(&mut e, 4, data.len() as u64);
        put_varint_field(&mut e, 5, t.data.len() as u64);
        put_varint(&mut e, (6 << 3) | 5);
        e.extend_from_slice(&mask_crc(crc32c::crc32c(t.data)).to_le_bytes());
        data.extend_from_slice(t.data);
        entries.push((t.name.as_bytes().to_vec(), e));
    }
    let mut index = Vec::new();
    let last_key = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
    let data_handle = put_block(&mut index, &entries);
    let meta_handle = put_block(&mut index, &[]);
    let mut handle = Vec::new();
    put_varint(&mut handle, data_handle.0);
    put_varint(&mut handle, data_handle.1);
    let index_handle = put_block(&mut index, &[(last_key, handle)]);
    let mut footer = Vec::new();
    for v in [meta_handle.0, meta_handle.1, index_handle.0, index_handle.1] {
        put_varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
    index.extend_from_slice(&footer);
    let files = CheckpointFiles {
        prefix: prefix.to_path_buf(),
        hparams: parent_dir(prefix).join("hparams.json"),
    };
    crate::safetensors_io::write_atomic(&files.data(0, 1), |w| w.write_all(&data))?;
    crate::safetensors_io::write_atomic(&files.index(), |w| w.write_all(&index))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_mask_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask_crc(mask_crc(v)), v);
        }
        assert_eq!(mask_crc(0), 0xa282_ead8);
        assert_eq!(mask_crc(1 << 15), 1 + 0xa282_ead8);
    }

    #[test]
    fn names_map() {
        assert_eq!(map_openai_name("model/wte").as_deref(), Some("wte.weight"));
        assert_eq!(
            map_openai_name("model/h11/attn/c_attn/w").as_deref(),
            Some("h.11.attn.c_attn.weight")
        );
        assert_eq!(
            map_openai_name("model/h0/ln_1/g").as_deref(),
            Some("h.0.ln_1.weight")
        );
        assert_eq!(
            map_openai_name("model/ln_f/b").as_deref(),
            Some("ln_f.bias")
        );
        assert_eq!(map_openai_name("global_step"), None);
    }
}
