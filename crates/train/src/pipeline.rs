//! The whole job in one call: prepare the data, build the classifier, train, write the run
//! directory. `spam-cli train` is a thin wrapper over [`fine_tune`]; `--resume RUN_DIR`
//! reads the [`RunConfig`] saved there and continues.

use std::path::{Path, PathBuf};


use serde::{Deserialize, Serialize};
use spam_data::{Column, Padding, ParseMode, PrepareOptions, SourceFormat, TableOptions};
use spam_model::{
    Classifier, ClassifierConfig, Config, DeviceChoice, ModelSize, TokenPosition, Trainable,
    Weights,
};

use crate::batch::{Examples, PadTo};
use crate::config::TrainConfig;
use crate::data::TrainData;
use crate::error::{Context, Result, bail};
use crate::events::{Event, Events};
use crate::report::Report;
use crate::run_dir::write_json;
use crate::trainer::{RunOptions, train};

/// Where the examples come from and how they are prepared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// The SMS collection (file or UCI zip) or a labelled CSV/TSV.
    pub source: PathBuf,
    /// `sms` or `table`.
    pub format: String,
    /// SMS parsing: `pandas` (the chapter's split) or `lines`.
    pub parse_mode: String,
    /// Table: text and label columns (name, or 0-based index).
    pub text_column: String,
    pub label_column: String,
    /// Table: field delimiter; `auto` picks TAB for `.tsv`/`.txt` files, comma otherwise.
    pub delimiter: String,
    pub has_header: bool,
    /// Undersample every class to the smallest (chapter: yes).
    pub balance: bool,
    /// Seed of balancing and splitting (chapter: 123).
    pub split_seed: u32,
    /// Train and validation fractions; test gets the rest (chapter: 0.7, 0.1).
    pub fractions: (f64, f64),
    /// `longest` (chapter), `fixed:N`, `dynamic` or `none`.
    pub padding: String,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            source: PathBuf::new(),
            format: "sms".into(),
            parse_mode: "pandas".into(),
            text_column: "text".into(),
            label_column: "label".into(),
            delimiter: "auto".into(),
            has_header: true,
            balance: true,
            split_seed: 123,
            fractions: (0.7, 0.1),
            padding: "longest".into(),
        }
    }
}

/// The model side of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelSettings {
    /// `random`, an OpenAI checkpoint folder, or a `.safetensors` file (or its folder).
    pub weights: String,
    pub size: ModelSize,
    pub token_position: TokenPosition,
    /// `last_layer`, `last_block`, `last_two_blocks`, `all`, `lora` or `lora:RANK:ALPHA`.
    #[serde(with = "trainable_as_str")]
    pub trainable: Trainable,
    pub causal_mask: bool,
    pub dropout: f64,
    /// Seed of random backbone weights (with `weights = random`).
    pub init_seed: u64,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// An explicit architecture instead of `size` (small models for tests and experiments);
    /// only with random weights.
    pub architecture: Option<Config>,
}

impl Default for ModelSettings {
    fn default() -> Self {
        Self {
            weights: "random".into(),
            size: ModelSize::S124M,
            token_position: TokenPosition::Last,
            trainable: Trainable::LastBlock,
            causal_mask: true,
            dropout: 0.0,
            init_seed: 123,
            device: "auto".into(),
            architecture: None,
        }
    }
}

/// Everything that defines a run; saved as `RUN_DIR/config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct RunConfig {
    pub data: DataConfig,
    pub model: ModelSettings,
    pub train: TrainConfig,
}

impl RunConfig {
    /// The data pipeline options this config describes.
    pub fn prepare_options(&self, out_dir: Option<PathBuf>) -> Result<PrepareOptions> {
        let d = &self.data;
        let padding: Padding = d.padding.parse()?;
        let format = match d.format.as_str() {
            "sms" => SourceFormat::Sms(
                d.parse_mode.parse::<ParseMode>()?,
            ),
            "table" | "csv" | "tsv" => {
                let delimiter = match d.delimiter.as_str() {
                    "auto" => {
                        let ext = d.source.extension().and_then(|e| e.to_str()).unwrap_or("");
                        if ext.eq_ignore_ascii_case("tsv") || ext.eq_ignore_ascii_case("txt") {
                            b'\t'
                        } else {
                            b','
                        }
                    }
                    "tab" | "\\t" | "\t" => b'\t',
                    s if s.len() == 1 => s.as_bytes()[0],
                    s => bail!("delimiter must be one character, `tab` or `auto`, got {s:?}"),
                };
                SourceFormat::Table(TableOptions {
                    delimiter,
                    has_header: d.has_header,
                    quoting: true,
                    text_column: Column::name_or_index(&d.text_column),
                    label_column: Column::name_or_index(&d.label_column),
                    label_names: None,
                })
            }
            other => bail!("unknown data format {other:?}: use `sms` or `table`"),
        };
        Ok(PrepareOptions {
            source: d.source.clone(),
            format,
            balance: d.balance,
            seed: d.split_seed,
            fractions: d.fractions,
            out_dir,
            padding,
            max_context: self
                .model
                .architecture
                .unwrap_or_else(|| Config::for_size(self.model.size))
                .n_ctx as usize,
            batch_size: self.train.batch_size,
        })
    }
}

