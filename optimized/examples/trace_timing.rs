//! Times inference of the paper's network without spikes, and with spikes on the hidden units
//! at dt 10 at each trace level (none, tally, counts), alternated within each repetition so
//! that a noisy machine slows them alike, and prints each one's median and its ratio to the
//! network without spikes (SPEC N3's trace levels):
//! `cargo run --release -p hsnn-optimized --example trace_timing -- [batch] [repeats]`.

use std::time::Instant;

use hsnn_optimized::OptimizedBackend;
use hsnn_spec::{
    Backend, ForwardOptions, Model, NetworkConfig, QuantizerPlacement, SequenceBatch, TraceLevel,
    Weights,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = arguments.first().copied().unwrap_or(100);
    let repeats = arguments.get(1).copied().unwrap_or(5);
    let mut config = NetworkConfig::psmnist();
    config.quantizer.placement = QuantizerPlacement::HIDDEN;
    config.quantizer.dt = 10.0;
    let mut weights = Weights::zeros(&config);
    let mut state = 1u64;
    for (_, tensor) in weights.named_mut() {
        for value in tensor.data.iter_mut() {
            state = hsnn_spec::initial_state::splitmix64(state);
            *value = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
        }
    }
    let mut plain_config = config.clone();
    plain_config.quantizer.placement = QuantizerPlacement::NONE;
    let plain = Model::new(plain_config, weights.clone())?;
    let spiking = Model::new(config, weights)?;
    let data: Vec<f64> = (0..batch * 784)
        .map(|i| ((i * 37) % 256) as f64 / 255.0)
        .collect();
    let sequences = SequenceBatch::new(batch, 784, 1, data)?;
    let runs = [
        ("non-spiking", &plain, TraceLevel::None),
        ("spiking, trace none", &spiking, TraceLevel::None),
        ("spiking, trace tally", &spiking, TraceLevel::Tally),
        ("spiking, trace counts", &spiking, TraceLevel::Counts),
    ];
    let mut times = vec![Vec::new(); runs.len()];
    for repetition in 0..=repeats {
        for ((_, model, level), times) in runs.iter().zip(times.iter_mut()) {
            let start = Instant::now();
            let output =
                OptimizedBackend.forward(model, &sequences, &ForwardOptions { trace: *level })?;
            drop(output);
            if repetition > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
    }
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|times| {
            times.sort_by(f64::total_cmp);
            times[times.len() / 2]
        })
        .collect();
    for ((name, _, _), median) in runs.iter().zip(&medians) {
        println!(
            "{name}: median {median:.3} s per batch of {batch}, {:.3}x the non-spiking",
            median / medians[0]
        );
    }
    Ok(())
}
