//! The reproduction's figure: test accuracy and bits against dt, spiking-aware training
//! against plain conversion (PNG via plotters; the font is embedded so the figure renders the
//! same on every machine).

use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use hsnn_train::report::Results;
use hsnn_train::{TrainError, TrainResult};

/// DejaVu Sans (Bitstream Vera licence, `cli/assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn plot_error(error: impl std::fmt::Display) -> TrainError {
    TrainError::Usage(format!("cannot draw the plot: {error}"))
}

/// A chart with a real y axis and an x axis `X` (logarithmic dt, or linear bits).
type Chart<'a, X> = ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, RangedCoordf64>>;

/// Draws `points` as a labelled line with round markers of `radius` pixels.
fn draw_line<X: plotters::coord::ranged1d::Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, X>,
    points: &[(f64, f64)],
    color: RGBColor,
    label: &str,
    radius: i32,
) -> TrainResult<()> {
    chart
        .draw_series(LineSeries::new(points.to_vec(), color.stroke_width(2)))
        .map_err(plot_error)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(
            points
                .iter()
                .map(|&point| Circle::new(point, radius, color.filled())),
        )
        .map_err(plot_error)?;
    Ok(())
}

/// Picks one bit metric out of a site summary.
type BitsOf = fn(&hsnn_train::report::SiteSummary) -> f64;

/// Draws the trained model's and the converted weights' points as two labelled lines, with the
/// legend in the lower right (the two accuracy charts).
fn draw_models<X: plotters::coord::ranged1d::Ranged<ValueType = f64>>(
    chart: &mut Chart<'_, X>,
    trained: &[(f64, f64)],
    converted: &[(f64, f64)],
) -> TrainResult<()> {
    draw_line(chart, trained, BLUE, "spiking-aware training", 4)?;
    if !converted.is_empty() {
        draw_line(chart, converted, RED, "non-spiking weights, converted", 4)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

/// Draws the sweep of `results`: accuracy (left) and activity / significant bits (middle)
/// against dt on a log axis, and accuracy against activity bits (right), for the spiking-aware
/// model and the converted non-spiking weights; the title names the experiment and its data.
pub fn draw(path: &Path, results: &Results) -> TrainResult<()> {
    let sweep = &results.sweep;
    let title = format!("{}: psMNIST, {}", results.experiment, results.data);
    if sweep.is_empty() {
        return Ok(());
    }
    // Registering twice (several plots in one process) is harmless.
    let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    let root = BitMapBackend::new(path, (1800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let root = root
        .titled(&title, ("sans-serif", 22))
        .map_err(plot_error)?;
    let (left, rest) = root.split_horizontally(600);
    let (right, trade) = rest.split_horizontally(600);
    let dts: Vec<f64> = sweep.iter().map(|point| point.dt).collect();
    let low = dts.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
    let high = dts.iter().copied().fold(0.0, f64::max) * 1.5;

    // Zoom on the data (accuracies of interest sit within a few points of each other), with
    // room below for the legend.
    let accuracies: Vec<f64> = sweep
        .iter()
        .flat_map(|p| {
            std::iter::once(p.trained.test_accuracy)
                .chain(p.converted.iter().map(|c| c.test_accuracy))
        })
        .map(|accuracy| 100.0 * accuracy)
        .collect();
    let lowest = accuracies.iter().copied().fold(100.0, f64::min);
    let highest = accuracies.iter().copied().fold(0.0, f64::max);
    let accuracy_low = ((lowest - 0.6 * (highest - lowest) - 2.0) / 5.0)
        .floor()
        .max(0.0)
        * 5.0;
    let accuracy_high = ((highest + 2.0) / 5.0).ceil().min(20.0) * 5.0;
    let mut accuracy = ChartBuilder::on(&left)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .caption("test accuracy", ("sans-serif", 18))
        .build_cartesian_2d((low..high).log_scale(), accuracy_low..accuracy_high)
        .map_err(plot_error)?;
    accuracy
        .configure_mesh()
        .x_desc("dt (log scale; small = spiking)")
        .y_desc("accuracy (%)")
        .draw()
        .map_err(plot_error)?;
    let trained: Vec<(f64, f64)> = sweep
        .iter()
        .map(|p| (p.dt, 100.0 * p.trained.test_accuracy))
        .collect();
    let converted: Vec<(f64, f64)> = sweep
        .iter()
        .filter_map(|p| {
            p.converted
                .as_ref()
                .map(|c| (p.dt, 100.0 * c.test_accuracy))
        })
        .collect();
    draw_models(&mut accuracy, &trained, &converted)?;

    let bits_high = sweep
        .iter()
        .filter_map(|p| p.trained.sites.first().map(|s| s.activity_bits_signed))
        .fold(1.0, f64::max)
        * 1.15;
    let mut bits = ChartBuilder::on(&right)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .caption("bits of the spiking-aware model", ("sans-serif", 18))
        .build_cartesian_2d((low..high).log_scale(), 0.0..bits_high)
        .map_err(plot_error)?;
    bits.configure_mesh()
        .x_desc("dt (log scale; small = spiking)")
        .y_desc("bits")
        .draw()
        .map_err(plot_error)?;
    let series: [(&str, RGBColor, BitsOf); 3] = [
        ("activity bits with sign (B1)", BLUE, |s| {
            s.activity_bits_signed
        }),
        ("mean significant bits per event (B2)", GREEN, |s| {
            s.mean_significant_bits
        }),
        ("mean popcount per event (B3)", MAGENTA, |s| s.mean_popcount),
    ];
    for (label, color, value) in series {
        let points: Vec<(f64, f64)> = sweep
            .iter()
            .filter_map(|p| p.trained.sites.first().map(|s| (p.dt, value(s))))
            .collect();
        draw_line(&mut bits, &points, color, label, 3)?;
    }
    bits.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;

    // The trade itself: accuracy against the activity bits each model needed at each dt.
    let against_bits = |measurement: &hsnn_train::report::Measurement| {
        measurement
            .sites
            .first()
            .map(|site| (site.activity_bits_signed, 100.0 * measurement.test_accuracy))
    };
    let trained_bits: Vec<(f64, f64)> = sweep
        .iter()
        .filter_map(|p| against_bits(&p.trained))
        .collect();
    let converted_bits: Vec<(f64, f64)> = sweep
        .iter()
        .filter_map(|p| p.converted.as_ref().and_then(against_bits))
        .collect();
    let bits_axis_high = trained_bits
        .iter()
        .chain(&converted_bits)
        .map(|&(bits, _)| bits)
        .fold(1.0, f64::max)
        + 1.0;
    let mut trade_chart = ChartBuilder::on(&trade)
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .caption("accuracy against activity bits", ("sans-serif", 18))
        .build_cartesian_2d(0.0..bits_axis_high, accuracy_low..accuracy_high)
        .map_err(plot_error)?;
    trade_chart
        .configure_mesh()
        .x_desc("activity bits with sign (B1), one point per dt")
        .y_desc("accuracy (%)")
        .draw()
        .map_err(plot_error)?;
    // The paper's activity budget for its hybrid-spiking LMU (docs/PAPER.md section 1).
    let budget = hsnn_train::report::PAPER_BUDGETS.0;
    trade_chart
        .draw_series(LineSeries::new(
            vec![(budget, accuracy_low), (budget, accuracy_high)],
            BLACK.mix(0.6).stroke_width(1),
        ))
        .map_err(plot_error)?
        .label(format!("paper's budget: {budget} activity bits"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.6)));
    draw_models(&mut trade_chart, &trained_bits, &converted_bits)?;
    root.present().map_err(plot_error)?;
    Ok(())
}
