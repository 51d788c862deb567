//! The hybrid LMU network in f32 over a shard of sequences at once (SPEC.md clauses L4,
//! N1-N3), and its backward pass (clauses T2, T3).
//!
//! A shard of `S` sequences runs through all steps together. Each step's state is an `S x n`
//! row-major matrix, so every product of clause L4 is one matrix product:
//!
//! ```text
//! U_t = X_t e_x + H_{t-1} e_h + M_{t-1} e_m                    S x memory_size
//! M_t = M_{t-1} Abar^T + U_t Bbar^T     (M as (S*memory_size) x order)
//! Z_t = M_t W_m + H_{t-1} W_h + X_t W_x                        S x hidden
//! H_t = f(Z_t), or Q_f(Z_t)
//! ```
//!
//! Training keeps `X_t`, `M_t`, `H_t` and `f(Z_t)` of every step, time-major, so the backward
//! recurrence needs only the per-step products, and a weight gradient over several steps is
//! one product over their rows: `g(W_m) = [M_t; ...; M_{t+3}]^T [dZ_t; ...; dZ_{t+3}]` summed
//! over groups of `GRADIENT_STEPS` (4) steps inside the recurrence for `W_m` and `W_h`, one such
//! product over all steps after it for the encoders and `W_x`.

use std::borrow::Cow;

use hsnn_spec::{
    initial_state::initial_state, Counts, HsnnError, Model, NetworkConfig, QuantizedSite, Result,
    SequenceBatch, SiteMap, TallyBuilder, TraceLevel,
};

mod input_driven;

use crate::activation::activate_in_place;
use crate::elementwise::{largest_magnitude, outer_product, preactivation_adjoint, row_dots};
use crate::kernels::{matmul, View};
use crate::legendre;
use crate::packed::{transposed_product, PackedMatrix};
use crate::quantizer::{initial_state_f32, Quantizer};
use crate::scratch;

/// Steps whose weight-gradient terms one product forms in the backward pass (clause T3): 4
/// steps of a shard of 50 sequences are an inner dimension of 200, long enough for the packed
/// kernel to run near its speed on longer products, while their `dZ_t` (just written) and
/// `H_t` (just read for `f'`) are still in cache. A constant, so that the order of the sums
/// depends on nothing but the network (clause T8).
const GRADIENT_STEPS: usize = 4;

/// Activation rows, row `r` scaled by `2^exponents[r]` (the adjoint exponent of the row it
/// pairs with, clause T3's rescaling) when some exponent is not 0, otherwise the rows
/// themselves: the common case costs nothing.
fn scaled_rows<'a>(rows: &'a [f32], exponents: &[i32]) -> Cow<'a, [f32]> {
    if exponents.iter().all(|&exponent| exponent == 0) {
        return Cow::Borrowed(rows);
    }
    let width = rows.len() / exponents.len();
    let mut out = rows.to_vec();
    for (chunk, &exponent) in out.chunks_mut(width).zip(exponents) {
        let factor = 2f64.powi(exponent);
        for value in chunk {
            *value = (f64::from(*value) * factor) as f32;
        }
    }
    Cow::Owned(out)
}

/// `gradient += activations^T adjoints` over as many rows as `exponents` has (one per row),
/// the activations scaled by their row's exponent ([`scaled_rows`]): one group of clause T3's
/// weight-gradient terms.
fn add_gradient_terms(
    gradient: &mut [f32],
    (activations, width): (&[f32], usize),
    (adjoints, columns): (&[f32], usize),
    exponents: &[i32],
) {
    transposed_product(
        gradient,
        (&scaled_rows(activations, exponents), width),
        (adjoints, columns),
        exponents.len(),
        true,
    );
}

/// `dst = a b` (or `dst += a b` when `accumulate`) for the row-major `rows x k` matrix in
/// `a`: the per-step products with the inputs and the memory input (clauses L4, T3). With
/// `k = 1` (one input; a memory of one dimension) an elementwise loop over `b`'s one row, in
/// place, with the rounding the general product gives them ([`outer_product`]): setting up a
/// general product is most of the time of such a call.
fn small_product(
    dst: &mut [f32],
    (a, rows, k): (&[f32], usize, usize),
    b: View<'_, f32>,
    accumulate: bool,
) {
    debug_assert_eq!(b.rows(), k, "inner dimensions of a product");
    match b.contiguous_row(0) {
        Some(row) if k == 1 => outer_product(dst, &a[..rows], row, accumulate),
        _ => matmul(dst, View::row_major(a, rows, k), b, accumulate),
    }
}

/// A model's weights and discretized memory in f32, converted once per call at the boundary.
#[derive(Debug, Clone)]
pub struct Network {
    /// The validated configuration.
    pub config: NetworkConfig,
    input: usize,
    hidden: usize,
    memory_size: usize,
    order: usize,
    memory_length: usize,
    outputs: usize,
    b_bar: Vec<f32>,
    encoder_input: Vec<f32>,
    encoder_hidden: Option<Vec<f32>>,
    encoder_memory: Option<Vec<f32>>,
    kernel_input: Option<Vec<f32>>,
    kernel_memory: Vec<f32>,
    readout_kernel: Vec<f32>,
    readout_bias: Vec<f32>,
    /// Each placed site's quantizer (clause N2).
    quantizers: SiteMap<Option<Quantizer>>,
    /// The memory depends on the input alone (no e_h, no e_m): it runs through its impulse
    /// response ([`input_driven`]).
    input_driven: bool,
    matrices: std::sync::Arc<hsnn_spec::LmuMatrices>,
    /// The matrices of the per-step products, packed once (clause C2).
    packed: PackedWeights,
}

