//! Where backbone weights come from, and a loaded language model for generation.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use spam_data::Named;
use tch::{Device, Tensor, nn};

use crate::config::Config;
use crate::error::{ModelError, Result};
use crate::gpt2::{Gpt2, InitMode, variable_shapes};
use crate::safetensors_io::{SafeTensorsFile, infer_gpt2_config};
use crate::tensors::TensorSource;
use crate::tf_checkpoint::OpenAiCheckpoint;

/// Source of GPT-2 backbone weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Weights {
    /// GPT-2's random initialisation, seeded (generated on the CPU, so the same seed gives the
    /// same weights on every device).
    Random {
        /// Seed of the crate's generator.
        seed: u64,
    },
    /// The chapter's random model: what `GPTModel(cfg)` gets under `torch.manual_seed(seed)`
    /// (PyTorch's default module initialisation), bit for bit. Drawn from libtorch's global
    /// CPU generator, which it reseeds as the chapter does; a [`crate::Classifier`] built on it
    /// also draws its head as the chapter does (`torch.manual_seed(head_seed)`, then
    /// `nn.Linear(e, num_classes)`).
    Chapter {
        /// The seed given to `torch.manual_seed`.
        seed: u64,
    },
    /// An OpenAI TensorFlow checkpoint: its directory, `.index` file or prefix.
    OpenAi(PathBuf),
    /// A hub-layout or `save_pretrained` `model.safetensors` file.
    SafeTensors(PathBuf),
}

impl Weights {
    /// Tells the format from a path: a directory with a `*.index` or `checkpoint` file is an
    /// OpenAI checkpoint, a directory with `model.safetensors` (or a single `*.safetensors`) is
    /// safetensors; a file ending in `.safetensors` is safetensors, one ending in `.index` (or
    /// a prefix with a sibling `.index`) is an OpenAI checkpoint.
    pub fn detect(path: &Path) -> Result<Self> {
        if !path.exists() {
            if PathBuf::from(format!("{}.index", path.display())).exists() {
                return Ok(Self::OpenAi(path.to_path_buf()));
            }
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
                what: "weights",
                hint: "pass an OpenAI checkpoint directory or a model.safetensors file".into(),
            });
        }
        if path.is_dir() {
            let entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| ModelError::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            let has_ext = |ext: &str| {
                entries
                    .iter()
                    .any(|p| p.extension().is_some_and(|x| x == ext))
            };
            if path.join("checkpoint").is_file() || has_ext("index") {
                return Ok(Self::OpenAi(path.to_path_buf()));
            }
            if path.join("model.safetensors").is_file() {
                return Ok(Self::SafeTensors(path.join("model.safetensors")));
            }
            let st: Vec<&PathBuf> = entries
                .iter()
                .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
                .collect();
            if st.len() == 1 {
                return Ok(Self::SafeTensors(st[0].clone()));
            }
            return Err(ModelError::UnknownWeights {
                path: path.to_path_buf(),
            });
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("safetensors") => Ok(Self::SafeTensors(path.to_path_buf())),
            Some("index") => Ok(Self::OpenAi(path.to_path_buf())),
            _ => Err(ModelError::UnknownWeights {
                path: path.to_path_buf(),
            }),
        }
    }

    /// Opens and validates the checkpoint, returning its configuration (dropout 0) and its
    /// tensors under the model's names. `None` for random weights.
    pub fn open(&self) -> Result<Option<CheckpointContents>> {
        match self {
            Self::Random { .. } | Self::Chapter { .. } => Ok(None),
            Self::OpenAi(p) => {
                let ckpt = OpenAiCheckpoint::open(p)?;
                Ok(Some(CheckpointContents {
                    config: ckpt.config(),
                    tensors: ckpt.tensors,
                }))
            }
            Self::SafeTensors(p) => {
                let p = if p.is_dir() {
                    p.join("model.safetensors")
                } else {
                    p.clone()
                };
                let src = SafeTensorsFile::open(&p)?.into_gpt2_source();
                let config = infer_gpt2_config(&p, &src)?;
                Ok(Some(CheckpointContents {
                    config,
                    tensors: src,
                }))
            }
        }
    }

    /// Whether the weights are drawn at random rather than read from a checkpoint.
    pub fn is_random(&self) -> bool {
        matches!(self, Self::Random { .. } | Self::Chapter { .. })
    }

    /// The configuration stored with the checkpoint (`None` for random weights).
    pub fn config(&self) -> Result<Option<Config>> {
        Ok(self.open()?.map(|c| c.config))
    }
}

/// How random backbone weights are drawn (`--init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RandomInit {
    /// The chapter's `GPTModel(cfg)` under `torch.manual_seed(seed)`: PyTorch's default module
    /// initialisation, bit for bit ([`Weights::Chapter`]).
    #[default]
    Chapter,
    /// GPT-2's own scheme (std 0.02, scaled residual projections) from the crate's seeded
    /// generator ([`Weights::Random`]).
    Gpt2,
}

impl RandomInit {
    /// The random weights of this kind drawn with `seed`.
    pub fn weights(self, seed: u64) -> Weights {
        match self {
            Self::Chapter => Weights::Chapter { seed },
            Self::Gpt2 => Weights::Random { seed },
        }
    }

