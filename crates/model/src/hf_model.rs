//! Reading a model folder for the [`crate::Predictor`]: ours (`classifier.json`) or a
//! transformers `GPT2ForSequenceClassification` folder (exported by `export`, or fine-tuned by
//! transformers itself).

use std::path::Path;

use tch::Device;

use crate::classifier::{CONFIG_FILE, Classifier, HF_CONFIG_FILE, WEIGHTS_FILE};
use crate::error::{ModelError, Result};

/// Loads the classifier in `dir`, telling the two layouts apart: ours has `classifier.json`;
/// without it, a `config.json` beside `model.safetensors` makes a transformers folder, and
/// what is wrong with that `config.json` is reported as such. A transformers folder reads
/// the last non-padding token (`flexible`), and texts are cut at its tokenizer's
/// `model_max_length` when that is below the context length, as the export wrote it.
pub(crate) fn load_classifier(dir: &Path, device: Device) -> Result<Classifier> {
    let transformers = !dir.join(CONFIG_FILE).exists()
        && dir.join(HF_CONFIG_FILE).exists()
        && dir.join(WEIGHTS_FILE).exists();
    if !transformers {
        return Classifier::load(dir, device).map_err(|e| ModelError::Load {
            what: "classifier",
            dir: dir.to_path_buf(),
            source: Box::new(e),
        });
    }
    let wrap = |e| ModelError::Load {
        what: "transformers model",
        dir: dir.to_path_buf(),
        source: Box::new(e),
    };
    let mut model = Classifier::load_transformers(dir, device).map_err(wrap)?;
    model.config.max_length =
        crate::classifier::tokenizer_max_length(dir, model.config.model.n_ctx).map_err(wrap)?;
    Ok(model)
}
