//! A classifier as transformers' `GPT2ForSequenceClassification` folder (`config.json` +
//! `model.safetensors`), both ways: written from a [`Classifier`], and read back into one
//! (ours, or one fine-tuned by transformers itself).
//!
//! Names: transformers prefixes the backbone with `transformer.` (`transformer.h.0.attn.c_attn.weight`)
//! and calls the head `score`; its `Conv1D` weights are `[in, out]`, the layout of our block
//! linears, so they are copied as they are.
//!
//! transformers' `score` has no bias. The head reads only the final norm's output
//! `y = gamma * x_hat + beta`, so `W y + b = W (gamma * x_hat + beta') ` with
//! `beta' = beta + W^+ b` (`W^+` the pseudo-inverse of the `[classes, width]` head weight)
//! whenever `W W^+ b = b`, which holds for a head of full row rank (every trained head:
//! fewer classes than the width). The bias is folded in float64; what it leaves is reported
//! as [`TransformersExport::bias_residual`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Value, json};
use tch::{Device, Kind, Tensor, nn};

use super::hf_config::{HF_ARCHITECTURE, classifier_config_from};
use super::hf_tokenizer::check_gpt2_tokenizer;
use super::model::{Classifier, WEIGHTS_FILE, new_head};
use super::settings::{ClassifierConfig, TokenPosition};
use crate::config::END_OF_TEXT;
use crate::error::{ModelError, Result};
use crate::files::{present, read_json};
use crate::gpt2::{Gpt2, InitMode, LAYER_NORM_EPS};
use crate::safetensors_io::{SafeTensorsFile, write_atomic, write_safetensors_atomic};

/// The transformers configuration file of an exported folder.
pub const HF_CONFIG_FILE: &str = "config.json";
/// transformers' name of the classification head's weight.
const SCORE: &str = "score.weight";

/// A classifier in transformers' names, ready to write.
#[derive(Debug)]
pub struct TransformersExport {
    /// Tensors under transformers' names (LoRA merged, head bias folded into `ln_f.bias`).
    pub tensors: Vec<(String, Tensor)>,
    /// The `config.json` transformers builds the model from.
    pub config: Value,
    /// Largest `|W W^+ b - b|` over the classes: how far any logit of the exported model can
    /// move from ours (0 up to float rounding for a head of full row rank).
    pub bias_residual: f64,
}

/// Whether `dir` is a transformers `GPT2ForSequenceClassification` folder: a `config.json`
/// naming that architecture beside a `model.safetensors` (a `config.json` that is no regular
/// file, or too large for one, is not read).
pub fn is_transformers_dir(dir: &Path) -> bool {
    if !dir.join(WEIGHTS_FILE).is_file() {
        return false;
    }
    read_json(&dir.join(HF_CONFIG_FILE), "transformers config.json").is_ok_and(|v| {
        v.get("architectures")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|s| s.as_str() == Some(HF_ARCHITECTURE)))
    })
}

impl ClassifierConfig {
    /// Checks that transformers' `GPT2ForSequenceClassification` computes what this classifier
    /// does: it reads the last non-padding token (our `flexible`) through the causal mask.
    pub fn check_transformers_exportable(&self) -> Result<()> {
        if self.num_classes < 2 {
            return Err(ModelError::InvalidConfig(format!(
                "the model has {} class; transformers reads a one-label \
                 {HF_ARCHITECTURE} as regression (a score, not class probabilities): train \
                 with two or more classes to export",
                self.num_classes
            )));
        }
        if self.token_position != TokenPosition::Flexible {
            return Err(ModelError::InvalidConfig(format!(
                "the model reads the `{}` token position, which transformers' \
                 {HF_ARCHITECTURE} cannot express (it reads the last non-padding token); \
                 train with `--token-position flexible` to export",
                self.token_position
            )));
        }
        if !self.causal_mask {
            return Err(ModelError::InvalidConfig(format!(
                "the model was trained without the causal mask, which transformers' \
                 {HF_ARCHITECTURE} always applies; train with the mask (leave out \
                 `--no-causal-mask`) and `--token-position flexible` to export"
            )));
        }
        Ok(())
    }
}

impl Classifier {
    /// The classifier in transformers' names and configuration. Refused (with why and what to
    /// train instead) for token positions and masks transformers cannot express.
    pub fn to_transformers(&self) -> Result<TransformersExport> {
        let config = &self.config;
        config.check_transformers_exportable()?;
        let cpu = |t: &Tensor| t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
        let mut merged: HashMap<String, Tensor> = HashMap::new();
        for block in &self.gpt.blocks {
            for lin in block.linears() {
                merged.insert(format!("{}.weight", lin.name), lin.merged_weight());
            }
        }
        let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
        for (name, t) in self.gpt.named_tensors() {
            let t = merged.remove(&name).unwrap_or(t);
            tensors.insert(format!("transformer.{name}"), cpu(&t));
        }
        // transformers' c_attn always has a bias: a model without one exports zeros.
        let e = config.model.n_embd;
        for i in 0..self.gpt.n_layer() {
            tensors
                .entry(format!("transformer.h.{i}.attn.c_attn.bias"))
                .or_insert_with(|| Tensor::zeros([3 * e], (Kind::Float, Device::Cpu)));
        }

        // Fold the head bias into ln_f's: beta' = beta + W^+ b, in float64.
        let w = cpu(&self.head.merged_weight()).to_kind(Kind::Double);
        let b = match &self.head.bias {
            Some(b) => cpu(b).to_kind(Kind::Double),
            None => Tensor::zeros([config.num_classes], (Kind::Double, Device::Cpu)),
        };
        let shift = w.linalg_pinv(1e-15, false).matmul(&b);
        let residual = w.matmul(&shift) - &b;
        let bias_residual = residual.abs().max().double_value(&[]);
        let beta = cpu(&self.gpt.ln_f.bias).to_kind(Kind::Double);
        tensors.insert(
            "transformer.ln_f.bias".into(),
            (beta + shift).to_kind(Kind::Float),
        );
        tensors.insert(SCORE.into(), w.to_kind(Kind::Float));

        Ok(TransformersExport {
            tensors: tensors.into_iter().collect(),
            config: transformers_config(config),
            bias_residual,
        })
    }

