//! What a sweep folder holds so far: each trial finished, started or not, ranked by the run's
//! metric for the best model, written as `sweep.csv` and `sweep.md`, with the link `best` to
//! the winner.
//!
//! ```text
//! DIR/
//!   sweep.toml      the sweep (its base settings in full), written once by the first trial
//!   trial-000/      an ordinary run folder per trial (config.json, metrics.json, model/, ...)
//!   trial-001/
//!   sweep.csv       one row per finished trial, best first
//!   sweep.md        the same as a table, and the trials still missing
//!   best -> trial-001
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use spam_train::{BestMetric, Report};

use crate::sweep::{Sweep, Trial, value_text};
use crate::sweep_keys::settings_difference;

/// The sweep's definition in its folder.
pub const SWEEP_FILE: &str = "sweep.toml";
/// The ranked finished trials, as CSV.
pub const SWEEP_CSV: &str = "sweep.csv";
/// The ranked finished trials and the missing ones, as Markdown.
pub const SWEEP_MD: &str = "sweep.md";
/// The link to the best trial's run folder.
pub const BEST_LINK: &str = "best";

/// A sweep folder's trials, ranked.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    /// The sweep folder.
    pub dir: PathBuf,
    /// How many trials the sweep has.
    pub trial_count: usize,
    /// The swept keys, in the order of each trial's settings.
    pub keys: Vec<String>,
    /// The metric that ranks the trials: the runs' `metric_for_best` (its value at the best
    /// evaluation), or, without one, the final validation accuracy.
    pub metric: Option<BestMetric>,
    /// The finished trials, best first (ties by trial index; a trial without the metric last).
    pub ranked: Vec<TrialResult>,
    /// The trials not finished, by index.
    pub missing: Vec<MissingTrial>,
    /// The `best` link, when there is a finished trial to point at.
    pub best: Option<PathBuf>,
    /// The files written (`sweep.csv`, `sweep.md`).
    pub files: Vec<PathBuf>,
}

impl SweepReport {
    /// The ranking metric's name: `val_loss`, `val_accuracy` or `val_f1` of the best
    /// evaluation, or `val_accuracy` (final) without a metric for the best model.
    pub fn metric_name(&self) -> &'static str {
        self.metric.map_or("val_accuracy", BestMetric::name)
    }

    /// Whether a lower value of the metric is better (a loss).
    pub fn lower_is_better(&self) -> bool {
        self.metric == Some(BestMetric::ValLoss)
    }
}

/// One finished trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialResult {
    /// Its index in the sweep.
    pub index: usize,
    /// Its run folder's name (`trial-003`).
    pub name: String,
    /// Its settings.
    pub settings: Vec<(String, Value)>,
    /// The ranking metric (NaN when the run did not record it).
    pub metric: f64,
    /// Final accuracy over the whole validation split.
    pub val_accuracy: f64,
    /// Final accuracy over the whole test split (NaN without a test split).
    pub test_accuracy: f64,
    /// The run's wall time.
    pub wall_seconds: f64,
}

/// A trial without a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingTrial {
    /// Its index in the sweep.
    pub index: usize,
    /// Its run folder's name.
    pub name: String,
    /// Why it is missing.
    pub state: TrialState,
}

/// Why a trial has no result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TrialState {
    /// Nothing of it exists yet.
    NotStarted,
    /// A run of it is working, or stopped before it finished (its staging folder is there).
    Started,
    /// Its folder holds a finished run with other settings (the sweep changed after it ran).
    OtherSettings(String),
}

impl std::fmt::Display for TrialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted => f.write_str("not started"),
            Self::Started => f.write_str("started: running, or stopped before it finished"),
            Self::OtherSettings(d) => write!(f, "holds a run with other settings ({d})"),
        }
    }
}

/// What a trial's folder holds.
pub(crate) enum TrialFolder {
    /// No finished run.
    Unfinished,
    /// A finished run of this trial, with its `metrics.json`.
    Finished(Box<Report>),
    /// A finished run of other settings: the first difference.
    Other(String),
}

