//! Classifying new text with a fine-tuned model, batched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use spam_data::{Dataset, Tokenizer};
use spam_model::{Classifier, TokenPosition};
use tch::{Device, Kind, Tensor};

use crate::metrics::SplitMetrics;

/// Rows per forward pass when classifying many texts.
pub const PREDICT_BATCH: usize = 32;

/// One text's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The predicted class name.
    pub label: String,
    /// Its index.
    pub index: usize,
    /// Probability of each class, in class order (softmax of the logits).
    pub probabilities: Vec<f64>,
}

/// A fine-tuned classifier with its tokenizer and input length.
#[derive(Debug)]
pub struct Predictor {
    pub model: Classifier,
    tokenizer: Tokenizer,
    max_length: usize,
    /// Trained on unpadded rows with the `last` position: classify one row at a time so no
    /// row is read at a padding position.
    unpadded_last: bool,
}

/// The model folder inside a run directory, or `path` itself when it is a model folder.
pub fn model_dir(path: &Path) -> PathBuf {
    if path.join("model").join("classifier.json").is_file() {
        path.join("model")
    } else {
        path.to_path_buf()
    }
}

impl Predictor {
    /// Loads a run directory (or its `model/` folder).
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        if !path.exists() {
            bail!(
                "{} does not exist: pass a run directory written by `spam-cli train --out`",
                path.display()
            );
        }
        let dir = model_dir(path);
        let model = Classifier::load(&dir, device)
            .with_context(|| format!("could not load the classifier in {}", dir.display()))?;
        let max_length = model
            .config
            .max_length
            .unwrap_or(model.config.model.n_ctx as usize);
        let unpadded_last =
            model.config.max_length.is_none() && model.config.token_position == TokenPosition::Last;
        Ok(Self {
            model,
            tokenizer: Tokenizer::gpt2(),
            max_length,
            unpadded_last,
        })
    }

    pub fn label_names(&self) -> &[String] {
        &self.model.config.label_names
    }

    /// Classifies `texts`, in order. As in the chapter's `classify_review`, each text is
    /// truncated to the training length; with the `last` position it is also padded to it,
    /// since that is where the model learned to read the class.
    pub fn classify<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Prediction> {
        let ids = self.tokenizer.encode_all(texts);
        let mut out = Vec::with_capacity(texts.len());
        let batch = if self.unpadded_last { 1 } else { PREDICT_BATCH };
        for chunk in ids.chunks(batch) {
            out.extend(self.classify_ids(chunk));
        }
        out
    }

    fn classify_ids(&self, rows: &[Vec<u32>]) -> Vec<Prediction> {
        let pad_to_max =
            self.model.config.token_position == TokenPosition::Last && !self.unpadded_last;
        let lengths: Vec<usize> = rows
            .iter()
            .map(|r| r.len().clamp(1, self.max_length))
            .collect();
        let cols = if pad_to_max {
            self.max_length
        } else {
            lengths.iter().copied().max().unwrap_or(1)
        };
        let pad = self.model.config.pad_id;
        let mut flat = Vec::with_capacity(rows.len() * cols);
        for (row, &len) in rows.iter().zip(&lengths) {
            let real = row.len().min(len);
            flat.extend(row[..real].iter().map(|&t| i64::from(t)));
            // An empty text is read as one pad token, like an empty prompt.
            flat.extend(std::iter::repeat_n(pad, cols - real));
        }
        let device = self.model.device();
        let ids = Tensor::from_slice(&flat)
            .view([rows.len() as i64, cols as i64])
            .to_device(device);
        let lens = Tensor::from_slice(&lengths.iter().map(|&l| l as i64).collect::<Vec<_>>())
            .to_device(device);
        let probs = tch::no_grad(|| {
            self.model
                .forward(&ids, Some(&lens), false)
                .to_kind(Kind::Double)
                .softmax(-1, Kind::Double)
        })
        .to_device(Device::Cpu);
        let n_classes = probs.size().get(1).copied().unwrap_or(0) as usize;
        let flat: Vec<f64> = Vec::<f64>::try_from(probs.view([-1])).unwrap_or_default();
        flat.chunks(n_classes.max(1))
            .map(|p| {
                let index = p
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                Prediction {
                    label: self
                        .label_names()
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| index.to_string()),
                    index,
                    probabilities: p.to_vec(),
                }
            })
            .collect()
    }

    /// Accuracy, precision, recall, F1 and the confusion matrix on a labelled dataset. Its
    /// label names must be the model's (in the same order).
    pub fn evaluate(&self, data: &Dataset) -> Result<SplitMetrics> {
        let names = self.label_names();
        // Map the dataset's class indices onto the model's by name.
        let mut map = Vec::with_capacity(data.label_names.len());
        for name in &data.label_names {
            match names.iter().position(|n| n == name) {
                Some(i) => map.push(i),
                None if data.label_names.len() == names.len() && name.parse::<usize>().is_ok() => {
                    map.push(name.parse::<usize>().unwrap_or(0));
                }
                None => bail!(
                    "the data has a label `{name}` that the model does not know (its labels: {})",
                    names.join(", ")
                ),
            }
        }
        let predicted: Vec<usize> = self
            .classify(&data.texts)
            .into_iter()
            .map(|p| p.index)
            .collect();
        let truth: Vec<usize> = data
            .labels
            .iter()
            .map(|&l| map.get(l).copied().unwrap_or(l))
            .collect();
        Ok(SplitMetrics::compute(&truth, &predicted, names))
    }
}
