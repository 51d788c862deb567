//! The shadow network of SPEC.md clause H12: the network of L4 and N1 evaluated in f64 on a
//! fixed model's dequantized values (tensors `data 2^-exponent`, the stored Abar and Bbar,
//! inputs `X 2^-F_x`, initial states `V_0 2^-F_v`), with the exact base activation (libm
//! tanh, no table), Q2's order for the integrator, and nothing else rounded or saturated.
//! Written here from H12, apart from both fixed-point implementations, so that comparing a
//! fixed-point run with its shadow isolates the arithmetic error of section H.
//!
//! [`derived_bounds`] computes H12's bound on how far a fixed-point run may drift from its
//! shadow while their counts agree (placement `hidden`), and [`check_against_shadow`] applies
//! C3 as H12 states it: every first count difference explained by the bound, every sequence
//! without a difference equal in its logits.

use hsnn_spec::fixed::{FixedActivation, FixedModel, FixedRun, FixedTensor};
use hsnn_spec::initial_state::initial_state;
use hsnn_spec::{QuantizedSite, QuantizerPlacement, SequenceBatch};

use crate::activation::{largest_slope, rate};

/// What the shadow records of one sequence, per step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShadowSequence {
    /// Hidden counts (spiking hidden units), `steps x hidden_size`.
    pub hidden_counts: Vec<Vec<i64>>,
    /// Hidden integrators `w` (SPEC Q1) before the floor.
    pub hidden_integrator: Vec<Vec<f64>>,
    /// Memory after each step, flattened memory-dimension-major.
    pub memory: Vec<Vec<f64>>,
    /// Pre-activations `z`.
    pub preactivation: Vec<Vec<f64>>,
    /// The logits.
    pub logits: Vec<f64>,
}

fn value(tensor: &FixedTensor, row: usize, col: usize) -> f64 {
    tensor.at(row, col) as f64 * 2f64.powi(-tensor.exponent)
}

/// `y W` for a row vector `y` and a dequantized tensor `W`.
fn times(y: &[f64], tensor: &FixedTensor) -> Vec<f64> {
    (0..tensor.cols)
        .map(|col| {
            y.iter()
                .enumerate()
                .map(|(row, &v)| v * value(tensor, row, col))
                .sum()
        })
        .collect()
}

/// One quantizer step in Q2's order: `u = v + dt f(z)`, `n = floor(u)`, `v' = u - n`, carry.
fn quantize(state: &mut f64, dt: f64, r: f64) -> (i64, f64) {
    let p = dt * r;
    let u = *state + p;
    let mut n = u.floor();
    let mut v = u - n;
    if v == 1.0 {
        n += 1.0;
        v = 0.0;
    }
    *state = v;
    (n as i64, u)
}

