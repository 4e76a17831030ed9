//! The benchmarks' results on disk: the figures as JSON (to compare runs, or chart them
//! elsewhere) and line charts as SVG (plotters), side by side in one folder;
//! `docs/performance.md` shows the committed ones.

// Each benchmark uses part of this harness.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use plotters::prelude::*;

/// One line on a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// What a chart shows and how its axes are named.
pub struct Chart<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
    pub series: Vec<Series>,
}

/// Where results go: `--out`, or `docs/performance` in the repository (what the document
/// shows, so a run that reproduces a figure also redraws its chart).
pub fn out_dir(out: Option<&Path>) -> PathBuf {
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/performance")
            .canonicalize()
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/performance"))
    });
    std::fs::create_dir_all(&dir).expect("the results folder can be made");
    dir
}

/// Writes `name.json`.
pub fn write_json(dir: &Path, name: &str, value: &serde_json::Value) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap() + "\n").expect("results are written");
    println!("wrote {}", path.display());
}

/// Writes `name.svg`: every series as a line with its points marked, axes from zero.
pub fn write_svg(dir: &Path, name: &str, chart: &Chart) {
    let path = dir.join(format!("{name}.svg"));
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max).max(1e-9) * 1.05;
    let y_max = points.map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let root = SVGBackend::new(&path, (760, 420)).into_drawing_area();
    root.fill(&WHITE).unwrap();
    let mut plot = ChartBuilder::on(&root)
        .caption(chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .unwrap();
    plot.configure_mesh().x_desc(chart.x).y_desc(chart.y).light_line_style(WHITE.mix(0.0)).draw().unwrap();
    for (i, series) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        plot.draw_series(LineSeries::new(series.points.iter().copied(), color.stroke_width(2)))
            .unwrap()
            .label(&series.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        // Marks only where there are few points (a timeline is a line).
        if series.points.len() <= 40 {
            plot.draw_series(series.points.iter().map(|&p| Circle::new(p, 3, color.filled()))).unwrap();
        }
    }
    plot.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK.mix(0.3)).draw().unwrap();
    root.present().expect("the chart is written");
    println!("wrote {}", path.display());
}
