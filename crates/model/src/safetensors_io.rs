//! safetensors files: a validating, memory-mapped reader and an atomic writer.
//!
//! The reader parses the header itself (8-byte little-endian length, JSON) so that every
//! problem is reported with the file and tensor name: offsets that run past the file, sizes
//! that disagree with shapes, unsupported dtypes.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tch::{Kind, Tensor};

use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::tensors::{DType, MappedFile, RawTensor, TensorSource, check_disjoint};

/// All tensors of a safetensors file, validated, keyed by their names in the file.
#[derive(Debug)]
pub struct SafeTensorsFile {
    /// The file.
    pub path: PathBuf,
    /// Tensors by their names in the file.
    pub tensors: BTreeMap<String, RawTensor>,
    /// The header's `__metadata__` (empty if none).
    pub metadata: BTreeMap<String, String>,
}

impl SafeTensorsFile {
    /// Maps and validates `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let file = Arc::new(MappedFile::open(path)?);
        let bytes = file.bytes();
        let corrupt = |d: String| {
            ModelError::corrupt(
                path,
                format!("{d}; the safetensors file is damaged or truncated"),
            )
        };
        if bytes.len() < 8 {
            return Err(corrupt("file shorter than the 8-byte header length".into()));
        }
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[..8]);
        let header_len = u64::from_le_bytes(n);
        let data_start = header_len
            .checked_add(8)
            .filter(|&e| e <= bytes.len() as u64)
            .ok_or_else(|| {
                corrupt(format!(
                    "header length {header_len} runs past the end of the file ({} bytes)",
                    bytes.len()
                ))
            })? as usize;
        let header: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start])
                .map_err(|e| corrupt(format!("header is not valid JSON ({e})")))?;
        let data_len = (bytes.len() - data_start) as u64;
        let mut tensors = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (key, value) in header {
            if key == "__metadata__" {
                if let Ok(m) = serde_json::from_value::<BTreeMap<String, String>>(value) {
                    metadata = m;
                }
                continue;
            }
            let entry: HeaderEntry = serde_json::from_value(value)
                .map_err(|e| corrupt(format!("tensor `{key}`: malformed header entry ({e})")))?;
            let [begin, end] = entry.data_offsets;
            if begin > end || end > data_len {
                return Err(ModelError::Truncated {
                    path: path.to_path_buf(),
                    tensor: key,
                    start: (data_start as u64).saturating_add(begin),
                    end: (data_start as u64).saturating_add(end),
                    len: bytes.len() as u64,
                });
            }
            if entry.shape.iter().any(|&d| d < 0) {
                return Err(corrupt(format!(
                    "tensor `{key}` has a negative dimension {:?}",
                    entry.shape
                )));
            }
            let numel = entry
                .shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d as u64));
            let nbytes =
                st_dtype_size(&entry.dtype).map(|sz| numel.and_then(|n| n.checked_mul(sz)));
            if let Some(nbytes) = nbytes
                && nbytes != Some(end - begin)
            {
                let needs = nbytes.map_or("more than 2^64".to_string(), |n| n.to_string());
                return Err(corrupt(format!(
                    "tensor `{key}`: shape {:?} of {} needs {needs} bytes but its offsets span {}",
                    entry.shape,
                    entry.dtype,
                    end - begin
                )));
            }
            tensors.insert(
                key.clone(),
                RawTensor {
                    key,
                    dtype: st_dtype(&entry.dtype),
                    shape: entry.shape.clone(),
                    file_shape: entry.shape,
                    file: file.clone(),
                    start: data_start + begin as usize,
                    end: data_start + end as usize,
                },
            );
        }
        check_disjoint(
            path,
            tensors.values().map(|t| (t.start, t.end, t.key.as_str())),
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata,
        })
    }

    /// The tensors under their own names (for exact-name loads such as classifiers).
    pub fn into_source(self) -> TensorSource {
        TensorSource {
            path: self.path,
            tensors: self.tensors,
        }
    }

    /// GPT-2 backbone tensors under the model's names: a `transformer.` prefix is stripped,
    /// the causal-mask buffers `h.N.attn.bias` / `h.N.attn.masked_bias` are skipped, and so is
    /// `lm_head.weight` (tied to `wte`).
    pub fn into_gpt2_source(self) -> TensorSource {
        let mut out = BTreeMap::new();
        for (key, raw) in self.tensors {
            let name = key.strip_prefix("transformer.").unwrap_or(&key);
            if name == "lm_head.weight"
                || name.ends_with(".attn.bias")
                || name.ends_with(".attn.masked_bias")
            {
                continue;
            }
            out.insert(name.to_string(), raw);
        }
        TensorSource {
            path: self.path,
            tensors: out,
        }
    }
}