/// Runs the shadow of `fixed` on one sequence (SPEC.md H12), with the inputs as the fixed
/// point reads them (`X 2^-F_x`, `X` given).
pub fn shadow_sequence(
    fixed: &FixedModel,
    inputs: &[i64],
    steps: usize,
    sample_id: u64,
) -> ShadowSequence {
    let config = &fixed.config;
    let lmu = &config.lmu;
    let quantizer = &config.quantizer;
    let placement = quantizer.placement;
    let dt = quantizer.dt;
    let tensors = &fixed.tensors;
    let fraction_x = fixed.formats.input.fraction_bits;
    let v_scale = 2f64.powi(fixed.formats.integrator_fraction_bits as i32);
    let start = |site: QuantizedSite, neurons: usize| -> Vec<f64> {
        (0..neurons)
            .map(|neuron| {
                let v0 = initial_state(&quantizer.initial_state, sample_id, site, neuron);
                (v0 * v_scale).floor() / v_scale
            })
            .collect()
    };
    let mut hidden_state = start(QuantizedSite::Hidden, lmu.hidden_size);
    let mut memory_input_state = start(QuantizedSite::MemoryInput, lmu.memory_size);
    let order = lmu.order;
    let mut memory = vec![0.0; lmu.memory_length()];
    let mut hidden = vec![0.0; lmu.hidden_size];
    let mut record = ShadowSequence::default();
    for step in 0..steps {
        let x: Vec<f64> = inputs[step * lmu.input_size..(step + 1) * lmu.input_size]
            .iter()
            .map(|&value| value as f64 * 2f64.powi(-fraction_x))
            .collect();
        // u = x e_x + h e_h + m e_m (h: counts read by folded tensors, or f(z))
        let mut u = times(&x, &tensors.encoder_input);
        if let Some(encoder_hidden) = &tensors.encoder_hidden {
            for (total, term) in u.iter_mut().zip(times(&hidden, encoder_hidden)) {
                *total += term;
            }
        }
        if let Some(encoder_memory) = &tensors.encoder_memory {
            for (total, term) in u.iter_mut().zip(times(&memory, encoder_memory)) {
                *total += term;
            }
        }
        if placement.quantizes(QuantizedSite::MemoryInput) {
            for (dimension, value) in u.iter_mut().enumerate() {
                let (n, _) = quantize(&mut memory_input_state[dimension], dt, *value);
                *value = n as f64;
            }
        }
        // m = Abar m + Bbar u, per memory dimension
        let mut next = vec![0.0; memory.len()];
        for dimension in 0..lmu.memory_size {
            for i in 0..order {
                let mut total = 0.0;
                for l in 0..order {
                    total += value(&tensors.a_bar, i, l) * memory[dimension * order + l];
                }
                next[dimension * order + i] = total + value(&tensors.b_bar, i, 0) * u[dimension];
            }
        }
        memory = next;
        // z = h W_h + x W_x + m W_m, with the new m
        let mut z = times(&hidden, &tensors.kernel_hidden);
        if let Some(kernel_input) = &tensors.kernel_input {
            for (total, term) in z.iter_mut().zip(times(&x, kernel_input)) {
                *total += term;
            }
        }
        for (total, term) in z.iter_mut().zip(times(&memory, &tensors.kernel_memory)) {
            *total += term;
        }
        if placement.quantizes(QuantizedSite::Hidden) {
            let mut counts = Vec::with_capacity(z.len());
            let mut integrators = Vec::with_capacity(z.len());
            for (neuron, &value) in z.iter().enumerate() {
                let (n, u) = quantize(
                    &mut hidden_state[neuron],
                    dt,
                    rate(lmu.hidden_activation, value),
                );
                hidden[neuron] = n as f64;
                counts.push(n);
                integrators.push(u);
            }
            record.hidden_counts.push(counts);
            record.hidden_integrator.push(integrators);
        } else {
            hidden = z
                .iter()
                .map(|&value| rate(lmu.hidden_activation, value))
                .collect();
        }
        record.memory.push(memory.clone());
        record.preactivation.push(z);
    }
    let bias = &tensors.readout_bias;
    record.logits = times(&hidden, &tensors.readout_kernel)
        .iter()
        .enumerate()
        .map(|(output, &total)| total + value(bias, 0, output))
        .collect();
    record
}

/// H12's bounds while the counts agree (placement `hidden`): per step `t`, the memory bound
/// `S_{t+1} c` per memory word, computed from the entrywise absolute powers of the closed-loop
/// memory `A' = Abar_q + Bbar_q e_m,q` (flattened memory x memory).
#[derive(Debug, Clone)]
pub struct DerivedBounds {
    closed_loop: Vec<f64>,
    power: Vec<f64>,
    sum: Vec<f64>,
    rounding: Vec<f64>,
    /// The memory bound after each step computed so far.
    pub memory: Vec<Vec<f64>>,
}