/// The right-hand matrices of the products every step of a pass repeats, packed for
/// [`PackedMatrix::product`]: forward `Abar^T`, `W_m`, `W_h`; backward `Abar`, `W_m^T`, `W_h^T`.
#[derive(Debug, Clone)]
struct PackedWeights {
    a_bar_t: PackedMatrix,
    a_bar: PackedMatrix,
    kernel_memory: PackedMatrix,
    kernel_memory_t: PackedMatrix,
    kernel_hidden: PackedMatrix,
    kernel_hidden_t: PackedMatrix,
}

impl PackedWeights {
    fn new(
        a_bar: &[f32],
        order: usize,
        kernel_memory: &[f32],
        memory_length: usize,
        kernel_hidden: &[f32],
        hidden: usize,
    ) -> Self {
        let a = View::row_major(a_bar, order, order);
        let m = View::row_major(kernel_memory, memory_length, hidden);
        let h = View::row_major(kernel_hidden, hidden, hidden);
        PackedWeights {
            a_bar_t: PackedMatrix::new(a.t()),
            a_bar: PackedMatrix::new(a),
            kernel_memory: PackedMatrix::new(m),
            kernel_memory_t: PackedMatrix::new(m.t()),
            kernel_hidden: PackedMatrix::new(h),
            kernel_hidden_t: PackedMatrix::new(h.t()),
        }
    }
}

/// A sequence's adjoint rows are rescaled once their largest magnitude passes 2^64 (clause
/// T3 in f32: see `backward_shard`), by 2^-64, an exact power of two.
const ADJOINT_RESCALE_AT: f32 = 18_446_744_073_709_551_616.0;
/// The factor of a rescaling, 2^-64.
const ADJOINT_RESCALE_BY: f32 = 1.0 / 18_446_744_073_709_551_616.0;
/// Its exponent, 64.
const ADJOINT_RESCALE_EXPONENT: i32 = 64;

fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&value| value as f32).collect()
}

/// The first `len` values at slot `previous` (read) and at slot `current` (written) of a
/// buffer of equal-sized slots; `previous != current`.
fn two_slots(
    buffer: &mut [f32],
    len: usize,
    previous: usize,
    current: usize,
) -> (&[f32], &mut [f32]) {
    debug_assert_ne!(previous, current);
    if previous < current {
        let (head, tail) = buffer.split_at_mut(current * len);
        (
            &head[previous * len..(previous + 1) * len],
            &mut tail[..len],
        )
    } else {
        let (head, tail) = buffer.split_at_mut(previous * len);
        (&tail[..len], &mut head[current * len..(current + 1) * len])
    }
}

/// What a shard's forward pass records for one quantized site, batch-major (clause N3).
#[derive(Debug, Clone, Default)]
pub struct SiteRecord {
    /// Counts, `S * steps * neurons`, in the narrowest width that holds them ([`Counts`]);
    /// empty when they are tallied.
    pub counts: Counts,
    /// Integrator values, empty unless the trace level is full.
    pub integrator: Vec<f64>,
    /// The counts' tally, at trace level tally only (then `counts` is empty).
    pub tally: Option<TallyBuilder>,
}

impl SiteRecord {
    /// Records one step's counts of a site (and integrators, at level full): tallied, or
    /// written into this record's batch-major counts.
    fn store(
        &mut self,
        counts: &[i32],
        integrators: &[f32],
        s: usize,
        steps: usize,
        step: usize,
        neurons: usize,
    ) {
        if let Some(tally) = &mut self.tally {
            for row in counts.chunks_exact(neurons.max(1)).take(s) {
                tally.add_row(row, step + 1 == steps);
            }
            return;
        }
        for sample in 0..s {
            let start = (sample * steps + step) * neurons;
            self.counts
                .write(start, &counts[sample * neurons..][..neurons]);
            if !self.integrator.is_empty() {
                let source = &integrators[sample * neurons..][..neurons];
                let target = &mut self.integrator[start..start + neurons];
                for (target, &value) in target.iter_mut().zip(source) {
                    *target = f64::from(value);
                }
            }
        }
    }
}

/// One spiking site's quantizer in a shard's forward pass (clauses Q1, N2): its integrator
/// states for the shard's sequences, the step's counts and integrators, and its record.
struct SiteScratch<'q> {
    quantizer: &'q Quantizer,
    neurons: usize,
    states: Vec<f32>,
    counts: Vec<i32>,
    integrator: Vec<f32>,
    record: Option<SiteRecord>,
}

