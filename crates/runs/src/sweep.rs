//! Hyperparameter sweeps: a run configuration (what `train --config` reads) plus a `[sweep]`
//! table of the settings to vary, as a grid or as random samples.
//!
//! ```toml
//! [train]
//! epochs = 3
//!
//! [sweep.grid]
//! "train.optimizer.lr" = [1e-5, 5e-5, 1e-4]
//! "model.trainable" = ["last_block", "all"]
//! ```
//!
//! or `[sweep.random]` with `trials`, `seed` and per key a list to choose from or a range:
//! `{ log_uniform = [1e-5, 1e-3] }`, `{ uniform = [0.0, 0.2] }`, `{ int_uniform = [1, 4] }`,
//! or `[[sweep.points]]`, the trials one by one (a table of runs to compare, such as the
//! chapter's experiments table), each with an optional `name` for its folder:
//!
//! ```toml
//! [[sweep.points]]
//! name = "baseline"
//!
//! [[sweep.points]]
//! name = "all-layers"
//! "model.trainable" = "all"
//! ```
//!
//! A key is a dotted path into the run configuration as `config.json` spells it
//! (`train.optimizer.lr`, `model.trainable`, `data.padding`); a trial is made by writing the
//! base configuration as JSON, setting each path and reading it back, so every run setting can
//! be swept and every value is checked by the configuration's own parser. Every key and value
//! is checked when the sweep is read, not when its trial comes.
//!
//! Trial `i` is the same point whoever asks and whenever: a grid is the cartesian product
//! with keys in sorted order (the last key changing fastest), random samples come from a
//! SplitMix64 stream of `seed` written out here (not a crate's generator, whose stream may
//! change with an upgrade), so the processes of an array job agree on what each trial is.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::run_config::RunConfig;
use crate::sweep_keys::{apply, settings_difference};
pub use crate::sweep_space::Point;
use crate::sweep_space::{RESERVED_NAMES, Space, parse_space, to_toml, unit};

/// A sweep: a base run configuration and the trials around it, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    base: RunConfig,
    space: Space,
    /// The file it was read from, for messages.
    source: Option<PathBuf>,
}

/// One point of a sweep: its settings and the run configuration they make.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Its place in the sweep's order (0-based).
    pub index: usize,
    /// The swept keys and this trial's values, keys in the sweep's order.
    pub settings: Vec<(String, Value)>,
    /// The base configuration with the settings applied.
    pub config: RunConfig,
}

impl Trial {
    /// The settings as `key=value, key=value` (strings without quotes).
    pub fn describe(&self) -> String {
        describe(&self.settings)
    }
}

/// `key=value, ...` of `settings`, strings without quotes.
pub(crate) fn describe(settings: &[(String, Value)]) -> String {
    let parts: Vec<String> = settings
        .iter()
        .map(|(k, v)| format!("{k}={}", value_text(v)))
        .collect();
    parts.join(", ")
}

