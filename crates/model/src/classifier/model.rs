//! The classifier itself: the backbone, its new head, building, saving and loading.

use std::path::Path;

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

use super::settings::{ClassifierConfig, TokenPosition, Trainable};
use crate::error::{ModelError, Result};
use crate::gpt2::{self, Dense, DenseOptions, Gpt2, InitMode, Layout, LoraShape};
use crate::precision::Precision;
use crate::rng::SeededRng;
use crate::safetensors_io::{SafeTensorsFile, write_atomic, write_safetensors_atomic};
use crate::tensors::TensorSource;
use crate::weights::{Weights, build_backbone};

/// Weights file name of a saved classifier (see [`Classifier::save`]).
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// Config file name of a saved classifier (see [`Classifier::save`]).
pub const CONFIG_FILE: &str = "classifier.json";

/// GPT-2 with a classification head.
#[derive(Debug)]
pub struct Classifier {
    /// Every variable (backbone, head, adapters); only trained ones are in its trainable list.
    pub vs: nn::VarStore,
    /// The GPT-2 backbone.
    pub gpt: Gpt2,
    /// `out_head.weight` `[num_classes, e]`, `out_head.bias` `[num_classes]`
    /// (`torch.nn.Linear` layout).
    pub head: Dense,
    /// What the classifier was built from (saved as `classifier.json`).
    pub config: ClassifierConfig,
}

impl Classifier {
    /// Builds a classifier: loads the backbone from `weights`, adds a new
    /// `Linear(emb, num_classes)` head initialised like `torch.nn.Linear` (uniform in
    /// ±1/sqrt(emb)) from `head_seed`, then applies the trainable mode (freezing everything
    /// else; in LoRA mode the adapters are also drawn from `head_seed`, after the head).
    ///
    /// Everything is built on the CPU with the crate's own seeded generator and then moved to
    /// `device`, so seeds give the same numbers on every device (libtorch's global generator
    /// is neither used nor reseeded), except with [`Weights::Chapter`]: then the backbone and
    /// the head are the chapter's, drawn from libtorch's CPU generator after
    /// `torch.manual_seed(seed)` and `torch.manual_seed(head_seed)`.
    pub fn new(
        config: ClassifierConfig,
        weights: &Weights,
        device: Device,
        head_seed: u64,
    ) -> Result<Self> {
        config.validate()?;
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut gpt = build_backbone(&root, &config.model, weights)?;
        let mut head = new_head(&root, &config);
        add_adapters(&root, &mut gpt, &mut head, &config);
        seeded_head_and_adapters(&vs, &config, head_seed);
        if matches!(weights, Weights::Chapter { .. }) {
            crate::chapter_init::fill_head(&head, &gpt, head_seed);
        }
        Ok(Self::assemble(vs, gpt, head, config, device))
    }

    /// The classifier of parts built on the CPU: the trainable mode applied, then moved to
    /// `device`.
    pub(super) fn assemble(
        vs: nn::VarStore,
        gpt: Gpt2,
        head: Dense,
        config: ClassifierConfig,
        device: Device,
    ) -> Self {
        let mut c = Self {
            vs,
            gpt,
            head,
            config,
        };
        c.apply_trainable();
        if device != Device::Cpu {
            c.vs.set_device(device);
        }
        c
    }

