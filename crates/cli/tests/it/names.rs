//! Every setting with named values, against its table (`Named::NAMES`, beside the type in its
//! library): `--help` of each command lists the table's names (as clap's possible values for a
//! closed set, in the table's order), and every alias gives what its name gives, through
//! `FromStr` and through the flag.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::fmt::{Debug, Display};
use std::process::Command;
use std::str::FromStr;

use spam_data::{Delimiter, Named, Padding, ParseMode, SourceKind};
use spam_model::{DeviceChoice, ModelSize, Precision, RandomInit, TokenPosition, Trainable};
use spam_runs::WeightsSource;
use spam_train::{BestMetric, CachePrecision, ClassWeights, DataOrder, Engine};

/// One type's table, as text: (name, aliases) in order, and the forms beside the names.
struct Table {
    names: Vec<(&'static str, &'static [&'static str])>,
    forms: &'static [&'static str],
}

/// `T`'s table, after checking it against `FromStr` and `Display`: each name parses to its
/// value, and each alias to the same value; a closed set's values display as their names
/// (not every open one: `Trainable` writes LoRA with its rank and alpha).
fn table<T>() -> Table
where
    T: Named + FromStr + Display,
    T::Err: Debug,
{
    for (value, name, aliases) in T::NAMES {
        assert_eq!(&name.parse::<T>().unwrap(), value, "{name:?}");
        if T::FORMS.is_empty() {
            assert_eq!(value.to_string(), *name, "{value:?}");
        }
        for alias in *aliases {
            assert_eq!(&alias.parse::<T>().unwrap(), value, "{alias:?} of {name:?}");
        }
    }
    assert!(!T::NAMES.is_empty());
    Table {
        names: T::NAMES.iter().map(|(_, n, a)| (*n, *a)).collect(),
        forms: T::FORMS,
    }
}

/// (command, flag, table) for every flag whose type has named values.
fn flags() -> Vec<(&'static str, &'static str, Table)> {
    let mut out = Vec::new();
    for command in ["train", "prepare", "experiments"] {
        out.push((command, "--format", table::<SourceKind>()));
        out.push((command, "--parse-mode", table::<ParseMode>()));
        out.push((command, "--delimiter", table::<Delimiter>()));
        out.push((command, "--padding", table::<Padding>()));
    }
    for command in ["train", "experiments"] {
        out.push((command, "--init", table::<RandomInit>()));
        out.push((command, "--device", table::<DeviceChoice>()));
    }
    for command in ["eval", "classify", "generate", "serve"] {
        out.push((command, "--precision", table::<Precision>()));
        out.push((command, "--device", table::<DeviceChoice>()));
    }
    out.push(("eval", "--parse-mode", table::<ParseMode>()));
    for (flag, t) in [
        ("--size", table::<ModelSize>()),
        ("--data-order", table::<DataOrder>()),
        ("--token-position", table::<TokenPosition>()),
        ("--trainable", table::<Trainable>()),
        ("--engine", table::<Engine>()),
        ("--precision", table::<Precision>()),
        ("--cache-precision", table::<CachePrecision>()),
        ("--metric-for-best", table::<BestMetric>()),
        ("--class-weights", table::<ClassWeights>()),
        ("--weights", table::<WeightsSource>()),
    ] {
        out.push(("train", flag, t));
    }
    out
}

/// Runs the built `spam-cli` with `args`: (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spam-cli"))
        .args(args)
        .output()
        .expect("run spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The help of `flag` in `help`: its `--flag <` line and the lines up to the next option's.
fn help_of(help: &str, flag: &str) -> String {
    let start = help
        .find(&format!("{flag} <"))
        .unwrap_or_else(|| panic!("no {flag} in:\n{help}"));
    let mut lines = help[start..].lines();
    let first = lines.next().unwrap_or_default();
    let rest = lines.take_while(|l| !l.trim_start().starts_with('-'));
    std::iter::once(first)
        .chain(rest)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn help_lists_each_tables_names() {
    let mut helps: HashMap<&str, String> = HashMap::new();
    let mut closed = 0;
    for (command, flag, table) in flags() {
        let help = helps.entry(command).or_insert_with(|| {
            let (code, help, stderr) = run(&[command, "--help"]);
            assert_eq!(code, 0, "{command} --help: {stderr}");
            help
        });
        let text = &help_of(help, flag);
        let names: Vec<&str> = table.names.iter().map(|(n, _)| *n).collect();
        if table.forms.is_empty() {
            // A closed set: clap's possible values are the table's names, in order.
            closed += 1;
            let want = format!("[possible values: {}]", names.join(", "));
            assert!(
                text.contains(&want),
                "{command} {flag}: no {want} in {text:?}"
            );
        } else {
            // Names beside open forms: the help text names each of them, and each form
            // written as code (`fixed:N`; the others are prose, `a hub id`).
            for name in &names {
                assert!(
                    text.contains(name),
                    "{command} {flag}: no {name} in {text:?}"
                );
            }
            for form in table.forms.iter().filter(|f| f.starts_with('`')) {
                let form = form.trim_matches('`');
                assert!(
                    text.contains(form),
                    "{command} {flag}: no {form} in {text:?}"
                );
            }
            assert!(
                !text.contains("possible values"),
                "{command} {flag}: {text:?}"
            );
        }
    }
    assert!(closed >= 10, "{closed} closed sets");
}

#[test]
fn each_alias_gives_what_its_name_gives() {
    let settings = |flag: &str, value: &str| {
        let args = [
            "train",
            "--print-config",
            "--data",
            "/nonexistent/data.tsv",
            "--weights",
            "random",
            flag,
            value,
        ];
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{flag} {value}: {stderr}");
        stdout
    };
    let train: Vec<_> = flags()
        .into_iter()
        // Every train flag except --weights, whose name is the one --print-config needs.
        .filter(|(command, flag, _)| *command == "train" && *flag != "--weights")
        .collect();
    // One thread a flag: each spelling is a run of the binary.
    std::thread::scope(|scope| {
        for (_, flag, table) in &train {
            scope.spawn(move || {
                for (name, aliases) in &table.names {
                    let want = settings(flag, name);
                    for alias in *aliases {
                        assert_eq!(settings(flag, alias), want, "{flag} {alias} (for {name})");
                    }
                    let upper = name.to_ascii_uppercase();
                    if table.forms.is_empty() && upper != *name {
                        // A closed set's names match in any case on the command line.
                        assert_eq!(settings(flag, &upper), want, "{flag} {upper}");
                    }
                }
            });
        }
    });
}
