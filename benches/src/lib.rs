//! Inputs shared by the criterion benchmarks of `benches/backends.rs`: the paper's psMNIST
//! network (SPEC.md clause N4: 102,027 parameters) with deterministic weights of training's
//! scale, and pixel-like input sequences. Run with `cargo bench -p hsnn-benches`.

use hsnn_spec::{
    initial_state::splitmix64, Model, NetworkConfig, QuantizerPlacement, SequenceBatch, Weights,
};

/// A value in `[-scale, scale)` from a counter, so every run times the same numbers.
fn value(counter: u64, scale: f64) -> f64 {
    ((splitmix64(counter) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
}

/// The paper's network (clause N4) with weights of scale 0.05 (0.5 for the encoders), spiking
/// at the hidden units with dt `dt` when `dt` is given.
pub fn paper_model(dt: Option<f64>) -> Model {
    let mut config = NetworkConfig::psmnist();
    if let Some(dt) = dt {
        config.quantizer.placement = QuantizerPlacement::HIDDEN;
        config.quantizer.dt = dt;
    }
    let mut weights = Weights::zeros(&config);
    for (tensor_index, (name, tensor)) in weights.named_mut().into_iter().enumerate() {
        let scale = if name.starts_with("encoder") {
            0.5
        } else {
            0.05
        };
        for (index, entry) in tensor.data.iter_mut().enumerate() {
            *entry = value(((tensor_index as u64) << 40) | index as u64, scale);
        }
    }
    Model::new(config, weights).expect("the paper's network is valid")
}

/// `batch` sequences of 784 pixel-like inputs in `[0, 1)`, with labels.
pub fn pixel_batch(batch: usize) -> (SequenceBatch, Vec<usize>) {
    let data = (0..batch * 784)
        .map(|index| value(1 << 50 | index as u64, 0.5) + 0.5)
        .collect();
    let sequences = SequenceBatch::new(batch, 784, 1, data).expect("valid batch");
    (sequences, (0..batch).map(|sample| sample % 10).collect())
}