    /// The name used by `--init` and the config file (in [`Named::NAMES`]).
    pub fn as_str(self) -> &'static str {
        self.name_of().unwrap_or_default()
    }
}

impl Named for RandomInit {
    const WHAT: &'static str = "init";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Chapter, "chapter", &[]),
        (Self::Gpt2, "gpt2", &["gpt-2"]),
    ];
}

impl std::fmt::Display for RandomInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_name(f)
    }
}

impl std::str::FromStr for RandomInit {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`], trimmed, in any case.
    fn from_str(s: &str) -> Result<Self> {
        Self::from_name(&s.trim().to_ascii_lowercase())
            .ok_or_else(|| ModelError::InvalidConfig(Self::unknown(s)))
    }
}

/// A checkpoint opened by [`Weights::open`]: its configuration and its validated tensors.
#[derive(Debug)]
pub struct CheckpointContents {
    /// The configuration stored with the checkpoint (dropout 0).
    pub config: Config,
    /// The tensors under the model's variable names.
    pub tensors: TensorSource,
}

/// A GPT-2 language model with its variables, e.g. for [`crate::generate`].
#[derive(Debug)]
pub struct LanguageModel {
    /// The model's variables (frozen).
    pub vs: nn::VarStore,
    /// The GPT-2 network.
    pub gpt: Gpt2,
    /// Its hyper-parameters.
    pub config: Config,
}

impl LanguageModel {
    /// Loads a checkpoint (configuration from the checkpoint, dropout 0) onto `device`.
    pub fn load(weights: &Weights, device: Device) -> Result<Self> {
        let cfg = match weights {
            Weights::Random { .. } | Weights::Chapter { .. } => Config::gpt2_124m(),
            _ => weights.config()?.ok_or_else(|| {
                ModelError::InvalidConfig("checkpoint without configuration".into())
            })?,
        };
        Self::load_with_config(&cfg, weights, device)
    }

    /// Loads `weights` into a model of configuration `cfg` on `device`.
    pub fn load_with_config(cfg: &Config, weights: &Weights, device: Device) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let gpt = build_backbone(&vs.root(), cfg, weights)?;
        vs.freeze();
        if device != Device::Cpu {
            vs.set_device(device);
        }
        Ok(Self {
            vs,
            gpt,
            config: *cfg,
        })
    }

    /// Loads weights from a path, telling the format with [`Weights::detect`].
    pub fn from_path(path: &Path, device: Device) -> Result<Self> {
        Self::load(&Weights::detect(path)?, device)
    }
}

/// Checks that `cfg` matches the checkpoint's own configuration (dimensions only).
pub(crate) fn check_same_dims(cfg: &Config, ckpt: &Config, path: &Path) -> Result<()> {
    let dims = |c: &Config| (c.vocab_size, c.n_ctx, c.n_embd, c.n_layer, c.n_head);
    if dims(cfg) != dims(ckpt) {
        return Err(ModelError::InvalidConfig(format!(
            "{}: the checkpoint is vocab {} / context {} / width {} / {} layers / {} heads, but the \
             requested model is vocab {} / context {} / width {} / {} layers / {} heads; choose the \
             matching model size",
            path.display(),
            ckpt.vocab_size,
            ckpt.n_ctx,
            ckpt.n_embd,
            ckpt.n_layer,
            ckpt.n_head,
            cfg.vocab_size,
            cfg.n_ctx,
            cfg.n_embd,
            cfg.n_layer,
            cfg.n_head
        )));
    }
    Ok(())
}

/// Variables of `gpt` by name.
pub(crate) fn backbone_vars(gpt: &Gpt2) -> HashMap<String, Tensor> {
    gpt.named_tensors().into_iter().collect()
}

/// Builds GPT-2 below `p` (on the CPU var store) filled from `weights`. For checkpoints,
/// `cfg` must have the checkpoint's dimensions (dropout and qkv bias are taken from `cfg`).
pub(crate) fn build_backbone(p: &nn::Path, cfg: &Config, weights: &Weights) -> Result<Gpt2> {
    cfg.validate()?;
    match weights {
        Weights::Random { seed } => {
            let gpt = Gpt2::with_init(p, cfg, InitMode::Uninit);
            gpt.init_seeded(*seed);
            Ok(gpt)
        }
        Weights::Chapter { seed } => {
            let gpt = Gpt2::with_init(p, cfg, InitMode::Uninit);
            crate::chapter_init::fill_backbone(&gpt, *seed);
            Ok(gpt)
        }
        Weights::OpenAi(path) | Weights::SafeTensors(path) => {
            let ckpt = weights
                .open()?
                .ok_or_else(|| ModelError::UnknownWeights { path: path.clone() })?;
            check_same_dims(cfg, &ckpt.config, path)?;
            // Every shape is checked against the file before the model is allocated.
            ckpt.tensors.check_shapes(&variable_shapes(cfg, None))?;
            let gpt = Gpt2::with_init(p, cfg, InitMode::Uninit);
            ckpt.tensors.copy_into(&backbone_vars(&gpt))?;
            Ok(gpt)
        }
    }
}
