//! Times one reference gradient evaluation on psMNIST-length sequences:
//! `cargo run --release -p hsnn-reference --example gradient_timing -- HIDDEN ORDER BATCH`.

use hsnn_reference::training::loss_and_gradients;
use hsnn_spec::{LossFunction, Model, NetworkConfig, SequenceBatch, Weights};

fn main() {
    let arguments: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|argument| argument.parse().ok())
        .collect();
    let (hidden, order, batch) = match arguments[..] {
        [hidden, order, batch] => (hidden, order, batch),
        _ => (32, 32, 10),
    };
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = hidden;
    config.lmu.order = order;
    // Weights of training's scale from a counter (the timing does not depend on their values).
    let mut weights = Weights::zeros(&config);
    for (tensor_index, (_, tensor)) in weights.named_mut().into_iter().enumerate() {
        for (index, value) in tensor.data.iter_mut().enumerate() {
            let bits =
                hsnn_spec::initial_state::splitmix64(((tensor_index as u64) << 32) | index as u64);
            *value = ((bits >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.1;
        }
    }
    let model = match Model::new(config.clone(), weights) {
        Ok(model) => model,
        Err(error) => return eprintln!("error: {error}"),
    };
    let inputs: Vec<f64> = (0..batch * 784)
        .map(|index| ((index * 7919) % 255) as f64 / 255.0)
        .collect();
    let Ok(sequences) = SequenceBatch::new(batch, 784, 1, inputs) else {
        return;
    };
    let labels: Vec<usize> = (0..batch).map(|sample| sample % 10).collect();
    let start = std::time::Instant::now();
    match loss_and_gradients(
        &model,
        &sequences,
        &labels,
        LossFunction::SoftmaxCrossEntropy,
    ) {
        Ok(output) => println!(
            "hidden {hidden}, order {order}, batch {batch}: loss {:.4}, {:.1} ms per sequence",
            output.loss,
            start.elapsed().as_secs_f64() * 1000.0 / batch as f64
        ),
        Err(error) => eprintln!("error: {error}"),
    }
}
