//! How much the hybrid-against-dense energy ratio of SPEC.md H11 rests on its pricing choices,
//! and where spiking pays: the tables of docs/HARDWARE.md's "Sensitivity" section.
//!
//! Runs the modeled chip (SPEC.md H8-H10) on the first N test images of a model at each dt
//! and weight width given, and prices the counts on every built-in device:
//!
//! - sensitivity, at the first dt and 8-bit weights: the memory's width (`memory_bits` and
//!   `memory_input_bits` 16, 24 or 32), the width rule (next listed width, or interpolation)
//!   and memory traffic (not priced, or priced per bit at two SRAM costs);
//! - operating points: every dt and weight width given, default pricing.
//!
//! Each cell is `hybrid / without spikes` (below 1: spiking pays).
//!
//! `cargo run --release -p hsnn-train --example energy_sensitivity -- MODEL DATA N DT[,DT...] BITS[,BITS...]`
//! (DATA: a folder of MNIST files or `embedded`; MODEL may be gzipped.)

use std::sync::Arc;

use hsnn_hardware::counters::HardwareCounters;
use hsnn_hardware::energy::{builtin_devices, price, Device, Network, PricingOptions, WidthRule};
use hsnn_hardware::HardwareBackend;
use hsnn_reference::compiler::ReferenceConversion;
use hsnn_spec::fixed::ConversionOptions;
use hsnn_spec::{Backend, ForwardOptions, Model, TraceLevel};
use hsnn_train::data::{self, batch, predicted_class};
use hsnn_train::experiment::DataConfig;

/// Horowitz (ISSCC 2014, 45 nm): a 64-bit read of an 8 KB SRAM costs 10 pJ, of a 1 MB SRAM
/// 100 pJ; per bit, the two traffic prices of the sensitivity table.
const SRAM_JOULES_PER_BIT: [(&str, f64); 2] = [
    ("8 KB SRAM, 0.16 pJ/bit", 10e-12 / 64.0),
    ("1 MB SRAM, 1.56 pJ/bit", 100e-12 / 64.0),
];

/// Accuracy and the chip's counters over the test images.
fn run_chip(
    model: &Model,
    options: &ConversionOptions,
    test: &hsnn_data::LabelledSequences,
) -> Result<(f64, HardwareCounters), Box<dyn std::error::Error>> {
    let hardware = HardwareBackend::new(
        Arc::new(ReferenceConversion),
        options.clone(),
        rayon::current_num_threads(),
    );
    let forward = ForwardOptions {
        trace: TraceLevel::None,
    };
    let mut correct = 0usize;
    let mut done = 0;
    while done < test.len() {
        let indices: Vec<usize> = (done..(done + 100).min(test.len())).collect();
        let ids = indices.iter().map(|&index| index as u64).collect();
        let (sequences, labels) = batch(test, &indices, ids)?;
        let output = hardware.forward(model, &sequences, &forward)?;
        for (sample, label) in labels.iter().enumerate() {
            correct += usize::from(predicted_class(output.logits.row(sample)) == *label);
        }
        done += indices.len();
    }
    Ok((correct as f64 / test.len() as f64, hardware.take_counters()))
}

/// `hybrid / without spikes` on `device`, as text with 3 decimals.
fn ratio(
    device: &Device,
    counters: &HardwareCounters,
    options: &PricingOptions,
) -> Result<String, Box<dyn std::error::Error>> {
    let hybrid = price(device, counters, Network::Hybrid, options)?.total_joules;
    let dense = price(device, counters, Network::NonSpikingComparison, options)?.total_joules;
    Ok(format!("{:.3}", hybrid / dense))
}

fn memory_options(bits: u32) -> ConversionOptions {
    ConversionOptions {
        memory_bits: bits,
        memory_input_bits: bits,
        // 32-bit memory sums need wider accumulators than the default 48 bits (H5).
        accumulator_bits: if bits > 24 { 63 } else { 48 },
        ..ConversionOptions::default()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [path, directory, count, dts, widths] = &arguments[..] else {
        return Err("usage: MODEL DATA N DT[,DT...] BITS[,BITS...]".into());
    };
    let count: usize = count.parse()?;
    let dts: Vec<f64> = dts.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let widths: Vec<u32> = widths
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let original = hsnn_train::model_file::read_model_file(std::path::Path::new(path))?;
    let config = DataConfig::recorded_in(&original, Some(count));
    let directory = (directory != "embedded").then(|| std::path::Path::new(directory));
    let loaded = data::load(directory, &config)?;
    let test = &loaded.split.test;
    let devices = builtin_devices();
    let amplitude = original.config.quantizer.amplitude;
    let at_dt = |dt: f64| {
        let mut model = original.clone();
        model.config.quantizer.dt = dt;
        model
    };
    println!(
        "model {path}, {}: first {} test images; each cell hybrid / without spikes\n",
        loaded.description,
        test.len()
    );
    let header = |first: &str| {
        let names: Vec<&str> = devices.iter().map(|device| device.name.as_str()).collect();
        println!("| {first} | {} |", names.join(" | "));
        println!("|---|{}", "---:|".repeat(devices.len()));
    };

    let dt = dts[0];
    println!("Sensitivity at dt {dt}, 8-bit weights:\n");
    header("memory width, width rule, memory traffic (accuracy)");
    for memory_bits in [16u32, 24, 32] {
        let conversion = memory_options(memory_bits);
        let (accuracy, counters) = run_chip(&at_dt(dt), &conversion, test)?;
        for rule in [WidthRule::NextListed, WidthRule::Interpolated] {
            let traffic = std::iter::once(("not priced", None))
                .chain(SRAM_JOULES_PER_BIT.map(|(label, price)| (label, Some(price))));
            for (traffic_label, per_bit) in traffic {
                let options = PricingOptions {
                    width_rule: rule,
                    memory_joules_per_bit: per_bit,
                    ..PricingOptions::for_conversion(&conversion, amplitude)
                };
                let cells = devices
                    .iter()
                    .map(|device| ratio(device, &counters, &options))
                    .collect::<Result<Vec<_>, _>>()?;
                let rule_label = match rule {
                    WidthRule::NextListed => "next listed",
                    WidthRule::Interpolated => "interpolated",
                };
                println!(
                    "| {memory_bits} bits, {rule_label}, {traffic_label} ({:.1} %) | {} |",
                    100.0 * accuracy,
                    cells.join(" | ")
                );
            }
        }
    }

    println!("\nOperating points (24-bit memory, next listed width, traffic not priced):\n");
    header("dt, weights (accuracy, hidden events per update)");
    for &dt in &dts {
        for &weight_bits in &widths {
            let conversion = ConversionOptions {
                weight_bits,
                ..ConversionOptions::default()
            };
            let (accuracy, counters) = run_chip(&at_dt(dt), &conversion, test)?;
            let options = PricingOptions::for_conversion(&conversion, amplitude);
            let cells = devices
                .iter()
                .map(|device| ratio(device, &counters, &options))
                .collect::<Result<Vec<_>, _>>()?;
            let events = counters.sites.first().map_or(0.0, |site| {
                site.events as f64 / site.neuron_updates.max(1) as f64
            });
            println!(
                "| dt {dt}, {weight_bits} bits ({:.1} %, {:.2}) | {} |",
                100.0 * accuracy,
                events,
                cells.join(" | ")
            );
        }
    }
    Ok(())
}
