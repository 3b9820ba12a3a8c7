//! Command-line arguments. Defaults are the chapter's; every train setting can also come
//! from a TOML file (`--config`), which flags override.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use spam_data::{Named, ParseMode, SourceKind};
use spam_model::{DeviceChoice, ModelSize, Precision, RandomInit, TokenPosition, Trainable};
use spam_runs::RunConfig;
use spam_train::{CachePrecision, DataOrder, Engine, LrSchedule};

use crate::values::{Defaults, RunDefaults, ShownDefault, named};

/// Where `cargo xtask fetch --data` puts the SMS Spam Collection.
pub const DEFAULT_DATA: &str = "datasets/sms_spam_collection/SMSSpamCollection";
/// Where `cargo xtask fetch --weights` puts the GPT-2 checkpoints (one folder per size).
pub const DEFAULT_WEIGHTS_ROOT: &str = "models/gpt2";

/// Which data and how to read it; `D` says which defaults the command's help shows.
#[derive(Args, Debug, Clone)]
pub struct DataArgs<D: Defaults = RunDefaults> {
    /// The SMS Spam Collection (or its UCI zip), a labelled CSV/TSV with --format table, or
    /// Parquet (a file, a folder of shards, a glob, or `hf:ORG/NAME[@REV]`; found by name).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// `sms` (label TAB text), `table` (CSV/TSV with named columns) or `parquet` (taken
    /// whatever this says for a `.parquet` file or a folder of them).
    #[arg(long, value_name = "FORMAT", value_parser = named::<SourceKind>(),
          shown_default = D::of(|c| c.data.format.to_string()))]
    pub format: Option<SourceKind>,
    /// SMS parsing: `pandas` (the chapter's exact split, default) or `lines`.
    #[arg(long, value_name = "MODE", value_parser = named::<ParseMode>(),
          shown_default = D::of(|c| c.data.parse_mode.to_string()))]
    pub parse_mode: Option<ParseMode>,
    /// Table/Parquet: the text column (name or 0-based index); default `text`, then `Text`,
    /// else the only text column.
    #[arg(long, value_name = "COLUMN")]
    pub text_column: Option<String>,
    /// Table/Parquet: the label column (name or 0-based index); default `label`, then
    /// `Label`.
    #[arg(long, value_name = "COLUMN")]
    pub label_column: Option<String>,
    /// Table: `auto` (TAB for .tsv/.txt, comma otherwise), `tab`, or one character.
    #[arg(long, value_name = "CHAR", shown_default = D::of(|c| c.data.delimiter.to_string()))]
    pub delimiter: Option<spam_data::Delimiter>,
    /// Table: the file has no header row.
    #[arg(long)]
    pub no_header: bool,
    /// Keep every row instead of undersampling to the smallest class.
    #[arg(long)]
    pub no_balance: bool,
    /// Seed of balancing and splitting (chapter: 123).
    #[arg(long, value_name = "N", shown_default = D::of(|c| c.data.split_seed))]
    pub split_seed: Option<u32>,
    /// `longest` (chapter), `fixed:N`, `dynamic` or `none`.
    #[arg(long, value_name = "MODE", shown_default = D::of(|c| c.data.padding.to_string()))]
    pub padding: Option<spam_data::Padding>,
    #[command(flatten)]
    pub split: crate::best_args::SplitArgs,
    #[arg(skip)]
    pub defaults: PhantomData<D>,
}