/// A setting's value as a table cell shows it: a string without quotes, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Sweep {
    /// Reads a sweep file (see the module's documentation); errors name the file and the key.
    pub fn read(path: &Path) -> Result<Self> {
        // A regular file only: a FIFO or a device would block or never end.
        let bytes = spam_data::read_file(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
        let mut sweep = Self::parse(&text)
            .with_context(|| format!("{} is not a valid sweep", path.display()))?;
        sweep.source = Some(path.to_path_buf());
        Ok(sweep)
    }

    /// The file the sweep was read from, if it was.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// A sweep from the text of a sweep file: a run configuration plus its `[sweep]` table.
    pub fn parse(text: &str) -> Result<Self> {
        let mut doc: toml::Table = text.parse()?;
        let sweep = match doc.remove("sweep") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => bail!("`sweep` must be a table: [sweep.grid] or [sweep.random]"),
            None => bail!(
                "there is no [sweep] table: add [sweep.grid] (key = [values]) or [sweep.random] \
                 (trials, seed, key = [values] or {{ log_uniform = [lo, hi] }})"
            ),
        };
        let base: RunConfig = toml::Value::Table(doc)
            .try_into()
            .context("the run settings (everything outside [sweep]) are not a valid run config")?;
        Self::new(base, parse_space(sweep)?)
    }

    /// A sweep that visits `points` one by one, each a list of (key, value) settings on
    /// `base` and an optional folder name; every key, value and name is checked.
    pub fn from_points(base: RunConfig, points: Vec<Point>) -> Result<Self> {
        Self::new(base, Space::Points(points))
    }

    fn new(base: RunConfig, space: Space) -> Result<Self> {
        let sweep = Self {
            base,
            space,
            source: None,
        };
        sweep.check()?;
        Ok(sweep)
    }

    /// The same trials on another base configuration (the data flags of the command line
    /// applied to the file's settings); every key and value is checked again.
    pub fn with_base(&self, base: RunConfig) -> Result<Self> {
        let mut sweep = Self::new(base, self.space.clone())?;
        sweep.source.clone_from(&self.source);
        Ok(sweep)
    }

    /// The configuration the trials change.
    pub fn base(&self) -> &RunConfig {
        &self.base
    }

    /// The swept keys, in the order of a trial's settings.
    pub fn keys(&self) -> Vec<String> {
        match &self.space {
            Space::Grid(keys) => keys.iter().map(|(k, _)| k.clone()).collect(),
            Space::Random { keys, .. } => keys.iter().map(|(k, _)| k.clone()).collect(),
            Space::Points(points) => {
                let mut keys: Vec<String> = Vec::new();
                for (k, _) in points.iter().flat_map(|p| &p.settings) {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
                keys
            }
        }
    }

    /// How many trials the sweep has.
    pub fn trial_count(&self) -> usize {
        match &self.space {
            // Checked when the sweep was made: the product fits.
            Space::Grid(keys) => keys.iter().map(|(_, v)| v.len()).product(),
            Space::Random { trials, .. } => *trials,
            Space::Points(points) => points.len(),
        }
    }

    /// The folder name of trial `index`: its point's name, else `trial-003` (more digits past
    /// 1000 trials).
    pub fn trial_name(&self, index: usize) -> String {
        if let Space::Points(points) = &self.space
            && let Some(name) = points.get(index).and_then(|p| p.name.clone())
        {
            return name;
        }
        let width = self
            .trial_count()
            .saturating_sub(1)
            .to_string()
            .len()
            .max(3);
        format!("trial-{index:0width$}")
    }

    /// Trial `index` (0-based) of the sweep's stable order.
    pub fn trial(&self, index: usize) -> Result<Trial> {
        let count = self.trial_count();
        if index >= count {
            bail!(
                "there is no trial {index}: the sweep has {count} trials, 0 to {}",
                count.saturating_sub(1)
            );
        }
        let settings = self.settings(index);
        let config = apply(&self.base, &settings)
            .with_context(|| format!("trial {index} ({})", describe(&settings)))?;
        Ok(Trial {
            index,
            settings,
            config,
        })
    }

    /// The sweep as a sweep file that [`Sweep::parse`] reads back as this sweep (the base
    /// configuration in full, then `[sweep]`).
    pub fn to_toml(&self) -> Result<String> {
        let toml::Value::Table(mut doc) = toml::Value::try_from(&self.base)? else {
            bail!("the run config did not serialize as a table");
        };
        let mut table = toml::Table::new();
        let name = match &self.space {
            Space::Grid(keys) => {
                for (k, values) in keys {
                    table.insert(k.clone(), to_toml(&Value::Array(values.clone()))?);
                }
                "grid"
            }
            Space::Random { trials, seed, keys } => {
                table.insert(
                    "trials".into(),
                    toml::Value::Integer(i64::try_from(*trials)?),
                );
                table.insert("seed".into(), toml::Value::Integer(i64::try_from(*seed)?));
                for (k, draw) in keys {
                    table.insert(k.clone(), draw.to_toml()?);
                }
                "random"
            }
            Space::Points(points) => {
                let mut list = Vec::new();
                for p in points {
                    let mut t = toml::Table::new();
                    if let Some(name) = &p.name {
                        t.insert("name".into(), toml::Value::String(name.clone()));
                    }
                    for (k, v) in &p.settings {
                        t.insert(k.clone(), to_toml(v).with_context(|| format!("`{k}`"))?);
                    }
                    list.push(toml::Value::Table(t));
                }
                let mut sweep = toml::Table::new();
                sweep.insert("points".into(), toml::Value::Array(list));
                doc.insert("sweep".into(), toml::Value::Table(sweep));
                return Ok(toml::to_string(&doc)?);
            }
        };
        let mut sweep = toml::Table::new();
        sweep.insert(name.into(), toml::Value::Table(table));
        doc.insert("sweep".into(), toml::Value::Table(sweep));
        Ok(toml::to_string(&doc)?)
    }

    /// Whether `other` has the same trials on the same base, data files compared by where
    /// they are (not how their path is spelled); `Err` says the first difference.
    pub(crate) fn same_as(&self, other: &Sweep) -> std::result::Result<(), String> {
        if self.keys() != other.keys() {
            return Err(format!(
                "the swept keys differ: {} here, {} there",
                self.keys().join(", "),
                other.keys().join(", ")
            ));
        }
        if self.space != other.space {
            return Err("the swept values or the sampling differ".into());
        }
        settings_difference(&self.base, &other.base)
            .map_or(Ok(()), |d| Err(format!("the run settings differ: {d}")))
    }

    /// Checks every key and value on the base, and what the order needs.
    fn check(&self) -> Result<()> {
        let keys = self.keys();
        if keys.iter().any(|k| k == "train.metric_for_best") {
            bail!(
                "`train.metric_for_best` cannot be swept: the report ranks the trials by it, so \
                 set it outside [sweep]"
            );
        }
        let mut values: Vec<(&str, Vec<Value>)> = Vec::new();
        match &self.space {
            Space::Grid(keys) => {
                let mut count: usize = 1;
                for (k, v) in keys {
                    count = count.checked_mul(v.len()).with_context(|| {
                        format!("the grid has too many trials (past {})", usize::MAX)
                    })?;
                    values.push((k, v.clone()));
                }
            }
            Space::Random { keys, .. } => {
                values.extend(keys.iter().map(|(k, d)| (k.as_str(), d.extremes())));
            }
            Space::Points(points) => {
                for (k, v) in points.iter().flat_map(|p| &p.settings) {
                    values.push((k, vec![v.clone()]));
                }
                self.check_names()?;
            }
        }
        for (key, candidates) in values {
            for value in candidates {
                apply(&self.base, &[(key.to_string(), value.clone())])
                    .and_then(|c| Ok(c.train.validate()?))
                    .with_context(|| format!("sweep key `{key}` = {value}"))?;
            }
        }
        if self.trial_count() == 0 {
            bail!("the sweep has no trials");
        }
        Ok(())
    }

    /// The settings of trial `index` (below the count).
    fn settings(&self, index: usize) -> Vec<(String, Value)> {
        match &self.space {
            Space::Grid(keys) => {
                let mut rest = index;
                let mut out: Vec<(String, Value)> = keys
                    .iter()
                    .rev()
                    .map(|(k, values)| {
                        let v = values[rest % values.len()].clone();
                        rest /= values.len();
                        (k.clone(), v)
                    })
                    .collect();
                out.reverse();
                out
            }
            Space::Random { seed, keys, .. } => keys
                .iter()
                .enumerate()
                .map(|(j, (k, draw))| {
                    let n = (index as u64)
                        .wrapping_mul(keys.len() as u64)
                        .wrapping_add(j as u64);
                    (k.clone(), draw.value(unit(*seed, n)))
                })
                .collect(),
            Space::Points(points) => points
                .get(index)
                .map(|p| p.settings.clone())
                .unwrap_or_default(),
        }
    }

    /// The trials' folder names are distinct, and a point's name is a plain folder name that
    /// is not one of the sweep folder's own files.
    fn check_names(&self) -> Result<()> {
        let mut seen = std::collections::BTreeMap::new();
        for index in 0..self.trial_count() {
            let name = self.trial_name(index);
            let plain = !name.is_empty()
                && !name.starts_with('.')
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !plain {
                bail!(
                    "point {index}'s name `{name}` is not a plain folder name: use letters, digits,                      `-`, `_` and `.` (not first)"
                );
            }
            if RESERVED_NAMES.contains(&name.as_str()) {
                bail!(
                    "point {index}'s name `{name}` is a file of the sweep folder: choose another"
                );
            }
            if let Some(first) = seen.insert(name.clone(), index) {
                bail!("points {first} and {index} have the same folder name `{name}`");
            }
        }
        Ok(())
    }
}
