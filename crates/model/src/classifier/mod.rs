//! GPT-2 with its output head replaced by a classification head, as in the chapter.

mod hf;
mod model;
mod settings;

pub use hf::{HF_ARCHITECTURE, HF_CONFIG_FILE, TransformersExport, is_transformers_dir};
pub use model::{CONFIG_FILE, Classifier, WEIGHTS_FILE};
pub use settings::{ClassifierConfig, TokenPosition, Trainable};
