//! A second, deliberately plain implementation of the non-spiking LMU network (clauses L4,
//! N1): index loops over `Vec<f64>`, no linear-algebra library, written from SPEC.md rather
//! than from the reference's code, so that agreement between the two is evidence.

use hsnn_spec::{Activation, LmuMatrices, Model, Tensor2};

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
            .map(|&value| match lmu.hidden_activation {
                Activation::Identity => value,
                Activation::Relu => value.max(0.0),
                Activation::Tanh => value.tanh(),
            })
            .collect();
    }
    let mut logits = row_times(&hidden, &weights.readout_kernel);
    add_into(&mut logits, &weights.readout_bias.data);
    logits
}