impl<D: Defaults> DataArgs<D> {
    pub fn apply(&self, mut c: RunConfig) -> Result<RunConfig> {
        if let Some(d) = &self.data {
            c.data.source = d.clone();
        }
        self.split.apply(&mut c);
        if c.data.source.as_os_str().is_empty() && c.data.train_file.is_none() {
            let default = PathBuf::from(DEFAULT_DATA);
            if !default.is_file() {
                bail!(
                    "no data: {DEFAULT_DATA} does not exist. Either run `cargo xtask fetch --data` \
                     (offline: `cargo xtask fetch --data --from PATH`), or pass --data PATH"
                );
            }
            c.data.source = default;
        }
        if let Some(f) = self.format {
            c.data.format = f;
        }
        if let Some(m) = self.parse_mode {
            c.data.parse_mode = m;
        }
        if let Some(t) = &self.text_column {
            c.data.text_column = Some(t.clone());
        }
        if let Some(l) = &self.label_column {
            c.data.label_column = Some(l.clone());
        }
        if let Some(d) = self.delimiter {
            c.data.delimiter = d;
        }
        if self.no_header {
            c.data.has_header = false;
        }
        if self.no_balance {
            c.data.balance = false;
        }
        if let Some(s) = self.split_seed {
            c.data.split_seed = s;
        }
        if let Some(p) = self.padding {
            c.data.padding = p;
        }
        Ok(c)
    }
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Folder for the three splits: new or empty, unless --overwrite.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// `csv` (train.csv, validation.csv, test.csv: the chapter's) or `parquet` (the hub's
    /// layout, train-00000-of-00001.parquet, ..., with the class names as a ClassLabel).
    #[arg(long, value_name = "FORMAT", value_parser = named::<spam_data::SplitFormat>(),
          default_value_t = spam_data::SplitFormat::Csv)]
    pub output_format: spam_data::SplitFormat,
    /// Replace the split files of an earlier `prepare` in --out (a folder holding anything
    /// else is refused, and an input is never written over).
    #[arg(long)]
    pub overwrite: bool,
    /// Fewer training rows than one batch of this size is an error.
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Settings from a TOML file (the keys of RUN_DIR/config.json); flags override them.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// `random`, an OpenAI checkpoint folder, a .safetensors file, or a hub id (`gpt2`,
    /// `openai-community/gpt2-medium@REV`: from the hub cache, downloaded when missing).
    /// Default: models/gpt2/<size>, else the size's hub id if cached.
    #[arg(long, value_name = "PATH|ID")]
    pub weights: Option<spam_runs::WeightsSource>,
    /// Model size: 124M, 355M, 774M or 1558M.
    #[arg(long, value_parser = named::<ModelSize>(),
          shown_default = RunDefaults::of(|c| c.model.size.to_string()))]
    pub size: Option<ModelSize>,
    /// Run directory for metrics, plots, the model and checkpoints; it must be new or empty
    /// unless --overwrite. Default: a new runs/YYYYmmdd-HHMMSS (UTC), with runs/latest
    /// linked to it when it is complete.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the run in --out once the new one is complete (a folder holding anything a
    /// run does not write is refused even so).
    #[arg(long)]
    pub overwrite: bool,
    /// Continue the run in RUN_DIR from its last checkpoint, with the settings it was started
    /// with; only --epochs may be given (to extend the run). Other flags are refused.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "config")]
    pub resume: Option<PathBuf>,
    #[arg(long, shown_default = RunDefaults::of(|c| c.train.epochs))]
    pub epochs: Option<usize>,
    #[arg(long, shown_default = RunDefaults::of(|c| c.train.batch_size))]
    pub batch_size: Option<usize>,
    #[arg(long, shown_default = RunDefaults::of(|c| c.train.optimizer.lr))]
    pub lr: Option<f64>,
    #[arg(long, shown_default = RunDefaults::of(|c| c.train.optimizer.weight_decay))]
    pub weight_decay: Option<f64>,
    /// Seed of the head, data order and dropout (chapter: 123).
    #[arg(long, shown_default = RunDefaults::of(|c| c.train.seed))]
    pub seed: Option<u64>,
    /// How `--weights random` is drawn: `chapter` (the chapter's `GPTModel` under
    /// `torch.manual_seed`, bit for bit; default) or `gpt2` (GPT-2's std-0.02 scheme).
    #[arg(long, value_name = "INIT", value_parser = named::<RandomInit>(),
          shown_default = RunDefaults::of(|c| c.model.init.to_string()))]
    pub init: Option<RandomInit>,
    /// Order of the training batches: `chapter` (its DataLoader after `torch.manual_seed`,
    /// reproduced; default) or `seeded` (the crate's own shuffle).
    #[arg(long, value_name = "ORDER", value_parser = named::<DataOrder>(),
          shown_default = RunDefaults::of(|c| c.train.data_order.to_string()))]
    pub data_order: Option<DataOrder>,
    /// `last` (chapter), `first`, `flexible` (last non-padding) or `pooled`.
    #[arg(long, value_parser = named::<TokenPosition>(),
          shown_default = RunDefaults::of(|c| c.model.token_position.to_string()))]
    pub token_position: Option<TokenPosition>,
    /// `last_block` (chapter), `last_layer`, `last_two_blocks`, `all`, `lora` (rank 16,
    /// alpha 16) or `lora:RANK:ALPHA` (appendix E's adapters, one per projection, query, key
    /// and value each their own; the head trains too).
    #[arg(long, value_name = "MODE",
          shown_default = RunDefaults::of(|c| c.model.trainable.to_string()))]
    pub trainable: Option<Trainable>,
    /// Disable the causal attention mask.
    #[arg(long)]
    pub no_causal_mask: bool,
    #[arg(long, shown_default = RunDefaults::of(|c| c.model.dropout))]
    pub dropout: Option<f64>,
    /// Estimate train and validation loss every N steps (chapter: 50).
    #[arg(long, value_name = "N", shown_default = RunDefaults::of(|c| c.train.eval_freq))]
    pub eval_freq: Option<usize>,
    /// Batches per periodic estimate (chapter: 5).
    #[arg(long, value_name = "N", shown_default = RunDefaults::of(|c| c.train.eval_iter))]
    pub eval_iter: Option<usize>,
    /// Batches per optimizer update.
    #[arg(long, value_name = "N",
          shown_default = RunDefaults::of(|c| c.train.grad_accum_steps))]
    pub grad_accum: Option<usize>,
    /// Target value left out of the loss (the chapter's bonus uses 50256).
    #[arg(long, value_name = "ID")]
    pub ignore_index: Option<i64>,
    /// Linear warmup steps, then cosine decay to --min-lr.
    #[arg(long, value_name = "N")]
    pub warmup_steps: Option<usize>,
    #[arg(long, default_value_t = 0.0)]
    pub min_lr: f64,
    #[arg(long, value_name = "NORM")]
    pub clip_grad_norm: Option<f64>,
    /// Stop after N evaluations without a better validation loss.
    #[arg(long, value_name = "N")]
    pub early_stopping: Option<usize>,
    /// Also checkpoint every N steps (always after each epoch).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// `auto` (fastest exact path), `plain` (the chapter's computation) or `cached`.
    #[arg(long, value_parser = named::<Engine>(),
          shown_default = RunDefaults::of(|c| c.train.engine.to_string()))]
    pub engine: Option<Engine>,
    /// `fp32` (exact, the chapter's numbers) or `bf16` mixed precision: fp32 weights and
    /// optimizer, matrix products and activations in bf16 (not exact).
    #[arg(long, value_name = "PRECISION", value_parser = named::<Precision>(),
          shown_default = RunDefaults::of(|c| c.train.precision.to_string()))]
    pub precision: Option<Precision>,
    /// How the cached path keeps the frozen blocks' output: `fp32` (exact) or `bf16` (half
    /// the memory, not exact).
    #[arg(long, value_name = "PRECISION", value_parser = named::<CachePrecision>(),
          shown_default = RunDefaults::of(|c| c.train.cache_precision.to_string()))]
    pub cache_precision: Option<CachePrecision>,
    /// Keep the cached path's frozen-block output in a temporary file in DIR instead of
    /// memory (data or a context too large for RAM); the file is gone when the run ends.
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    #[arg(long, help = DeviceChoice::accepted(),
          shown_default = RunDefaults::of(|c| c.model.device.to_string()))]
    pub device: Option<DeviceChoice>,
    /// No progress bars or lines; the run directory still gets everything.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the effective settings (defaults, then --config, then flags) as TOML that
    /// --config reads back, and exit without training.
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten)]
    pub best: crate::best_args::BestTrainArgs,
}

