//! The chapter's two figures: training and validation loss (or accuracy) against epochs,
//! with examples seen on a second x axis along the top.

use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;

/// One curve: (epochs seen, value) points.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// The legend's name of the curve.
    pub label: &'a str,
    /// (epochs seen, value) points, in order.
    pub points: Vec<(f64, f64)>,
}

/// The family every label is drawn in: DejaVu Sans, compiled into the binary, so drawing
/// needs no font installed and no font lookup (fontconfig) on the machine.
const FONT: &str = "sans-serif";

/// Registers the bundled font once per process.
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow::anyhow!(
            "the bundled DejaVu Sans font could not be read"
        ))
    }
}

/// Draws `series` against epochs into a PNG at `path` (written atomically).
/// `examples_per_epoch` labels the top axis with examples seen.
pub fn line_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    examples_per_epoch: f64,
) -> Result<()> {
    register_font()?;
    spam_data::write_atomic_via_path(path, |tmp| {
        draw(tmp, title, y_label, series, examples_per_epoch)
    })?;
    Ok(())
}

fn draw(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    examples_per_epoch: f64,
) -> Result<()> {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut x_max, mut y_min, mut y_max) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        x_max = x_max.max(x);
        if y.is_finite() {
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let pad = ((y_max - y_min) * 0.08).max(1e-3);
    let (y_lo, y_hi) = (y_min - pad, y_max + pad);
    let x_hi = if x_max > 0.0 { x_max } else { 1.0 };

    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 26))
        .margin(16)
        .x_label_area_size(48)
        .top_x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_hi, y_lo..y_hi)
        .map_err(plot_error)?
        .set_secondary_coord(0.0..x_hi * examples_per_epoch, y_lo..y_hi);
    chart
        .configure_mesh()
        .x_desc("Epochs")
        .y_desc(y_label)
        .label_style((FONT, 16))
        .draw()
        .map_err(plot_error)?;
    chart
        .configure_secondary_axes()
        .x_desc("Examples seen")
        .label_style((FONT, 16))
        .draw()
        .map_err(plot_error)?;
    let palette = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
    ];
    for (i, s) in series.iter().enumerate() {
        let color = palette[i % palette.len()];
        let style = ShapeStyle::from(&color).stroke_width(2);
        if i % 2 == 0 {
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(plot_error)?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        } else {
            // Dashed like the chapter's validation curve.
            chart
                .draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 5, style))
                .map_err(plot_error)?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 16))
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    Ok(())
}

/// A plotters error as ours: its message is what says what went wrong.
fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
