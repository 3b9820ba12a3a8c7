//! Progress bars (indicatif) that stay out of the way of the chapter's printed lines.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Epoch and step bars; silent in quiet mode or when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress {
    multi: Option<MultiProgress>,
    epoch_bar: ProgressBar,
    step_bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool, epochs: usize, steps_per_epoch: usize) -> Self {
        if quiet {
            return Self {
                multi: None,
                epoch_bar: ProgressBar::hidden(),
                step_bar: ProgressBar::hidden(),
                quiet,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let epoch_bar = multi.add(ProgressBar::new(epochs as u64));
        epoch_bar.set_style(
            ProgressStyle::with_template("epoch {pos}/{len} {wide_bar} {elapsed_precise}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let step_bar = multi.add(ProgressBar::new(steps_per_epoch as u64));
        step_bar.set_style(
            ProgressStyle::with_template(
                "step {pos}/{len} {wide_bar} {per_sec} loss {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Self {
            multi: Some(multi),
            epoch_bar,
            step_bar,
            quiet,
        }
    }

    pub fn start_epoch(&self, epoch: usize, first_batch: usize) {
        self.epoch_bar.set_position(epoch as u64);
        self.step_bar.set_position(first_batch as u64);
    }

    pub fn step(&self, loss: f64) {
        self.step_bar.set_message(format!("{loss:.3}"));
        self.step_bar.inc(1);
    }

    /// Prints a line above the bars (or plainly when there are none).
    pub fn println(&self, line: &str) {
        tracing::info!("{line}");
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) if !m.is_hidden() => m.suspend(|| println!("{line}")),
            _ => println!("{line}"),
        }
    }

    pub fn finish(&self) {
        self.step_bar.finish_and_clear();
        self.epoch_bar.finish_and_clear();
    }

    /// A bar for the cache build or an evaluation pass over `total` examples.
    pub fn cache_bar(quiet: bool, total: u64) -> ProgressBar {
        if quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("caching frozen blocks {pos}/{len} {wide_bar} {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    }
}