impl TrainArgs {
    pub fn to_config(&self) -> Result<RunConfig> {
        let mut c = match &self.config {
            Some(path) => {
                // A regular file only: a FIFO or a device as --config would block or never end.
                let bytes = spam_data::read_file(path)
                    .with_context(|| format!("could not read {}", path.display()))?;
                let text = String::from_utf8(bytes)
                    .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
                toml::from_str::<RunConfig>(&text)
                    .with_context(|| format!("{} is not a valid run config", path.display()))?
            }
            None => RunConfig::default(),
        };
        self.best.files.apply_files(&mut c)?;
        c = self.data.apply(c)?;
        self.best.apply_train(&mut c.train);
        if let Some(s) = self.size {
            c.model.size = s;
        }
        match &self.weights {
            Some(w) => c.model.weights = w.clone(),
            None if self.config.is_none() => {
                let root = Path::new(DEFAULT_WEIGHTS_ROOT);
                c.model.weights = spam_runs::WeightsSource::default_for(c.model.size, root)?;
            }
            None => {}
        }
        let t = &mut c.train;
        macro_rules! set {
            ($field:expr, $flag:expr) => {
                if let Some(v) = $flag {
                    $field = v;
                }
            };
        }
        set!(t.epochs, self.epochs);
        set!(t.batch_size, self.batch_size);
        set!(t.optimizer.lr, self.lr);
        set!(t.optimizer.weight_decay, self.weight_decay);
        set!(t.seed, self.seed);
        set!(t.data_order, self.data_order);
        set!(t.eval_freq, self.eval_freq);
        set!(t.eval_iter, self.eval_iter);
        set!(t.grad_accum_steps, self.grad_accum);
        set!(t.engine, self.engine);
        set!(t.precision, self.precision);
        set!(t.cache_precision, self.cache_precision);
        if self.cache_dir.is_some() {
            t.cache_dir = self.cache_dir.clone();
        }
        if self.ignore_index.is_some() {
            t.ignore_index = self.ignore_index;
        }
        if let Some(w) = self.warmup_steps {
            t.schedule = LrSchedule::WarmupCosine {
                warmup_steps: w,
                min_lr: self.min_lr,
            };
        }
        if self.clip_grad_norm.is_some() {
            t.clip_grad_norm = self.clip_grad_norm;
        }
        if self.early_stopping.is_some() {
            t.early_stopping_patience = self.early_stopping;
        }
        if self.checkpoint_every.is_some() {
            t.checkpoint_every = self.checkpoint_every;
        }
        let m = &mut c.model;
        set!(m.token_position, self.token_position);
        set!(m.trainable, self.trainable);
        set!(m.init, self.init);
        if self.no_causal_mask {
            m.causal_mask = false;
        }
        set!(m.dropout, self.dropout);
        if let Some(d) = self.device {
            m.device = d;
        }
        Ok(c)
    }
}

