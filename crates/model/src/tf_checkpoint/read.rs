//! Checkpoint folders: where the files are, `hparams.json`, and the validated, memory-mapped
//! [`OpenAiCheckpoint`].
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::sstable::{BundleEntry, BundleIndex, parse_index, unmask_crc};
use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::tensors::{DType, MappedFile, RawTensor, TensorSource, check_disjoint};

/// An OpenAI GPT-2 checkpoint, validated (every tensor's bytes are inside its shard and pass
/// their crc32c) and memory-mapped.
#[derive(Debug)]
pub struct OpenAiCheckpoint {
    /// Where the files are.
    pub files: CheckpointFiles,
    /// The checkpoint's `hparams.json`.
    pub hparams: HParams,
    /// Tensors under the model's variable names (projection weights without OpenAI's leading 1).
    pub tensors: TensorSource,
}

impl OpenAiCheckpoint {
    /// Opens and fully validates a checkpoint (see [`CheckpointFiles::locate`]).
    pub fn open(path: &Path) -> Result<Self> {
        let files = CheckpointFiles::locate(path)?;
        let index_path = files.index();
        let hparams = read_hparams(&files.hparams)?;
        let index = read_index(&index_path)?;
        let num_shards = shard_count(&index, &index_path)?;
        let mut bundle = Bundle::new(&files, index_path, num_shards, index.entries.len());
        for (key, entry) in &index.entries {
            bundle.add(key, entry)?;
        }
        bundle.check_disjoint()?;
        bundle.verify_crcs()?;
        let tensors = bundle.tensors;
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

/// Reads the bundle's `.index` (little-endian bundles only).
fn read_index(index_path: &Path) -> Result<BundleIndex> {
    let index_file = MappedFile::open(index_path).map_err(|e| match e {
        ModelError::MissingFile { path, .. } => ModelError::MissingFile {
            path,
            what: "TensorFlow checkpoint index",
            hint: "download the checkpoint again".into(),
        },
        e => e,
    })?;
    let index = parse_index(index_file.bytes(), index_path)?;
    if index.header.endianness != 0 {
        return Err(ModelError::corrupt(
            index_path,
            "big-endian checkpoints are not supported",
        ));
    }
    Ok(index)
}

/// How many data shards the index names (at least one, at most one per tensor).
fn shard_count(index: &BundleIndex, index_path: &Path) -> Result<i64> {
    let num_shards = index.header.num_shards.max(1);
    // Each shard is a file of its own; more shards than tensors cannot be a real bundle
    // (and the count sizes a table below).
    if num_shards > index.entries.len().max(1) as i64 {
        return Err(ModelError::corrupt(
            index_path,
            format!(
                "the index claims {num_shards} data shards for {} tensors; the index is \
                 damaged: download the checkpoint again",
                index.entries.len()
            ),
        ));
    }
    Ok(num_shards)
}

/// One tensor's bytes and the crc32c they must have.
struct CrcJob {
    key: String,
    path: PathBuf,
    file: Arc<MappedFile>,
    start: usize,
    end: usize,
    expected: u32,
}

/// The tensors of a bundle as its index entries are added: the shards opened so far and the
/// checksums still to verify.
struct Bundle<'a> {
    files: &'a CheckpointFiles,
    index_path: PathBuf,
    num_shards: i64,
    /// By shard id, opened as tensors name them.
    shards: BTreeMap<i64, Arc<MappedFile>>,
    tensors: TensorSource,
    crc_jobs: Vec<CrcJob>,
}

impl<'a> Bundle<'a> {
    fn new(files: &'a CheckpointFiles, index_path: PathBuf, num_shards: i64, len: usize) -> Self {
        Bundle {
            files,
            tensors: TensorSource {
                path: index_path.clone(),
                ..Default::default()
            },
            index_path,
            num_shards,
            shards: BTreeMap::new(),
            crc_jobs: Vec::with_capacity(len),
        }
    }

    /// Checks one index entry and adds its tensor (its crc32c is verified later).
    fn add(&mut self, key: &String, entry: &BundleEntry) -> Result<()> {
        let name = self.model_name(key, entry)?;
        let (data_path, file) = self.shard(entry.shard_id)?;
        let dtype = tf_dtype(entry.dtype);
        let (start, end) = self.byte_range(key, entry, &dtype, &data_path, &file)?;
        self.crc_jobs.push(CrcJob {
            key: key.clone(),
            path: data_path,
            file: file.clone(),
            start,
            end,
            expected: unmask_crc(entry.crc32c),
        });
        // OpenAI stores projection weights as [1, in, out] (a 1x1 convolution).
        let shape = if key.ends_with("/w") && entry.shape.len() == 3 && entry.shape[0] == 1 {
            entry.shape[1..].to_vec()
        } else {
            entry.shape.clone()
        };
        self.tensors.tensors.insert(
            name,
            RawTensor {
                key: key.clone(),
                dtype,
                shape,
                file_shape: entry.shape.clone(),
                file,
                start,
                end,
            },
        );
        Ok(())
    }