/// Options of [`fine_tune`] that are not part of the run's definition.
#[derive(Debug, Clone, Default)]
pub struct FineTuneOptions {
    /// The run directory; `None` writes nothing (no checkpoints either).
    pub out_dir: Option<PathBuf>,
    /// Where progress goes (nowhere by default).
    pub events: Events,
    /// Stop (as if killed) after this many steps: for tests of resume.
    pub stop_after_steps: Option<usize>,
}

/// Prepares data, builds the classifier, trains it and writes the run directory.
pub fn fine_tune(config: &RunConfig, options: &FineTuneOptions) -> Result<Report> {
    run(config, options, false)
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(run_dir: &Path, options: &FineTuneOptions) -> Result<Report> {
    let path = run_dir.join("config.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "could not read {}: is {} a run directory?",
            path.display(),
            run_dir.display()
        )
    })?;
    let config: RunConfig = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run config", path.display()))?;
    let options = FineTuneOptions {
        out_dir: Some(run_dir.to_path_buf()),
        ..options.clone()
    };
    run(&config, &options, true)
}

fn run(config: &RunConfig, options: &FineTuneOptions, resume: bool) -> Result<Report> {
    config.train.validate()?;
    let out = options.out_dir.as_deref();
    let events = &options.events;
    let prepared = spam_data::prepare(&config.prepare_options(out.map(|d| d.join("data")))?)?;
    events.emit(Event::DataReady {
        rows_read: prepared.rows_read,
        balanced_rows: prepared.balanced_rows,
        train: prepared.train_rows,
        validation: prepared.validation_rows,
        test: prepared.test_rows,
        padded_len: prepared.padded_len,
    });
    let pad = match prepared.padded_len {
        Some(n) => PadTo::Fixed(n),
        None => PadTo::Dynamic,
    };
    let data = TrainData {
        train: Examples::from_encoded(&prepared.encoded.train),
        validation: Examples::from_encoded(&prepared.encoded.validation),
        test: Examples::from_encoded(&prepared.encoded.test),
        pad,
        pad_id: i64::from(spam_data::PAD_TOKEN_ID),
        label_names: prepared.label_names.clone(),
    };

    let device = config
        .model
        .device
        .parse::<DeviceChoice>()?
        .resolve()?;
    let weights = match config.model.weights.as_str() {
        "random" => Weights::Random {
            seed: config.model.init_seed,
        },
        path => Weights::detect(Path::new(path))?,
    };
    let mut cc = ClassifierConfig::spam(config.model.size);
    if let Some(arch) = config.model.architecture {
        if !matches!(weights, Weights::Random { .. }) {
            bail!(
                "an explicit architecture only works with random weights: a checkpoint brings its own"
            );
        }
        cc.model = arch;
        cc.size = arch.size();
    }
    if let Some(found) = weights.config()? {
        cc.model = found;
        cc.size = found.size();
    }
    cc.model.dropout = config.model.dropout;
    cc.num_classes = prepared.label_names.len() as i64;
    cc.label_names = prepared.label_names.clone();
    cc.max_length = prepared.padded_len;
    cc.token_position = config.model.token_position;
    cc.trainable = config.model.trainable;
    cc.causal_mask = config.model.causal_mask;
    // The size the model really has: a checkpoint or an explicit architecture overrides
    // `size`.
    let size = match cc.size {
        Some(size) => size.to_string(),
        None => format!(
            "custom ({} layers, width {}, {} heads)",
            cc.model.n_layer, cc.model.n_embd, cc.model.n_head
        ),
    };
    let model = Classifier::new(cc, &weights, device, config.train.seed)?;
    events.emit(Event::ModelReady {
        size,
        pretrained: !matches!(weights, Weights::Random { .. }),
        trainable_parameters: model.num_trainable_parameters(),
        trainable: config.model.trainable.name().to_string(),
        token_position: config.model.token_position.as_str().to_string(),
        device: format!("{device:?}"),
    });

    if let Some(dir) = out {
        write_json(&dir.join("config.json"), config)?;
    }
    let run_options = RunOptions {
        checkpoint_dir: out.map(Path::to_path_buf),
        resume,
        events: events.clone(),
        stop_after_steps: options.stop_after_steps,
    };
    let report = train(&model, &data, &config.train, &run_options)?;
    if let Some(dir) = out {
        model.save(&dir.join("model")).with_context(|| {
            format!(
                "could not save the model into {}",
                dir.join("model").display()
            )
        })?;
        write_json(&dir.join("metrics.json"), &report)?;
        #[cfg(feature = "plot")]
        crate::run_dir::write_plots(dir, &report, data.train.len())?;
        events.emit(Event::RunSaved {
            dir: dir.to_path_buf(),
        });
    }
    Ok(report)
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