impl SiteScratch<'_> {
    /// One step of the site's quantizer over the shard, wherever the step places the site:
    /// `input` (`S x neurons`) to the spikes' values in `output` and their rates in `rates`,
    /// the counts recorded at step `step` of `steps` for `S` sequences.
    fn step(
        &mut self,
        input: &[f32],
        output: &mut [f32],
        rates: &mut [f32],
        (s, steps, step): (usize, usize, usize),
    ) -> Result<()> {
        self.quantizer.step_row(
            input,
            &mut self.states,
            output,
            &mut self.counts,
            &mut self.integrator,
            rates,
        )?;
        if let Some(record) = &mut self.record {
            record.store(&self.counts, &self.integrator, s, steps, step, self.neurons);
        }
        Ok(())
    }
}

/// The values of every step that the backward pass needs, time-major (step t's `S x n` block
/// at `t * S * n`).
#[derive(Debug, Clone, Default)]
struct History {
    inputs: Vec<f32>,
    memory: Vec<f32>,
    hidden: Vec<f32>,
    /// `f(Z_t)` where the hidden units spike (otherwise it equals `hidden`).
    rates: Vec<f32>,
    /// The fed memory inputs `u~_t`, time-major, when the memory is input-driven (then
    /// `memory` is empty).
    fed: Vec<f32>,
    /// The memory states as they fed W_m, time-major, when the memory state spikes
    /// (otherwise `memory` fed W_m).
    fed_memory: Vec<f32>,
}

impl Drop for History {
    /// The per-step buffers go back to this thread's pool for the next step (clause T8).
    fn drop(&mut self) {
        for buffer in [
            &mut self.memory,
            &mut self.hidden,
            &mut self.rates,
            &mut self.fed_memory,
        ] {
            scratch::give_back(std::mem::take(buffer));
        }
    }
}

/// The result of one shard's forward pass.
#[derive(Debug, Clone, Default)]
pub struct ShardOutput {
    /// Logits, `S x outputs`.
    pub logits: Vec<f32>,
    /// Each spiking site's record, when counts are recorded.
    pub sites: SiteMap<Option<SiteRecord>>,
    /// `h_t` batch-major (`S * steps * hidden`), at trace level full only.
    pub hidden_trace: Vec<f64>,
    history: Option<History>,
}

/// Gradients of one shard in f32, one buffer per weight tensor in the order of
/// `Weights::named` with absent tensors skipped.
#[derive(Debug, Clone)]
pub struct ShardGradients {
    /// `(name, values)` per present tensor.
    pub tensors: Vec<(&'static str, Vec<f32>)>,
}

impl Network {
    /// Validates `model` (clause E1) and converts it.
    pub fn new(model: &Model) -> Result<Self> {
        model.validate()?;
        let config = model.config.clone();
        let lmu = &config.lmu;
        let matrices = legendre::lmu_matrices(lmu.order, lmu.theta, lmu.discretizer)?;
        let weights = &model.weights;
        let quantizer = &config.quantizer;
        let placement = quantizer.placement;
        let make = |activation| Quantizer {
            activation,
            dt: quantizer.dt as f32,
            amplitude: quantizer.amplitude as f32,
        };
        if placement != hsnn_spec::QuantizerPlacement::NONE
            && !((quantizer.dt as f32).is_finite() && (quantizer.dt as f32) > 0.0)
        {
            return Err(HsnnError::invalid(
                "quantizer.dt",
                format!(
                    "{} is outside the range of f32 (the optimized backend computes in f32)",
                    quantizer.dt
                ),
            ));
        }
        let a_bar = to_f32(&matrices.a_bar.data);
        let kernel_memory = to_f32(&weights.kernel_memory.data);
        let kernel_hidden = to_f32(&weights.kernel_hidden.data);
        let packed = PackedWeights::new(
            &a_bar,
            lmu.order,
            &kernel_memory,
            lmu.memory_length(),
            &kernel_hidden,
            lmu.hidden_size,
        );
        Ok(Network {
            packed,
            input: lmu.input_size,
            hidden: lmu.hidden_size,
            memory_size: lmu.memory_size,
            order: lmu.order,
            memory_length: lmu.memory_length(),
            outputs: config.output_size,
            b_bar: to_f32(&matrices.b_bar.data),
            encoder_input: to_f32(&weights.encoder_input.data),
            encoder_hidden: weights.encoder_hidden.as_ref().map(|w| to_f32(&w.data)),
            encoder_memory: weights.encoder_memory.as_ref().map(|w| to_f32(&w.data)),
            kernel_input: weights.kernel_input.as_ref().map(|w| to_f32(&w.data)),
            kernel_memory,
            readout_kernel: to_f32(&weights.readout_kernel.data),
            readout_bias: to_f32(&weights.readout_bias.data),
            quantizers: SiteMap::from_fn(|site| {
                placement
                    .quantizes(site)
                    .then(|| make(site.activation(lmu)))
            }),
            // A spiking memory state needs every m_t, which the impulse response never forms.
            input_driven: !lmu.connections.hidden_to_memory
                && !lmu.connections.memory_to_memory
                && !placement.quantizes(QuantizedSite::MemoryState),
            matrices: matrices.clone(),
            config,
        })
    }