/// Configuration of a hub GPT-2 safetensors file: from a transformers `config.json` next to it
/// when there is one, else from the tensor shapes (n_head from the published size with the
/// same width and depth).
pub(crate) fn infer_gpt2_config(path: &Path, source: &TensorSource) -> Result<Config> {
    let missing = |t: &str| ModelError::MissingTensor {
        path: path.to_path_buf(),
        tensor: t.to_string(),
    };
    let wte = source
        .get("wte.weight")
        .ok_or_else(|| missing("wte.weight"))?;
    let wpe = source
        .get("wpe.weight")
        .ok_or_else(|| missing("wpe.weight"))?;
    if wte.shape.len() != 2 || wpe.shape.len() != 2 {
        return Err(ModelError::ShapeMismatch {
            path: path.to_path_buf(),
            tensor: wte.key.clone(),
            expected: vec![-1, -1],
            found: wte.file_shape.clone(),
        });
    }
    let n_layer = source
        .tensors
        .keys()
        .filter_map(|k| k.strip_prefix("h.")?.split('.').next()?.parse::<i64>().ok())
        .max()
        .map_or(0, |m| m.saturating_add(1));
    let mut cfg = Config {
        vocab_size: wte.shape[0],
        n_ctx: wpe.shape[0],
        n_embd: wte.shape[1],
        n_layer,
        ..Config::gpt2_124m()
    };
    let config_json = path.parent().map(|d| d.join("config.json"));
    let from_json = config_json
        .as_ref()
        .filter(|p| p.exists())
        .map(|p| -> Result<Option<i64>> {
            let text = std::fs::read_to_string(p).map_err(|e| ModelError::io(p, e))?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| ModelError::Json {
                    path: p.clone(),
                    source,
                })?;
            Ok(v.get("n_head").and_then(|h| h.as_i64()))
        })
        .transpose()?
        .flatten();
    cfg.n_head = match from_json {
        Some(h) => h,
        None => match crate::config::ModelSize::ALL.iter().find(|s| {
            let d = s.dims();
            d.n_embd == cfg.n_embd && d.n_layer == cfg.n_layer
        }) {
            Some(s) => s.dims().n_head,
            None => {
                return Err(ModelError::InvalidConfig(format!(
                    "{}: cannot tell the number of attention heads of a {}-wide, {}-layer model; \
                     put the transformers config.json (with n_head) next to the file",
                    path.display(),
                    cfg.n_embd,
                    cfg.n_layer
                )));
            }
        },
    };
    cfg.validate().map_err(|e| match e {
        ModelError::InvalidConfig(detail) => ModelError::corrupt(
            path,
            format!("the tensors describe an impossible model: {detail}; the file is damaged"),
        ),
        other => other,
    })?;
    Ok(cfg)
}

fn st_dtype_name(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Float => "F32",
        Kind::Half => "F16",
        Kind::BFloat16 => "BF16",
        Kind::Double => "F64",
        Kind::Int64 => "I64",
        Kind::Int => "I32",
        _ => return None,
    })
}

/// Writes `tensors` as a safetensors file atomically: a temporary file in the same directory,
/// synced, then renamed over `path`.
pub fn write_safetensors_atomic(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<BTreeMap<String, String>>,
) -> Result<()> {
    // Layout: sorted by name, packed.
    let mut items: Vec<(&String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    let mut header = serde_json::Map::new();
    if let Some(m) = metadata {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(m).unwrap_or_default(),
        );
    }
    let mut offset = 0u64;
    let mut blobs = Vec::with_capacity(items.len());
    for (name, t) in &items {
        let kind = t.kind();
        let dtype = st_dtype_name(kind).ok_or_else(|| {
            ModelError::InvalidConfig(format!("tensor `{name}` has unsupported kind {kind:?}"))
        })?;
        let numel = t.numel();
        let nbytes = numel * kind.elt_size_in_bytes();
        let mut buf = vec![0u8; nbytes];
        t.f_copy_data_u8(&mut buf, numel).map_err(|e| {
            ModelError::torch(format!("{}: reading tensor `{name}`", path.display()), e)
        })?;
        header.insert(
            (*name).clone(),
            serde_json::json!({
                "dtype": dtype,
                "shape": t.size(),
                "data_offsets": [offset, offset + nbytes as u64],
            }),
        );
        offset += nbytes as u64;
        blobs.push(buf);
    }
    let mut header_bytes = serde_json::to_vec(&serde_json::Value::Object(header))
        .map_err(|e| ModelError::InvalidConfig(format!("cannot encode safetensors header: {e}")))?;
    while !header_bytes.len().is_multiple_of(8) {
        header_bytes.push(b' ');
    }
    write_atomic(path, |w| {
        w.write_all(&(header_bytes.len() as u64).to_le_bytes())?;
        w.write_all(&header_bytes)?;
        for b in &blobs {
            w.write_all(b)?;
        }
        Ok(())
    })
}

/// Writes a file atomically (spam-data's one rule: a temporary file in the destination's
/// folder, synced, renamed over `path`).
pub(crate) fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    Ok(spam_data::write_atomic_with(path, f)?)
}

#[derive(Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<i64>,
    data_offsets: [u64; 2],
}

fn st_dtype(s: &str) -> DType {
    match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        other => DType::Unsupported(other.to_string()),
    }
}

fn st_dtype_size(s: &str) -> Option<u64> {
    Some(match s {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}