/// What `dir` holds for `trial`: a finished run (its `metrics.json`) of the trial's settings,
/// of other settings, or none.
pub(crate) fn trial_folder(dir: &Path, trial: &Trial) -> Result<TrialFolder> {
    let metrics = dir.join("metrics.json");
    if !metrics.is_file() {
        return Ok(TrialFolder::Unfinished);
    }
    let config_file = dir.join("config.json");
    let bytes = fs::read(&config_file)
        .with_context(|| format!("could not read {}", config_file.display()))?;
    let saved = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run config", config_file.display()))?;
    if let Some(d) = settings_difference(&trial.config, &saved) {
        return Ok(TrialFolder::Other(d));
    }
    let bytes =
        fs::read(&metrics).with_context(|| format!("could not read {}", metrics.display()))?;
    let report: Report = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run's metrics.json", metrics.display()))?;
    Ok(TrialFolder::Finished(Box::new(report)))
}

/// Ranks the finished trials of the sweep folder `dir` (made by `run_trial`), writes
/// `sweep.csv` and `sweep.md` into it and points `best` at the winner. Trials not finished are
/// listed in the report, not an error.
pub fn sweep_report(dir: &Path) -> Result<SweepReport> {
    let file = dir.join(SWEEP_FILE);
    if !file.is_file() {
        bail!(
            "{} is not a sweep folder (it has no {SWEEP_FILE}): run `spam-cli sweep --config \
             SWEEP.toml --out {}` first",
            dir.display(),
            dir.display()
        );
    }
    let sweep = Sweep::read(&file)?;
    let metric = sweep.base().train.metric_for_best;
    let mut ranked = Vec::new();
    let mut missing = Vec::new();
    for index in 0..sweep.trial_count() {
        let trial = sweep.trial(index)?;
        let name = sweep.trial_name(index);
        let folder = dir.join(&name);
        let state = match trial_folder(&folder, &trial)? {
            TrialFolder::Finished(report) => {
                ranked.push(result_of(trial, name, metric, &report));
                continue;
            }
            TrialFolder::Other(d) => TrialState::OtherSettings(d),
            TrialFolder::Unfinished if crate::staging::staging_logs(&folder).is_empty() => {
                TrialState::NotStarted
            }
            TrialFolder::Unfinished => TrialState::Started,
        };
        missing.push(MissingTrial { index, name, state });
    }
    let lower = metric == Some(BestMetric::ValLoss);
    ranked.sort_by(|a, b| {
        let key = |r: &TrialResult| if lower { r.metric } else { -r.metric };
        (a.metric.is_nan(), key(a))
            .partial_cmp(&(b.metric.is_nan(), key(b)))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.index.cmp(&b.index))
    });
    let mut report = SweepReport {
        dir: dir.to_path_buf(),
        trial_count: sweep.trial_count(),
        keys: sweep.keys(),
        metric,
        ranked,
        missing,
        best: None,
        files: vec![dir.join(SWEEP_CSV), dir.join(SWEEP_MD)],
    };
    spam_data::write_atomic(dir.join(SWEEP_CSV), csv(&report).as_bytes())?;
    spam_data::write_atomic(dir.join(SWEEP_MD), markdown(&report).as_bytes())?;
    if let Some(winner) = report.ranked.first() {
        report.best = link_best(dir, &winner.name)?;
    }
    Ok(report)
}

fn result_of(
    trial: Trial,
    name: String,
    metric: Option<BestMetric>,
    report: &Report,
) -> TrialResult {
    let fin = report.final_accuracy.as_ref();
    let value = match metric {
        Some(m) => report
            .best
            .as_ref()
            .filter(|b| b.metric == m)
            .map_or(f64::NAN, |b| b.value),
        None => fin.map_or(f64::NAN, |f| f.validation_accuracy),
    };
    TrialResult {
        index: trial.index,
        name,
        settings: trial.settings,
        metric: value,
        val_accuracy: fin.map_or(f64::NAN, |f| f.validation_accuracy),
        test_accuracy: fin.map_or(f64::NAN, |f| f.test_accuracy),
        wall_seconds: report.timing.as_ref().map_or(f64::NAN, |t| t.total_seconds),
    }
}