    /// Checks that `batch` fits the network (clause E1).
    pub fn check_batch(&self, batch: &SequenceBatch) -> Result<()> {
        batch.validate()?;
        if batch.features != self.input {
            return Err(HsnnError::ShapeMismatch {
                name: "input batch features".into(),
                expected: format!("{} (the model's lmu.input_size)", self.input),
                found: batch.features.to_string(),
            });
        }
        Ok(())
    }

    fn initial_states(&self, ids: &[u64], site: QuantizedSite, neurons: usize) -> Vec<f32> {
        let config = &self.config.quantizer.initial_state;
        ids.iter()
            .flat_map(|&id| {
                (0..neurons)
                    .map(move |neuron| initial_state_f32(initial_state(config, id, site, neuron)))
            })
            .collect()
    }

    /// The forward pass of one shard: `inputs` holds its `S = ids.len()` sequences
    /// batch-major (clause N5). With `keep_history`, every step's values are kept for
    /// [`Self::backward_shard`]. The counts of a recorded site go into the shard's own record
    /// (`S * steps * neurons`, in the narrowest width that holds them).
    pub fn forward_shard(
        &self,
        inputs: &[f64],
        ids: &[u64],
        steps: usize,
        trace: TraceLevel,
        keep_history: bool,
    ) -> Result<ShardOutput> {
        let s = ids.len();
        let (input, hidden, memory_size, order, memory_length) = (
            self.input,
            self.hidden,
            self.memory_size,
            self.order,
            self.memory_length,
        );
        let record_counts = trace != TraceLevel::None;
        let record_full = trace == TraceLevel::Full;
        // Inputs time-major, so each step's S x input block is contiguous.
        let mut time_major = vec![0.0f32; steps * s * input];
        for sample in 0..s {
            for step in 0..steps {
                for feature in 0..input {
                    time_major[(step * s + sample) * input + feature] =
                        inputs[(sample * steps + step) * input + feature] as f32;
                }
            }
        }
        let slots = if keep_history { steps } else { 2 };
        let slot = |step: usize| if keep_history { step } else { step % 2 };
        let memory_block = s * memory_length;
        let hidden_block = s * hidden;
        // The input-driven memory is never materialized.
        // Every step writes its slot of these before any step reads it (step 0's memory is
        // cleared, later ones are a product that overwrites), so they may be reused buffers.
        let mut memory = scratch::overwritten(if self.input_driven {
            0
        } else {
            slots * memory_block
        });
        let mut hidden_states = scratch::overwritten(slots * hidden_block);
        let spiking_hidden = self.quantizers[QuantizedSite::Hidden].is_some();
        let mut rates = scratch::overwritten(if spiking_hidden {
            slots * hidden_block
        } else {
            0
        });

        let mut memory_input = vec![0.0f32; s * memory_size];
        let mut memory_input_quantized = vec![0.0f32; s * memory_size];
        let mut preactivation = vec![0.0f32; hidden_block];
        let mut memory_rates = vec![0.0f32; s * memory_size];
        // The memory state as it feeds W_m, where it spikes: every slot of it is written at its
        // step before any read, like `memory`.
        let spiking_memory_state = self.quantizers[QuantizedSite::MemoryState].is_some();
        let mut fed_memory = scratch::overwritten(if spiking_memory_state {
            slots * memory_block
        } else {
            0
        });
        let mut memory_state_rates = vec![
            0.0f32;
            if spiking_memory_state {
                memory_block
            } else {
                0
            }
        ];
        let tallying = trace == TraceLevel::Tally;
        let lmu = &self.config.lmu;
        let mut sites = SiteMap::from_fn(|site| {
            let neurons = site.neurons(lmu);
            let record = record_counts.then(|| SiteRecord {
                counts: if tallying {
                    Counts::new()
                } else {
                    Counts::zeros(s * steps * neurons)
                },
                tally: tallying.then(|| TallyBuilder::new(neurons)),
                integrator: if record_full {
                    vec![0.0; s * steps * neurons]
                } else {
                    Vec::new()
                },
            });
            self.quantizers[site].as_ref().map(|quantizer| SiteScratch {
                quantizer,
                neurons,
                states: self.initial_states(ids, site, neurons),
                counts: vec![0i32; s * neurons],
                integrator: vec![0.0f32; s * neurons],
                record,
            })
        });
        let mut hidden_trace = if record_full {
            vec![0.0f64; s * steps * hidden]
        } else {
            Vec::new()
        };

        // Input-driven memory: every u~_t first (the memory-input quantizer too), then the
        // projection of the memory into the hidden layer for all steps by FFT.
        let mut fed_all = Vec::new();
        let projected = if self.input_driven {
            fed_all = vec![0.0f32; steps * s * memory_size];
            for step in 0..steps {
                let x = &time_major[step * s * input..(step + 1) * s * input];
                matmul(
                    &mut memory_input,
                    View::row_major(x, s, input),
                    View::row_major(&self.encoder_input, input, memory_size),
                    false,
                );
                let fed = &mut fed_all[step * s * memory_size..(step + 1) * s * memory_size];
                if let Some(site) = &mut sites[QuantizedSite::MemoryInput] {
                    site.step(&memory_input, fed, &mut memory_rates, (s, steps, step))?;
                } else {
                    fed.copy_from_slice(&memory_input);
                }
            }
            let transforms = input_driven::Transforms::new(steps);
            let response = input_driven::impulse_response(&self.matrices, steps);
            let kernels = self.kernels(&response, steps);
            Some(self.convolved_memory(&transforms, &kernels, &fed_all, s, steps)?)
        } else {
            None
        };
        for step in 0..steps {
            let x = &time_major[step * s * input..(step + 1) * s * input];
            let (current, previous) = (slot(step), slot(step.saturating_sub(1)));
            if let Some(projected) = &projected {
                preactivation.copy_from_slice(&projected[step * hidden_block..][..hidden_block]);
            } else {
                // U_t = X_t e_x + H_{t-1} e_h + M_{t-1} e_m
                small_product(
                    &mut memory_input,
                    (x, s, input),
                    View::row_major(&self.encoder_input, input, memory_size),
                    false,
                );
                if step > 0 {
                    let previous_hidden = &hidden_states[previous * hidden_block..][..hidden_block];
                    if let Some(encoder) = &self.encoder_hidden {
                        matmul(
                            &mut memory_input,
                            View::row_major(previous_hidden, s, hidden),
                            View::row_major(encoder, hidden, memory_size),
                            true,
                        );
                    }
                    if let Some(encoder) = &self.encoder_memory {
                        let previous_memory = &memory[previous * memory_block..][..memory_block];
                        matmul(
                            &mut memory_input,
                            View::row_major(previous_memory, s, memory_length),
                            View::row_major(encoder, memory_length, memory_size),
                            true,
                        );
                    }
                }
                let fed_memory_input = if let Some(site) = &mut sites[QuantizedSite::MemoryInput] {
                    let timing = (s, steps, step);
                    site.step(
                        &memory_input,
                        &mut memory_input_quantized,
                        &mut memory_rates,
                        timing,
                    )?;
                    &memory_input_quantized
                } else {
                    &memory_input
                };

                // M_t = M_{t-1} Abar^T + U_t Bbar^T, each row one memory dimension of one sequence.
                {
                    let current_memory = if step > 0 {
                        let (previous_memory, current_memory) =
                            two_slots(&mut memory, memory_block, previous, current);
                        self.packed.a_bar_t.product(
                            current_memory,
                            previous_memory,
                            s * memory_size,
                            false,
                        );
                        current_memory
                    } else {
                        let current_memory = &mut memory[current * memory_block..][..memory_block];
                        current_memory.fill(0.0);
                        current_memory
                    };
                    for (row, &u) in fed_memory_input.iter().enumerate() {
                        for (value, &b) in current_memory[row * order..(row + 1) * order]
                            .iter_mut()
                            .zip(&self.b_bar)
                        {
                            *value += u * b;
                        }
                    }
                }

                // Z_t = M~_t W_m + H_{t-1} W_h + X_t W_x, M~_t the memory state as it feeds
                // W_m: quantized where it spikes (clause N2), M_t itself otherwise.
                let current_memory = &memory[current * memory_block..][..memory_block];
                let fed_to_kernel = if let Some(site) = &mut sites[QuantizedSite::MemoryState] {
                    let fed = &mut fed_memory[current * memory_block..][..memory_block];
                    let timing = (s, steps, step);
                    site.step(current_memory, fed, &mut memory_state_rates, timing)?;
                    &fed_memory[current * memory_block..][..memory_block]
                } else {
                    current_memory
                };
                self.packed
                    .kernel_memory
                    .product(&mut preactivation, fed_to_kernel, s, false);
            }
            if step > 0 {
                let previous_hidden = &hidden_states[previous * hidden_block..][..hidden_block];
                self.packed
                    .kernel_hidden
                    .product(&mut preactivation, previous_hidden, s, true);
            }
            if let Some(kernel) = &self.kernel_input {
                small_product(
                    &mut preactivation,
                    (x, s, input),
                    View::row_major(kernel, input, hidden),
                    true,
                );
            }

            // H_t = f(Z_t) or Q_f(Z_t)
            let current_hidden = &mut hidden_states[current * hidden_block..][..hidden_block];
            if let Some(site) = &mut sites[QuantizedSite::Hidden] {
                let current_rates = &mut rates[current * hidden_block..][..hidden_block];
                site.step(
                    &preactivation,
                    current_hidden,
                    current_rates,
                    (s, steps, step),
                )?;
            } else {
                current_hidden.copy_from_slice(&preactivation);
                activate_in_place(self.config.lmu.hidden_activation, current_hidden);
            }
            if record_full {
                for sample in 0..s {
                    let source = &current_hidden[sample * hidden..(sample + 1) * hidden];
                    let target = &mut hidden_trace[(sample * steps + step) * hidden..][..hidden];
                    for (target, &value) in target.iter_mut().zip(source) {
                        *target = f64::from(value);
                    }
                }
            }
        }

        // logits = H_T W_o + b_o
        let last_hidden = &hidden_states[slot(steps - 1) * hidden_block..][..hidden_block];
        let mut logits = vec![0.0f32; s * self.outputs];
        for row in logits.chunks_mut(self.outputs) {
            row.copy_from_slice(&self.readout_bias);
        }
        matmul(
            &mut logits,
            View::row_major(last_hidden, s, hidden),
            View::row_major(&self.readout_kernel, hidden, self.outputs),
            true,
        );
        let history = keep_history.then(|| History {
            inputs: time_major,
            memory,
            rates,
            hidden: hidden_states,
            fed: fed_all,
            fed_memory,
        });
        Ok(ShardOutput {
            logits,
            sites: sites.map(|_, site| site.and_then(|site| site.record)),
            hidden_trace,
            history,
        })
    }