    /// Sets `requires_grad` per the trainable mode and keeps only trainable variables in the
    /// var store's trainable list (so `nn::AdamW.build(&classifier.vs, lr)` sees exactly them).
    fn apply_trainable(&mut self) {
        let frozen = self.frozen_blocks();
        let vars = self.vs.variables();
        let trainable = |name: &str| -> bool {
            let in_trained_block = name
                .strip_prefix("h.")
                .and_then(|r| r.split('.').next())
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i >= frozen);
            match self.config.trainable {
                Trainable::All => true,
                Trainable::LastLayer => name.starts_with("out_head."),
                Trainable::LastBlock | Trainable::LastTwoBlocks => {
                    name.starts_with("out_head.") || name.starts_with("ln_f.") || in_trained_block
                }
                // The new head trains whole, as the chapter's experiments script (it builds
                // the head after freezing) and PEFT's `modules_to_save` for a classifier do.
                Trainable::Lora { .. } => {
                    name.starts_with("out_head.")
                        || name.ends_with(".lora_a")
                        || name.ends_with(".lora_b")
                }
            }
        };
        for (name, t) in &vars {
            let _ = t.set_requires_grad(trainable(name));
        }
        if let Ok(mut v) = self.vs.variables_.lock() {
            v.trainable_variables
                .retain(|var| var.tensor.requires_grad());
        }
    }

    /// The parameters the optimizer updates (those with `requires_grad`), by name, sorted by
    /// name. The one listing of them: the helpers below derive from it.
    pub fn trainable_parameters(&self) -> Vec<(String, Tensor)> {
        let mut params: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        params
    }

    /// The trained variables of [`Classifier::trainable_parameters`], in its (name) order.
    pub fn trainable_variables(&self) -> Vec<Tensor> {
        self.trainable_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Names of the trained variables, sorted.
    pub fn trainable_names(&self) -> Vec<String> {
        self.trainable_parameters()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Number of trained parameters.
    pub fn num_trainable_parameters(&self) -> i64 {
        self.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    }

    /// `k` such that the embeddings and blocks `0..k` are frozen (0 for `all` and LoRA), by
    /// [`Trainable::frozen_blocks`] of the mode the classifier was built with.
    pub fn frozen_blocks(&self) -> usize {
        self.config.trainable.frozen_blocks(self.gpt.n_layer())
    }

    /// Computes in `precision` from now on (see [`crate::Precision`]): every projection and
    /// the head; the variables, and so what is saved, stay fp32.
    pub fn set_precision(&mut self, precision: Precision) {
        self.gpt.set_precision(precision);
        self.head.set_precision(precision);
    }

    /// The precision the classifier computes in (fp32 unless [`Classifier::set_precision`]
    /// said otherwise).
    pub fn precision(&self) -> Precision {
        Precision::of_kind(self.head.compute_kind())
    }

    /// The device the variables are on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// Lengths (non-padding token counts) of a right-padded batch, as the chapter's bonus code
    /// computes them: `(ids != pad_id).sum(1)`.
    pub fn lengths_from_padding(&self, ids: &Tensor) -> Tensor {
        ids.ne(self.config.pad_id)
            .sum_dim_intlist(1, false, Kind::Int64)
    }

    /// Class logits `[b, num_classes]` of `ids` `[b, t]`. `lengths` `[b]` (int64, number of
    /// non-padding tokens) is used by the `flexible` and `pooled` positions; `None` means
    /// every position is a real token.
    pub fn forward(&self, ids: &Tensor, lengths: Option<&Tensor>, train: bool) -> Tensor {
        let k = self.frozen_blocks();
        let hidden = if k > 0 && train {
            // Frozen prefix: no graph needed (embeddings are frozen whenever k > 0).
            tch::no_grad(|| {
                let x = self.gpt.embed(ids, train);
                self.gpt
                    .run_blocks(&x, 0..k, self.config.causal_mask, train)
            })
        } else {
            let x = self.gpt.embed(ids, train);
            self.gpt
                .run_blocks(&x, 0..k, self.config.causal_mask, train)
        };
        self.forward_suffix(&hidden, lengths, train)
    }

    /// Embeddings and the frozen blocks `0..k`, in evaluation mode under `no_grad`: a cache of
    /// this is exact for training when dropout is 0.
    pub fn forward_prefix(&self, ids: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let x = self.gpt.embed(ids, false);
            self.gpt
                .run_blocks(&x, 0..self.frozen_blocks(), self.config.causal_mask, false)
        })
    }

    /// A classifier sharing this one's weights and variable store, to run on another thread:
    /// `tch::Tensor` is `Send` but not `Sync`, so `&Classifier` cannot cross threads but a
    /// replica can. Updates through either are seen by both.
    pub fn replica(&self) -> Self {
        let mut vs = nn::VarStore::new(self.vs.device());
        vs.variables_ = std::sync::Arc::clone(&self.vs.variables_);
        Self {
            vs,
            gpt: self.gpt.shallow_clone(),
            head: self.head.shallow_clone(),
            config: self.config.clone(),
        }
    }

    /// Blocks `k..`, final norm, token selection/pooling and head. With dropout 0,
    /// `forward(ids, l, t) == forward_suffix(&forward_prefix(ids), l, t)`.
    pub fn forward_suffix(&self, hidden: &Tensor, lengths: Option<&Tensor>, train: bool) -> Tensor {
        let n = self.gpt.n_layer();
        if let Some(pos) = self.single_position(hidden, lengths)
            && self.frozen_blocks() < n
        {
            // Only one position per row reaches the head, so the last block computes keys
            // and values everywhere but the rest of its work at that position alone.
            let x = self.gpt.run_blocks(
                hidden,
                self.frozen_blocks()..n - 1,
                self.config.causal_mask,
                train,
            );
            let h = self.gpt.blocks[n - 1].forward_at(&x, &pos, self.config.causal_mask, train);
            return self
                .head
                .forward(&self.gpt.final_norm(&h))
                .to_kind(Kind::Float);
        }
        let x = self.gpt.run_blocks(
            hidden,
            self.frozen_blocks()..n,
            self.config.causal_mask,
            train,
        );
        let x = self.gpt.final_norm(&x);
        let pooled = self.select(&x, lengths);
        // Logits are fp32 in every precision: the loss and the probabilities need them.
        self.head.forward(&pooled).to_kind(Kind::Float)
    }

    /// The one position per row the head reads (`[b]`), when the token position has one.
    fn single_position(&self, x: &Tensor, lengths: Option<&Tensor>) -> Option<Tensor> {
        let size = x.size();
        let (b, t) = (size[0], size[1]);
        let dev = x.device();
        match (self.config.token_position, lengths) {
            (TokenPosition::Last, _) | (TokenPosition::Flexible, None) => {
                Some(Tensor::full([b], t - 1, (Kind::Int64, dev)))
            }
            (TokenPosition::First, _) => Some(Tensor::zeros([b], (Kind::Int64, dev))),
            (TokenPosition::Flexible, Some(len)) => {
                Some((len.to_device(dev).to_kind(Kind::Int64) - 1).clamp(0, t - 1))
            }
            (TokenPosition::Pooled, _) => None,
        }
    }

    /// Picks or pools the positions of final-normed hidden states `[b, t, e]` -> `[b, e]`.
    fn select(&self, x: &Tensor, lengths: Option<&Tensor>) -> Tensor {
        let size = x.size();
        let (b, t) = (size[0], size[1]);
        match (self.config.token_position, lengths) {
            (TokenPosition::Last, _) | (TokenPosition::Flexible, None) => x.select(1, t - 1),
            (TokenPosition::First, _) => x.select(1, 0),
            (TokenPosition::Flexible, Some(len)) => {
                let idx = (len.to_device(x.device()).to_kind(Kind::Int64) - 1).clamp(0, t - 1);
                let rows = Tensor::arange(b, (Kind::Int64, x.device()));
                x.index(&[Some(rows), Some(idx)])
            }
            (TokenPosition::Pooled, None) => x.mean_dim(1, false, x.kind()),
            (TokenPosition::Pooled, Some(len)) => {
                let len = len.to_device(x.device()).to_kind(Kind::Int64).clamp(1, t);
                let pos = Tensor::arange(t, (Kind::Int64, x.device())).unsqueeze(0);
                let mask = pos
                    .lt_tensor(&len.unsqueeze(1))
                    .to_kind(x.kind())
                    .unsqueeze(-1);
                (x * &mask).sum_dim_intlist(1, false, x.kind())
                    / mask.sum_dim_intlist(1, false, x.kind())
            }
        }
    }

    /// Predicted class per row.
    pub fn predict(&self, ids: &Tensor, lengths: Option<&Tensor>) -> Tensor {
        tch::no_grad(|| self.forward(ids, lengths, false).argmax(-1, false))
    }

    /// Saves `model.safetensors` (all variables, LoRA adapters included if any) and
    /// `classifier.json` into `dir` (created if needed), each written atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        self.write(dir, &tensors, &self.config)
    }

    /// Saves with LoRA adapters folded into the weights (`lora_merged: true`); the saved model
    /// has no adapters and gives the same logits up to float rounding.
    pub fn save_merged(&self, dir: &Path) -> Result<()> {
        if !self.config.adapters_present() {
            return self.save(dir);
        }
        let mut tensors: Vec<(String, Tensor)> = self
            .vs
            .variables()
            .into_iter()
            .filter(|(n, _)| !n.ends_with(".lora_a") && !n.ends_with(".lora_b"))
            .collect();
        let mut merged = std::collections::HashMap::new();
        for block in &self.gpt.blocks {
            for lin in block.linears() {
                merged.insert(format!("{}.weight", lin.name), lin.merged_weight());
            }
        }
        merged.insert("out_head.weight".to_string(), self.head.merged_weight());
        for (name, t) in tensors.iter_mut() {
            if let Some(m) = merged.remove(name.as_str()) {
                *t = m;
            }
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut config = self.config.clone();
        config.lora_merged = true;
        self.write(dir, &tensors, &config)
    }

    fn write(
        &self,
        dir: &Path,
        tensors: &[(String, Tensor)],
        config: &ClassifierConfig,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut meta = std::collections::BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        meta.insert("spam_model_config".to_string(), CONFIG_FILE.to_string());
        write_safetensors_atomic(&dir.join(WEIGHTS_FILE), tensors, Some(meta))?;
        let json = serde_json::to_vec_pretty(config).map_err(|e| {
            ModelError::InvalidConfig(format!("cannot encode classifier config: {e}"))
        })?;
        write_atomic(&dir.join(CONFIG_FILE), |w| {
            w.write_all(&json)?;
            w.write_all(b"\n")
        })
    }

    /// Loads a classifier saved by [`Classifier::save`] / [`Classifier::save_merged`].
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let cfg_path = dir.join(CONFIG_FILE);
        crate::files::check_regular_file(&cfg_path)?;
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::MissingFile {
                path: cfg_path.clone(),
                what: "classifier config",
                hint: "a saved classifier directory holds classifier.json and model.safetensors"
                    .into(),
            },
            _ => ModelError::io(&cfg_path, e),
        })?;
        let config: ClassifierConfig =
            serde_json::from_str(&text).map_err(|source| ModelError::Json {
                path: cfg_path.clone(),
                source,
            })?;
        config.validate().map_err(|e| match e {
            ModelError::InvalidConfig(detail) => ModelError::corrupt(
                &cfg_path,
                format!("{detail}; the file is damaged: restore it or train again"),
            ),
            other => other,
        })?;
        let source = SafeTensorsFile::open(&dir.join(WEIGHTS_FILE))?.into_source();
        // Nothing is allocated before classifier.json agrees with the file's tensors.
        check_config_against(&config, &source, &cfg_path)?;
        source.check_shapes(&variable_shapes(&config))?;
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut gpt = Gpt2::with_init(&root, &config.model, InitMode::Uninit);
        let mut head = new_head(&root, &config);
        add_adapters(&root, &mut gpt, &mut head, &config);
        source.copy_into(&vs.variables())?;
        Ok(Self::assemble(vs, gpt, head, config, device))
    }
}

