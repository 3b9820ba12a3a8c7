//! `export`: a run's model as a transformers folder (`GPT2ForSequenceClassification` weights
//! and config, GPT-2's tokenizer files, a model card) that `from_pretrained` loads with no code
//! of ours. The folder is built under a staging name beside `--out` and renamed into place
//! whole.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use spam_model::{Classifier, HF_CONFIG_FILE, WEIGHTS_FILE};
use tch::Device;

use crate::staging::Staging;
use anyhow::{Context, Result, bail};
use spam_model::model_dir;

/// The model card written beside the weights.
pub const MODEL_CARD: &str = "README.md";

/// What `export` reads and writes.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// A run directory (or its `model/` folder).
    pub model: PathBuf,
    /// The folder to write; new or empty unless `overwrite`.
    pub out: PathBuf,
    /// Replace an earlier export in `out` (a folder holding anything else is refused).
    pub overwrite: bool,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The folder written.
    pub out: PathBuf,
    /// The files in it, by name.
    pub files: Vec<String>,
    /// Largest change of any logit from folding the head's bias into the final norm.
    pub bias_residual: f64,
    /// LoRA adapters were merged into the weights.
    pub lora_merged: bool,
    /// The class names (`id2label`).
    pub label_names: Vec<String>,
    /// The run's decision threshold (the positive class's probability from which it is
    /// predicted), written into `config.json` as `decision_threshold` and into the model card.
    pub threshold: Option<f64>,
}

/// The key of the exported `config.json` that holds the run's decision threshold (transformers
/// keeps keys it does not know, so `from_pretrained` and `save_pretrained` carry it along).
pub const THRESHOLD_KEY: &str = "decision_threshold";

/// The files an export writes: only a folder holding nothing else is replaced.
fn export_files() -> Vec<&'static str> {
    let mut files = vec![HF_CONFIG_FILE, WEIGHTS_FILE];
    files.extend(spam_data::TOKENIZER_FILES);
    files.push(MODEL_CARD);
    files
}

/// Exports the model of the run in `opts.model` into `opts.out` (see the module doc).
pub fn export_run(opts: &ExportOptions) -> Result<ExportSummary> {
    let dir = model_dir(&opts.model);
    if !dir.join(spam_model::CONFIG_FILE).is_file() {
        bail!(
            "{} is not a run directory or model folder (no {}): pass a run directory written \
             by `spam-cli train --out`",
            opts.model.display(),
            spam_model::CONFIG_FILE
        );
    }
    let model = Classifier::load(&dir, Device::Cpu)
        .with_context(|| format!("could not load the classifier in {}", dir.display()))?;
    // Refused before anything is written: the reason names the flag to train with.
    model
        .config
        .check_transformers_exportable()
        .with_context(|| format!("cannot export {}", opts.model.display()))?;
    let vocab = model.config.model.vocab_size;
    if vocab != spam_data::GPT2_VOCAB_SIZE as i64 {
        bail!(
            "cannot export {}: its vocabulary has {vocab} tokens, not GPT-2's {}, so GPT-2's \
             tokenizer files would not fit it",
            opts.model.display(),
            spam_data::GPT2_VOCAB_SIZE
        );
    }
    let threshold = spam_model::read_decision(&dir)?;
    // `--out` through a link is the folder it points to, as for `train --out`: the link stays
    // and the export lands in its target.
    let out = crate::staging::resolve(&opts.out)?;
    check_destination(&out, opts.overwrite)?;

    let staging = Staging::create(&out)?;
    let written = write_export(&model, &opts.model, &staging.dir, threshold);
    let export = match written.and_then(|e| staging.commit(opts.overwrite).map(|()| e)) {
        Ok(e) => e,
        Err(e) => {
            staging.abandon();
            return Err(e);
        }
    };
    Ok(ExportSummary {
        out,
        files: export_files().into_iter().map(String::from).collect(),
        bias_residual: export.bias_residual,
        lora_merged: matches!(model.config.trainable, spam_model::Trainable::Lora { .. })
            && !model.config.lora_merged,
        label_names: model.config.label_names.clone(),
        threshold,
    })
}

/// Writes every file of the export into `dir`.
fn write_export(
    model: &Classifier,
    run: &Path,
    dir: &Path,
    threshold: Option<f64>,
) -> Result<spam_model::TransformersExport> {
    let export = model.save_transformers(dir)?;
    if let Some(t) = threshold {
        add_threshold(&dir.join(HF_CONFIG_FILE), t)?;
    }
    let max_length = model
        .config
        .max_length
        .unwrap_or(model.config.model.n_ctx as usize);
    spam_data::write_gpt2_tokenizer_files(dir, max_length)?;
    let mut card = model_card(model, run, export.bias_residual);
    if let Some(t) = threshold {
        let positive = model.config.label_names.get(1).map_or("1", String::as_str);
        card.push_str(&format!(
            "\n## Decision threshold\n\nThe run predicts `{positive}` from a probability of {t} \
             on (not the most probable class): `config.json` keeps it as `{THRESHOLD_KEY}`. \
             transformers' pipeline ignores it; compare `softmax(logits)[:, 1]` with it.\n"
        ));
    }
    spam_data::write_atomic(dir.join(MODEL_CARD), card.as_bytes())?;
    Ok(export)
}

