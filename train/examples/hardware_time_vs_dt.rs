//! The modeled chip's time per sequence against dt (SPEC.md H8, H10; issue 7's bench): its
//! event-driven part grows with the events and their set bits, its dense part (the memory and
//! its projections) does not change. For each dt: events, additions and dense MACs per
//! inference as the chip counted them, and the wall time per sequence on one thread (the
//! fastest of `REPEATS` runs over the same sequences).
//!
//! `cargo run --release -p hsnn-train --example hardware_time_vs_dt -- MODEL N DT[,DT...]`
//! (MODEL may be gzipped; the first N embedded test images).

use std::time::Instant;

use hsnn_hardware::{run_batch, Chip};
use hsnn_reference::compiler::convert;
use hsnn_spec::fixed::ConversionOptions;
use hsnn_train::data::{self, batch};
use hsnn_train::experiment::DataConfig;

const REPEATS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [path, count, dts] = &arguments[..] else {
        return Err("usage: MODEL N DT[,DT...]".into());
    };
    let count: usize = count.parse()?;
    let dts: Vec<f64> = dts.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let original = hsnn_train::model_file::read_model_file(std::path::Path::new(path))?;
    let config = DataConfig {
        validation_size: None,
        limit: Some(count),
        permutation_seed: 0,
        recipe: hsnn_spec::DataRecipe::KerasLmuExample,
        file: None,
    };
    let test = data::load(None, &config)?.split.test;
    let indices: Vec<usize> = (0..test.len()).collect();
    let (sequences, _) = batch(&test, &indices, (0..test.len() as u64).collect())?;
    println!(
        "model {path}, {} sequences of {} steps, one thread, fastest of {REPEATS}\n",
        sequences.batch, sequences.steps
    );
    println!("| dt | events | synaptic events | additions | dense MACs | ms per sequence | ms per million additions + MACs |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for dt in dts {
        let mut model = original.clone();
        model.config.quantizer.dt = dt;
        let chip = Chip::new(convert(&model, &ConversionOptions::default())?)?;
        let mut fastest = f64::INFINITY;
        let mut counters = None;
        for _ in 0..REPEATS {
            let start = Instant::now();
            let (_, counted) = run_batch(&chip, &sequences, false, 1)?;
            fastest = fastest.min(start.elapsed().as_secs_f64());
            counters = Some(counted);
        }
        let counters = counters.ok_or("no run")?;
        let per = |total: u64| total as f64 / counters.sequences as f64;
        let (events, synaptic, additions) = counters.sites.iter().fold((0, 0, 0), |sum, site| {
            (
                sum.0 + site.events,
                sum.1 + site.total(|t| t.synaptic_events),
                sum.2 + site.total(|t| t.additions),
            )
        });
        let macs = per(counters.dense_macs());
        let milliseconds = 1e3 * fastest / counters.sequences as f64;
        println!(
            "| {dt} | {:.0} | {:.0} | {:.0} | {macs:.0} | {milliseconds:.1} | {:.3} |",
            per(events),
            per(synaptic),
            per(additions),
            milliseconds / ((per(additions) + macs) / 1e6)
        );
    }
    Ok(())
}
