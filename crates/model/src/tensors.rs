//! Validated, memory-mapped tensor sources and the copy into model variables.
//!
//! Loading never leaves a half-loaded model: every name, shape, dtype and byte range (and,
//! for TensorFlow bundles, every crc32c) is checked before the first variable is written.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use rayon::prelude::*;
use tch::{Kind, Tensor};

use crate::error::{ModelError, Result};

/// Element type of a stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DType {
    /// float32.
    F32,
    /// float16.
    F16,
    /// bfloat16.
    BF16,
    /// float64.
    F64,
    /// Anything else, with the format's own name (e.g. `DT_INT32`, `I64`).
    Unsupported(String),
}

impl DType {
    /// Bytes per element (`None` when unsupported).
    pub fn size(&self) -> Option<usize> {
        match self {
            Self::F32 => Some(4),
            Self::F16 | Self::BF16 => Some(2),
            Self::F64 => Some(8),
            Self::Unsupported(_) => None,
        }
    }

    fn kind(&self) -> Option<Kind> {
        match self {
            Self::F32 => Some(Kind::Float),
            Self::F16 => Some(Kind::Half),
            Self::BF16 => Some(Kind::BFloat16),
            Self::F64 => Some(Kind::Double),
            Self::Unsupported(_) => None,
        }
    }

    /// Name used in error messages.
    pub fn name(&self) -> String {
        match self {
            Self::F32 => "float32".into(),
            Self::F16 => "float16".into(),
            Self::BF16 => "bfloat16".into(),
            Self::F64 => "float64".into(),
            Self::Unsupported(s) => s.clone(),
        }
    }
}

/// A read-only memory-mapped file.
#[derive(Debug)]
pub struct MappedFile {
    /// The file mapped.
    pub path: PathBuf,
    map: Option<Mmap>,
}

