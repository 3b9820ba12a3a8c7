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
//! `{ log_uniform = [1e-5, 1e-3] }`, `{ uniform = [0.0, 0.2] }`, `{ int_uniform = [1, 4] }`.
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::run_config::RunConfig;
use crate::sweep_keys::{DRAWS, apply, settings_difference};

/// A sweep: a base run configuration and the trials around it, in a stable order.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    base: RunConfig,
    space: Space,
    /// The file it was read from, for messages.
    source: Option<PathBuf>,
}

/// Which points a sweep visits.
#[derive(Debug, Clone, PartialEq)]
enum Space {
    /// Every combination of the keys' values (keys sorted, the last changing fastest).
    Grid(Vec<(String, Vec<Value>)>),
    /// `trials` points drawn from the keys' distributions by a stream of `seed`.
    Random {
        trials: usize,
        seed: u64,
        keys: Vec<(String, Draw)>,
    },
    /// Points given one by one (the experiments table's rows).
    Points(Vec<Vec<(String, Value)>>),
}

/// How `[sweep.random]` draws one key's value.
#[derive(Debug, Clone, PartialEq)]
enum Draw {
    /// One of the values, each as likely.
    Choice(Vec<Value>),
    /// A number in `[lo, hi)`.
    Uniform(f64, f64),
    /// A number in `[lo, hi)` whose logarithm is uniform.
    LogUniform(f64, f64),
    /// A whole number in `[lo, hi]`.
    IntUniform(i64, i64),
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
    /// `base`; every key and value is checked.
    pub fn from_points(base: RunConfig, points: Vec<Vec<(String, Value)>>) -> Result<Self> {
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
                for (k, _) in points.iter().flatten() {
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

    /// The folder name of trial `index`: `trial-003` (more digits past 1000 trials).
    pub fn trial_name(&self, index: usize) -> String {
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
            Space::Points(_) => bail!("a sweep of given points has no sweep file form"),
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
                for (k, v) in points.iter().flatten() {
                    values.push((k, vec![v.clone()]));
                }
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
            Space::Points(points) => points.get(index).cloned().unwrap_or_default(),
        }
    }
}

/// `[sweep]`'s content: exactly one of `grid` and `random`.
fn parse_space(mut sweep: toml::Table) -> Result<Space> {
    let grid = sweep.remove("grid");
    let random = sweep.remove("random");
    if let Some(other) = sweep.keys().next() {
        bail!("[sweep] has `{other}`: it takes one table, [sweep.grid] or [sweep.random]");
    }
    match (grid, random) {
        (Some(toml::Value::Table(g)), None) => parse_grid(g),
        (None, Some(toml::Value::Table(r))) => parse_random(r),
        (Some(_), Some(_)) => {
            bail!("[sweep] has both grid and random: a sweep is one or the other")
        }
        (None, None) => bail!("[sweep] is empty: add [sweep.grid] or [sweep.random]"),
        _ => bail!("sweep.grid and sweep.random must be tables of keys"),
    }
}

fn parse_grid(table: toml::Table) -> Result<Space> {
    let mut keys = Vec::new();
    for (key, value) in flatten(table, false)? {
        let toml::Value::Array(values) = value else {
            bail!("[sweep.grid] `{key}` must be a list of values, such as [1e-5, 5e-5]");
        };
        if values.is_empty() {
            bail!("[sweep.grid] `{key}` has no values: give at least one");
        }
        let values = values.iter().map(to_json).collect::<Result<Vec<_>>>()?;
        keys.push((key, values));
    }
    if keys.is_empty() {
        bail!("[sweep.grid] has no keys: add one, such as \"train.optimizer.lr\" = [1e-5, 5e-5]");
    }
    Ok(Space::Grid(keys))
}

fn parse_random(mut table: toml::Table) -> Result<Space> {
    let whole = |name: &str, v: Option<toml::Value>| -> Result<Option<u64>> {
        match v {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if n >= 0 => Ok(Some(n as u64)),
            Some(other) => {
                bail!("[sweep.random] `{name}` must be a whole number from 0, not {other}")
            }
        }
    };
    let trials = whole("trials", table.remove("trials"))?
        .context("[sweep.random] needs `trials`, the number of samples (e.g. trials = 20)")?;
    let trials = usize::try_from(trials).context("[sweep.random] `trials` is too large")?;
    let seed = whole("seed", table.remove("seed"))?.unwrap_or(0);
    let mut keys = Vec::new();
    for (key, value) in flatten(table, true)? {
        let draw = Draw::parse(&key, value)?;
        keys.push((key, draw));
    }
    if keys.is_empty() {
        bail!(
            "[sweep.random] has no keys: add one, such as \"train.optimizer.lr\" = {{ log_uniform = [1e-5, 1e-3] }}"
        );
    }
    Ok(Space::Random { trials, seed, keys })
}

/// The keys of `table` as dotted paths, in sorted order: a nested table (`[sweep.grid.train]`)
/// is opened, except, with `draws`, one that is a distribution (`{ uniform = [a, b] }`).
fn flatten(table: toml::Table, draws: bool) -> Result<Vec<(String, toml::Value)>> {
    fn walk(
        table: toml::Table,
        prefix: &str,
        draws: bool,
        out: &mut BTreeMap<String, toml::Value>,
    ) -> Result<()> {
        for (k, v) in table {
            let key = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(t)
                    if !(draws && t.keys().any(|k| DRAWS.contains(&k.as_str()))) =>
                {
                    walk(t, &key, draws, out)?;
                }
                leaf => {
                    if out.insert(key.clone(), leaf).is_some() {
                        bail!("sweep key `{key}` is given twice");
                    }
                }
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(table, "", draws, &mut out)?;
    Ok(out.into_iter().collect())
}

impl Draw {
    fn parse(key: &str, value: toml::Value) -> Result<Self> {
        let table = match value {
            toml::Value::Array(values) if values.is_empty() => {
                bail!("[sweep.random] `{key}` has no values to choose from: give at least one")
            }
            toml::Value::Array(values) => {
                let values = values.iter().map(to_json).collect::<Result<Vec<_>>>()?;
                return Ok(Self::Choice(values));
            }
            toml::Value::Table(t) => t,
            other => bail!(
                "[sweep.random] `{key}` = {other}: give a list to choose from or a range, such as \
                 {{ log_uniform = [1e-5, 1e-3] }}"
            ),
        };
        let (kind, range) = match table.into_iter().collect::<Vec<_>>().as_slice() {
            [(kind, toml::Value::Array(range))] if range.len() == 2 => {
                (kind.clone(), range.clone())
            }
            _ => bail!(
                "[sweep.random] `{key}`: a range is one of {} with [lo, hi], such as \
                 {{ uniform = [0.0, 0.1] }}",
                DRAWS.join(", ")
            ),
        };
        let bad = || {
            anyhow!(
                "[sweep.random] `{key}`: {kind} needs [lo, hi] with lo < hi{}",
                match kind.as_str() {
                    "log_uniform" => " and lo above 0",
                    "int_uniform" => " (whole numbers; lo = hi is allowed)",
                    _ => "",
                }
            )
        };
        let float = |v: &toml::Value| match v {
            toml::Value::Float(x) => Some(*x),
            toml::Value::Integer(n) => Some(*n as f64),
            _ => None,
        };
        match kind.as_str() {
            "int_uniform" => match (&range[0], &range[1]) {
                (toml::Value::Integer(lo), toml::Value::Integer(hi)) if lo <= hi => {
                    Ok(Self::IntUniform(*lo, *hi))
                }
                _ => Err(bad()),
            },
            "uniform" | "log_uniform" => {
                let (Some(lo), Some(hi)) = (float(&range[0]), float(&range[1])) else {
                    return Err(bad());
                };
                let log = kind == "log_uniform";
                if !(lo.is_finite() && hi.is_finite() && lo < hi) || (log && lo <= 0.0) {
                    return Err(bad());
                }
                Ok(if log {
                    Self::LogUniform(lo, hi)
                } else {
                    Self::Uniform(lo, hi)
                })
            }
            other => bail!(
                "[sweep.random] `{key}`: `{other}` is not a distribution; use one of {}",
                DRAWS.join(", ")
            ),
        }
    }

    /// The values to check a key with: every choice, or the range's ends.
    fn extremes(&self) -> Vec<Value> {
        match self {
            Self::Choice(values) => values.clone(),
            Self::Uniform(lo, hi) | Self::LogUniform(lo, hi) => {
                vec![Value::from(*lo), Value::from(*hi)]
            }
            Self::IntUniform(lo, hi) => vec![Value::from(*lo), Value::from(*hi)],
        }
    }

    /// The value at `u` in [0, 1). Real numbers keep 6 significant digits: short to read, and
    /// the same on every machine even where `ln`/`exp` differ in the last bit.
    fn value(&self, u: f64) -> Value {
        let round = |x: f64| format!("{x:.5e}").parse::<f64>().unwrap_or(x);
        match self {
            Self::Choice(values) => {
                let i = ((u * values.len() as f64) as usize).min(values.len().saturating_sub(1));
                values.get(i).cloned().unwrap_or(Value::Null)
            }
            Self::Uniform(lo, hi) => Value::from(round(lo + u * (hi - lo))),
            Self::LogUniform(lo, hi) => {
                let (a, b) = (lo.ln(), hi.ln());
                Value::from(round((a + u * (b - a)).exp()))
            }
            Self::IntUniform(lo, hi) => {
                let span = (*hi as i128 - *lo as i128 + 1) as f64;
                let n = (*lo as i128 + (u * span) as i128).min(*hi as i128);
                Value::from(n as i64)
            }
        }
    }

    fn to_toml(&self) -> Result<toml::Value> {
        let range = |kind: &str, lo: toml::Value, hi: toml::Value| {
            let mut t = toml::Table::new();
            t.insert(kind.into(), toml::Value::Array(vec![lo, hi]));
            toml::Value::Table(t)
        };
        Ok(match self {
            Self::Choice(values) => to_toml(&Value::Array(values.clone()))?,
            Self::Uniform(lo, hi) => range("uniform", (*lo).into(), (*hi).into()),
            Self::LogUniform(lo, hi) => range("log_uniform", (*lo).into(), (*hi).into()),
            Self::IntUniform(lo, hi) => range("int_uniform", (*lo).into(), (*hi).into()),
        })
    }
}

/// The `n`-th number of the SplitMix64 stream of `seed` (Steele, Lea and Flood's generator,
/// as in Java's `SplittableRandom`), as a float in [0, 1) from its top 53 bits. Written out
/// here so a trial's values never change with a dependency's version.
fn unit(seed: u64, n: u64) -> f64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn to_json(v: &toml::Value) -> Result<Value> {
    if let toml::Value::Datetime(d) = v {
        bail!("{d}: a date is not a run setting");
    }
    Ok(serde_json::to_value(v)?)
}

fn to_toml(v: &Value) -> Result<toml::Value> {
    toml::Value::try_from(v).with_context(|| format!("{v} has no TOML form"))
}

#[cfg(test)]
mod tests {
    use super::unit;

    /// The stream's first numbers for seed 0 are SplitMix64's published ones
    /// (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, ...), so the generator is the real one.
    #[test]
    fn splitmix64_is_the_published_stream() {
        let top53 = |x: u64| (x >> 11) as f64 / (1u64 << 53) as f64;
        assert_eq!(unit(0, 0), top53(0xE220_A839_7B1D_CDAF));
        assert_eq!(unit(0, 1), top53(0x6E78_9E6A_A1B9_65F4));
    }
}
