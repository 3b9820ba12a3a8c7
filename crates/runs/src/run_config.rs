//! The settings that define a run, saved as `RUN_DIR/config.json` and read from a TOML
//! `--config`. Every field is typed: a bad value fails when the file is read, naming the
//! key, not later in the run.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use spam_data::{
    Column, Delimiter, Padding, ParquetOptions, ParseMode, PrepareOptions, SourceFormat,
    SourceKind, SplitFiles, SplitFormat, TableOptions,
};
use spam_model::{Config, DeviceChoice, ModelSize, RandomInit, TokenPosition, Trainable};

use spam_train::TrainConfig;

use crate::weights::{ResolvedWeights, WeightsSource};
use anyhow::Result;

/// Where the examples come from and how they are prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// The SMS collection (file or UCI zip), a labelled CSV/TSV, or Parquet (a file, a folder
    /// of shards, a glob, or a hub dataset `hf:ORG/NAME[@REV]`).
    pub source: PathBuf,
    /// `sms`, `table` or `parquet` (a Parquet file is read as one whatever this says).
    #[serde(with = "as_string")]
    pub format: SourceKind,
    /// SMS parsing: `pandas` (the chapter's split) or `lines`.
    #[serde(with = "as_string")]
    pub parse_mode: ParseMode,
    /// Table or Parquet: the text column (name, or 0-based index); unset, `text`, then
    /// `Text`, else the only text column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_column: Option<String>,
    /// Table or Parquet: the label column (name, or 0-based index); unset, `label`, then
    /// `Label`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// Table: field delimiter, `tab` or one character; `auto` picks TAB for `.tsv`/`.txt`
    /// files, comma otherwise.
    #[serde(with = "as_string")]
    pub delimiter: Delimiter,
    /// Table: the first row names the columns.
    pub has_header: bool,
    /// Undersample every class to the smallest (chapter: yes).
    pub balance: bool,
    /// Seed of balancing and splitting (chapter: 123).
    pub split_seed: u32,
    /// Train and validation fractions; test gets the rest (chapter: 0.7, 0.1).
    pub fractions: (f64, f64),
    /// `longest` (chapter), `fixed:N`, `dynamic` or `none`.
    #[serde(with = "as_string")]
    pub padding: Padding,
    /// Train on this file as the training split, as given (no balancing, no splitting);
    /// with `validation_file`, and `test_file` if any. `source` is then not read.
    pub train_file: Option<PathBuf>,
    /// The validation split, as given (with `train_file`).
    pub validation_file: Option<PathBuf>,
    /// The test split, as given (with `train_file`); without it the run has no test metrics.
    pub test_file: Option<PathBuf>,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: PathBuf::new(),
            format: SourceKind::Sms,
            parse_mode: ParseMode::PandasCompatible,
            text_column: None,
            label_column: None,
            delimiter: Delimiter::Auto,
            has_header: true,
            balance: true,
            split_seed: 123,
            fractions: (0.7, 0.1),
            padding: Padding::Longest,
            train_file: None,
            validation_file: None,
            test_file: None,
        }
    }
}

/// The model side of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// `random`, an OpenAI checkpoint folder, or a `.safetensors` file (or its folder).
    #[serde(with = "as_string")]
    pub weights: WeightsSource,
    /// Model size (a checkpoint brings its own).
    pub size: ModelSize,
    /// Which position feeds the head.
    pub token_position: TokenPosition,
    /// `last_layer`, `last_block`, `last_two_blocks`, `all`, `lora` or `lora:RANK:ALPHA`.
    #[serde(with = "trainable_as_str")]
    pub trainable: Trainable,
    /// The causal attention mask on (the chapter: yes).
    pub causal_mask: bool,
    /// Dropout rate in every block (the chapter: 0).
    pub dropout: f64,
    /// Seed of random backbone weights (with `weights = random`).
    pub init_seed: u64,
    /// How random backbone weights are drawn: `chapter` (the chapter's `GPTModel` under
    /// `torch.manual_seed(init_seed)`, bit for bit, with its head) or `gpt2` (GPT-2's scheme).
    #[serde(with = "as_string")]
    pub init: RandomInit,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[serde(with = "as_string")]
    pub device: DeviceChoice,
    /// An explicit architecture instead of `size` (small models for tests and experiments);
    /// only with random weights.
    pub architecture: Option<Config>,
    /// What a hub id in `weights` resolved to, written by the run into its `config.json`;
    /// a resumed run loads the same commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_resolved: Option<ResolvedWeights>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            weights: WeightsSource::Random,
            size: ModelSize::S124M,
            token_position: TokenPosition::Last,
            trainable: Trainable::LastBlock,
            causal_mask: true,
            dropout: 0.0,
            init_seed: 123,
            init: RandomInit::Chapter,
            device: DeviceChoice::Auto,
            architecture: None,
            weights_resolved: None,
        }
    }
}