    /// Backpropagation through time for one shard (clauses T2, T3) from `dlogits`
    /// (`S x outputs`, already divided by the whole batch's size), using the history its
    /// forward pass kept.
    pub fn backward_shard(&self, output: &ShardOutput, dlogits: &[f32]) -> Result<ShardGradients> {
        let history = output
            .history
            .as_ref()
            .expect("backward_shard needs a forward pass with keep_history");
        match self.backward_with(history, dlogits, self.input_driven)? {
            Some(gradients) => Ok(gradients),
            None => {
                // An adjoint needed rescaling, which the correlations cannot carry: run the
                // step-by-step pass on the memory recomputed from the fed inputs.
                let mut history = history.clone();
                history.memory = self.memory_from_fed(&history.fed, dlogits.len() / self.outputs);
                Ok(self
                    .backward_with(&history, dlogits, false)?
                    .expect("the step-by-step pass always finishes"))
            }
        }
    }

    /// `m_t = m_{t-1} Abar^T + u~_t Bbar^T` for every step, time-major, from the fed inputs.
    fn memory_from_fed(&self, fed: &[f32], s: usize) -> Vec<f32> {
        let (memory_size, order) = (self.memory_size, self.order);
        let block = s * self.memory_length;
        let steps = fed.len() / (s * memory_size);
        let mut memory = vec![0.0f32; steps * block];
        for step in 0..steps {
            if step > 0 {
                let (previous, current) = two_slots(&mut memory, block, step - 1, step);
                self.packed
                    .a_bar_t
                    .product(current, previous, s * memory_size, false);
            }
            let current = &mut memory[step * block..(step + 1) * block];
            for (row, &u) in fed[step * s * memory_size..(step + 1) * s * memory_size]
                .iter()
                .enumerate()
            {
                for (value, &b) in current[row * order..(row + 1) * order]
                    .iter_mut()
                    .zip(&self.b_bar)
                {
                    *value += u * b;
                }
            }
        }
        memory
    }