/// Writes `threshold` into the exported `config.json` as [`THRESHOLD_KEY`].
fn add_threshold(config: &Path, threshold: f64) -> Result<()> {
    let text = fs::read_to_string(config)
        .with_context(|| format!("could not read {}", config.display()))?;
    let mut value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", config.display()))?;
    let Some(map) = value.as_object_mut() else {
        bail!("{} is not a JSON object", config.display());
    };
    map.insert(THRESHOLD_KEY.into(), Value::from(threshold));
    let text = serde_json::to_string_pretty(&value)?;
    spam_data::write_atomic(config, format!("{text}\n").as_bytes())?;
    Ok(())
}

/// Refuses a destination holding files unless `overwrite`, and then only an earlier export.
fn check_destination(out: &Path, overwrite: bool) -> Result<()> {
    let entries: Vec<String> = match fs::read_dir(out) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("could not read {}", out.display())));
        }
    };
    if entries.is_empty() {
        return Ok(());
    }
    if !overwrite {
        bail!(
            "{} is not empty: choose a new folder, or pass --overwrite to replace an earlier \
             export there",
            out.display()
        );
    }
    let known = export_files();
    if let Some(other) = entries.iter().find(|e| !known.contains(&e.as_str())) {
        bail!(
            "{} holds `{other}`, which an export does not write: it is left as it is; choose \
             another folder",
            out.display()
        );
    }
    Ok(())
}

/// The model card: what the model is, how it was trained, how well it did, how to load it.
fn model_card(model: &Classifier, run: &Path, bias_residual: f64) -> String {
    let read = |name: &str| -> Option<Value> {
        let text = fs::read_to_string(run.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let config = read("config.json");
    let metrics = read("metrics.json");
    let c = &model.config;
    let m = &c.model;
    let get = |v: &Option<Value>, path: &[&str]| -> String {
        let mut cur = v.as_ref();
        for key in path {
            cur = cur.and_then(|x| x.get(key));
        }
        match cur {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "unknown".into(),
        }
    };
    let mut s = String::new();
    s.push_str("---\nlibrary_name: transformers\npipeline_tag: text-classification\n---\n\n");
    s.push_str("# GPT-2 text classifier\n\n");
    s.push_str(&format!(
        "A GPT-2 ({} layers, width {}, {} heads) fine-tuned to classify texts as {}. Load it \
         with transformers' `AutoModelForSequenceClassification` and `AutoTokenizer`.\n\n",
        m.n_layer,
        m.n_embd,
        m.n_head,
        c.label_names.join(" / ")
    ));
    s.push_str("## Training\n\n");
    s.push_str(&format!(
        "- Base weights: {} (init `{}`)\n",
        get(&config, &["model", "weights"]),
        get(&config, &["model", "init"])
    ));
    s.push_str(&format!("- Data: {}\n", get(&config, &["data", "source"])));
    s.push_str(&format!(
        "- Split: fractions {} (rest test), seed {}, balanced: {}; {} train / {} validation / {} \
         test rows\n",
        get(&config, &["data", "fractions"]),
        get(&config, &["data", "split_seed"]),
        get(&config, &["data", "balance"]),
        get(&metrics, &["data", "train"]),
        get(&metrics, &["data", "validation"]),
        get(&metrics, &["data", "test"])
    ));
    s.push_str(&format!(
        "- Settings: token position {}, trainable {}, {} epochs, batch size {}, learning rate \
         {}, weight decay {}, seed {}, input length {}\n\n",
        c.token_position,
        c.trainable,
        get(&config, &["train", "epochs"]),
        get(&config, &["train", "batch_size"]),
        get(&config, &["train", "optimizer", "lr"]),
        get(&config, &["train", "optimizer", "weight_decay"]),
        get(&config, &["train", "seed"]),
        c.max_length.map_or("longest".into(), |l| l.to_string())
    ));
    s.push_str(
        "## Metrics\n\n| split | accuracy | precision | recall | F1 |\n|---|---|---|---|---|\n",
    );
    for split in ["train", "validation", "test"] {
        let m = |key: &str| get(&metrics, &["per_split", split, key]);
        s.push_str(&format!(
            "| {split} | {} | {} | {} | {} |\n",
            m("accuracy"),
            m("precision"),
            m("recall"),
            m("f1")
        ));
    }
    s.push_str(&format!(
        "\n## Conversion\n\nThe classifier's head bias is folded into the final layer norm's \
         bias (transformers' `score` has none); the largest logit change this leaves is \
         {bias_residual:.3e}. Inputs longer than {} tokens are cut (`model_max_length`).\n",
        c.max_length.unwrap_or(m.n_ctx as usize)
    ));
    s
}