/// `sweep.csv`: rank, trial (its index), its folder, each swept key, the metric (with a metric for the best model),
/// validation and test accuracy, wall seconds (to the millisecond); best first. A missing
/// number is empty.
fn csv(report: &SweepReport) -> String {
    let mut header = ["rank", "trial", "folder"].map(String::from).to_vec();
    header.extend(report.keys.iter().cloned());
    if report.metric.is_some() {
        header.push(format!("best_{}", report.metric_name()));
    }
    header.extend(["val_accuracy", "test_accuracy", "wall_seconds"].map(String::from));
    let mut out = csv_line(&header);
    let number = |x: f64| {
        if x.is_nan() {
            String::new()
        } else {
            x.to_string()
        }
    };
    for (rank, r) in report.ranked.iter().enumerate() {
        let mut row = vec![(rank + 1).to_string(), r.index.to_string(), r.name.clone()];
        row.extend(report.keys.iter().map(|k| setting_text(&r.settings, k)));
        if report.metric.is_some() {
            row.push(number(r.metric));
        }
        row.extend([r.val_accuracy, r.test_accuracy].map(number));
        // Milliseconds are enough of a wall time.
        row.push(number((r.wall_seconds * 1000.0).round() / 1000.0));
        out.push_str(&csv_line(&row));
    }
    out
}

/// The value `settings` give `key`, as a cell shows it; empty where the trial leaves it at the
/// base's (a point of `[[sweep.points]]` sets only some keys).
fn setting_text(settings: &[(String, Value)], key: &str) -> String {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| value_text(v))
        .unwrap_or_default()
}

fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.clone()
            }
        })
        .collect();
    format!("{}\n", quoted.join(","))
}

/// `sweep.md`: the ranked table and the missing trials. Folder names only, no paths.
fn markdown(report: &SweepReport) -> String {
    let metric = match report.metric {
        Some(_) => format!(
            "the best evaluation's {} on the validation split ({} is better)",
            report.metric_name(),
            if report.lower_is_better() {
                "lower"
            } else {
                "higher"
            }
        ),
        None => "the final validation accuracy (the runs set no metric_for_best)".to_string(),
    };
    let mut s = format!(
        "# Sweep report\n\n{} of {} trials finished, ranked by {metric}.\n",
        report.ranked.len(),
        report.trial_count
    );
    if let Some(best) = report.ranked.first() {
        s.push_str(&format!(
            "Best: {} (`{BEST_LINK}` links to it).\n",
            best.name
        ));
    }
    let cell = |t: String| t.replace('|', "\\|");
    let mut header = vec!["rank".to_string(), "trial".to_string()];
    header.extend(report.keys.iter().map(|k| format!("`{k}`")));
    if report.metric.is_some() {
        header.push(format!("best {}", report.metric_name()));
    }
    header.extend(["val accuracy", "test accuracy", "wall time"].map(String::from));
    s.push_str(&format!(
        "\n| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    ));
    let percent = |x: f64| {
        if x.is_nan() {
            "-".into()
        } else {
            format!("{:.2}%", x * 100.0)
        }
    };
    for (rank, r) in report.ranked.iter().enumerate() {
        let mut row = vec![(rank + 1).to_string(), r.name.clone()];
        row.extend(
            report
                .keys
                .iter()
                .map(|k| cell(setting_text(&r.settings, k))),
        );
        if report.metric.is_some() {
            row.push(if r.metric.is_nan() {
                "-".into()
            } else {
                format!("{:.4}", r.metric)
            });
        }
        row.push(percent(r.val_accuracy));
        row.push(percent(r.test_accuracy));
        row.push(if r.wall_seconds.is_nan() {
            "-".into()
        } else {
            format!("{:.1} s", r.wall_seconds)
        });
        s.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    if !report.missing.is_empty() {
        s.push_str(&format!("\nMissing ({}):\n\n", report.missing.len()));
        for m in &report.missing {
            s.push_str(&format!(
                "- {} (trial {}): {}\n",
                m.name,
                m.index,
                cell(m.state.to_string())
            ));
        }
    }
    s
}

/// Points `DIR/best` at the run folder `name` beside it (a relative link), replacing the link
/// atomically: a new link under a temporary name, renamed over. Returns the link (`None`
/// where links are not made: off unix).
fn link_best(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let link = dir.join(BEST_LINK);
    if fs::symlink_metadata(&link).is_ok_and(|m| !m.file_type().is_symlink()) {
        bail!(
            "{} exists and is not a link: move it away so the report can link the best trial",
            link.display()
        );
    }
    #[cfg(unix)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{BEST_LINK}.{}-{n}.tmp", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let made = std::os::unix::fs::symlink(name, &tmp).and_then(|()| fs::rename(&tmp, &link));
        if let Err(e) = made {
            let _ = fs::remove_file(&tmp);
            return Err(anyhow::Error::new(e).context(format!("could not link {}", link.display())));
        }
        spam_data::sync_dir(dir);
        Ok(Some(link))
    }
    #[cfg(not(unix))]
    {
        let _ = name;
        Ok(None)
    }
}
