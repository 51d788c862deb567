//! `hsnn bench`: times training steps and inference batches of an experiment's network on one
//! backend, on the first sequences of the embedded psMNIST subset. What `benches/peers` calls
//! for hsnn's side of the comparison with keras-lmu; figures are wall-clock seconds.

use std::time::Instant;

use hsnn_spec::{ForwardOptions, Model, QuantizerPlacement, TraceLevel, Trainer};
use hsnn_train::data;
use hsnn_train::experiment::Experiment;
use hsnn_train::initialization::initial_weights;
use hsnn_train::optimizer::{adam_state, adam_update};
use hsnn_train::TrainResult;
use serde::Serialize;

/// The `format` tag of `hsnn bench --json` output.
pub const BENCH_FORMAT: &str = "hsnn-bench";
/// Its version.
pub const BENCH_FORMAT_VERSION: u32 = 1;

/// What `hsnn bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Always [`BENCH_FORMAT`].
    pub format: &'static str,
    /// Always [`BENCH_FORMAT_VERSION`].
    pub format_version: u32,
    /// How it was made: hsnn version and command.
    pub generator: String,
    /// The experiment whose network was timed.
    pub experiment: String,
    /// The backend.
    pub backend: String,
    /// Worker threads of the pool.
    pub threads: usize,
    /// Trainable parameters of the network.
    pub trainable_parameters: usize,
    /// Sequences per batch (the experiment's batch size).
    pub batch: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Timed repetitions of each measurement (after one untimed warm-up).
    pub repetitions: usize,
    /// Median seconds of one training step (gradients of a minibatch and an Adam update),
    /// non-spiking.
    pub train_step_s: f64,
    /// Every timed training step, seconds.
    pub train_step_samples_s: Vec<f64>,
    /// Sequences per second of the non-spiking forward pass (median batch time).
    pub inference_samples_per_s: f64,
    /// Sequences per second of the forward pass with the last stage's placement at its final
    /// dt, counts recorded (median batch time).
    pub spiking_inference_samples_per_s: f64,
    /// The placement and dt of the spiking measurement.
    pub spiking_setting: String,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    }
}

/// Times `repetitions` training steps and inference batches of `experiment`'s network.
pub fn bench<T: Trainer>(
    trainer: &T,
    experiment: &Experiment,
    repetitions: usize,
) -> TrainResult<BenchReport> {
    let mut data_config = experiment.data.clone();
    // The embedded subset has 3,000 training images; the batch needs only the first few.
    data_config.validation_size = Some(500);
    data_config.limit = None;
    let loaded = data::load(None, &data_config)?;
    let size = experiment.batch_size.min(loaded.split.train.len());
    let indices: Vec<usize> = (0..size).collect();
    let ids = indices.iter().map(|&index| index as u64).collect();
    let (batch, labels) = data::batch(&loaded.split.train, &indices, ids)?;
    let mut model = Model::new(
        experiment.network.clone(),
        initial_weights(&experiment.network, experiment.seed),
    )?;
    model.config.quantizer.placement = QuantizerPlacement::None;
    let mut optimizer = adam_state(&model.config);
    let mut train_times = Vec::new();
    for repetition in 0..=repetitions {
        let start = Instant::now();
        let output = trainer.gradients(&model, &batch, &labels)?;
        adam_update(
            &experiment.optimizer,
            &mut optimizer,
            &mut model.weights,
            &output.gradients,
        )?;
        if repetition > 0 {
            train_times.push(start.elapsed().as_secs_f64());
        }
    }
    let time_forward = |model: &Model, trace: TraceLevel| -> TrainResult<f64> {
        let mut times = Vec::new();
        for repetition in 0..=repetitions {
            let start = Instant::now();
            trainer.forward(model, &batch, &ForwardOptions { trace })?;
            if repetition > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        Ok(size as f64 / median(&mut times))
    };
    let inference = time_forward(&model, TraceLevel::None)?;
    let last = &experiment.stages[experiment.stages.len() - 1];
    let mut spiking = model.clone();
    spiking.config.quantizer.placement = last.placement;
    spiking.config.quantizer.dt = last.schedule.end();
    let spiking_inference = time_forward(&spiking, TraceLevel::Counts)?;
    let train_step_samples_s = train_times.clone();
    Ok(BenchReport {
        format: BENCH_FORMAT,
        format_version: BENCH_FORMAT_VERSION,
        generator: format!("hsnn {} (hsnn bench)", env!("CARGO_PKG_VERSION")),
        experiment: experiment.name.clone(),
        backend: trainer.name().into(),
        threads: rayon::current_num_threads(),
        trainable_parameters: experiment.network.trainable_parameter_count(),
        batch: size,
        steps: batch.steps,
        repetitions,
        train_step_s: median(&mut train_times),
        train_step_samples_s,
        inference_samples_per_s: inference,
        spiking_inference_samples_per_s: spiking_inference,
        spiking_setting: format!(
            "placement {}, dt {}",
            last.placement.name(),
            last.schedule.end()
        ),
    })
}

/// The report as lines for a person.
pub fn render(report: &BenchReport) -> String {
    format!(
        "{} ({} parameters), backend {}, {} threads, batch {} x {} steps, {} repetitions:\n\
         training step (gradients + Adam, non-spiking): median {:.3} s (min {:.3} s)\n\
         inference, non-spiking: {:.0} sequences/s\n\
         inference, spiking ({}): {:.0} sequences/s",
        report.experiment,
        report.trainable_parameters,
        report.backend,
        report.threads,
        report.batch,
        report.steps,
        report.repetitions,
        report.train_step_s,
        report
            .train_step_samples_s
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        report.inference_samples_per_s,
        report.spiking_setting,
        report.spiking_inference_samples_per_s
    )
}
