//! # hsnn-optimized: the same math as the reference, fast
//!
//! An implementation of the `Backend` and `Trainer` traits of hsnn-spec that computes in f32
//! on contiguous batch-major buffers:
//!
//! - every product of SPEC.md clause L4 (and of the backward pass, clause T3) is one matrix
//!   product over a shard of sequences: on AVX-512 CPUs the per-step ones on weights packed
//!   once ([`packed`]), otherwise and for the rest through the `gemm` crate's SIMD kernels
//!   chosen at run time ([`kernels`]);
//! - the weight gradients of `W_h` and `W_m` are summed inside the backward recurrence, 4
//!   steps' terms per product ([`packed::transposed_product`]), the others are one product
//!   each over all steps of a shard after it ([`network`]); the per-step history buffers are
//!   reused from a per-thread pool, and the backward's per-step loops over values are
//!   compiled for AVX-512 where present ([`elementwise`]);
//! - the quantizer runs over whole rows of neurons with the operations of clause Q2 in f32
//!   ([`quantizer`]); tanh is a vectorizable polynomial accurate to a few ulps;
//! - threads: a batch is cut into shards of [`SHARD_SEQUENCES`] consecutive sequences, each
//!   shard runs all its steps on one thread (no synchronisation per step), and shard results
//!   are combined in shard order, so 1, 2 or 4 threads give identical bits (clause T8).
//!
//! It depends on hsnn-spec only. Conformance (SPEC.md section C): the backend suite at C2
//! (`F32_EXPLAINED`), the trainer suite at the gradient bound of clause C3.

pub mod activation;
pub mod elementwise;
pub mod kernels;
pub mod legendre;
pub mod network;
pub mod packed;
pub mod peak;
pub mod quantizer;
mod scratch;

use hsnn_spec::{
    Activation, Backend, CountTally, Counts, ForwardOptions, ForwardOutput, GradientOutput,
    HsnnError, LmuConfig, LmuMatrices, LossFunction, Model, QuantizerRun, Result, SequenceBatch,
    SiteTrace, Tensor2, Trace, TraceLevel, Trainer, Weights,
};
use rayon::prelude::*;

use network::{Network, ShardOutput};
use quantizer::{initial_state_f32, Quantizer};

/// Sequences per shard: the unit of parallel work, fixed so that results do not depend on the
/// thread count (clause T8). 50 puts one shard of a minibatch of 100 on each of two cores;
/// each shard's products have 50 rows, enough for the SIMD kernels to run near their peak.
pub const SHARD_SEQUENCES: usize = 50;

/// The optimized backend: f32, SIMD products, one thread per shard of sequences.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptimizedBackend;

/// Runs `work` on every shard of `batch` in parallel and returns the results in shard order.
fn per_shard<T: Send>(
    batch: &SequenceBatch,
    work: impl Fn(std::ops::Range<usize>) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    shard_ranges(batch).into_par_iter().map(&work).collect()
}

/// The shards of a batch: consecutive ranges of [`SHARD_SEQUENCES`] sequences.
fn shard_ranges(batch: &SequenceBatch) -> Vec<std::ops::Range<usize>> {
    (0..batch.batch)
        .step_by(SHARD_SEQUENCES)
        .map(|start| start..(start + SHARD_SEQUENCES).min(batch.batch))
        .collect()
}

impl Backend for OptimizedBackend {
    fn name(&self) -> &str {
        "optimized"
    }

    fn lmu_matrices(&self, config: &LmuConfig) -> Result<LmuMatrices> {
        legendre::lmu_matrices(config.order, config.theta, config.discretizer)
            .map(|matrices| (*matrices).clone())
    }

    fn quantize(
        &self,
        activation: Activation,
        dt: f64,
        amplitude: f64,
        inputs: &Tensor2,
        initial_state: &[f64],
    ) -> Result<QuantizerRun> {
        hsnn_spec::backend::check_quantize_arguments(dt, amplitude, inputs, initial_state)?;
        let quantizer = Quantizer {
            activation,
            dt: dt as f32,
            amplitude: amplitude as f32,
        };
        let neurons = inputs.cols;
        let cells = inputs.rows * neurons;
        let mut states: Vec<f32> = initial_state
            .iter()
            .map(|&v| initial_state_f32(v))
            .collect();
        let mut counts = vec![0i32; cells];
        let mut outputs = vec![0.0f32; cells];
        let mut integrators = vec![0.0f32; cells];
        let mut rates = vec![0.0f32; cells];
        let row_inputs: Vec<f32> = inputs.data.iter().map(|&x| x as f32).collect();
        for step in 0..inputs.rows {
            let range = step * neurons..(step + 1) * neurons;
            quantizer.step_row(
                &row_inputs[range.clone()],
                &mut states,
                &mut outputs[range.clone()],
                &mut counts[range.clone()],
                &mut integrators[range.clone()],
                &mut rates[range],
            )?;
        }
        Ok(QuantizerRun {
            counts: counts.into_iter().map(i64::from).collect(),
            outputs: outputs.into_iter().map(f64::from).collect(),
            integrator: integrators.into_iter().map(f64::from).collect(),
            final_state: states.into_iter().map(f64::from).collect(),
        })
    }

