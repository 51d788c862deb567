//! A second, deliberately plain implementation of the non-spiking LMU network (clauses L4,
//! N1): index loops over `Vec<f64>`, no linear-algebra library, written from SPEC.md rather
//! than from the reference's code, so that agreement between the two is evidence.

use hsnn_spec::{LmuMatrices, Model, Tensor2};

use crate::activation::rate;

/// `y = x W` for a row vector `x` and a row-major `W`.
fn row_times(x: &[f64], matrix: &Tensor2) -> Vec<f64> {
    let mut y = vec![0.0; matrix.cols];
    for (row, &value) in x.iter().enumerate() {
        for (column, output) in y.iter_mut().enumerate() {
            *output += value * matrix.data[row * matrix.cols + column];
        }
    }
    y
}

fn add_into(target: &mut [f64], values: &[f64]) {
    for (target, value) in target.iter_mut().zip(values) {
        *target += value;
    }
}

/// Logits of the non-spiking network for one sequence (`steps x input_size`).
pub fn plain_lmu_logits(
    model: &Model,
    matrices: &LmuMatrices,
    inputs: &[f64],
    steps: usize,
) -> Vec<f64> {
    let lmu = &model.config.lmu;
    let weights = &model.weights;
    let order = lmu.order;
    let mut hidden = vec![0.0; lmu.hidden_size];
    let mut memory = vec![0.0; lmu.memory_length()];
    for step in 0..steps {
        let x = &inputs[step * lmu.input_size..(step + 1) * lmu.input_size];
        let mut u = row_times(x, &weights.encoder_input);
        if let Some(encoder_hidden) = &weights.encoder_hidden {
            add_into(&mut u, &row_times(&hidden, encoder_hidden));
        }
        if let Some(encoder_memory) = &weights.encoder_memory {
            add_into(&mut u, &row_times(&memory, encoder_memory));
        }
        let mut next_memory = vec![0.0; memory.len()];
        for dimension in 0..lmu.memory_size {
            for i in 0..order {
                let mut value = matrices.b_bar.data[i] * u[dimension];
                for j in 0..order {
                    value += matrices.a_bar.data[i * order + j] * memory[dimension * order + j];
                }
                next_memory[dimension * order + i] = value;
            }
        }
        memory = next_memory;
        let mut z = row_times(&hidden, &weights.kernel_hidden);
        if let Some(kernel_input) = &weights.kernel_input {
            add_into(&mut z, &row_times(x, kernel_input));
        }
        add_into(&mut z, &row_times(&memory, &weights.kernel_memory));
        hidden = z
            .iter()
            .map(|&value| rate(lmu.hidden_activation, value))
            .collect();
    }
    let mut logits = row_times(&hidden, &weights.readout_kernel);
    add_into(&mut logits, &weights.readout_bias.data);
    logits
}

/// What a spiking forward pass of [`restated_lmu_logits`] records at its anchor weights: per
/// step, every quantized site's output `a_t` and its rate `r_t = f(x_t)`.
#[derive(Debug, Clone, Default)]
pub struct Anchor {
    /// Hidden outputs and rates, one row per step (empty when the hidden units do not spike).
    pub hidden: Vec<(Vec<f64>, Vec<f64>)>,
    /// Memory-input outputs and rates, one row per step.
    pub memory_input: Vec<(Vec<f64>, Vec<f64>)>,
    /// Memory-state outputs (what W_m reads) and rates, one row per step.
    pub memory_state: Vec<(Vec<f64>, Vec<f64>)>,
}

/// One quantizer step of clause Q2, written here from SPEC.md: returns `(a, v')`.
fn quantize(rate: f64, state: f64, dt: f64, amplitude: f64) -> (f64, f64) {
    let product = dt * rate;
    let integrator = state + product;
    let floor = integrator.floor();
    let mut next = integrator - floor;
    let mut count = floor;
    if next == 1.0 {
        count += 1.0;
        next = 0.0;
    }
    ((amplitude * count) / dt, next)
}