/// The closed-loop memory and the per-step rounding vector `c` of H12.
pub fn derived_bounds(fixed: &FixedModel) -> DerivedBounds {
    let lmu = &fixed.config.lmu;
    let order = lmu.order;
    let length = lmu.memory_length();
    let tensors = &fixed.tensors;
    let mut closed_loop = vec![0.0; length * length];
    for j in 0..lmu.memory_size {
        for i in 0..order {
            let row = j * order + i;
            for l in 0..order {
                closed_loop[row * length + j * order + l] += value(&tensors.a_bar, i, l);
            }
            if let Some(encoder_memory) = &tensors.encoder_memory {
                for column in 0..length {
                    closed_loop[row * length + column] +=
                        value(&tensors.b_bar, i, 0) * value(encoder_memory, column, j);
                }
            }
        }
    }
    let half_u = 2f64.powi(-(fixed.formats.memory_input.fraction_bits + 1));
    let half_m = 2f64.powi(-(fixed.formats.memory.fraction_bits + 1));
    let rounding = (0..length)
        .map(|row| value(&tensors.b_bar, row % order, 0).abs() * half_u + half_m)
        .collect();
    let mut identity = vec![0.0; length * length];
    for row in 0..length {
        identity[row * length + row] = 1.0;
    }
    DerivedBounds {
        closed_loop,
        power: identity,
        sum: vec![0.0; length],
        rounding,
        memory: Vec::new(),
    }
}

impl DerivedBounds {
    /// Extends the memory bound to step `step` (0-based): `S_{step+1} c`.
    pub fn memory_after(&mut self, step: usize) -> &[f64] {
        let length = self.sum.len();
        while self.memory.len() <= step {
            for row in 0..length {
                let mut total = 0.0;
                for column in 0..length {
                    total += self.power[row * length + column].abs() * self.rounding[column];
                }
                self.sum[row] += total;
            }
            self.memory.push(self.sum.clone());
            let mut next = vec![0.0; length * length];
            for row in 0..length {
                for k in 0..length {
                    let left = self.closed_loop[row * length + k];
                    if left != 0.0 {
                        for column in 0..length {
                            next[row * length + column] += left * self.power[k * length + column];
                        }
                    }
                }
            }
            self.power = next;
        }
        &self.memory[step]
    }
}

/// What [`check_against_shadow`] found over a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShadowReport {
    /// Sequences compared (those that saturated nothing).
    pub sequences: usize,
    /// Sequences whose counts differ somewhere.
    pub diverged: usize,
    /// Count differences at the first differing step of each diverged sequence, every one
    /// explained by the bound.
    pub explained: usize,
    /// The largest ratio of a difference's distance to an integer over its bound.
    pub largest_ratio: f64,
    /// The largest ratio of a memory error over its bound, over the steps before the first
    /// difference.
    pub largest_memory_ratio: f64,
    /// The step of each diverged sequence's first difference.
    pub first_difference_steps: Vec<usize>,
}

