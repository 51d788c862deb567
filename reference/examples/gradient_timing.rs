//! Times one reference gradient evaluation on psMNIST-length sequences:
//! `cargo run --release -p hsnn-reference --example gradient_timing -- HIDDEN ORDER BATCH`.

use hsnn_reference::training::{initial_weights, loss_and_gradients};
use hsnn_spec::{Model, NetworkConfig, SequenceBatch};

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
    let model = match Model::new(config.clone(), initial_weights(&config, 1)) {
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
    match loss_and_gradients(&model, &sequences, &labels) {
        Ok(output) => println!(
            "hidden {hidden}, order {order}, batch {batch}: loss {:.4}, {:.1} ms per sequence",
            output.loss,
            start.elapsed().as_secs_f64() * 1000.0 / batch as f64
        ),
        Err(error) => eprintln!("error: {error}"),
    }
}
