//! Runs a model on the reference and the optimized backend over the first N test images and
//! reports how they differ (SPEC.md clause C2): accuracy of each, predictions that differ, and
//! for a spiking model the spike counts that differ (how many, by how much, in how many
//! sequences).
//!
//! `cargo run --release -p hsnn-train --example compare_backends -- MODEL DATA N [DT]`
//! (DATA: a folder of MNIST files or `embedded`; MODEL may be gzipped; DT overrides the
//! model's dt). The data settings are the model file's provenance when it has one, else the
//! paper's (permutation seed 0).

use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{Backend, ForwardOptions, TraceLevel};
use hsnn_train::data::{self, batch, predicted_class};
use hsnn_train::experiment::DataConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (path, directory, count, dt) = match &arguments[..] {
        [path, directory, count] => (path, directory, count, None),
        [path, directory, count, dt] => (path, directory, count, Some(dt.parse::<f64>()?)),
        _ => return Err("usage: MODEL DATA N [DT]".into()),
    };
    let count: usize = count.parse()?;
    let mut model = hsnn_train::model_file::read_model_file(std::path::Path::new(path))?;
    if let Some(dt) = dt {
        model.config.quantizer.dt = dt;
    }
    let config = DataConfig::recorded_in(&model, Some(count));
    let directory = (directory != "embedded").then(|| std::path::Path::new(directory));
    let loaded = data::load(directory, &config)?;
    let test = &loaded.split.test;
    eprintln!("data: {}", loaded.description);
    let options = ForwardOptions {
        trace: TraceLevel::Counts,
    };
    let (mut correct_reference, mut correct_optimized, mut predictions_differ) = (0, 0, 0);
    let (mut counts_compared, mut counts_differ, mut largest_difference) = (0u64, 0u64, 0i64);
    let mut sequences_with_a_difference = 0;
    let mut done = 0;
    const CHUNK: usize = 50;
    while done < test.len() {
        let indices: Vec<usize> = (done..(done + CHUNK).min(test.len())).collect();
        let ids = indices.iter().map(|&index| index as u64).collect();
        let (sequences, labels) = batch(test, &indices, ids)?;
        let reference = ReferenceBackend.forward(&model, &sequences, &options)?;
        let optimized = OptimizedBackend.forward(&model, &sequences, &options)?;
        for (sample, label) in labels.iter().enumerate() {
            let by_reference = predicted_class(reference.logits.row(sample));
            let by_optimized = predicted_class(optimized.logits.row(sample));
            correct_reference += usize::from(by_reference == *label);
            correct_optimized += usize::from(by_optimized == *label);
            predictions_differ += usize::from(by_reference != by_optimized);
        }
        for (site_reference, site_optimized) in
            reference.trace.sites.iter().zip(&optimized.trace.sites)
        {
            let per_sequence = site_reference.steps * site_reference.neurons;
            for sample in 0..site_reference.batch {
                let range = sample * per_sequence..(sample + 1) * per_sequence;
                let mut differs = false;
                let reference_counts = site_reference.counts.range_to_vec(range.start, range.end);
                let optimized_counts = site_optimized.counts.range_to_vec(range.start, range.end);
                for (a, b) in reference_counts.iter().zip(&optimized_counts) {
                    counts_compared += 1;
                    if a != b {
                        counts_differ += 1;
                        largest_difference = largest_difference.max((a - b).abs());
                        differs = true;
                    }
                }
                sequences_with_a_difference += usize::from(differs);
            }
        }
        done += indices.len();
        eprintln!("{done} of {} sequences", test.len());
    }
    let percent = |part: usize| 100.0 * part as f64 / test.len() as f64;
    println!(
        "model {path}, placement {}, dt {}, {} test sequences",
        model.config.quantizer.placement.name(),
        model.config.quantizer.dt,
        test.len()
    );
    println!(
        "accuracy: reference {:.2} %, optimized {:.2} %; predictions that differ: {predictions_differ}",
        percent(correct_reference),
        percent(correct_optimized)
    );
    if counts_compared > 0 {
        println!(
            "spike counts: {counts_differ} of {counts_compared} differ ({:.2e}), largest |difference| \
             {largest_difference}, in {sequences_with_a_difference} of {} sequences",
            counts_differ as f64 / counts_compared as f64,
            test.len()
        );
    }
    Ok(())
}
