//! `thau plot`: training and validation loss against tokens seen, one colour per age.

use crate::error::{Error, Result};
use crate::model::Age;
use crate::train::{MetricsLog, StepMetrics};
use plotters::prelude::*;
use std::path::Path;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn register_fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans ships inside the `dejavu` crate, so plots render text on any machine.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
}

/// Draw `metrics.jsonl` of a run to a PNG at `out` (width × height pixels).
pub fn plot_metrics(metrics: &Path, out: &Path, size: (u32, u32)) -> Result<usize> {
    let records = MetricsLog::read(metrics)?;
    if records.is_empty() {
        return Err(Error::not_found(metrics, "the run has no logged steps yet: train it first with `thau train`"));
    }
    register_fonts();
    // Tokens keep counting across ages so the x axis is the run's whole life.
    let mut ages: Vec<Age> = records.iter().map(|m| m.age).collect();
    ages.sort_unstable();
    ages.dedup();
    let mut offset = 0u64;
    // (age, training points, validation points), points as (tokens, loss).
    type Points = Vec<(f64, f64)>;
    let mut series: Vec<(Age, Points, Points)> = Vec::new();
    for &age in &ages {
        let rows: Vec<&StepMetrics> = records.iter().filter(|m| m.age == age).collect();
        let train: Vec<(f64, f64)> = rows.iter().map(|m| ((offset + m.tokens) as f64, m.loss as f64)).collect();
        let val: Vec<(f64, f64)> =
            rows.iter().filter_map(|m| m.val_loss.map(|v| ((offset + m.tokens) as f64, v as f64))).collect();
        offset += rows.iter().map(|m| m.tokens).max().unwrap_or(0);
        series.push((age, train, val));
    }
    let all = series.iter().flat_map(|(_, t, v)| t.iter().chain(v.iter()));
    let (mut xmax, mut ymin, mut ymax) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        xmax = xmax.max(x);
        if y.is_finite() {
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
    }
    if !ymin.is_finite() {
        return Err(Error::invalid("metrics", "no finite loss values to plot"));
    }
    let pad = ((ymax - ymin) * 0.05).max(0.01);
    // Draw into a temporary file beside `out`, then rename: a crash never leaves half a PNG.
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}.png",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("THAU training loss", ("sans-serif", 24))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..xmax * 1.02, (ymin - pad)..(ymax + pad))?;
        chart
            .configure_mesh()
            .x_desc("tokens seen")
            .y_desc("loss (nats/token)")
            .x_label_formatter(&|x| if *x >= 1e6 { format!("{:.1}M", x / 1e6) } else { format!("{:.0}k", x / 1e3) })
            .draw()?;
        for (i, (age, train, val)) in series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            // A dashed line where an age begins (growth from the previous age).
            if let (true, Some(&(x0, _))) = (i > 0, train.first()) {
                let (lo, hi) = (ymin - pad, ymax + pad);
                let dashes = (0..40).map(|k| lo + (hi - lo) * k as f64 / 40.0).collect::<Vec<_>>();
                chart.draw_series(
                    dashes.chunks(2).map(|d| PathElement::new(vec![(x0, d[0]), (x0, d[1])], c.mix(0.6))),
                )?;
            }
            chart
                .draw_series(LineSeries::new(train.iter().copied(), c.stroke_width(2)))?
                .label(format!("age {age} train"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            if !val.is_empty() {
                chart
                    .draw_series(val.iter().map(|&p| Circle::new(p, 4, c.filled())))?
                    .label(format!("age {age} validation"))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 4, c.filled()));
            }
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    if let Err(e) = draw() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::invalid(format!("plot {}", out.display()), e.to_string()));
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    Ok(records.len())
}

/// Labelled curves of (x, y) points on one chart, with an optional horizontal `target` line:
/// validation loss against training FLOPs for `thau compare` (bench/growth.sh).
pub fn plot_curves(
    out: &Path,
    title: &str,
    x_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    target: Option<f64>,
    size: (u32, u32),
) -> Result<()> {
    register_fonts();
    let pts = series.iter().flat_map(|(_, p)| p.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut xmax, mut ymin, mut ymax) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts {
        xmax = xmax.max(x);
        ymin = ymin.min(y);
        ymax = ymax.max(y);
    }
    if !ymin.is_finite() || xmax <= 0.0 {
        return Err(Error::invalid("plot", "no finite points to plot"));
    }
    let pad = ((ymax - ymin) * 0.05).max(0.01);
    let tmp = out.with_file_name(format!(
        ".{}.tmp-{}.png",
        out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..xmax * 1.02, (ymin - pad)..(ymax + pad))?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc("validation loss (nats/token)")
            .x_label_formatter(&|x| format!("{x:.2e}"))
            .draw()?;
        if let Some(t) = target {
            chart
                .draw_series(LineSeries::new([(0.0, t), (xmax * 1.02, t)], BLACK.mix(0.5).stroke_width(1)))?
                .label(format!("target {t:.3}"))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.mix(0.5)));
        }
        for (i, (label, points)) in series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    if let Err(e) = draw() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::invalid(format!("plot {}", out.display()), e.to_string()));
    }
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))
}