    /// The backward pass; with `by_correlation` (input-driven memory) the memory's part goes
    /// through FFT correlations, and `None` says an adjoint needed rescaling first.
    fn backward_with(
        &self,
        history: &History,
        dlogits: &[f32],
        by_correlation: bool,
    ) -> Result<Option<ShardGradients>> {
        let (input, hidden, memory_size, memory_length, outputs) = (
            self.input,
            self.hidden,
            self.memory_size,
            self.memory_length,
            self.outputs,
        );
        let s = dlogits.len() / outputs;
        let hidden_block = s * hidden;
        let memory_block = s * memory_length;
        let steps = history.hidden.len() / hidden_block;
        let hidden_gain = if self.quantizers[QuantizedSite::Hidden].is_some() {
            self.config.quantizer.amplitude as f32
        } else {
            1.0
        };
        let memory_gain = if self.quantizers[QuantizedSite::MemoryInput].is_some() {
            self.config.quantizer.amplitude as f32
        } else {
            1.0
        };
        let memory_state_gain = if self.quantizers[QuantizedSite::MemoryState].is_some() {
            self.config.quantizer.amplitude as f32
        } else {
            1.0
        };
        // What fed W_m at each step: the quantized memory state where it spikes.
        let memory_fed_to_kernel = if history.fed_memory.is_empty() {
            &history.memory
        } else {
            &history.fed_memory
        };
        let mut through_kernel = vec![
            0.0f32;
            if memory_state_gain == 1.0 {
                0
            } else {
                memory_block
            }
        ];
        let rates = if self.quantizers[QuantizedSite::Hidden].is_some() {
            &history.rates
        } else {
            &history.hidden
        };
        let activation = self.config.lmu.hidden_activation;

        // g(W_o) = h_T^T dlogits, g(b_o) = sum of dlogits, dh_T = dlogits W_o^T
        let last_hidden = &history.hidden[(steps - 1) * hidden_block..][..hidden_block];
        let mut readout_kernel = vec![0.0f32; hidden * outputs];
        matmul(
            &mut readout_kernel,
            View::row_major(last_hidden, s, hidden).t(),
            View::row_major(dlogits, s, outputs),
            false,
        );
        let mut readout_bias = vec![0.0f32; outputs];
        for row in dlogits.chunks(outputs) {
            for (total, &value) in readout_bias.iter_mut().zip(row) {
                *total += value;
            }
        }
        let mut hidden_adjoint = vec![0.0f32; hidden_block];
        matmul(
            &mut hidden_adjoint,
            View::row_major(dlogits, s, outputs),
            View::row_major(&self.readout_kernel, hidden, outputs).t(),
            false,
        );
        let mut next_hidden_adjoint = vec![0.0f32; hidden_block];
        let mut memory_adjoint = vec![0.0f32; memory_block];
        let mut next_memory_adjoint = vec![0.0f32; memory_block];
        // Every step assigns its dZ_t before anything reads it.
        let mut preactivation_adjoints = scratch::overwritten(steps * hidden_block);
        let mut memory_input_adjoints = vec![0.0f32; steps * s * memory_size];

        // Per sequence, the power of two its stored adjoints are scaled down by (see the
        // rescaling at the end of each step), and that exponent at every step.
        let mut exponents = vec![0i32; s];
        let mut step_exponents = vec![0i32; steps * s];
        let mut kernel_hidden_gradient = vec![0.0f32; hidden * hidden];
        let mut kernel_memory_gradient = vec![0.0f32; memory_length * hidden];
        for step in (0..steps).rev() {
            step_exponents[step * s..(step + 1) * s].copy_from_slice(&exponents);
            // dZ_t = dH_t * f'(Z_t) * (alpha if the hidden units spike)
            let dz = &mut preactivation_adjoints[step * hidden_block..][..hidden_block];
            let step_rates = &rates[step * hidden_block..][..hidden_block];
            preactivation_adjoint(dz, &hidden_adjoint, step_rates, activation, hidden_gain);
            let dz = &preactivation_adjoints[step * hidden_block..][..hidden_block];
            if !by_correlation {
                // dM_t += dZ_t W_m^T, times alpha if the memory state spikes
                if through_kernel.is_empty() {
                    self.packed
                        .kernel_memory_t
                        .product(&mut memory_adjoint, dz, s, true);
                } else {
                    self.packed
                        .kernel_memory_t
                        .product(&mut through_kernel, dz, s, false);
                    for (adjoint, &value) in memory_adjoint.iter_mut().zip(&through_kernel) {
                        *adjoint += memory_state_gain * value;
                    }
                }
                // dU_t = dM_t Bbar per memory dimension, times alpha if the memory input spikes
                let du = &mut memory_input_adjoints[step * s * memory_size..][..s * memory_size];
                row_dots(du, &memory_adjoint, &self.b_bar, memory_gain);
            }
            // The weight gradients g(W_m) = sum_t M_t^T dZ_t and g(W_h) = sum_t H_{t-1}^T dZ_t
            // (clause T3), GRADIENT_STEPS steps' terms per product while they are in cache:
            // the steps' rows lie next to each other in the histories.
            if step % GRADIENT_STEPS == 0 {
                let end = (step + GRADIENT_STEPS).min(steps);
                if !by_correlation {
                    add_gradient_terms(
                        &mut kernel_memory_gradient,
                        (
                            &memory_fed_to_kernel[step * memory_block..end * memory_block],
                            memory_length,
                        ),
                        (
                            &preactivation_adjoints[step * hidden_block..end * hidden_block],
                            hidden,
                        ),
                        &step_exponents[step * s..end * s],
                    );
                }
                // H_{t-1} pairs with dZ_t, so step 0 has no term.
                let first = step.max(1);
                if end > first {
                    add_gradient_terms(
                        &mut kernel_hidden_gradient,
                        (
                            &history.hidden[(first - 1) * hidden_block..(end - 1) * hidden_block],
                            hidden,
                        ),
                        (
                            &preactivation_adjoints[first * hidden_block..end * hidden_block],
                            hidden,
                        ),
                        &step_exponents[first * s..end * s],
                    );
                }
            }
            if step == 0 {
                break;
            }
            let du = &memory_input_adjoints[step * s * memory_size..][..s * memory_size];
            // dH_{t-1} = dZ_t W_h^T + dU_t e_h^T
            self.packed
                .kernel_hidden_t
                .product(&mut next_hidden_adjoint, dz, s, false);
            if let Some(encoder) = &self.encoder_hidden {
                small_product(
                    &mut next_hidden_adjoint,
                    (du, s, memory_size),
                    View::row_major(encoder, hidden, memory_size).t(),
                    true,
                );
            }
            // dM_{t-1} = dM_t Abar + dU_t e_m^T
            if !by_correlation {
                self.packed.a_bar.product(
                    &mut next_memory_adjoint,
                    &memory_adjoint,
                    s * memory_size,
                    false,
                );
                if let Some(encoder) = &self.encoder_memory {
                    small_product(
                        &mut next_memory_adjoint,
                        (du, s, memory_size),
                        View::row_major(encoder, memory_length, memory_size).t(),
                        true,
                    );
                }
            }
            // The adjoint of a sequence can grow by orders of magnitude per step through an
            // unsaturated hidden recurrence (early steps of a trained network, where h is
            // near 0). Its true weight-gradient terms stay moderate, because the activations
            // it meets there are 0 or tiny, but in f32 it would overflow to infinity and
            // infinity times 0 is NaN. Each sequence's adjoint rows are linear in themselves,
            // so a row is rescaled by 2^-64 (exact) when it passes 2^64, and its exponent is
            // carried to the activations it multiplies in the weight gradients below.
            for sample in 0..s {
                let hidden_row = &mut next_hidden_adjoint[sample * hidden..(sample + 1) * hidden];
                let memory_rows =
                    &mut next_memory_adjoint[sample * memory_length..(sample + 1) * memory_length];
                let largest = largest_magnitude(hidden_row).max(largest_magnitude(memory_rows));
                if largest > ADJOINT_RESCALE_AT {
                    for value in hidden_row.iter_mut().chain(memory_rows.iter_mut()) {
                        *value *= ADJOINT_RESCALE_BY;
                    }
                    exponents[sample] += ADJOINT_RESCALE_EXPONENT;
                }
            }
            std::mem::swap(&mut hidden_adjoint, &mut next_hidden_adjoint);
            std::mem::swap(&mut memory_adjoint, &mut next_memory_adjoint);
        }
        let rescaled = step_exponents.iter().any(|&exponent| exponent != 0);
        let correlated = if by_correlation {
            if rescaled {
                return Ok(None);
            }
            let transforms = input_driven::Transforms::new(steps);
            let response = input_driven::impulse_response(&self.matrices, steps);
            let kernels = self.kernels(&response, steps);
            let (du, kernel_memory) = self.correlated_memory_gradients(
                &transforms,
                &response,
                &kernels,
                &history.fed,
                &preactivation_adjoints,
                s,
                steps,
                memory_gain,
            )?;
            memory_input_adjoints = du;
            Some(kernel_memory)
        } else {
            None
        };

        // The other weight gradients: one product each over all steps (rows t * S + sample).
        let rows = steps * s;
        let earlier = (steps - 1) * s;
        let dz_all = View::row_major(&preactivation_adjoints, rows, hidden);
        let du_all = View::row_major(&memory_input_adjoints, rows, memory_size);
        let du_later = View::row_major(
            &memory_input_adjoints[s * memory_size..],
            earlier,
            memory_size,
        );
        // Activations scaled by the exponent of the adjoint row they pair with (the history
        // itself when nothing was rescaled): row r of one step earlier pairs with adjoint row
        // r + S. The input-driven memory has no history (its gradient came from the
        // correlations).
        let memory_rows = |count: usize| if by_correlation { 0 } else { count };
        let inputs_data = scaled_rows(&history.inputs[..rows * input], &step_exponents);
        let memory_earlier_data = scaled_rows(
            &history.memory[..memory_rows(earlier) * memory_length],
            &step_exponents[s..s + memory_rows(earlier)],
        );
        let hidden_earlier_data =
            scaled_rows(&history.hidden[..earlier * hidden], &step_exponents[s..]);
        let inputs = View::row_major(&inputs_data, rows, input);
        let memory_earlier =
            View::row_major(&memory_earlier_data, memory_rows(earlier), memory_length);
        let hidden_earlier = View::row_major(&hidden_earlier_data, earlier, hidden);
        let product = |a: View<'_, f32>, b: View<'_, f32>| {
            let mut out = vec![0.0f32; a.cols() * b.cols()];
            matmul(&mut out, a.t(), b, false);
            out
        };
        let mut tensors = vec![("encoder_input", product(inputs, du_all))];
        if self.encoder_hidden.is_some() {
            tensors.push(("encoder_hidden", product(hidden_earlier, du_later)));
        }
        if self.encoder_memory.is_some() {
            tensors.push(("encoder_memory", product(memory_earlier, du_later)));
        }
        if self.kernel_input.is_some() {
            tensors.push(("kernel_input", product(inputs, dz_all)));
        }
        tensors.push(("kernel_hidden", kernel_hidden_gradient));
        tensors.push((
            "kernel_memory",
            correlated.unwrap_or(kernel_memory_gradient),
        ));
        tensors.push(("readout_kernel", readout_kernel));
        tensors.push(("readout_bias", readout_bias));
        scratch::give_back(preactivation_adjoints);
        Ok(Some(ShardGradients { tensors }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t3_rescaled_rows_are_scaled_by_their_own_power_of_two() {
        // Three rows of two values: unscaled rows are the history itself; otherwise row r is
        // multiplied by 2^exponents[r] (exact), whether some or all rows were rescaled.
        let rows = [1.5f32, -3.0, 0.25, 7.0, -0.5, 2.0];
        let unscaled = scaled_rows(&rows, &[0, 0, 0]);
        assert!(
            matches!(unscaled, Cow::Borrowed(_)),
            "no copy when nothing was rescaled"
        );
        assert_eq!(&*unscaled, &rows);
        let some = scaled_rows(&rows, &[0, 64, -3]);
        assert_eq!(
            &*some,
            &[
                1.5,
                -3.0,
                0.25 * 2f32.powi(64),
                7.0 * 2f32.powi(64),
                -0.0625,
                0.25
            ]
        );
        let all = scaled_rows(&rows, &[1, 2, 3]);
        assert_eq!(&*all, &[3.0, -6.0, 1.0, 28.0, -4.0, 16.0]);
    }
}