/// A file of labelled examples to evaluate on.
#[derive(Args, Debug)]
pub struct EvalDataArgs {
    /// A split CSV written by `prepare`/`train` (Label,Text), the SMS collection, a CSV/TSV
    /// with a header, or Parquet (a file, a folder of shards, a glob, or `hf:ORG/NAME[@REV]`).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Omitted: Parquet by name or content, a split CSV for a `.csv` with header `Label,Text`,
    /// another `.csv`/`.tsv` as a table, SMS otherwise. Or `sms`, `table`, `parquet`.
    #[arg(long, value_name = "FORMAT", value_parser = named::<SourceKind>())]
    pub format: Option<SourceKind>,
    /// SMS parsing: `pandas` (the chapter's) or `lines`.
    #[arg(long, value_parser = named::<ParseMode>(), default_value_t = ParseMode::default())]
    pub parse_mode: ParseMode,
    /// The text column (name or 0-based index); default `text`, then `Text`, else the only
    /// text column.
    #[arg(long, value_name = "COLUMN")]
    pub text_column: Option<String>,
    /// The label column (name or 0-based index); default `label`, then `Label`.
    #[arg(long, value_name = "COLUMN")]
    pub label_column: Option<String>,
}

impl EvalDataArgs {
    /// The labelled rows, in batches.
    pub fn rows(&self) -> Result<spam_data::RowSource> {
        let options = spam_data::ExamplesFile {
            kind: self.format,
            parse_mode: self.parse_mode,
            text_column: column(self.text_column.as_deref()),
            label_column: column(self.label_column.as_deref()),
        };
        let data = spam_runs::local_data(&self.data)?;
        // In windows of many rows: batches sorted by length, repeated texts computed once.
        Ok(spam_data::examples_rows(&data, &options)?.merged(spam_runs::CLASSIFY_WINDOW_ROWS))
    }
}

