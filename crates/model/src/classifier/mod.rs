//! GPT-2 with its output head replaced by a classification head, as in the chapter.

mod hf;
mod hf_config;
mod hf_tokenizer;
mod model;
mod settings;

pub use hf::{HF_CONFIG_FILE, TransformersExport, is_transformers_dir};
pub use hf_config::HF_ARCHITECTURE;
pub(crate) use hf_tokenizer::tokenizer_max_length;
pub use model::{CONFIG_FILE, Classifier, WEIGHTS_FILE};
pub use settings::{ClassifierConfig, TokenPosition, Trainable};
