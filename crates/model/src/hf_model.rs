//! Reading a model folder for the [`crate::Predictor`]: ours (`classifier.json`) or a
//! transformers `GPT2ForSequenceClassification` folder (exported by `export`, or fine-tuned by
//! transformers itself).

use std::path::Path;

use tch::Device;

use crate::classifier::Classifier;
use crate::error::{ModelError, Result};

/// Loads the classifier in `dir`, telling the two layouts apart. A transformers folder reads
/// the last non-padding token (`flexible`), and texts are cut at its tokenizer's
/// `model_max_length` when that is below the context length, as the export wrote it.
pub(crate) fn load_classifier(dir: &Path, device: Device) -> Result<Classifier> {
    if !crate::is_transformers_dir(dir) {
        return Classifier::load(dir, device).map_err(|e| ModelError::Load {
            what: "classifier",
            dir: dir.to_path_buf(),
            source: Box::new(e),
        });
    }
    let mut model = Classifier::load_transformers(dir, device).map_err(|e| ModelError::Load {
        what: "transformers model",
        dir: dir.to_path_buf(),
        source: Box::new(e),
    })?;
    model.config.max_length = tokenizer_max_length(dir, model.config.model.n_ctx);
    Ok(model)
}

/// `model_max_length` of `tokenizer_config.json` when it is a usable input length (transformers
/// writes a huge number when the tokenizer has none).
fn tokenizer_max_length(dir: &Path, n_ctx: i64) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("tokenizer_config.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let len = value.get("model_max_length")?.as_u64()?;
    (1..=n_ctx as u64).contains(&len).then_some(len as usize)
}
