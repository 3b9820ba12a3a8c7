//! The command line: `spam-cli` and its subcommands, each with the arguments of its module.

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, Parser, Subcommand};

use crate::args::{ClassifyArgs, EvalArgs, GenerateArgs, PrepareArgs, TrainArgs};
use crate::experiments_args::ExperimentsArgs;
use crate::serve_args::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "spam-cli",
    version,
    about = "Fine-tune GPT-2 into a text classifier (SMS spam by default) on libtorch",
    after_help = "Start with `spam-cli train --help`. Data and weights come from `cargo xtask fetch`."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log progress details to stderr (or set RUST_LOG).
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse, balance and split a dataset; write train/validation/test CSVs.
    #[command(
        after_help = "Example:\n  spam-cli prepare --data datasets/sms_spam_collection/SMSSpamCollection --out data/"
    )]
    Prepare(PrepareArgs),
    /// Fine-tune GPT-2 and report accuracy (the chapter end to end by default).
    #[command(
        after_help = "Examples:\n  spam-cli train\n  spam-cli train --data SMSSpamCollection --weights random --out runs/random\n  spam-cli train --resume runs/random\n  spam-cli train --resume runs/latest --epochs 10"
    )]
    Train(Box<TrainArgs>),
    /// Accuracy, precision, recall, F1 and confusion matrix of a trained model on a file.
    #[command(
        after_help = "Example:\n  spam-cli eval --model runs/latest --data runs/latest/data/test.csv"
    )]
    Eval(EvalArgs),
    /// Classify texts (arguments, stdin lines, or a CSV/TSV column) as CSV or JSON lines.
    #[command(
        after_help = "Examples:\n  spam-cli classify --model runs/latest \"You won a prize! Call now\"\n  cat messages.txt | spam-cli classify --model runs/latest --format jsonl"
    )]
    Classify(ClassifyArgs),
    /// Generate text with a GPT-2 checkpoint (greedy by default: the chapter's weight check).
    #[command(
        after_help = "Example:\n  spam-cli generate --weights models/gpt2/124M --prompt \"Every effort moves you\" --json"
    )]
    Generate(GenerateArgs),
    /// Re-run rows of the chapter's experiments table and print it with our numbers.
    #[command(after_help = "Example:\n  spam-cli experiments --rows 1,16 --data SMSSpamCollection")]
    Experiments(ExperimentsArgs),
    /// Run a hyperparameter sweep (a grid or random samples of run settings), one trial or
    /// all; `sweep report DIR` ranks the finished trials.
    #[command(
        after_help = "Examples:\n  spam-cli sweep --config sweep.toml --out runs/sweep\n  spam-cli sweep --config sweep.toml --out runs/sweep --trial 3\n  spam-cli sweep report runs/sweep\n\nIn an array job (Slurm --array=0-N, a Kubernetes Indexed Job) each task runs the trial\nof its index (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX); finished trials are reused."
    )]
    Sweep(crate::sweep_args::SweepArgs),
    /// Serve a trained model over HTTP, with a web page to try it.
    #[command(after_help = "Example:\n  spam-cli serve --model runs/latest --addr 127.0.0.1:8000")]
    Serve(ServeArgs),
    /// Redraw loss.png and accuracy.png of a run from its log.jsonl.
    Plot(crate::tool_args::PlotArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(crate::tool_args::CompletionsArgs),
    /// Write a run's model as a transformers folder (weights, config, tokenizer, model card).
    #[command(
        after_help = "Example:\n  spam-cli export --model runs/latest --out exported/\n\nThe folder loads with AutoModelForSequenceClassification.from_pretrained and\nAutoTokenizer.from_pretrained; --model of eval, classify and serve also accepts it."
    )]
    Export(crate::export_args::ExportArgs),
}

/// The flags of `train` given on the command line (as `--name`), leaving out `except` (ids).
pub fn train_flags_given(matches: &ArgMatches, except: &[&str]) -> Vec<String> {
    let cli = Cli::command();
    let Some(train) = cli.find_subcommand("train") else {
        return Vec::new();
    };
    matches
        .ids()
        .filter(|id| !except.contains(&id.as_str()))
        .filter_map(|id| train.get_arguments().find(|a| a.get_id() == id))
        .filter(|a| matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
        .map(|a| {
            a.get_long()
                .map_or_else(|| a.get_id().to_string(), |l| format!("--{l}"))
        })
        .collect()
}
