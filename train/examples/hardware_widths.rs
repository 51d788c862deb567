//! Accuracy and bit metrics of a model against the width of its fixed-point weights (SPEC.md
//! H2, H12; issue 7's width table): the float model on the optimized backend, then its
//! fixed-point conversions at weight widths 4, 6, 8, 12 and 16 (other options default) on the
//! modeled chip, at each dt given, on the first N test images. Prints a Markdown table.
//!
//! `cargo run --release -p hsnn-train --example hardware_widths -- MODEL DATA N DT[,DT...]`
//! (DATA: a folder of MNIST files or `embedded`; MODEL may be gzipped). The data settings are
//! the model file's provenance when it has one, else the paper's (permutation seed 0).

use std::sync::Arc;

use hsnn_hardware::HardwareBackend;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::compiler::ReferenceConversion;
use hsnn_reference::metrics::SiteMetricsAccumulator;
use hsnn_spec::fixed::ConversionOptions;
use hsnn_spec::{Backend, ForwardOptions, Model, TraceLevel};
use hsnn_train::data::{self, batch, predicted_class};
use hsnn_train::experiment::DataConfig;

/// Accuracy, agreement with the float predictions, and the hidden site's bit metrics.
struct Row {
    accuracy: f64,
    predictions: Vec<usize>,
    activity_bits_signed: Option<f64>,
    significant_bits: Option<f64>,
    saturations: u64,
}

fn run(
    backend: &dyn Backend,
    model: &Model,
    test: &hsnn_data::LabelledSequences,
) -> Result<Row, Box<dyn std::error::Error>> {
    let options = ForwardOptions {
        trace: TraceLevel::Counts,
    };
    let mut correct = 0usize;
    let mut predictions = Vec::new();
    let mut accumulator: Option<SiteMetricsAccumulator> = None;
    let mut done = 0;
    while done < test.len() {
        let indices: Vec<usize> = (done..(done + 100).min(test.len())).collect();
        let ids = indices.iter().map(|&index| index as u64).collect();
        let (sequences, labels) = batch(test, &indices, ids)?;
        let output = backend.forward(model, &sequences, &options)?;
        for (sample, label) in labels.iter().enumerate() {
            let predicted = predicted_class(output.logits.row(sample));
            correct += usize::from(predicted == *label);
            predictions.push(predicted);
        }
        if let Some(site) = output.trace.sites.first() {
            accumulator
                .get_or_insert_with(|| SiteMetricsAccumulator::new(site))
                .add(site)?;
        }
        done += indices.len();
    }
    let metrics = accumulator.map(|accumulator| accumulator.finish());
    Ok(Row {
        accuracy: correct as f64 / test.len() as f64,
        predictions,
        activity_bits_signed: metrics.as_ref().map(|m| m.activity_bits_signed),
        significant_bits: metrics.as_ref().map(|m| m.mean_significant_bits),
        saturations: 0,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [path, directory, count, dts] = &arguments[..] else {
        return Err("usage: MODEL DATA N DT[,DT...]".into());
    };
    let count: usize = count.parse()?;
    let dts: Vec<f64> = dts.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let original = hsnn_train::model_file::read_model_file(std::path::Path::new(path))?;
    let config = DataConfig::recorded_in(&original, Some(count));
    let directory = (directory != "embedded").then(|| std::path::Path::new(directory));
    let loaded = data::load(directory, &config)?;
    let test = &loaded.split.test;
    println!(
        "model {path} (placement {}, trained at dt {}), {}: first {} test images\n",
        original.config.quantizer.placement.name(),
        original.config.quantizer.dt,
        loaded.description,
        test.len()
    );
    println!("| dt | weights | accuracy | predictions as float | activity bits (signed) | significant bits | saturated values |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let spiking = original.config.quantizer.placement != hsnn_spec::QuantizerPlacement::NONE;
    let dts = if spiking {
        dts
    } else {
        vec![original.config.quantizer.dt]
    };
    for dt in dts {
        let mut model = original.clone();
        model.config.quantizer.dt = dt;
        let float = run(&OptimizedBackend, &model, test)?;
        let bits = |row: &Row| match (row.activity_bits_signed, row.significant_bits) {
            (Some(activity), Some(significant)) => {
                (format!("{activity:.2}"), format!("{significant:.2}"))
            }
            _ => ("-".into(), "-".into()),
        };
        let (activity, significant) = bits(&float);
        let dt_label = if spiking { format!("{dt}") } else { "-".into() };
        println!(
            "| {dt_label} | float (f32) | {:.1} % | | {activity} | {significant} | |",
            100.0 * float.accuracy
        );
        for weight_bits in [4u32, 6, 8, 12, 16] {
            let hardware = HardwareBackend::new(
                Arc::new(ReferenceConversion),
                ConversionOptions {
                    weight_bits,
                    ..ConversionOptions::default()
                },
                rayon::current_num_threads(),
            );
            let mut row = run(&hardware, &model, test)?;
            row.saturations = hardware.take_counters().saturations.total();
            let agree = row
                .predictions
                .iter()
                .zip(&float.predictions)
                .filter(|(a, b)| a == b)
                .count();
            let (activity, significant) = bits(&row);
            println!(
                "| {dt_label} | {weight_bits} bits | {:.1} % | {:.1} % | {activity} | {significant} | {} |",
                100.0 * row.accuracy,
                100.0 * agree as f64 / test.len() as f64,
                row.saturations
            );
        }
    }
    Ok(())
}
