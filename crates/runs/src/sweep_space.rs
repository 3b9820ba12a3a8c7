//! A sweep file's `[sweep]` table: the points a sweep visits (a grid, random draws or given
//! points), read from TOML and written back, and the number stream random draws come from.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::sweep_keys::DRAWS;

/// Which points a sweep visits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Space {
    /// Every combination of the keys' values (keys sorted, the last changing fastest).
    Grid(Vec<(String, Vec<Value>)>),
    /// `trials` points drawn from the keys' distributions by a stream of `seed`.
    Random {
        trials: usize,
        seed: u64,
        keys: Vec<(String, Draw)>,
    },
    /// Points given one by one (the experiments table's rows).
    Points(Vec<Point>),
}

/// One trial of a sweep of given points: its settings and, optionally, its folder's name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Point {
    /// The folder name of its run (`row-5`); without one, `trial-NNN`.
    pub name: Option<String>,
    /// The settings on the base, as (dotted key, value).
    pub settings: Vec<(String, Value)>,
}

/// What a point's `name` may not be: the files the sweep folder holds beside the trials.
pub(crate) const RESERVED_NAMES: [&str; 4] = ["sweep.toml", "sweep.csv", "sweep.md", "best"];

/// How `[sweep.random]` draws one key's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Draw {
    /// One of the values, each as likely.
    Choice(Vec<Value>),
    /// A number in `[lo, hi)`.
    Uniform(f64, f64),
    /// A number in `[lo, hi)` whose logarithm is uniform.
    LogUniform(f64, f64),
    /// A whole number in `[lo, hi]`.
    IntUniform(i64, i64),
}

/// `[sweep]`'s content: exactly one of `grid` and `random`.
pub(crate) fn parse_space(mut sweep: toml::Table) -> Result<Space> {
    let grid = sweep.remove("grid");
    let random = sweep.remove("random");
    let points = sweep.remove("points");
    if let Some(other) = sweep.keys().next() {
        bail!(
            "[sweep] has `{other}`: it takes one of [sweep.grid], [sweep.random] and \
             [[sweep.points]]"
        );
    }
    match (grid, random, points) {
        (Some(toml::Value::Table(g)), None, None) => parse_grid(g),
        (None, Some(toml::Value::Table(r)), None) => parse_random(r),
        (None, None, Some(toml::Value::Array(p))) => parse_points(p),
        (None, None, Some(_)) => {
            bail!("sweep.points must be a list of tables: write each as [[sweep.points]]")
        }
        (None, None, None) => {
            bail!("[sweep] is empty: add [sweep.grid], [sweep.random] or [[sweep.points]]")
        }
        (g, r, p)
            if [g.is_some(), r.is_some(), p.is_some()]
                .iter()
                .filter(|x| **x)
                .count()
                > 1 =>
        {
            bail!("[sweep] has more than one of grid, random and points: a sweep is one of them")
        }
        _ => bail!("sweep.grid and sweep.random must be tables of keys"),
    }
}

/// `[[sweep.points]]`: each a table of keys (as in a grid, one value each) and an optional
/// `name`.
fn parse_points(list: Vec<toml::Value>) -> Result<Space> {
    let mut points = Vec::new();
    for (index, item) in list.into_iter().enumerate() {
        let toml::Value::Table(mut table) = item else {
            bail!("sweep.points[{index}] is not a table: write each point as [[sweep.points]]");
        };
        let name = match table.remove("name") {
            None => None,
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => bail!("sweep.points[{index}] `name` must be text, not {other}"),
        };
        let settings = flatten(table, false)?
            .iter()
            .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
            .collect::<Result<Vec<_>>>()?;
        points.push(Point { name, settings });
    }
    if points.is_empty() {
        bail!("sweep.points is empty: give at least one [[sweep.points]]");
    }
    Ok(Space::Points(points))
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
    pub(crate) fn extremes(&self) -> Vec<Value> {
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
    pub(crate) fn value(&self, u: f64) -> Value {
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

    pub(crate) fn to_toml(&self) -> Result<toml::Value> {
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
pub(crate) fn unit(seed: u64, n: u64) -> f64 {
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

pub(crate) fn to_toml(v: &Value) -> Result<toml::Value> {
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
