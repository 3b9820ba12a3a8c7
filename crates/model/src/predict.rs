//! Classifying new text with a fine-tuned model, batched.

use std::cmp::Reverse;
use std::path::{Path, PathBuf};

use serde::Serialize;
use spam_data::{Dataset, RowBatch, Tokenizer};

use tch::{Device, Kind, Tensor};

use crate::batch::{PadTo, distinct_rows, unpadded_last};
use crate::classifier::{Classifier, TokenPosition};
use crate::error::{ModelError, Result};
use crate::metrics::SplitMetrics;
use crate::parallel::Workers;

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
    /// Tokens of the text; above [`Predictor::max_length`] only the first `max_length` were
    /// read.
    pub tokens: usize,
}

/// A fine-tuned classifier with its tokenizer and input length.
#[derive(Debug)]
pub struct Predictor {
    /// The fine-tuned classifier.
    pub model: Classifier,
    tokenizer: Tokenizer,
    max_length: usize,
    /// Trained on unpadded rows with the `last` position: classify one row at a time so no
    /// row is read at a padding position.
    unpadded_last: bool,
    /// Binary models: the positive class from this probability on (else the most probable).
    threshold: Option<f64>,
}

/// The model folder inside a run directory, or `path` itself when it is a model folder.
pub fn model_dir(path: &Path) -> PathBuf {
    if path.join("model").join(crate::CONFIG_FILE).is_file() {
        path.join("model")
    } else {
        path.to_path_buf()
    }
}

impl Predictor {
    /// Loads a run directory (or its `model/` folder).
    pub fn load(path: &Path, device: Device) -> Result<Self> {
        if !path.exists() {
            return Err(ModelError::NoModel {
                path: path.to_path_buf(),
            });
        }
        let dir = model_dir(path);
        // Ours, or a transformers GPT2ForSequenceClassification folder.
        let model = crate::hf_model::load_classifier(&dir, device)?;
        // Texts come through the GPT-2 tokenizer: every id it gives must be a row of the
        // model's embedding.
        let vocab = model.config.model.vocab_size;
        if vocab < spam_data::GPT2_VOCAB_SIZE as i64 {
            return Err(ModelError::VocabularyTooSmall {
                dir,
                vocab,
                needed: spam_data::GPT2_VOCAB_SIZE,
            });
        }
        let max_length = model
            .config
            .max_length
            .unwrap_or(model.config.model.n_ctx as usize);
        let unpadded_last = unpadded_last(
            PadTo::for_max_length(model.config.max_length),
            model.config.token_position,
        );
        Ok(Self {
            model,
            tokenizer: Tokenizer::gpt2(),
            max_length,
            unpadded_last,
            threshold: crate::decision::read_decision(&dir)?,
        })
    }

    /// The decision threshold: stored with the model at training, or set.
    pub fn threshold(&self) -> Option<f64> {
        self.threshold
    }

    /// Sets (or with `None` clears) the probability of the positive class from which a
    /// binary model predicts it; a model of more than two classes refuses one.
    pub fn set_threshold(&mut self, threshold: Option<f64>) -> Result<()> {
        if let Some(t) = threshold {
            crate::decision::check_threshold(t)?;
            if self.label_names().len() != 2 {
                return Err(ModelError::ThresholdNeedsTwoClasses {
                    classes: self.label_names().len(),
                });
            }
        }
        self.threshold = threshold;
        Ok(())
    }

    /// Computes in `precision` from now on: `bf16` runs the products and activations in bf16
    /// (not exact; probabilities within about a percent of fp32's), `fp32` is exact.
    pub fn set_precision(&mut self, precision: crate::Precision) {
        self.model.set_precision(precision);
    }

    /// The precision the predictor computes in (fp32 unless set).
    pub fn precision(&self) -> crate::Precision {
        self.model.precision()
    }

    /// Tokens of a text that are read; the rest of a longer text is cut off (the training
    /// length, else the context length).
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Class names, by class index.
    pub fn label_names(&self) -> &[String] {
        &self.model.config.label_names
    }

