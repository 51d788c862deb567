//! Replays a stage from its checkpoint up to minibatch K and reports, for that minibatch, the
//! gradients of both backends and the largest magnitudes inside the reference's forward pass:
//! `cargo run --release -p hsnn-train --example diagnose_minibatch -- CHECKPOINT EXPERIMENT DATA K`.
//! A debugging aid for a run that stopped on a non-finite gradient.

use hsnn_optimized::OptimizedBackend;
use hsnn_reference::network::PreparedNetwork;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::Trainer;
use hsnn_train::experiment::Experiment;
use hsnn_train::training_loop::{epoch_order, Checkpoint};
use hsnn_train::{data, optimizer::adam_update};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [checkpoint, experiment, directory, target] = &arguments[..] else {
        return Err("usage: CHECKPOINT EXPERIMENT DATA K".into());
    };
    let experiment = Experiment::load(Some(std::path::Path::new(experiment)))?;
    let target: u64 = target.parse()?;
    let stage = &experiment.stages[0];
    let mut checkpoint = Checkpoint::load(
        std::path::Path::new(checkpoint),
        &experiment.name,
        &stage.name,
    )?;
    let loaded = data::load(Some(std::path::Path::new(directory)), &experiment.data)?;
    let samples = loaded.split.train.len();
    let per_epoch = samples.div_ceil(experiment.batch_size) as u64;
    let minibatch = |k: u64| {
        let epoch = (k / per_epoch) as usize;
        let position = (k % per_epoch) as usize;
        let order = epoch_order(samples, experiment.seed, 0, epoch);
        let indices: Vec<usize> = order[position * experiment.batch_size
            ..((position + 1) * experiment.batch_size).min(samples)]
            .to_vec();
        let ids = indices
            .iter()
            .map(|&index| ((epoch as u64) << 32) | index as u64)
            .collect();
        data::batch(&loaded.split.train, &indices, ids)
    };
    while checkpoint.minibatches_completed < target {
        let (sequences, labels) = minibatch(checkpoint.minibatches_completed)?;
        let output = OptimizedBackend.gradients(&checkpoint.model, &sequences, &labels)?;
        adam_update(
            &experiment.optimizer,
            &mut checkpoint.optimizer,
            &mut checkpoint.model.weights,
            &output.gradients,
        )?;
        checkpoint.minibatches_completed += 1;
        eprintln!(
            "replayed minibatch {} (loss {:.4})",
            checkpoint.minibatches_completed - 1,
            output.loss
        );
    }
    let (sequences, labels) = minibatch(target)?;
    let model = &checkpoint.model;
    let weights = &model.weights;
    println!("e_x {:?}", weights.encoder_input.data);
    let largest = |values: &[f64]| values.iter().fold(0.0f64, |acc, v| acc.max(v.abs()));
    println!(
        "max |e_h| {:e}, max |e_m| {:e}",
        largest(
            &weights
                .encoder_hidden
                .as_ref()
                .map(|t| t.data.clone())
                .unwrap_or_default()
        ),
        largest(
            &weights
                .encoder_memory
                .as_ref()
                .map(|t| t.data.clone())
                .unwrap_or_default()
        )
    );
    let optimized = OptimizedBackend.gradients(model, &sequences, &labels)?;
    for (name, tensor) in optimized.gradients.named() {
        let bad = tensor.data.iter().filter(|v| !v.is_finite()).count();
        println!(
            "optimized gradient {name}: {bad} non-finite, max |finite| {:e}",
            tensor
                .data
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |a, v| a.max(v.abs()))
        );
    }
    let network = PreparedNetwork::new(model)?;
    let mut worst = (0.0f64, 0.0f64, 0.0f64, 0usize);
    for sample in 0..sequences.batch {
        let record = network.simulate(
            &sequences.data[sample * 784..(sample + 1) * 784],
            784,
            sequences.sample_ids[sample],
        )?;
        let memory = record
            .memory
            .iter()
            .map(|m| largest(m.as_slice()))
            .fold(0.0, f64::max);
        let input = record
            .memory_input
            .iter()
            .map(|u| largest(u.as_slice()))
            .fold(0.0, f64::max);
        let logits = largest(record.logits.as_slice());
        if memory > worst.0 {
            worst = (memory, input, logits, sample);
        }
    }
    println!(
        "reference forward: largest |m| {:e}, |u| {:e}, |logit| {:e} (sequence {})",
        worst.0, worst.1, worst.2, worst.3
    );
    let reference = ReferenceBackend.gradients(model, &sequences, &labels)?;
    println!(
        "reference loss {} vs optimized {}",
        reference.loss, optimized.loss
    );
    for (name, tensor) in reference.gradients.named() {
        println!(
            "reference gradient {name}: max |g| {:e}",
            largest(&tensor.data)
        );
    }
    Ok(())
}
