//! Arguments of `plot` and `completions`, `train --print-config`, and what `--help` shows of
//! defaults and accepted values. Train flags are `Option`s (a `--config` file is not
//! overridden by defaults), so their defaults are written into the help from
//! `RunConfig::default()` rather than made clap defaults.

use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser, ValueParser};
use clap::{Arg, Args, Command};
use spam_model::Precision;
use spam_model::{ModelSize, RandomInit, TokenPosition};
use spam_runs::RunConfig;
use spam_train::{CachePrecision, DataOrder, Engine};

/// `spam-cli plot RUN_DIR`.
#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A run directory (or the staging folder of a run in progress or interrupted).
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

/// `spam-cli completions SHELL`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Train flags that live outside `TrainArgs`.
#[derive(Args, Debug, Default)]
pub struct TrainExtra {
    /// Print the effective settings (defaults, then --config, then flags) as TOML that
    /// --config reads back, and exit without training.
    #[arg(long)]
    pub print_config: bool,
}

/// A closed set of values: (name, aliases also accepted).
type Values = &'static [(&'static str, &'static [&'static str])];

/// The number formats of `--precision` and `--cache-precision`.
const PRECISIONS: Values = &[("fp32", &["f32", "float32"]), ("bf16", &["bfloat16"])];

/// The closed sets, by argument id, with the type each value parses into.
fn closed_sets(cmd: Command) -> Command {
    let cmd =
        closed::<spam_data::SourceKind>(cmd, "format", &[("sms", &[]), ("table", &["csv", "tsv"])]);
    let cmd = closed::<spam_data::ParseMode>(
        cmd,
        "parse_mode",
        &[
            (
                "pandas",
                &[
                    "pandas-compatible",
                    "pandas_compatible",
                    "reference",
                    "chapter",
                ],
            ),
            ("lines", &["line"]),
        ],
    );
    let cmd = closed::<ModelSize>(
        cmd,
        "size",
        &[
            ("124M", &["124m", "124", "small", "gpt2"]),
            ("355M", &["355m", "355", "medium"]),
            ("774M", &["774m", "774", "large"]),
            ("1558M", &["1558m", "1558", "1.5b", "xl"]),
        ],
    );
    let cmd = closed::<RandomInit>(cmd, "init", &[("chapter", &[]), ("gpt2", &["gpt-2"])]);
    let cmd = closed::<DataOrder>(cmd, "data_order", &[("chapter", &[]), ("seeded", &[])]);
    let cmd = closed::<TokenPosition>(
        cmd,
        "token_position",
        &[
            ("last", &[]),
            ("first", &[]),
            ("flexible", &["last_non_padding"]),
            ("pooled", &["mean", "average", "average_embeddings"]),
        ],
    );
    let cmd = closed::<Engine>(
        cmd,
        "engine",
        &[("auto", &[]), ("plain", &[]), ("cached", &[])],
    );
    let cmd = closed::<CachePrecision>(cmd, "cache_precision", PRECISIONS);
    closed::<Precision>(cmd, "precision", PRECISIONS)
}

/// Gives argument `id` (where the command has it) the possible values `values`, parsed into
/// `T` as before: `--help` and shell completions list them.
fn closed<T>(cmd: Command, id: &str, values: Values) -> Command
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let possible = values
        .iter()
        .map(|(name, aliases)| PossibleValue::new(*name).aliases(aliases.iter().copied()));
    let parser = PossibleValuesParser::new(possible).try_map(|s| s.parse::<T>());
    // Only an argument that parses into `T`: ids repeat across subcommands with other types
    // (`classify --format` is the output format, `eval --format` a string).
    let wanted = ValueParser::new(parser.clone()).type_id();
    if !cmd
        .get_arguments()
        .any(|a| a.get_id() == id && a.get_value_parser().type_id() == wanted)
    {
        return cmd;
    }
    cmd.mut_arg(id, |a| a.value_parser(parser).ignore_case(true))
}

/// The default of each train flag, as the key of `RunConfig` it sets (dotted path).
const DEFAULT_KEYS: &[(&str, &str)] = &[
    ("format", "data.format"),
    ("parse_mode", "data.parse_mode"),
    ("delimiter", "data.delimiter"),
    ("split_seed", "data.split_seed"),
    ("padding", "data.padding"),
    ("size", "model.size"),
    ("epochs", "train.epochs"),
    ("batch_size", "train.batch_size"),
    ("lr", "train.optimizer.lr"),
    ("weight_decay", "train.optimizer.weight_decay"),
    ("seed", "train.seed"),
    ("init", "model.init"),
    ("data_order", "train.data_order"),
    ("token_position", "model.token_position"),
    ("trainable", "model.trainable"),
    ("dropout", "model.dropout"),
    ("eval_freq", "train.eval_freq"),
    ("eval_iter", "train.eval_iter"),
    ("grad_accum", "train.grad_accum_steps"),
    ("engine", "train.engine"),
    ("precision", "train.precision"),
    ("cache_precision", "train.cache_precision"),
    ("device", "model.device"),
];

/// The default of `key` (dotted) in `RunConfig::default()`, as its TOML spelling.
pub fn default_of(key: &str) -> Option<String> {
    let value = serde_json::to_value(RunConfig::default()).ok()?;
    let found = key.split('.').try_fold(&value, |v, k| v.get(k))?;
    Some(match found {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Appends `[default: X]` to the help of each flag with a default in `RunConfig`.
fn with_defaults(cmd: Command) -> Command {
    DEFAULT_KEYS.iter().fold(cmd, |cmd, (id, key)| {
        let Some(default) = default_of(key) else {
            return cmd;
        };
        if !cmd.get_arguments().any(|a| a.get_id() == *id) {
            return cmd;
        }
        cmd.mut_arg(*id, |a: Arg| {
            let help = a.get_help().map(ToString::to_string).unwrap_or_default();
            let sep = if help.is_empty() { "" } else { " " };
            a.help(format!("{help}{sep}[default: {default}]"))
        })
    })
}

/// The command line with accepted values everywhere, and train defaults in `train` and
/// `prepare` (`experiments` takes each row's own settings).
pub fn annotate(cmd: Command) -> Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names.into_iter().fold(cmd, |cmd, name| {
        let defaults = matches!(name.as_str(), "train" | "prepare");
        cmd.mut_subcommand(name, |sub| {
            let sub = closed_sets(sub);
            if defaults { with_defaults(sub) } else { sub }
        })
    })
}

/// The TOML of `config`, as `--config` reads it.
pub fn config_toml(config: &RunConfig) -> anyhow::Result<String> {
    Ok(toml::to_string(config)?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_default_key_exists() {
        for (id, key) in super::DEFAULT_KEYS {
            assert!(super::default_of(key).is_some(), "{id}: {key}");
        }
        assert_eq!(super::default_of("train.epochs").as_deref(), Some("5"));
    }
}
