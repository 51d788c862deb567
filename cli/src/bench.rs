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
/// Its version (2: the measured peak, the counted FLOPs and the fractions of the peak; 3: the
/// spiking forward pass without a trace and the spiking training step; 4: the spiking forward
/// pass recording the counts' tally, as `eval` does; 5: the dispatch level and the level each
/// kernel ran at).
pub const BENCH_FORMAT_VERSION: u32 = 5;

/// The process's SIMD dispatch level (`HSNN_ISA` or the widest detected) and the level each
/// kernel of `kernels` runs at, as the bench reports record them.
fn levels(
    kernels: Vec<(&'static str, hsnn_spec::isa::IsaLevel)>,
) -> (String, std::collections::BTreeMap<String, String>) {
    (
        hsnn_spec::isa::IsaLevel::current().name().into(),
        kernels
            .into_iter()
            .map(|(kernel, level)| (kernel.to_string(), level.name().to_string()))
            .collect(),
    )
}

/// `kernels` as `name level, ...` for a person.
fn render_levels(kernels: &std::collections::BTreeMap<String, String>) -> String {
    kernels
        .iter()
        .map(|(kernel, level)| format!("{kernel} {level}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
    /// The SIMD dispatch level the process ran at (`HSNN_ISA`, or the widest this CPU has):
    /// `portable`, `avx2` or `avx512`.
    pub isa: String,
    /// The level each of the backend's kernels ran at (the optimized backend's; empty for
    /// the reference).
    pub kernel_levels: std::collections::BTreeMap<String, String>,
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
    /// Median seconds of a training step with the last stage's placement at its final dt (the
    /// spiking-aware stage's step).
    pub spiking_train_step_s: f64,
    /// Sequences per second of the same spiking forward pass recording nothing (trace level
    /// none): the quantizer's own cost, without the counts' 8 bytes per neuron and step.
    pub spiking_untraced_samples_per_s: f64,
    /// Sequences per second of the same spiking forward pass recording the counts' tally
    /// (trace level tally, SPEC N3): what `eval` and `reproduce` record for the metrics.
    pub spiking_tallied_samples_per_s: f64,
    /// The placement and dt of the spiking measurement.
    pub spiking_setting: String,
    /// This machine's measured peak, FLOP/s over the pool's threads
    /// ([`hsnn_optimized::peak::measure_peak`]).
    pub peak_flops_per_s: f64,
    /// How the peak was measured.
    pub peak_method: String,
    /// Counted FLOPs of one training step ([`training_flops`]).
    pub train_step_flops: f64,
    /// Counted FLOPs of one non-spiking inference batch ([`forward_flops`]).
    pub inference_batch_flops: f64,
    /// The training step's FLOP/s as a fraction of the peak.
    pub train_step_fraction_of_peak: f64,
    /// Non-spiking inference's FLOP/s as a fraction of the peak.
    pub inference_fraction_of_peak: f64,
}

/// Multiply-adds per sequence step of the network's dense products, as SPEC.md L4 and N1 state
/// them: the memory input `u_t` (from x, h and m, as connected), the memory update `Abar m +
/// Bbar u` per memory dimension, the hidden pre-activation `z_t` (from x, h and the updated m).
/// A backend may compute fewer (the optimized one's FFT path for an input-driven memory); this
/// is the algorithm's count, the same for every backend.
pub fn step_multiply_adds(config: &hsnn_spec::NetworkConfig) -> u64 {
    let lmu = &config.lmu;
    let (input, hidden, memory, order) = (
        lmu.input_size as u64,
        lmu.hidden_size as u64,
        lmu.memory_size as u64,
        lmu.order as u64,
    );
    let connections = &lmu.connections;
    let memory_input = memory
        * (input
            + if connections.hidden_to_memory {
                hidden
            } else {
                0
            }
            + if connections.memory_to_memory {
                memory * order
            } else {
                0
            });
    let memory_update = memory * (order * order + order);
    let preactivation = hidden
        * (if connections.input_to_hidden {
            input
        } else {
            0
        } + hidden
            + memory * order);
    memory_input + memory_update + preactivation
}

/// Counted FLOPs of a forward pass over `batch` sequences of `steps` steps: two per
/// multiply-add of [`step_multiply_adds`] at every step, and the readout at the last.
pub fn forward_flops(config: &hsnn_spec::NetworkConfig, batch: usize, steps: usize) -> f64 {
    let readout = (config.lmu.hidden_size * config.output_size) as f64;
    2.0 * batch as f64 * (steps as f64 * step_multiply_adds(config) as f64 + readout)
}

/// Counted FLOPs of a training step: the forward pass, and a backward pass (SPEC.md T3) that
/// costs each trained product twice (the gradient of its input and of its weight) and the
/// fixed `Abar` product once (its input's gradient only). Elementwise work and Adam are left
/// out: they are a few FLOPs per value against hundreds per product.
pub fn training_flops(config: &hsnn_spec::NetworkConfig, batch: usize, steps: usize) -> f64 {
    let lmu = &config.lmu;
    let fixed_per_step = (lmu.memory_size * lmu.order * lmu.order) as f64;
    let forward = forward_flops(config, batch, steps);
    let fixed = 2.0 * batch as f64 * steps as f64 * fixed_per_step;
    forward + 2.0 * (forward - fixed) + fixed
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
    model.config.quantizer.placement = QuantizerPlacement::NONE;
    let last = &experiment.stages[experiment.stages.len() - 1];
    let mut spiking = model.clone();
    spiking.config.quantizer.placement = last.placement;
    spiking.config.quantizer.dt = last.schedule.end();
    // The variants are timed in turn within each repetition (non-spiking, spiking, ...), so
    // that a noisy machine slows them alike and their ratios hold within one run.
    let mut spiking_model = spiking.clone();
    let mut optimizers = [adam_state(&model.config), adam_state(&spiking.config)];
    let mut train_times = Vec::new();
    let mut spiking_train_times = Vec::new();
    // The peak is measured between repetitions, not once: on a shared machine a stretch of a
    // few seconds can halve what the cores deliver (seen on 2026-12-02: a bench run's peak
    // read 107 GFLOP/s between runs reading 202-228), and a slowed measurement only ever reads
    // low, so the fastest of them is the machine's.
    let mut peaks = Vec::new();
    for repetition in 0..=repetitions {
        for (which, trained) in [&mut model, &mut spiking_model].into_iter().enumerate() {
            let start = Instant::now();
            let output = trainer.gradients(trained, &batch, &labels)?;
            adam_update(
                &experiment.optimizer,
                &mut optimizers[which],
                &mut trained.weights,
                &output.gradients,
            )?;
            let elapsed = start.elapsed().as_secs_f64();
            if repetition > 0 {
                [&mut train_times, &mut spiking_train_times][which].push(elapsed);
            }
        }
        if repetition > 0 {
            peaks.push(hsnn_optimized::peak::measure_peak(0.3));
        }
    }
    let spiking_train_step_s = median(&mut spiking_train_times);
    let mut forward_times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for repetition in 0..=repetitions {
        for (which, (timed, trace)) in [
            (&model, TraceLevel::None),
            (&spiking, TraceLevel::Counts),
            (&spiking, TraceLevel::None),
            (&spiking, TraceLevel::Tally),
        ]
        .into_iter()
        .enumerate()
        {
            let start = Instant::now();
            trainer.forward(timed, &batch, &ForwardOptions { trace })?;
            if repetition > 0 {
                forward_times[which].push(start.elapsed().as_secs_f64());
            }
        }
        if repetition > 0 {
            peaks.push(hsnn_optimized::peak::measure_peak(0.3));
        }
    }
    let [mut plain, mut counted, mut untraced, mut tallied] = forward_times;
    let inference = size as f64 / median(&mut plain);
    let spiking_inference = size as f64 / median(&mut counted);
    let spiking_untraced = size as f64 / median(&mut untraced);
    let spiking_tallied = size as f64 / median(&mut tallied);
    let train_step_samples_s = train_times.clone();
    let measurements = peaks.len();
    let mut peak = peaks
        .into_iter()
        .max_by(|a, b| a.flops_per_second.total_cmp(&b.flops_per_second))
        .unwrap_or_else(|| hsnn_optimized::peak::measure_peak(1.0));
    if measurements > 1 {
        peak.method = format!(
            "{}; the fastest of {measurements} such measurements between the repetitions",
            peak.method
        );
    }
    let train_step_s = median(&mut train_times);
    let train_step_flops = training_flops(&experiment.network, size, batch.steps);
    let inference_batch_flops = forward_flops(&experiment.network, size, batch.steps);
    let (isa, kernel_levels) = levels(if trainer.name() == "optimized" {
        hsnn_optimized::kernels::kernel_levels()
    } else {
        Vec::new()
    });
    Ok(BenchReport {
        format: BENCH_FORMAT,
        format_version: BENCH_FORMAT_VERSION,
        generator: format!("hsnn {} (hsnn bench)", env!("CARGO_PKG_VERSION")),
        experiment: experiment.name.clone(),
        backend: trainer.name().into(),
        threads: rayon::current_num_threads(),
        isa,
        kernel_levels,
        trainable_parameters: experiment.network.trainable_parameter_count(),
        batch: size,
        steps: batch.steps,
        repetitions,
        train_step_s,
        train_step_samples_s,
        inference_samples_per_s: inference,
        spiking_inference_samples_per_s: spiking_inference,
        spiking_untraced_samples_per_s: spiking_untraced,
        spiking_tallied_samples_per_s: spiking_tallied,
        spiking_train_step_s,
        spiking_setting: format!(
            "placement {}, dt {}",
            last.placement.name(),
            last.schedule.end()
        ),
        peak_flops_per_s: peak.flops_per_second,
        peak_method: peak.method,
        train_step_flops,
        inference_batch_flops,
        train_step_fraction_of_peak: train_step_flops / train_step_s / peak.flops_per_second,
        inference_fraction_of_peak: inference_batch_flops * inference
            / size as f64
            / peak.flops_per_second,
    })
}

/// The `format` tag of `hsnn --backend hardware bench --json` output.
pub const FIXED_BENCH_FORMAT: &str = "hsnn-bench-fixed-point";
/// Its version (3: the dispatch level and the level each kernel ran at).
pub const FIXED_BENCH_FORMAT_VERSION: u32 = 3;

/// What `hsnn --backend hardware bench` measured (SPEC.md H13): the fast engine against the
/// event-driven chip on the shipped spiking paper model, the same batch, one run.
#[derive(Debug, Clone, Serialize)]
pub struct FixedPointBenchReport {
    /// Always [`FIXED_BENCH_FORMAT`].
    pub format: &'static str,
    /// Always [`FIXED_BENCH_FORMAT_VERSION`].
    pub format_version: u32,
    /// How it was made: hsnn version and command.
    pub generator: String,
    /// The model timed: the shipped spiking model, converted at the default options.
    pub model: String,
    /// Worker threads of both engines.
    pub threads: usize,
    /// The SIMD dispatch level the process ran at (`HSNN_ISA`, or the widest this CPU has).
    pub isa: String,
    /// The level each of the fast engine's kernels ran at (SPEC.md H13).
    pub kernel_levels: std::collections::BTreeMap<String, String>,
    /// Sequences per batch (the first embedded test images).
    pub batch: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Timed repetitions of the fast engine (after one untimed warm-up); the chip runs up to 3
    /// times.
    pub repetitions: usize,
    /// Median seconds the chip took for the batch, recording the counts.
    pub chip_batch_s: f64,
    /// Seconds taken to tally the chip's counts afterwards (SPEC.md N3), as `eval`,
    /// `energy` and the width sweep ask of the chip (trace level `tally`).
    pub chip_tally_s: f64,
    /// Median seconds of the fast engine for the same batch, recording the counts.
    pub fast_batch_s: f64,
    /// Median seconds of the fast engine at trace level `tally`, which tallies the counts as
    /// it computes them and stores none.
    pub fast_tallied_batch_s: f64,
    /// `chip_batch_s / fast_batch_s`: both recording the counts.
    pub speedup: f64,
    /// `(chip_batch_s + chip_tally_s) / fast_tallied_batch_s`: both as `eval` runs them.
    pub speedup_tallied: f64,
    /// Whether both engines gave the same integers, tallies and counters at both levels
    /// (they must: H13).
    pub identical: bool,
}

/// Times the fixed-point engines (SPEC.md H13) on the shipped spiking paper model (dt 10,
/// 8-bit weights) over the first `batch` embedded test images, on `threads` threads: the chip
/// up to 3 times, the fast engine `repetitions` times after a warm-up, and checks that every
/// run agrees with the chip's.
pub fn bench_fixed_point(
    batch: usize,
    repetitions: usize,
    threads: usize,
) -> TrainResult<FixedPointBenchReport> {
    let models = hsnn_train::pretrained::shipped_models()?;
    let model = models
        .iter()
        .find(|model| model.config.quantizer.placement != QuantizerPlacement::NONE)
        .ok_or_else(|| {
            hsnn_train::TrainError::Usage("the shipped models hold no spiking model".into())
        })?;
    let fixed = hsnn_reference::compiler::convert(model, &Default::default())?;
    let chip = hsnn_hardware::Chip::new(fixed)?;
    let experiment = hsnn_train::pretrained::paper_experiment()?;
    let mut data_config = experiment.data.clone();
    data_config.validation_size = None;
    let loaded = data::load(None, &data_config)?;
    let size = batch.clamp(1, loaded.split.test.len());
    let indices: Vec<usize> = (0..size).collect();
    let ids = indices.iter().map(|&index| index as u64).collect();
    let (sequences, _) = data::batch(&loaded.split.test, &indices, ids)?;
    // The chip takes seconds per batch: three timed runs (or fewer when fewer were asked for)
    // give its median without a warm-up, whose cost it would not notice.
    let mut chip_times = Vec::new();
    let mut on_chip = None;
    for _ in 0..repetitions.clamp(1, 3) {
        let start = Instant::now();
        let run =
            hsnn_hardware::Engine::Chip.run(&chip, &sequences, TraceLevel::Counts, threads)?;
        chip_times.push(start.elapsed().as_secs_f64());
        on_chip = Some(run);
    }
    let chip_batch_s = median(&mut chip_times);
    let on_chip = on_chip
        .ok_or_else(|| hsnn_train::TrainError::Usage("the chip ran no repetition".into()))?;
    // What the chip engine adds at level tally: its counts tallied after the run.
    let start = Instant::now();
    let chip_tallied = hsnn_hardware::engine::EngineRun::of_counts(
        &chip,
        on_chip.run.clone(),
        on_chip.counters.clone(),
        TraceLevel::Tally,
    );
    let chip_tally_s = start.elapsed().as_secs_f64();
    let mut identical = true;
    let mut time_fast = |level: TraceLevel, expected: &hsnn_hardware::engine::EngineRun| {
        let mut times = Vec::new();
        for repetition in 0..=repetitions {
            let start = Instant::now();
            let fast = hsnn_hardware::Engine::Fast.run(&chip, &sequences, level, threads)?;
            if repetition > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
            identical &= fast == *expected;
        }
        Ok::<f64, hsnn_train::TrainError>(median(&mut times))
    };
    let fast_batch_s = time_fast(TraceLevel::Counts, &on_chip)?;
    let fast_tallied_batch_s = time_fast(TraceLevel::Tally, &chip_tallied)?;
    let (isa, kernel_levels) = levels(hsnn_hardware::fast::kernel_levels(
        hsnn_spec::isa::IsaLevel::current(),
    ));
    Ok(FixedPointBenchReport {
        format: FIXED_BENCH_FORMAT,
        format_version: FIXED_BENCH_FORMAT_VERSION,
        generator: format!(
            "hsnn {} (hsnn --backend hardware bench)",
            env!("CARGO_PKG_VERSION")
        ),
        model: format!(
            "the shipped spiking paper model (placement {}, dt {}), default conversion",
            model.config.quantizer.placement.name(),
            model.config.quantizer.dt
        ),
        threads,
        isa,
        kernel_levels,
        batch: size,
        steps: sequences.steps,
        repetitions,
        chip_batch_s,
        chip_tally_s,
        fast_batch_s,
        fast_tallied_batch_s,
        speedup: chip_batch_s / fast_batch_s,
        speedup_tallied: (chip_batch_s + chip_tally_s) / fast_tallied_batch_s,
        identical,
    })
}

/// The fixed-point report as lines for a person.
pub fn render_fixed_point(report: &FixedPointBenchReport) -> String {
    let per_sequence = |seconds: f64| 1e3 * seconds / report.batch as f64;
    format!(
        "{}, {} threads, batch {} x {} steps, dispatch level {} ({}):\n\
         chip (event-driven), recording the counts: median {:.3} s per batch ({:.1} ms per sequence); \
         tallying them afterwards (as eval): {:.3} s\n\
         fast engine, recording the counts: median {:.3} s per batch ({:.2} ms per sequence) over {} repetitions\n\
         fast engine, tallying the counts (as eval): median {:.3} s per batch ({:.2} ms per sequence)\n\
         speed-up {:.1}x recording the counts, {:.1}x as eval runs both; integers, tallies and counters {}",
        report.model,
        report.threads,
        report.batch,
        report.steps,
        report.isa,
        render_levels(&report.kernel_levels),
        report.chip_batch_s,
        per_sequence(report.chip_batch_s),
        report.chip_tally_s,
        report.fast_batch_s,
        per_sequence(report.fast_batch_s),
        report.repetitions,
        report.fast_tallied_batch_s,
        per_sequence(report.fast_tallied_batch_s),
        report.speedup,
        report.speedup_tallied,
        if report.identical {
            "identical"
        } else {
            "DIFFER (a bug: SPEC.md H13 requires them equal)"
        }
    )
}

/// The report as lines for a person.
pub fn render(report: &BenchReport) -> String {
    format!(
        "{} ({} parameters), backend {}, {} threads, batch {} x {} steps, {} repetitions, dispatch level {} ({}):\n\
         training step (gradients + Adam, non-spiking): median {:.3} s (min {:.3} s); spiking ({}): {:.3} s\n\
         inference, non-spiking: {:.0} sequences/s\n\
         inference, spiking ({}): {:.0} sequences/s recording the counts, {:.0} their tally (as eval), {:.0} nothing\n\
         machine peak: {:.1} GFLOP/s ({})\n\
         training step: {:.2} GFLOP counted, {:.1} GFLOP/s, {:.0} % of the peak\n\
         inference: {:.2} GFLOP per batch counted, {:.1} GFLOP/s, {:.0} % of the peak",
        report.experiment,
        report.trainable_parameters,
        report.backend,
        report.threads,
        report.batch,
        report.steps,
        report.repetitions,
        report.isa,
        render_levels(&report.kernel_levels),
        report.train_step_s,
        report
            .train_step_samples_s
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min),
        report.spiking_setting,
        report.spiking_train_step_s,
        report.inference_samples_per_s,
        report.spiking_setting,
        report.spiking_inference_samples_per_s,
        report.spiking_tallied_samples_per_s,
        report.spiking_untraced_samples_per_s,
        report.peak_flops_per_s / 1e9,
        report.peak_method,
        report.train_step_flops / 1e9,
        report.train_step_flops / report.train_step_s / 1e9,
        100.0 * report.train_step_fraction_of_peak,
        report.inference_batch_flops / 1e9,
        report.inference_batch_flops * report.inference_samples_per_s / report.batch as f64 / 1e9,
        100.0 * report.inference_fraction_of_peak
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper network (SPEC.md N4: 212 hidden, order 256, one memory, every connection),
    /// counted by hand from L4 and N1 per step: u_t from x (1), h (212) and m (256): 469;
    /// Abar m + Bbar u: 256 * 256 + 256 = 65,792; z_t from x (1), h (212) and m (256) for 212
    /// units: 212 * 469 = 99,428; together 165,689 multiply-adds.
    #[test]
    fn paper_network_flops_match_the_hand_count() {
        let experiment = hsnn_train::pretrained::paper_experiment().expect("the paper experiment");
        let config = &experiment.network;
        assert_eq!(step_multiply_adds(config), 165_689);
        // Batch 100 x 784 steps, plus the 212 x 10 readout once per sequence.
        let forward = 2.0 * 100.0 * (784.0 * 165_689.0 + 2_120.0);
        assert_eq!(forward_flops(config, 100, 784), forward);
        // Backward: every trained product twice, Abar (65,536 per step) once.
        let abar = 2.0 * 100.0 * 784.0 * 65_536.0;
        assert_eq!(
            training_flops(config, 100, 784),
            forward + 2.0 * (forward - abar) + abar
        );
    }

    #[test]
    fn absent_connections_cost_nothing() {
        let mut experiment =
            hsnn_train::pretrained::paper_experiment().expect("the paper experiment");
        let connections = &mut experiment.network.lmu.connections;
        connections.hidden_to_memory = false;
        connections.memory_to_memory = false;
        connections.input_to_hidden = false;
        // u_t from x only: 1; the memory update 65,792; z_t from h and m: 212 * 468.
        assert_eq!(
            step_multiply_adds(&experiment.network),
            1 + 65_792 + 212 * 468
        );
    }
}