    /// Classifies `texts`, in order. As in the chapter's `classify_review`, each text is
    /// truncated to the training length; with the `last` position it is also padded to it,
    /// since that is where the model learned to read the class.
    ///
    /// Repeated texts are computed once, and batches group texts of similar length so
    /// that padding (where the position allows less than the training length) costs little.
    pub fn classify<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<Prediction> {
        let ids = self.tokenizer.encode_all(texts);
        let (distinct, slot) =
            distinct_rows(ids.iter().map(|row| &row[..row.len().min(self.max_length)]));
        let mut order: Vec<usize> = (0..distinct.len()).collect();
        order.sort_by_key(|&u| Reverse(distinct[u].len()));
        let batch = if self.unpadded_last { 1 } else { PREDICT_BATCH };
        let batches: Vec<Vec<usize>> = order.chunks(batch).map(<[usize]>::to_vec).collect();
        let input = Input {
            max_length: self.max_length,
            pad_to_max: self.model.config.token_position == TokenPosition::Last
                && !self.unpadded_last,
            pad_id: self.model.config.pad_id,
        };
        let distinct = &distinct;
        let probs = Workers::for_device(self.model.device()).run(
            || self.model.replica(),
            &batches,
            |model, chunk| {
                let rows: Vec<&[u32]> = chunk.iter().map(|&u| distinct[u]).collect();
                input.probabilities(model, &rows)
            },
        );
        let mut by_distinct: Vec<Vec<f64>> = vec![Vec::new(); distinct.len()];
        for (chunk, p) in batches.iter().zip(probs) {
            for (&u, row) in chunk.iter().zip(p) {
                by_distinct[u] = row;
            }
        }
        slot.into_iter()
            .zip(&ids)
            .map(|(u, row)| self.prediction(&by_distinct[u], row.len()))
            .collect()
    }

    fn prediction(&self, probabilities: &[f64], tokens: usize) -> Prediction {
        let index = crate::decision::decide(probabilities, self.threshold);
        Prediction {
            label: self
                .label_names()
                .get(index)
                .cloned()
                .unwrap_or_else(|| index.to_string()),
            index,
            probabilities: probabilities.to_vec(),
            tokens,
        }
    }

    /// How the labels `data_names` of a file map onto the model's classes: by name; or, when
    /// no label is one of the model's names and every one is a class number, number `i` is
    /// the model's class `i` (`by_number`, which a caller should say). Anything else (an
    /// unknown name, a number out of range, names and numbers mixed) is refused.
    pub fn label_map(&self, data_names: &[String]) -> Result<LabelMap> {
        let names = self.label_names();
        let unknown = |label: &String| ModelError::UnknownLabel {
            at: String::new(),
            label: label.clone(),
            known: names.join(", "),
        };
        let by_name: Option<Vec<usize>> = data_names
            .iter()
            .map(|d| names.iter().position(|n| n == d))
            .collect();
        if let Some(map) = by_name {
            return Ok(LabelMap {
                map,
                by_number: false,
            });
        }
        if data_names.iter().any(|d| names.contains(d)) {
            // Some labels are names, some are not: no rule maps both.
            let stray = data_names.iter().find(|d| !names.contains(d));
            return Err(unknown(stray.unwrap_or(&data_names[0])));
        }
        let map = data_names
            .iter()
            .map(|d| match d.parse::<usize>() {
                Ok(i) if i < names.len() => Ok(i),
                _ => Err(unknown(d)),
            })
            .collect::<Result<Vec<usize>>>()?;
        Ok(LabelMap {
            map,
            by_number: true,
        })
    }

    /// Accuracy, precision, recall, F1 and the confusion matrix on a labelled dataset, its
    /// labels mapped onto the model's classes by [`Predictor::label_map`].
    pub fn evaluate(&self, data: &Dataset) -> Result<SplitMetrics> {
        let names = self.label_names();
        let map = self.label_map(&data.label_names)?.map;
        let predictions = self.classify(&data.texts);
        let predicted: Vec<usize> = predictions.iter().map(|p| p.index).collect();
        let positive: Vec<f64> = predictions
            .iter()
            .map(|p| p.probabilities.get(1).copied().unwrap_or(0.0))
            .collect();
        let truth: Vec<usize> = data
            .labels
            .iter()
            .map(|&l| map.get(l).copied().unwrap_or(l))
            .collect();
        Ok(SplitMetrics::compute(&truth, &predicted, names).with_scores(&truth, &positive))
    }
}