impl MappedFile {
    /// Maps `path` read-only.
    pub fn open(path: &Path) -> Result<Self> {
        // Only a regular file, checked before opening: a FIFO would block and a device map
        // without end.
        crate::files::check_regular_file(path)?;
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let meta = file.metadata().map_err(|e| ModelError::io(path, e))?;
        if !meta.is_file() {
            return Err(ModelError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let len = meta.len();
        // mmap of an empty file fails on some systems; an empty file has no tensors anyway.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this process; like every mmap-based
            // loader we assume the checkpoint is not truncated by another process while loading.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| ModelError::io(path, e))?)
        };
        Ok(Self {
            path: path.to_path_buf(),
            map,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

/// One tensor in a checkpoint file.
#[derive(Debug, Clone)]
pub struct RawTensor {
    /// Name inside the file (e.g. `model/h0/attn/c_attn/w` or `transformer.h.0.ln_1.weight`).
    pub key: String,
    /// Element type as stored.
    pub dtype: DType,
    /// Shape as the model sees it (OpenAI's leading 1 already dropped).
    pub shape: Vec<i64>,
    /// Shape as stored.
    pub file_shape: Vec<i64>,
    /// The file the bytes are in.
    pub file: Arc<MappedFile>,
    /// Byte range within the file, already checked to lie inside it.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

impl RawTensor {
    /// The tensor's bytes in the file.
    pub fn bytes(&self) -> &[u8] {
        &self.file.bytes()[self.start..self.end]
    }

    /// Number of elements.
    pub fn numel(&self) -> i64 {
        self.file_shape
            .iter()
            .fold(1i64, |a, &d| a.saturating_mul(d))
    }

    /// Index of the first element that is NaN or infinite (`None` when all are finite or
    /// the dtype is not a float type this crate loads). Reads the bytes: nothing is allocated.
    pub fn first_non_finite(&self) -> Option<usize> {
        // An IEEE float is NaN or infinite exactly when its exponent bits are all ones.
        let bytes = self.bytes();
        match self.dtype {
            DType::F32 => bytes.chunks_exact(4).position(|b| {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000
            }),
            DType::F64 => bytes.chunks_exact(8).position(|b| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                !f64::from_le_bytes(a).is_finite()
            }),
            DType::F16 => bytes
                .chunks_exact(2)
                .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
            DType::BF16 => bytes
                .chunks_exact(2)
                .position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
            DType::Unsupported(_) => None,
        }
    }

    /// A float32 CPU tensor of this data (copied).
    pub fn to_tensor(&self) -> Result<Tensor> {
        let kind = self
            .dtype
            .kind()
            .ok_or_else(|| ModelError::UnsupportedDtype {
                path: self.file.path.clone(),
                tensor: self.key.clone(),
                dtype: self.dtype.name(),
            })?;
        let t = Tensor::f_from_data_size(self.bytes(), &self.shape, kind).map_err(|e| {
            ModelError::torch(
                format!("{}: tensor `{}`", self.file.path.display(), self.key),
                e,
            )
        })?;
        Ok(if kind == Kind::Float {
            t
        } else {
            t.to_kind(Kind::Float)
        })
    }
}

/// Refuses tensors whose byte ranges in one file overlap: each tensor owns its bytes, so an
/// overlap means a damaged or forged header (two names reading the same weights).
pub(crate) fn check_disjoint<'a>(
    path: &Path,
    ranges: impl IntoIterator<Item = (usize, usize, &'a str)>,
) -> Result<()> {
    let mut ranges: Vec<(usize, usize, &str)> = ranges.into_iter().filter(|r| r.0 < r.1).collect();
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
        if start < end {
            return Err(ModelError::corrupt(
                path,
                format!(
                    "tensors `{a}` and `{b}` share bytes {start}..{end}; the header is damaged: \
                     download or convert the file again"
                ),
            ));
        }
    }
    Ok(())
}

/// Tensors of a checkpoint, keyed by the model's variable names.
#[derive(Debug, Default)]
pub struct TensorSource {
    /// What to name in errors about the checkpoint as a whole.
    pub path: PathBuf,
    /// Tensors by model variable name.
    pub tensors: BTreeMap<String, RawTensor>,
}

impl TensorSource {
    /// The tensor for a model variable name.
    pub fn get(&self, name: &str) -> Option<&RawTensor> {
        self.tensors.get(name)
    }

    /// Checks that the source holds exactly the tensors of `expected` (names and shapes,
    /// supported dtypes) and nothing else, without allocating anything: loaders call it with
    /// the shapes a configuration implies before they build the model.
    pub fn check_shapes(&self, expected: &[(String, Vec<i64>)]) -> Result<()> {
        for (name, shape) in expected {
            let Some(raw) = self.tensors.get(name) else {
                return Err(ModelError::MissingTensor {
                    path: self.path.clone(),
                    tensor: name.clone(),
                });
            };
            if &raw.shape != shape {
                return Err(ModelError::ShapeMismatch {
                    path: raw.file.path.clone(),
                    tensor: raw.key.clone(),
                    expected: shape.clone(),
                    found: raw.file_shape.clone(),
                });
            }
            if raw.dtype.kind().is_none() {
                return Err(ModelError::UnsupportedDtype {
                    path: raw.file.path.clone(),
                    tensor: raw.key.clone(),
                    dtype: raw.dtype.name(),
                });
            }
        }
        let wanted: BTreeSet<&String> = expected.iter().map(|(n, _)| n).collect();
        if let Some((_, raw)) = self.tensors.iter().find(|(k, _)| !wanted.contains(k)) {
            return Err(ModelError::UnexpectedTensor {
                path: raw.file.path.clone(),
                tensor: raw.key.clone(),
            });
        }
        Ok(())
    }

    /// Checks that every tensor holds only finite numbers (a NaN or infinite weight would
    /// turn every output into NaN), reporting the first bad tensor in name order.
    pub fn check_finite(&self) -> Result<()> {
        let bad: Vec<Option<ModelError>> = self
            .tensors
            .par_iter()
            .map(|(_, raw)| {
                raw.first_non_finite().map(|index| ModelError::NonFinite {
                    path: raw.file.path.clone(),
                    tensor: raw.key.clone(),
                    index,
                })
            })
            .collect();
        match bad.into_iter().flatten().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks that the source holds exactly `vars` (names and shapes, supported dtypes, finite
    /// values), then copies every tensor into its variable. Nothing is written unless
    /// everything checks out.
    pub fn copy_into(&self, vars: &HashMap<String, Tensor>) -> Result<()> {
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let expected: Vec<(String, Vec<i64>)> =
            names.iter().map(|&n| (n.clone(), vars[n].size())).collect();
        self.check_shapes(&expected)?;
        self.check_finite()?;
        let plan: Vec<(&Tensor, &RawTensor)> = names
            .into_iter()
            .filter_map(|n| Some((&vars[n], self.tensors.get(n)?)))
            .collect();
        // Fast path: float32 data into contiguous float32 CPU variables is a plain memory copy
        // straight from the mapped file (in parallel); anything else goes through libtorch.
        let (direct, converted): (Vec<_>, Vec<_>) = plan.into_iter().partition(|(var, raw)| {
            cfg!(target_endian = "little")
                && raw.dtype == DType::F32
                && var.device() == tch::Device::Cpu
                && var.kind() == Kind::Float
                && var.is_contiguous()
                && var.numel() * 4 == raw.end - raw.start
        });
        let jobs: Vec<(usize, &[u8])> = direct
            .iter()
            .map(|(var, raw)| (var.data_ptr() as usize, raw.bytes()))
            .collect();
        jobs.par_iter().for_each(|&(dst, src)| {
            // SAFETY: `dst` is the start of a contiguous float32 CPU tensor of exactly
            // `src.len()` bytes (checked above), owned by a variable that stays alive for the
            // whole call (borrowed from `vars`); distinct variables do not overlap, and the
            // source is a read-only mapping.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst as *mut u8, src.len()) };
        });
        tch::no_grad(|| -> Result<()> {
            for (var, raw) in converted {
                let src = raw.to_tensor()?;
                let mut dst = var.shallow_clone();
                dst.f_copy_(&src).map_err(|e| {
                    ModelError::torch(
                        format!("{}: copying `{}`", raw.file.path.display(), raw.key),
                        e,
                    )
                })?;
            }
            Ok(())
        })
    }
}