/// Everything that defines a run; saved as `RUN_DIR/config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunConfig {
    /// Where the examples come from.
    pub data: DataConfig,
    /// The model side.
    pub model: ModelSettings,
    /// The training loop.
    pub train: TrainConfig,
}

impl RunConfig {
    /// The split files to train on, when the config gives them (`train_file` and
    /// `validation_file`).
    pub fn split_files(&self) -> Option<SplitFiles> {
        let d = &self.data;
        Some(SplitFiles {
            train: d.train_file.clone()?,
            validation: d.validation_file.clone()?,
            test: d.test_file.clone(),
        })
    }

    /// Checks that split files come as a set: a validation or test file needs a training
    /// file and the reverse.
    pub fn check_split_files(&self) -> Result<()> {
        let d = &self.data;
        match (&d.train_file, &d.validation_file) {
            (Some(_), None) => Err(anyhow::anyhow!(
                "--train-file needs --validation-file too (the evaluations during training read \
                 it); or give a folder with train.csv and validation.csv as --data-dir"
            )),
            (None, Some(_)) => Err(anyhow::anyhow!("--validation-file needs --train-file too")),
            (None, None) if d.test_file.is_some() => Err(anyhow::anyhow!(
                "--test-file needs --train-file and --validation-file too"
            )),
            _ => Ok(()),
        }
    }

    /// The data pipeline options this config describes.
    pub fn prepare_options(&self, out_dir: Option<PathBuf>) -> Result<PrepareOptions> {
        let d = &self.data;
        let column =
            |c: &Option<String>| c.as_deref().map_or(Column::Default, Column::name_or_index);
        let format = match d.format {
            SourceKind::Sms => SourceFormat::Sms(d.parse_mode),
            SourceKind::Parquet => SourceFormat::Parquet(ParquetOptions {
                text_column: column(&d.text_column),
                label_column: column(&d.label_column),
            }),
            SourceKind::Table => SourceFormat::Table(TableOptions {
                delimiter: d
                    .delimiter
                    .resolve(d.train_file.as_ref().unwrap_or(&d.source)),
                has_header: d.has_header,
                quoting: true,
                text_column: column(&d.text_column),
                label_column: column(&d.label_column),
                label_names: None,
            }),
        };
        Ok(PrepareOptions {
            source: crate::data_source::local_data(&d.source)?,
            format,
            balance: d.balance,
            seed: d.split_seed,
            fractions: d.fractions,
            out_dir,
            padding: d.padding,
            max_context: self
                .model
                .architecture
                .unwrap_or_else(|| Config::for_size(self.model.size))
                .n_ctx as usize,
            batch_size: self.train.batch_size,
            out_format: SplitFormat::Csv,
        })
    }
}

/// Serde through `Display`/`FromStr`: a typed field reads and writes as the string the
/// CLI takes (`"fixed:120"`, `"cuda:0"`), and a bad one fails when the file is read.
pub(crate) mod as_string {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `Trainable` as the string the CLI takes (`"all"`, `"lora:16:16"`), so a TOML config
/// reads `trainable = "all"`.
mod trainable_as_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use spam_model::Trainable;

    pub fn serialize<S: Serializer>(t: &Trainable, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Trainable::Lora { rank, alpha } => s.serialize_str(&format!("lora:{rank}:{alpha}")),
            other => s.serialize_str(other.name()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Trainable, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Tagged(Trainable),
        }
        match Form::deserialize(d)? {
            Form::Text(s) => s.parse().map_err(serde::de::Error::custom),
            Form::Tagged(t) => Ok(t),
        }
    }
}
