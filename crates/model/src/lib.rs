//! GPT-2 on libtorch (via `tch`), with pure-Rust loading of OpenAI's TensorFlow checkpoints
//! and of hub safetensors files, text generation, and the classifier of the "fine-tune GPT-2
//! for spam classification" chapter of *LLMs from scratch*.
//!
//! - [`Gpt2`]: the 124M/355M/774M/1558M architecture, variables named like the hub
//!   (`wte.weight`, `h.0.attn.c_attn.weight`, ..., `ln_f.bias`).
//! - [`Weights`]: random (seeded), an OpenAI checkpoint directory (`model.ckpt.index` +
//!   `model.ckpt.data-00000-of-00001` + `hparams.json`, read without TensorFlow, crc32c
//!   checked) or a `model.safetensors` (memory-mapped). Loading validates everything before
//!   writing a single variable and names the file and tensor in every error.
//! - [`generate`]: greedy or sampled generation from token ids, recording the top-10 logits
//!   of every step.
//! - [`Classifier`]: new `Linear(emb, classes)` head, trainable modes (head only, last block
//!   and final norm, last two blocks, all, LoRA), token positions (last, first, last
//!   non-padding, pooled), causal mask on/off; saves as safetensors + JSON.
//!
//! ```no_run
//! use spam_model::{Classifier, ClassifierConfig, GenerateOptions, LanguageModel, ModelSize,
//!                  Weights, generate};
//! # fn main() -> Result<(), spam_model::ModelError> {
//! let device = spam_model::DeviceChoice::Auto.resolve()?;
//!
//! // Check that weights loaded: greedy continuation of "Every effort moves you".
//! let lm = LanguageModel::from_path("gpt2/124M".as_ref(), device)?;
//! let out = generate(&lm.gpt, &[6109, 3626, 6100, 345], &GenerateOptions::default());
//! println!("{}", serde_json::to_string(&out).unwrap_or_default());
//!
//! // The chapter's classifier: last block + final norm trainable, last token.
//! let weights = Weights::detect("gpt2/124M".as_ref())?;
//! let clf = Classifier::new(ClassifierConfig::spam(ModelSize::S124M), &weights, device, 123)?;
//! let ids = tch::Tensor::from_slice(&[6109i64, 3626, 6100, 345]).unsqueeze(0).to_device(device);
//! let logits = clf.forward(&ids, None, false); // [1, 2]
//! # let _ = logits;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod batch;
mod chapter_init;
mod classifier;
mod config;
mod decision;
mod device;
mod error;
mod files;
mod generate;
mod gpt2;
mod hf_model;
mod memory;
mod metrics;
mod parallel;
mod precision;
mod predict;
mod rng;
mod run_info;
mod safetensors_io;
mod tensors;
mod tf_checkpoint;
mod weights;

// The public API, in one place. Everything else is private to the crate.

// Classifier: build, train, save and load.
pub use crate::classifier::{
    CONFIG_FILE, Classifier, ClassifierConfig, TokenPosition, Trainable, WEIGHTS_FILE,
};
// Classifiers as transformers' GPT2ForSequenceClassification folders.
pub use crate::classifier::{
    HF_ARCHITECTURE, HF_CONFIG_FILE, TransformersExport, is_transformers_dir,
};
// Hyper-parameters and the published sizes.
pub use crate::config::{Config, END_OF_TEXT, GPT2_CONTEXT, GPT2_VOCAB_SIZE, ModelDims, ModelSize};
// libtorch's global generator, held while seeding and drawing.
pub use crate::chapter_init::global_generator;
// Devices.
pub use crate::device::{DeviceChoice, parse_device};
// Errors.
pub use crate::error::{ModelError, Result};
// Generation.
pub use crate::generate::{
    GenerateOptions, Generation, Step, generate, generate_with, try_generate, try_generate_with,
};
// The GPT-2 network and its layers.
pub use crate::gpt2::{
    Attention, Block, Dense, DenseOptions, Gpt2, InitMode, LAYER_NORM_EPS, LayerNorm, Layout, Lora,
    LoraShape, Mlp, attend,
};
// Prediction: a fine-tuned model classifying new text, its decision threshold, its
// metrics on labelled data, and what a run directory says about it.
pub use crate::batch::{PadTo, distinct_rows, unpadded_last};
pub use crate::decision::{DECISION_FILE, Decision, check_threshold, decide, read_decision};
pub use crate::metrics::{ClassMetrics, SplitMetrics, average_precision, roc_auc};
pub use crate::parallel::Workers;
pub use crate::predict::{Evaluation, LabelMap, PREDICT_BATCH, Prediction, Predictor, model_dir};
pub use crate::run_info::RunInfo;
// Number formats: fp32, or bf16 mixed precision.
pub use crate::precision::Precision;
// Process-wide allocator settings.
pub use crate::memory::reuse_freed_memory;
// Checkpoint files: safetensors, OpenAI TensorFlow bundles, and their validated tensors.
pub use crate::safetensors_io::{SafeTensorsFile, write_safetensors_atomic};
pub use crate::tensors::{DType, MappedFile, RawTensor, TensorSource};
pub use crate::tf_checkpoint::{CheckpointFiles, HParams, OpenAiCheckpoint};
// The bundle writer, for tests that build checkpoints (feature `test-support`).
#[cfg(feature = "test-support")]
pub use crate::tf_checkpoint::{BundleTensor, write_bundle};
// Weight sources and the loaded language model.
pub use crate::weights::{CheckpointContents, LanguageModel, RandomInit, Weights};

// The tch version the API is built on.
pub use tch;