    fn forward(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        options: &ForwardOptions,
    ) -> Result<ForwardOutput> {
        let network = Network::new(model)?;
        network.check_batch(batch)?;
        let sequence_length = batch.steps * batch.features;
        let config = &model.config;
        let placement = config.quantizer.placement;
        let recording = options.trace != TraceLevel::None;
        let tallying = options.trace == TraceLevel::Tally;
        // Each shard records its counts in the narrowest width that holds them (one byte per
        // neuron and step where a count fits in i8), and the batch's trace joins them. At
        // level tally each shard tallies its own counts instead, and no count is written.
        let ranges = shard_ranges(batch);
        let mut shards: Vec<ShardOutput> = ranges
            .into_par_iter()
            .map(|range| {
                network.forward_shard(
                    &batch.data[range.start * sequence_length..range.end * sequence_length],
                    &batch.sample_ids[range],
                    batch.steps,
                    options.trace,
                    false,
                )
            })
            .collect::<Result<_>>()?;
        let mut logits = Vec::with_capacity(batch.batch * config.output_size);
        let mut hidden = Vec::new();
        for shard in &shards {
            logits.extend(shard.logits.iter().map(|&value| f64::from(value)));
            hidden.extend_from_slice(&shard.hidden_trace);
        }
        let mut sites = Vec::new();
        for site in placement.sites().filter(|_| recording) {
            let mut integrator = Vec::new();
            let mut counts = Vec::new();
            let mut tally = tallying.then(CountTally::default);
            for shard in &mut shards {
                if let Some(record) = shard.sites[site].as_mut() {
                    integrator.extend_from_slice(&record.integrator);
                    counts.push(std::mem::take(&mut record.counts));
                    if let (Some(tally), Some(shard_tally)) = (&mut tally, record.tally.take()) {
                        tally.join(shard_tally.finish());
                    }
                }
            }
            sites.push(SiteTrace::of_site(
                site,
                config,
                (batch.batch, batch.steps),
                Counts::concatenated(counts),
                integrator,
                tally,
            ));
        }
        Ok(ForwardOutput {
            logits: Tensor2::from_row_major(batch.batch, config.output_size, logits)?,
            trace: Trace {
                dt: config.quantizer.dt,
                sites,
                hidden,
            },
        })
    }
}

impl Trainer for OptimizedBackend {
    fn gradients_with_loss(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        labels: &[usize],
        loss_function: LossFunction,
    ) -> Result<GradientOutput> {
        let network = Network::new(model)?;
        network.check_batch(batch)?;
        let outputs = model.config.output_size;
        if labels.len() != batch.batch {
            return Err(HsnnError::ShapeMismatch {
                name: "labels".into(),
                expected: format!("{} (one per sequence)", batch.batch),
                found: labels.len().to_string(),
            });
        }
        if let Some(label) = labels.iter().find(|&&label| label >= outputs) {
            return Err(HsnnError::invalid(
                "labels",
                format!("must be below output_size {outputs}, found {label}"),
            ));
        }
        let scale = 1.0 / batch.batch as f64;
        let sequence_length = batch.steps * batch.features;
        let shards = per_shard(batch, |range| {
            let forward = network.forward_shard(
                &batch.data[range.start * sequence_length..range.end * sequence_length],
                &batch.sample_ids[range.clone()],
                batch.steps,
                TraceLevel::None,
                true,
            )?;
            let mut loss = 0.0;
            let mut logits = Vec::with_capacity(forward.logits.len());
            let mut dlogits = Vec::with_capacity(forward.logits.len());
            for (row, &label) in forward.logits.chunks(outputs).zip(&labels[range]) {
                let wide: Vec<f64> = row.iter().map(|&value| f64::from(value)).collect();
                let (row_loss, gradient) = loss_function.loss_and_logit_gradient(&wide, label);
                dlogits.extend(gradient.iter().map(|&value| (value * scale) as f32));
                loss += row_loss;
                logits.extend(wide);
            }
            let gradients = network.backward_shard(&forward, &dlogits)?;
            Ok((loss, logits, gradients))
        })?;
        let mut gradients = Weights::zeros(&model.config);
        let mut loss = 0.0;
        let mut logits = Vec::with_capacity(batch.batch * outputs);
        for (shard_loss, shard_logits, shard_gradients) in shards {
            loss += shard_loss;
            logits.extend(shard_logits);
            for ((name, target), (source_name, source)) in gradients
                .named_mut()
                .into_iter()
                .zip(&shard_gradients.tensors)
            {
                debug_assert_eq!(name, *source_name);
                for (target, &value) in target.data.iter_mut().zip(source) {
                    *target += f64::from(value);
                }
            }
        }
        Ok(GradientOutput {
            loss: loss * scale,
            gradients,
            logits: Tensor2::from_row_major(batch.batch, outputs, logits)?,
        })
    }
}