/// The spiking network restated as a smooth function of the weights (clause T2), for one
/// sequence. Without `anchor` it spikes (clauses Q1-Q3, N2) and returns what it recorded. With
/// an anchor recorded at weights `w0`, every quantized site outputs
/// `a_t(w) = a_t(w0) + alpha (f(x_t(w)) - f(x_t(w0)))`: equal to the spikes at `w0`, with
/// derivative `alpha f'(x_t)`, which is exactly the backward rule of T2. Central differences
/// of this function at `w0` are therefore an independent computation of the spiking-aware
/// gradient, at any dt.
pub fn restated_lmu_logits(
    model: &Model,
    matrices: &LmuMatrices,
    inputs: &[f64],
    steps: usize,
    sample_id: u64,
    anchor: Option<&Anchor>,
) -> (Vec<f64>, Anchor) {
    use hsnn_spec::{initial_state::initial_state, QuantizedSite};
    let lmu = &model.config.lmu;
    let quantizer = &model.config.quantizer;
    let (dt, amplitude) = (quantizer.dt, quantizer.amplitude);
    let placement = quantizer.placement;
    let weights = &model.weights;
    let order = lmu.order;
    let mut hidden_states: Vec<f64> = (0..lmu.hidden_size)
        .map(|k| {
            initial_state(
                &quantizer.initial_state,
                sample_id,
                QuantizedSite::Hidden,
                k,
            )
        })
        .collect();
    let mut memory_states: Vec<f64> = (0..lmu.memory_size)
        .map(|k| {
            initial_state(
                &quantizer.initial_state,
                sample_id,
                QuantizedSite::MemoryInput,
                k,
            )
        })
        .collect();
    let mut memory_state_states: Vec<f64> = (0..lmu.memory_length())
        .map(|k| {
            initial_state(
                &quantizer.initial_state,
                sample_id,
                QuantizedSite::MemoryState,
                k,
            )
        })
        .collect();
    let mut recorded = Anchor::default();
    let mut hidden = vec![0.0; lmu.hidden_size];
    let mut memory = vec![0.0; lmu.memory_length()];
    for step in 0..steps {
        let x = &inputs[step * lmu.input_size..(step + 1) * lmu.input_size];
        let mut u = row_times(x, &weights.encoder_input);
        if let Some(encoder_hidden) = &weights.encoder_hidden {
            add_into(&mut u, &row_times(&hidden, encoder_hidden));
        }
        if let Some(encoder_memory) = &weights.encoder_memory {
            add_into(&mut u, &row_times(&memory, encoder_memory));
        }
        if placement.quantizes(QuantizedSite::MemoryInput) {
            let rates = u.clone();
            let outputs: Vec<f64> = match anchor {
                Some(anchor) => {
                    let (spikes, anchor_rates) = &anchor.memory_input[step];
                    (0..u.len())
                        .map(|j| spikes[j] + amplitude * (rates[j] - anchor_rates[j]))
                        .collect()
                }
                None => (0..u.len())
                    .map(|j| {
                        let (output, next) = quantize(rates[j], memory_states[j], dt, amplitude);
                        memory_states[j] = next;
                        output
                    })
                    .collect(),
            };
            recorded.memory_input.push((outputs.clone(), rates));
            u = outputs;
        }
        let mut next_memory = vec![0.0; memory.len()];
        for dimension in 0..lmu.memory_size {
            for i in 0..order {
                let mut value = matrices.b_bar.data[i] * u[dimension];
                for j in 0..order {
                    value += matrices.a_bar.data[i * order + j] * memory[dimension * order + j];
                }
                next_memory[dimension * order + i] = value;
            }
        }
        memory = next_memory;
        // W_m reads the memory state's spikes where it spikes; the memory itself stays dense.
        let fed_memory = if placement.quantizes(QuantizedSite::MemoryState) {
            let rates = memory.clone();
            let outputs: Vec<f64> = match anchor {
                Some(anchor) => {
                    let (spikes, anchor_rates) = &anchor.memory_state[step];
                    (0..rates.len())
                        .map(|j| spikes[j] + amplitude * (rates[j] - anchor_rates[j]))
                        .collect()
                }
                None => (0..rates.len())
                    .map(|j| {
                        let (output, next) =
                            quantize(rates[j], memory_state_states[j], dt, amplitude);
                        memory_state_states[j] = next;
                        output
                    })
                    .collect(),
            };
            recorded.memory_state.push((outputs.clone(), rates));
            outputs
        } else {
            memory.clone()
        };
        let mut z = row_times(&hidden, &weights.kernel_hidden);
        if let Some(kernel_input) = &weights.kernel_input {
            add_into(&mut z, &row_times(x, kernel_input));
        }
        add_into(&mut z, &row_times(&fed_memory, &weights.kernel_memory));
        let rates: Vec<f64> = z
            .iter()
            .map(|&value| rate(lmu.hidden_activation, value))
            .collect();
        hidden = if placement.quantizes(QuantizedSite::Hidden) {
            let outputs: Vec<f64> = match anchor {
                Some(anchor) => {
                    let (spikes, anchor_rates) = &anchor.hidden[step];
                    (0..rates.len())
                        .map(|k| spikes[k] + amplitude * (rates[k] - anchor_rates[k]))
                        .collect()
                }
                None => (0..rates.len())
                    .map(|k| {
                        let (output, next) = quantize(rates[k], hidden_states[k], dt, amplitude);
                        hidden_states[k] = next;
                        output
                    })
                    .collect(),
            };
            recorded.hidden.push((outputs.clone(), rates));
            outputs
        } else {
            rates
        };
    }
    let mut logits = row_times(&hidden, &weights.readout_kernel);
    add_into(&mut logits, &weights.readout_bias.data);
    (logits, recorded)
}
