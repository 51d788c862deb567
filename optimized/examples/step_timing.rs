//! Times one training step (gradients of a minibatch) and one inference batch of the paper's
//! psMNIST network (102,027 parameters) on random data:
//! `cargo run --release -p hsnn-optimized --example step_timing -- [batch] [repeats]`.

use std::time::Instant;

use hsnn_optimized::OptimizedBackend;
use hsnn_spec::{
    Backend, ForwardOptions, Model, NetworkConfig, SequenceBatch, TraceLevel, Trainer, Weights,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = arguments.first().copied().unwrap_or(100);
    let repeats = arguments.get(1).copied().unwrap_or(3);
    let config = NetworkConfig::psmnist();
    let mut weights = Weights::zeros(&config);
    let mut state = 1u64;
    for (_, tensor) in weights.named_mut() {
        for value in tensor.data.iter_mut() {
            state = hsnn_spec::initial_state::splitmix64(state);
            *value = ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
        }
    }
    let model = Model::new(config, weights)?;
    let data: Vec<f64> = (0..batch * 784)
        .map(|i| ((i * 37) % 256) as f64 / 255.0)
        .collect();
    let sequences = SequenceBatch::new(batch, 784, 1, data)?;
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let backend = OptimizedBackend;
    for _ in 0..repeats {
        let start = Instant::now();
        let output = backend.gradients(&model, &sequences, &labels)?;
        let train = start.elapsed().as_secs_f64();
        let start = Instant::now();
        backend.forward(
            &model,
            &sequences,
            &ForwardOptions {
                trace: TraceLevel::None,
            },
        )?;
        let infer = start.elapsed().as_secs_f64();
        println!(
            "batch {batch}: training step {train:.3} s (loss {:.4}), inference {infer:.3} s ({:.0} samples/s)",
            output.loss,
            batch as f64 / infer
        );
    }
    Ok(())
}