impl Predictor {
    /// [`Predictor::evaluate`] over rows read in batches ([`spam_data::examples_rows`]): memory
    /// follows the batch, not the file (what is kept of each row is its class, prediction and
    /// score). A label the model does not know is an error naming where it first appears.
    pub fn evaluate_rows(
        &self,
        rows: impl Iterator<Item = spam_data::Result<RowBatch>>,
    ) -> Result<Evaluation> {
        // Each distinct label, with the place it first appears.
        let mut seen: Vec<(String, String)> = Vec::new();
        let (mut truth, mut predicted, mut positive) = (Vec::new(), Vec::new(), Vec::new());
        for batch in rows {
            let batch = batch?;
            batch.refuse_nulls()?;
            let labels = batch.labels.as_deref().unwrap_or_default();
            for (i, (label, p)) in labels.iter().zip(self.classify(&batch.texts)).enumerate() {
                let class = match seen.iter().position(|(l, _)| l == label) {
                    Some(c) => c,
                    None => {
                        seen.push((label.clone(), batch.place(i)));
                        seen.len() - 1
                    }
                };
                truth.push(class);
                positive.push(p.probabilities.get(1).copied().unwrap_or(0.0));
                predicted.push(p.index);
            }
        }
        if truth.is_empty() {
            return Err(ModelError::InvalidConfig(
                "the data has no rows to evaluate on".into(),
            ));
        }
        let names: Vec<String> = seen.iter().map(|(l, _)| l.clone()).collect();
        let map = self.label_map(&names).map_err(|e| match e {
            ModelError::UnknownLabel { label, known, .. } => ModelError::UnknownLabel {
                at: seen
                    .iter()
                    .find(|(l, _)| *l == label)
                    .map(|(_, at)| format!("{at}: "))
                    .unwrap_or_default(),
                label,
                known,
            },
            other => other,
        })?;
        let truth: Vec<usize> = truth.iter().map(|&c| map.map[c]).collect();
        let metrics = SplitMetrics::compute(&truth, &predicted, self.label_names())
            .with_scores(&truth, &positive);
        Ok(Evaluation {
            metrics,
            by_number: map.by_number,
        })
    }
}

/// What [`Predictor::evaluate_rows`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The metrics.
    pub metrics: SplitMetrics,
    /// The file's labels were class numbers, read in the model's order (say so).
    pub by_number: bool,
}

/// How a file's labels map onto a model's classes (see [`Predictor::label_map`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// The model's class of each of the file's classes.
    pub map: Vec<usize>,
    /// The file's labels were class numbers, read in the model's order (not names).
    pub by_number: bool,
}

/// How texts become model input.
#[derive(Debug, Clone, Copy)]
struct Input {
    max_length: usize,
    /// The `last` position reads the class at the training length: pad every row to it.
    pad_to_max: bool,
    pad_id: i64,
}

impl Input {
    /// Class probabilities of each row (softmax of the logits).
    fn probabilities(&self, model: &Classifier, rows: &[&[u32]]) -> Vec<Vec<f64>> {
        let lengths: Vec<usize> = rows
            .iter()
            .map(|r| r.len().clamp(1, self.max_length))
            .collect();
        let cols = if self.pad_to_max {
            self.max_length
        } else {
            lengths.iter().copied().max().unwrap_or(1)
        };
        let mut flat = Vec::with_capacity(rows.len() * cols);
        for (row, &len) in rows.iter().zip(&lengths) {
            let real = row.len().min(len);
            flat.extend(row[..real].iter().map(|&t| i64::from(t)));
            // An empty text is read as one pad token, like an empty prompt.
            flat.extend(std::iter::repeat_n(self.pad_id, cols - real));
        }
        let device = model.device();
        let ids = Tensor::from_slice(&flat)
            .view([rows.len() as i64, cols as i64])
            .to_device(device);
        let lens = Tensor::from_slice(&lengths.iter().map(|&l| l as i64).collect::<Vec<_>>())
            .to_device(device);
        let probs = tch::no_grad(|| {
            model
                .forward(&ids, Some(&lens), false)
                .to_kind(Kind::Double)
                .softmax(-1, Kind::Double)
        })
        .to_device(Device::Cpu);
        let n_classes = probs.size().get(1).copied().unwrap_or(0) as usize;
        let flat: Vec<f64> = Vec::<f64>::try_from(probs.view([-1])).unwrap_or_default();
        flat.chunks(n_classes.max(1)).map(<[f64]>::to_vec).collect()
    }
}
