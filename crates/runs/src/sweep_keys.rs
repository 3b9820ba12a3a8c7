//! A sweep's keys: dotted paths into a run configuration as `config.json` spells it
//! (`train.optimizer.lr`), set on a base configuration and read back by its own parser, with
//! errors that name the key and the settings it may have meant; and the first setting where two
//! run configurations differ (data files compared by where they are).

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use serde_json::Value;

use crate::run_config::RunConfig;

/// The distributions of `[sweep.random]`.
pub(crate) const DRAWS: [&str; 3] = ["log_uniform", "uniform", "int_uniform"];

/// `base` with each setting's dotted path set to its value, read back by the run config's own
/// parser. A path the config does not have is an error that lists the close ones.
pub(crate) fn apply(base: &RunConfig, settings: &[(String, Value)]) -> Result<RunConfig> {
    let mut tree = serde_json::to_value(base)?;
    for (key, value) in settings {
        set_path(&mut tree, key, value.clone())?;
    }
    let config: RunConfig =
        serde_json::from_value(tree).map_err(|e| anyhow!("the run config refuses it: {e}"))?;
    // A key the parser ignored (a typo in its last part) is not in what it reads back.
    let back = serde_json::to_value(&config)?;
    for (key, _) in settings {
        if lookup(&back, key).is_none() {
            bail!("{}", unknown_key(key, &back));
        }
    }
    Ok(config)
}

fn lookup<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(tree, |node, part| node.get(part))
}

fn set_path(tree: &mut Value, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((last, parents)) = parts.split_last() else {
        bail!("an empty sweep key");
    };
    let snapshot = tree.clone();
    let mut node = tree;
    for (depth, part) in parents.iter().enumerate() {
        let here = parts[..=depth].join(".");
        node = match node.get_mut(*part) {
            Some(Value::Null) => bail!(
                "`{here}` is not set in the run settings, so `{key}` has nothing to change: set \
                 `{here}` in full outside [sweep], or sweep `{here}` itself"
            ),
            Some(child @ Value::Object(_)) => child,
            Some(_) => bail!(
                "`{here}` is a single setting, so `{key}` is not a run setting: sweep `{here}` \
                 itself (a [sweep.random] range is one of {})",
                DRAWS.map(|d| format!("{{ {d} = [lo, hi] }}")).join(", ")
            ),
            None => bail!("{}", unknown_key(key, &snapshot)),
        };
    }
    match node {
        Value::Object(map) => {
            map.insert((*last).to_string(), value);
            Ok(())
        }
        _ => bail!("{}", unknown_key(key, &snapshot)),
    }
}

/// "`key` is not a run setting", with the settings it may have meant.
fn unknown_key(key: &str, tree: &Value) -> String {
    let mut all = Vec::new();
    paths(tree, "", &mut all);
    let last = key.rsplit('.').next().unwrap_or(key);
    let mut close: Vec<&String> = all
        .iter()
        .filter(|p| p.rsplit('.').next() == Some(last))
        .collect();
    if close.is_empty() {
        close = all.iter().filter(|p| edit_distance(p, key) <= 3).collect();
    }
    if close.is_empty() {
        // The settings beside it: those under the longest prefix the config has.
        let parts: Vec<&str> = key.split('.').collect();
        for n in (1..parts.len()).rev() {
            let prefix = format!("{}.", parts[..n].join("."));
            close = all.iter().filter(|p| p.starts_with(&prefix)).collect();
            if !close.is_empty() {
                break;
            }
        }
    }
    if close.is_empty() {
        close = all
            .iter()
            .filter(|p| !p.contains('.') || p.matches('.').count() == 1)
            .collect();
    }
    let shown: Vec<String> = close.iter().take(12).map(|p| format!("`{p}`")).collect();
    format!(
        "`{key}` is not a run setting (keys are paths into config.json, such as \
         `train.optimizer.lr`); {}: {}",
        if close.len() == 1 {
            "did you mean"
        } else {
            "close ones"
        },
        shown.join(", ")
    )
}

/// Every path of `tree` down to its leaves (and the objects on the way).
fn paths(tree: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = tree {
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_object() {
                out.push(path.clone());
                paths(v, &path, out);
            } else {
                out.push(path);
            }
        }
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The first setting where two run configs differ (`train.epochs: 3 here, 5 there`), `None`
/// when they are the same run: data files compared by where they are, not how their path is
/// spelled, and what a hub id resolved to (which a run adds) left out.
pub(crate) fn settings_difference(a: &RunConfig, b: &RunConfig) -> Option<String> {
    let tree = |c: &RunConfig| {
        let mut c = same_files(c.clone());
        c.model.weights_resolved = None;
        serde_json::to_value(c).unwrap_or(Value::Null)
    };
    let (at, a, b) = differences(&tree(a), &tree(b)).into_iter().next()?;
    Some(format!("`{at}` is {a} here, {b} there"))
}

/// Every path down to a leaf where `a` and `b` differ, with `a`'s and `b`'s value there, in
/// sorted order; a key that one side lacks is null on that side.
pub(crate) fn differences(a: &Value, b: &Value) -> Vec<(String, Value, Value)> {
    fn walk(a: &Value, b: &Value, at: &str, out: &mut Vec<(String, Value, Value)>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    let get = |m: &serde_json::Map<String, Value>| {
                        m.get(k).unwrap_or(&Value::Null).clone()
                    };
                    walk(&get(x), &get(y), &path, out);
                }
            }
            _ if a == b => {}
            _ => out.push((at.to_string(), a.clone(), b.clone())),
        }
    }
    let mut out = Vec::new();
    walk(a, b, "", &mut out);
    out
}

/// `config` with its data files named by their canonical paths, so that a run with
/// `--data SMSSpamCollection` is the same run as one with the file's absolute path (a file
/// that cannot be found keeps its name as written).
pub(crate) fn same_files(mut config: RunConfig) -> RunConfig {
    let canonical = |p: &mut PathBuf| {
        if let Ok(c) = std::fs::canonicalize(&*p) {
            *p = c;
        }
    };
    let d = &mut config.data;
    canonical(&mut d.source);
    for p in [&mut d.train_file, &mut d.validation_file, &mut d.test_file]
        .into_iter()
        .flatten()
    {
        canonical(p);
    }
    config
}