/// C3 for a fixed-point run with hidden units spiking (SPEC.md H12): with the fixed run's
/// integers recorded at trace level full, and `inputs` the fixed point's `X` per sequence,
/// - every memory word before the first count difference lies within the derived bound;
/// - at the first step whose counts differ, every differing neuron's shadow integrator lies
///   within `delta_v + 2^-30` of an integer;
/// - a sequence without a difference has its logits within 1e-12 of the shadow's.
///
/// Returns an error message naming the first violation.
pub fn check_against_shadow(
    fixed: &FixedModel,
    run: &FixedRun,
    batch: &SequenceBatch,
    inputs: &[i64],
) -> Result<ShadowReport, String> {
    let config = &fixed.config;
    if config.quantizer.placement != QuantizerPlacement::HIDDEN {
        return Err("the derived bound covers placement `hidden` only (SPEC.md H12)".into());
    }
    let lmu = &config.lmu;
    let hidden = lmu.hidden_size;
    let steps = batch.steps;
    let dt = config.quantizer.dt;
    let fraction_m = fixed.formats.memory.fraction_bits;
    let fraction_v = fixed.formats.integrator_fraction_bits as i32;
    let fraction_z = fixed.formats.preactivation.fraction_bits;
    let half_z = 2f64.powi(-(fraction_z + 1));
    let half_v = 2f64.powi(-(fraction_v + 1));
    let rule = fixed.activations[QuantizedSite::Hidden]
        .as_ref()
        .expect("a validated fixed model has a rule for the hidden units");
    let mut bounds = derived_bounds(fixed);
    let mut report = ShadowReport::default();
    let length = lmu.memory_length();
    for sample in 0..batch.batch {
        let sequence_inputs =
            &inputs[sample * steps * lmu.input_size..(sample + 1) * steps * lmu.input_size];
        let shadow = shadow_sequence(fixed, sequence_inputs, steps, batch.sample_ids[sample]);
        report.sequences += 1;
        let mut delta_v = vec![0.0; hidden];
        let mut diverged = false;
        for step in 0..steps {
            let row = sample * steps + step;
            let memory_bound = bounds.memory_after(step).to_vec();
            for (index, &bound) in memory_bound.iter().enumerate() {
                let fixed_value = run.memory[row * length + index] as f64 * 2f64.powi(-fraction_m);
                let error = (fixed_value - shadow.memory[step][index]).abs();
                if error > bound * (1.0 + 1e-9) + 1e-15 {
                    return Err(format!(
                        "sample {sample} step {step}: memory word {index} differs from the shadow by \
                         {error:e}, above the derived bound {bound:e}"
                    ));
                }
                report.largest_memory_ratio = report.largest_memory_ratio.max(error / bound);
            }
            let mut differing = Vec::new();
            for (neuron, delta_v_neuron) in delta_v.iter_mut().enumerate() {
                let z = shadow.preactivation[step][neuron];
                let delta_z: f64 = (0..length)
                    .map(|i| value(&fixed.tensors.kernel_memory, i, neuron).abs() * memory_bound[i])
                    .sum::<f64>()
                    + half_z;
                let slope = largest_slope(lmu.hidden_activation, z, delta_z);
                let delta_p = match rule {
                    FixedActivation::Table { values, .. } => {
                        let range = values.len() as f64 / 2.0 * 2f64.powi(-fraction_z);
                        let clamp = if z.abs() + delta_z >= range - 2f64.powi(-fraction_z) {
                            dt * (1.0 - (range - 2f64.powi(-fraction_z)).tanh())
                        } else {
                            0.0
                        };
                        dt * slope * delta_z + half_v + clamp
                    }
                    FixedActivation::Multiply {
                        multiplier_exponent,
                        ..
                    } => {
                        dt * slope * delta_z
                            + (z.abs() + delta_z) * 2f64.powi(-(multiplier_exponent + 1))
                            + half_v
                    }
                    _ => return Err("a spiking site has a table or a multiplier".into()),
                };
                *delta_v_neuron += delta_p;
                let fixed_count = run.counts[QuantizedSite::Hidden][row * hidden + neuron];
                if fixed_count != shadow.hidden_counts[step][neuron] {
                    differing.push(neuron);
                }
            }
            if !differing.is_empty() {
                for neuron in differing {
                    let u = shadow.hidden_integrator[step][neuron];
                    let distance = (u - u.round()).abs();
                    let bound = delta_v[neuron] + 2f64.powi(-30);
                    if distance > bound {
                        return Err(format!(
                            "sample {sample} step {step} neuron {neuron}: counts differ (fixed {}, \
                             shadow {}) with the shadow's integrator {u} at {distance:e} from an \
                             integer, beyond the derived bound {bound:e}",
                            run.counts[QuantizedSite::Hidden][row * hidden + neuron],
                            shadow.hidden_counts[step][neuron]
                        ));
                    }
                    report.explained += 1;
                    report.largest_ratio = report.largest_ratio.max(distance / bound);
                }
                report.diverged += 1;
                report.first_difference_steps.push(step);
                diverged = true;
                break;
            }
        }
        if !diverged {
            let outputs = config.output_size;
            let scale = 2f64.powi(-run.logit_exponent);
            for output in 0..outputs {
                let fixed_logit = run.logits[sample * outputs + output] as f64 * scale;
                let expected = shadow.logits[output];
                if (fixed_logit - expected).abs() > 1e-12 * expected.abs().max(1.0) {
                    return Err(format!(
                        "sample {sample}: no count differs, yet logit {output} is {fixed_logit} \
                         against the shadow's {expected}"
                    ));
                }
            }
        }
    }
    Ok(report)
}