    /// The model's name for the tensor `key`, which must be whole and in one of the shards.
    fn model_name(&self, key: &String, entry: &BundleEntry) -> Result<String> {
        let num_shards = self.num_shards;
        let Some(name) = map_openai_name(key) else {
            return Err(ModelError::UnexpectedTensor {
                path: self.index_path.clone(),
                tensor: key.clone(),
            });
        };
        if entry.sliced {
            return Err(ModelError::corrupt(
                &self.index_path,
                format!(
                    "tensor `{key}` is stored in slices (partitioned variable), which is not supported"
                ),
            ));
        }
        if entry.shard_id < 0 || entry.shard_id >= num_shards {
            return Err(ModelError::corrupt(
                &self.index_path,
                format!(
                    "tensor `{key}` names shard {} of {num_shards}",
                    entry.shard_id
                ),
            ));
        }
        Ok(name)
    }

    /// The data shard `shard_id`'s path and file, mapped on first use.
    fn shard(&mut self, shard_id: i64) -> Result<(PathBuf, Arc<MappedFile>)> {
        let data_path = self.files.data(shard_id, self.num_shards);
        let file = match self.shards.get(&shard_id) {
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
                self.shards.insert(shard_id, f.clone());
                f
            }
        };
        Ok((data_path, file))
    }

    /// The tensor's bytes in its shard, checked against the shard's length and, for a dtype
    /// of known size, against its shape.
    fn byte_range(
        &self,
        key: &String,
        entry: &BundleEntry,
        dtype: &DType,
        data_path: &Path,
        file: &MappedFile,
    ) -> Result<(usize, usize)> {
        let numel = entry
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(u64::try_from(d).ok()?));
        let Some(numel) = numel else {
            return Err(ModelError::corrupt(
                &self.index_path,
                format!(
                    "tensor `{key}` has an impossible shape {:?} (a negative dimension or \
                     more than 2^64 elements); the index is damaged: download the checkpoint \
                     again",
                    entry.shape
                ),
            ));
        };
        let (start, end) = (
            entry.offset as u64,
            (entry.offset as u64).saturating_add(entry.size as u64),
        );
        if entry.offset < 0 || entry.size < 0 || end > file.len() {
            return Err(ModelError::Truncated {
                path: data_path.to_path_buf(),
                tensor: key.clone(),
                start,
                end,
                len: file.len(),
            });
        }
        if let Some(sz) = dtype.size()
            && numel.checked_mul(sz as u64) != Some(entry.size as u64)
        {
            return Err(ModelError::corrupt(
                &self.index_path,
                format!(
                    "tensor `{key}`: shape {:?} of {} needs {} bytes but the entry says {}",
                    entry.shape,
                    dtype.name(),
                    numel.saturating_mul(sz as u64),
                    entry.size
                ),
            ));
        }
        Ok((start as usize, end as usize))
    }

    /// No two tensors of a shard share bytes.
    fn check_disjoint(&self) -> Result<()> {
        for (&i, file) in &self.shards {
            let ranges = self
                .tensors
                .tensors
                .values()
                .filter(|t| Arc::ptr_eq(&t.file, file))
                .map(|t| (t.start, t.end, t.key.as_str()));
            check_disjoint(&self.files.data(i, self.num_shards), ranges)?;
        }
        Ok(())
    }

    /// Verifies every tensor's crc32c (in parallel), reporting the first bad one in key order.
    fn verify_crcs(&self) -> Result<()> {
        let bad = self
            .crc_jobs
            .par_iter()
            .map(|job| {
                let actual = crc32c::crc32c(&job.file.bytes()[job.start..job.end]);
                (actual != job.expected).then(|| ModelError::CrcMismatch {
                    path: job.path.clone(),
                    tensor: job.key.clone(),
                    expected: job.expected,
                    actual,
                })
            })
            .collect::<Vec<_>>();
        match bad.into_iter().flatten().next() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Where the files of one checkpoint are.
#[derive(Debug, Clone)]
pub struct CheckpointFiles {
    /// Path prefix, e.g. `DIR/model.ckpt`.
    pub prefix: PathBuf,
    /// The `hparams.json` next to the bundle.
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
        let pointer = dir.join("checkpoint");
        if let Ok(text) = std::fs::metadata(&pointer)
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map_or(Err(()), |_| {
                std::fs::read_to_string(&pointer).map_err(|_| ())
            })
        {
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

    /// The `.index` file.
    pub fn index(&self) -> PathBuf {
        PathBuf::from(format!("{}.index", self.prefix.display()))
    }

    /// Data shard `shard` of `num_shards`.
    pub fn data(&self, shard: i64, num_shards: i64) -> PathBuf {
        PathBuf::from(format!(
            "{}.data-{shard:05}-of-{num_shards:05}",
            self.prefix.display()
        ))
    }
}

/// `hparams.json` of an OpenAI checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HParams {
    /// Vocabulary size.
    pub n_vocab: i64,
    /// Context length.
    pub n_ctx: i64,
    /// Embedding width.
    pub n_embd: i64,
    /// Number of attention heads.
    pub n_head: i64,
    /// Number of blocks.
    pub n_layer: i64,
}

impl HParams {
    /// The model configuration (dropout 0, qkv bias, as GPT-2).
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

pub(super) fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads `hparams.json`.
fn read_hparams(path: &Path) -> Result<HParams> {
    crate::files::check_regular_file(path)?;
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
fn map_openai_name(name: &str) -> Option<String> {
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
        .map_or(0, |m| m.saturating_add(1));
    if layers != h.n_layer {
        return mismatch(format!(
            "n_layer is {} but the checkpoint has {layers} blocks",
            h.n_layer
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
