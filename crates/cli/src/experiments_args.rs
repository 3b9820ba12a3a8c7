//! Arguments of `experiments`: which rows of the chapter's table, with what epochs, where.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spam_data::Named;
use spam_model::{DeviceChoice, RandomInit};
use spam_runs::RunConfig;

use crate::args::{DEFAULT_WEIGHTS_ROOT, DataArgs};
use crate::values::{NoDefaults, named};

fn row_epochs(s: &str) -> std::result::Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not ROW=EPOCHS (e.g. 10=1)");
    let (row, epochs) = s.split_once('=').ok_or_else(bad)?;
    let row = row.trim().parse().map_err(|_| bad())?;
    let epochs: usize = epochs.trim().parse().map_err(|_| bad())?;
    if epochs == 0 {
        return Err(format!("`{s}`: a row needs at least one epoch"));
    }
    Ok((row, epochs))
}

#[derive(Args, Debug)]
pub struct ExperimentsArgs {
    /// Rows of the table to run (default: every 124M row).
    #[arg(long, value_delimiter = ',', value_name = "N,N,...")]
    pub rows: Vec<usize>,
    #[command(flatten)]
    pub data: DataArgs<NoDefaults>,
    /// Folder with one checkpoint folder per size (124M, 355M, ...).
    #[arg(long, default_value = DEFAULT_WEIGHTS_ROOT, value_name = "DIR")]
    pub weights_root: PathBuf,
    /// Epochs of every row (the chapter: 5).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Epochs for given rows instead, e.g. `5=1,10=1` for the every-layer rows on a slow
    /// machine; the page's epochs column shows what each row ran.
    #[arg(long, value_delimiter = ',', value_name = "ROW=N,...", value_parser = row_epochs)]
    pub row_epochs: Vec<(usize, usize)>,
    /// The table's folder: the table as a sweep (sweep.toml, 19 points), each row's run
    /// directory (row-N) and table.md. A row whose run directory already holds a finished run
    /// with the same settings is reused, so an interrupted table continues where it stopped,
    /// and `spam-cli sweep --config DIR/sweep.toml --out DIR` can run rows as array tasks.
    #[arg(long, default_value = "runs/experiments", value_name = "DIR")]
    pub out: PathBuf,
    /// Also write the whole table (all 19 rows, ours beside the published ones, and why a row
    /// did not run) as a Markdown page, e.g. docs/experiments.md.
    #[arg(long, value_name = "FILE")]
    pub doc: Option<PathBuf>,
    /// A paragraph for the page's head: the machine and anything else a reader should know.
    #[arg(long, value_name = "TEXT", requires = "doc")]
    pub doc_setup: Option<String>,
    /// How random weights are drawn: `chapter` (default) or `gpt2`.
    #[arg(long, value_name = "INIT", value_parser = named::<RandomInit>())]
    pub init: Option<RandomInit>,
    #[arg(long, help = DeviceChoice::accepted())]
    pub device: Option<DeviceChoice>,
    /// No progress bars or lines; the run directories still get everything.
    #[arg(long, short)]
    pub quiet: bool,
}

impl ExperimentsArgs {
    pub fn setup(&self) -> spam_runs::ExperimentSetup {
        let mut setup = spam_runs::ExperimentSetup::new(&self.weights_root);
        setup.epochs.extend(self.row_epochs.iter().copied());
        setup
    }

    pub fn base_config(&self) -> Result<RunConfig> {
        if let Some(p) = self.data.padding {
            anyhow::bail!(
                "--padding {p}: each row of the table sets its own padding (`longest` as the \
                 chapter, rows 13 to 15 another), so it cannot be given here; to run a row with \
                 other padding, use `spam-cli train` with that row's settings"
            );
        }
        let mut c = self.data.apply(RunConfig::default())?;
        if let Some(e) = self.epochs {
            c.train.epochs = e;
        }
        if let Some(i) = self.init {
            c.model.init = i;
        }
        if let Some(d) = self.device {
            c.model.device = d;
        }
        Ok(c)
    }
}