/// Compares each number of `classifier.json` that the tensors also tell (vocabulary, context,
/// width, blocks, classes, LoRA rank) with the file, for an error that names the setting.
fn check_config_against(
    config: &ClassifierConfig,
    source: &TensorSource,
    cfg_path: &Path,
) -> Result<()> {
    let dim = |name: &str, i: usize| source.get(name).and_then(|t| t.shape.get(i).copied());
    let blocks = source
        .tensors
        .keys()
        .filter_map(|k| k.strip_prefix("h.")?.split('.').next()?.parse::<i64>().ok())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as i64;
    let m = &config.model;
    let mut checks = vec![
        (
            "model.vocab_size",
            m.vocab_size,
            dim("wte.weight", 0),
            "rows of wte.weight",
        ),
        (
            "model.n_embd",
            m.n_embd,
            dim("wte.weight", 1),
            "columns of wte.weight",
        ),
        (
            "model.n_ctx",
            m.n_ctx,
            dim("wpe.weight", 0),
            "rows of wpe.weight",
        ),
        ("model.n_layer", m.n_layer, Some(blocks), "blocks"),
        (
            "num_classes",
            config.num_classes,
            dim("out_head.weight", 0),
            "rows of out_head.weight",
        ),
    ];
    if let Trainable::Lora { rank, .. } = config.trainable
        && config.adapters_present()
    {
        checks.push((
            "trainable.rank",
            rank,
            dim("out_head.lora_a", 1),
            "columns of out_head.lora_a",
        ));
    }
    for (key, said, found, what) in checks {
        if let Some(found) = found
            && found != said
        {
            return Err(ModelError::corrupt(
                cfg_path,
                format!(
                    "{key} is {said} but {} has {found} {what}; the model folder is damaged or \
                     its files do not belong together: restore it or train again",
                    source.path.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Adds the LoRA adapters `config` asks for (none unless it trains LoRA and they are not
/// merged): every projection of the backbone (the fused query/key/value one as three when
/// `lora_split_qkv`) and the head.
fn add_adapters(root: &nn::Path, gpt: &mut Gpt2, head: &mut Dense, config: &ClassifierConfig) {
    if let Trainable::Lora { rank, alpha } = config.trainable
        && config.adapters_present()
    {
        gpt.add_lora(root, rank, alpha, config.lora_split_qkv);
        head.add_lora(
            root,
            LoraShape {
                rank,
                alpha,
                parts: 1,
            },
        );
    }
}

/// Names and shapes of every variable of a classifier with `config` (backbone, head, adapters).
fn variable_shapes(config: &ClassifierConfig) -> Vec<(String, Vec<i64>)> {
    let rank = match config.trainable {
        Trainable::Lora { rank, .. } if config.adapters_present() => Some(rank),
        _ => None,
    };
    let (e, c) = (config.model.n_embd, config.num_classes);
    let mut out = gpt2::variable_shapes(&config.model, rank.map(|r| (r, config.lora_split_qkv)));
    out.push(("out_head.weight".to_string(), vec![c, e]));
    out.push(("out_head.bias".to_string(), vec![c]));
    if let Some(r) = rank {
        out.push(("out_head.lora_a".to_string(), vec![e, r]));
        out.push(("out_head.lora_b".to_string(), vec![r, c]));
    }
    out
}

pub(super) fn new_head(root: &nn::Path, config: &ClassifierConfig) -> Dense {
    let e = config.model.n_embd;
    let opts = DenseOptions {
        in_dim: e,
        out_dim: config.num_classes,
        bias: true,
        layout: Layout::OutIn,
        weight_init: Some(Init::Const(0.0)),
    };
    Dense::new(root, "out_head", opts)
}

/// Draws the head like `torch.nn.Linear` (weight and bias uniform in ±1/sqrt(in)) and the LoRA
/// `A` matrices like appendix E (uniform in ±1/sqrt(rank)); `B` stays zero. Each variable has
/// its own stream of the seeded generator.
fn seeded_head_and_adapters(vs: &nn::VarStore, config: &ClassifierConfig, seed: u64) {
    let bound = 1.0 / (config.model.n_embd as f64).sqrt();
    let adapter_bound = match config.trainable {
        Trainable::Lora { rank, .. } => 1.0 / (rank as f64).sqrt(),
        _ => 0.0,
    };
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            let bound = if name.starts_with("out_head.") && !name.contains("lora") {
                bound
            } else if name.ends_with(".lora_a") {
                adapter_bound
            } else {
                continue;
            };
            let value = SeededRng::for_name(seed, &name).uniform(&var.size(), -bound, bound);
            var.shallow_clone().copy_(&value);
        }
    });
}
