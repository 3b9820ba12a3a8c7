use indicatif::{ProgressBar, ProgressStyle};

/// A byte-count progress bar driven by download callbacks.
pub struct DownloadBar {
    bar: Option<ProgressBar>,
    label: String,
}

impl DownloadBar {
    pub fn new(label: &str) -> Self {
        Self {
            bar: None,
            label: label.to_string(),
        }
    }

    pub fn update(&mut self, downloaded: u64, total: Option<u64>) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(self.label.clone());
            bar
        });
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(downloaded);
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