/// A column flag: a name or index, or the default rule when not given.
fn column(flag: Option<&str>) -> spam_data::Column {
    flag.map_or(spam_data::Column::Default, spam_data::Column::name_or_index)
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub threshold: crate::best_args::ThresholdArg,
    #[command(flatten)]
    pub precision: crate::precision_args::PrecisionArg,
    /// A run directory (or its model/ folder), or a transformers folder (`spam-cli export`).
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: EvalDataArgs,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(long, help = DeviceChoice::accepted(), default_value_t = DeviceChoice::default())]
    pub device: DeviceChoice,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum OutputFormat {
    Csv,
    Jsonl,
    /// Only with --output: parts as Parquet (the default there).
    Parquet,
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub threshold: crate::best_args::ThresholdArg,
    #[command(flatten)]
    pub precision: crate::precision_args::PrecisionArg,
    /// A run directory (or its model/ folder), or a transformers folder (`spam-cli export`).
    #[arg(long, value_name = "RUN_DIR")]
    pub model: PathBuf,
    /// Texts to classify (else lines on stdin, or --file). Stdin lines are classified and
    /// printed as they arrive; blank lines are skipped.
    pub texts: Vec<String>,
    /// CSV/TSV files, or Parquet (files, folders of shards, globs, or `hf:ORG/NAME[@REV]`),
    /// whose --text-column to classify; several are read in the order given.
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with = "texts")]
    pub file: Vec<PathBuf>,
    /// The text column (name or 0-based index); default `text`, then `Text`, else the only
    /// text column.
    #[arg(long, value_name = "COLUMN")]
    pub text_column: Option<String>,
    /// The file has no header row (then --text-column is an index).
    #[arg(long)]
    pub no_header: bool,
    /// Results: `csv` or `jsonl` on stdout (default csv); with --output, the parts' format
    /// (default parquet).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    #[arg(long, help = DeviceChoice::accepted(), default_value_t = DeviceChoice::default())]
    pub device: DeviceChoice,
    /// Write this task's share of --file as DIR/part-IIIII-of-NNNNN.parquet (one task of an
    /// array job: see --shard), with columns file, row, [id], label, score, prob_<class>.
    #[arg(long, value_name = "DIR", requires = "file")]
    pub output: Option<PathBuf>,
    /// This task's share: task I of N (from 0). Default: the scheduler's index
    /// (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID), else the whole input as 0/1.
    #[arg(long, value_name = "I/N", requires = "output")]
    pub shard: Option<spam_data::Shard>,
    /// How many tasks the array job has, where the scheduler does not say (a Kubernetes
    /// Indexed Job's completions).
    #[arg(long, value_name = "N", requires = "output", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: Option<u32>,
    /// A column copied into each part as `id` (name or 0-based index).
    #[arg(long, value_name = "COLUMN", requires = "output")]
    pub id_column: Option<String>,
    /// Redo a part that is already there (by default a part written by the same model and
    /// inputs makes the task a no-op, and one written by another job is an error).
    #[arg(long, requires = "output")]
    pub overwrite: bool,
}

impl ClassifyArgs {
    pub fn table_options(&self, file: &Path) -> spam_data::TableOptions {
        let col = column(self.text_column.as_deref());
        spam_data::TableOptions::for_file(file, col.clone(), col).with_header(!self.no_header)
    }

    /// The array-job task `--output` asks for, and what gave its shard (the flag, the
    /// scheduler's variable, or none).
    pub fn job(&self, out_dir: &Path) -> Result<(spam_runs::ClassifyJob, &'static str)> {
        let env = spam_runs::task_from_env(|name| std::env::var(name).ok())?;
        let (shard, source) =
            spam_runs::shard_for_task(self.shard, self.shards.map(|n| n as usize), env)?;
        let format = match self.format.unwrap_or(OutputFormat::Parquet) {
            OutputFormat::Parquet => spam_data::PartFormat::Parquet,
            OutputFormat::Csv => spam_data::PartFormat::Csv,
            OutputFormat::Jsonl => spam_data::PartFormat::Jsonl,
        };
        let job = spam_runs::ClassifyJob {
            model: self.model.clone(),
            inputs: self.file.clone(),
            text_column: column(self.text_column.as_deref()),
            id_column: self.id_column.as_deref().map(|c| column(Some(c))),
            no_header: self.no_header,
            out_dir: out_dir.to_path_buf(),
            format,
            shard,
            overwrite: self.overwrite,
        };
        Ok((job, source))
    }
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub precision: crate::precision_args::PrecisionArg,
    /// An OpenAI checkpoint folder, a .safetensors file (or its folder), or a hub id.
    #[arg(long, value_name = "PATH|ID")]
    pub weights: spam_runs::WeightsSource,
    /// The prompt text (GPT-2 tokens).
    #[arg(
        long,
        required_unless_present = "prompt_ids",
        conflicts_with = "prompt_ids"
    )]
    pub prompt: Option<String>,
    /// The prompt as token ids instead of text, e.g. `15496,11,995`.
    #[arg(long, value_delimiter = ',', value_name = "ID,ID,...")]
    pub prompt_ids: Option<Vec<i64>>,
    /// At most the model's context length (1024 for GPT-2).
    #[arg(long, default_value_t = 25)]
    pub max_new_tokens: usize,
    /// 0 is greedy (the chapter's check); above 0 samples.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long)]
    pub top_k: Option<i64>,
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
    /// Print ids and the top-10 logits of each step as JSON.
    #[arg(long)]
    pub json: bool,
    #[arg(long, help = DeviceChoice::accepted(), default_value_t = DeviceChoice::default())]
    pub device: DeviceChoice,
}