    /// Writes `config.json` and `model.safetensors` of [`Classifier::to_transformers`] into
    /// `dir` (which must exist), each atomically; returns the export (for its residual).
    pub fn save_transformers(&self, dir: &Path) -> Result<TransformersExport> {
        let export = self.to_transformers()?;
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        write_safetensors_atomic(&dir.join(WEIGHTS_FILE), &export.tensors, Some(meta))?;
        let text = format!("{:#}\n", export.config);
        write_atomic(&dir.join(HF_CONFIG_FILE), |w| w.write_all(text.as_bytes()))?;
        Ok(export)
    }

    /// Loads a transformers `GPT2ForSequenceClassification` folder (`config.json` +
    /// `model.safetensors`, ours or one saved by transformers' `save_pretrained`): token
    /// position `flexible` (transformers reads the last non-padding token), labels from
    /// `id2label`, padding id from `pad_token_id` (50256 when it has none), head bias 0.
    ///
    /// Refused, naming the file and key: a `config.json` of another model or with a value of
    /// the wrong JSON type, one we cannot compute as transformers does (another activation,
    /// one label, a multi-label or regression `problem_type`, two classes of one name), and
    /// tokenizer files (`vocab.json`, `merges.txt`, `tokenizer.json`, `tokenizer_config.json`)
    /// that are not GPT-2's tokenizer, which is the one texts are read with.
    pub fn load_transformers(dir: &Path, device: Device) -> Result<Self> {
        let config = read_transformers_config(dir)?;
        check_gpt2_tokenizer(dir)?;
        let mut source = SafeTensorsFile::open(&dir.join(WEIGHTS_FILE))?.into_gpt2_source();
        if let Some(score) = source.tensors.remove(SCORE) {
            source.tensors.insert("out_head.weight".into(), score);
        }
        // Nothing is allocated before config.json agrees with the file's tensors.
        let mut expected = crate::gpt2::variable_shapes(&config.model, None);
        expected.push((
            "out_head.weight".into(),
            vec![config.num_classes, config.model.n_embd],
        ));
        source.check_shapes(&expected)?;
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let gpt = Gpt2::with_init(&root, &config.model, InitMode::Uninit);
        let head = new_head(&root, &config);
        // score has no bias: ours stays 0.
        let vars: HashMap<String, Tensor> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n != "out_head.bias")
            .collect();
        source.copy_into(&vars)?;
        if let Some(b) = &head.bias {
            tch::no_grad(|| {
                let _ = b.shallow_clone().zero_();
            });
        }
        Ok(Self::assemble(vs, gpt, head, config, device))
    }
}

/// transformers' `config.json` for a classifier (`GPT2Config` keys).
fn transformers_config(config: &ClassifierConfig) -> Value {
    let m = &config.model;
    let names: Vec<String> = if config.label_names.is_empty() {
        (0..config.num_classes)
            .map(|i| format!("LABEL_{i}"))
            .collect()
    } else {
        config.label_names.clone()
    };
    let id2label: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (i.to_string(), json!(n)))
        .collect();
    let label2id: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), json!(i)))
        .collect();
    json!({
        "architectures": [HF_ARCHITECTURE],
        "model_type": "gpt2",
        "vocab_size": m.vocab_size,
        "n_positions": m.n_ctx,
        "n_ctx": m.n_ctx,
        "n_embd": m.n_embd,
        "n_layer": m.n_layer,
        "n_head": m.n_head,
        "n_inner": null,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "summary_first_dropout": 0.0,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "scale_attn_by_inverse_layer_idx": false,
        "reorder_and_upcast_attn": false,
        "use_cache": true,
        "bos_token_id": END_OF_TEXT.min(m.vocab_size - 1),
        "eos_token_id": END_OF_TEXT.min(m.vocab_size - 1),
        "pad_token_id": config.pad_id,
        "num_labels": config.num_classes,
        "id2label": id2label,
        "label2id": label2id,
        "problem_type": "single_label_classification",
        "torch_dtype": "float32",
    })
}

/// The classifier settings of a transformers folder's `config.json` (see
/// [`Classifier::load_transformers`]).
fn read_transformers_config(dir: &Path) -> Result<ClassifierConfig> {
    let cfg_path = dir.join(HF_CONFIG_FILE);
    if !present(&cfg_path) {
        return Err(ModelError::MissingFile {
            path: cfg_path,
            what: "transformers config",
            hint: "a transformers folder holds config.json beside model.safetensors".into(),
        });
    }
    let value = read_json(&cfg_path, "transformers config.json")?;
    let Some(map) = value.as_object() else {
        return Err(ModelError::corrupt(
            &cfg_path,
            "is not a JSON object; a transformers config.json is one",
        ));
    };
    let config =
        classifier_config_from(map).map_err(|(key, problem)| ModelError::TransformersConfig {
            path: cfg_path.clone(),
            key,
            problem,
        })?;
    config.validate().map_err(|e| match e {
        ModelError::InvalidConfig(detail) => ModelError::corrupt(&cfg_path, detail),
        other => other,
    })?;
    Ok(config)
}
