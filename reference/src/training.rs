//! Training math (SPEC.md section T): backpropagation through time with the spiking-aware
//! backward rule, from the loss's gradient that `hsnn_spec::loss` computes (T1). The optimizer (T4) and the initialization (T6) belong to the
//! training engine, `hsnn-train`, which applies them to any backend's gradients.
//!
//! Backward pass for one sequence, row-vector convention, from `dlogits = dL/dlogits`
//! (clause T3), with `g` the gradient of each weight and `delta` a running adjoint:
//!
//! ```text
//! g(W_o) = h_T^T dlogits,   g(b_o) = dlogits,   dh_T = dlogits W_o^T
//! for t = T .. 1:
//!   dz_t  = dh_t * f'(z_t) * (alpha if the hidden units spike, else 1)    (T2)
//!   g(W_x) += x_t^T dz_t;  g(W_h) += h_{t-1}^T dz_t;  g(W_m) += m_t^T dz_t
//!   dm_t  += dz_t W_m^T                       (dm_t also holds what m_{t+1}, u_{t+1} sent)
//!   du_t   = rows of dm_t dotted with Bbar    (m_t = m_{t-1} Abar^T + u_t^T Bbar)
//!   du_t  *= alpha if the memory input spikes (identity base activation)   (T2)
//!   g(e_x) += x_t^T du_t;  g(e_h) += h_{t-1}^T du_t;  g(e_m) += m_{t-1}^T du_t
//!   dh_{t-1} = dz_t W_h^T + du_t e_h^T
//!   dm_{t-1} = dm_t Abar (row by row) + du_t e_m^T
//! ```
//!
//! No gradient flows through the quantizer state `v` (clause T2).

use hsnn_spec::QuantizedSite;
use hsnn_spec::{
    GradientOutput, HsnnError, LossFunction, Model, Result, SequenceBatch, Tensor2, Weights,
};
use nalgebra::{DMatrix, RowDVector};

use crate::activation;
use crate::network::{check_batch, PreparedNetwork, SampleRecord};

/// Gradients of one sequence's loss as nalgebra matrices, before averaging.
struct SampleGradients {
    encoder_input: DMatrix<f64>,
    encoder_hidden: Option<DMatrix<f64>>,
    encoder_memory: Option<DMatrix<f64>>,
    kernel_input: Option<DMatrix<f64>>,
    kernel_hidden: DMatrix<f64>,
    kernel_memory: DMatrix<f64>,
    readout_kernel: DMatrix<f64>,
    readout_bias: RowDVector<f64>,
}

/// Backpropagation through time for one recorded sequence (clauses T2, T3).
fn backward(
    network: &PreparedNetwork,
    inputs: &[f64],
    record: &SampleRecord,
    dlogits: &RowDVector<f64>,
) -> SampleGradients {
    let config = &network.model.config;
    let lmu = &config.lmu;
    let placement = config.quantizer.placement;
    let amplitude = config.quantizer.amplitude;
    let hidden_gain = if placement.quantizes(QuantizedSite::Hidden) {
        amplitude
    } else {
        1.0
    };
    let memory_input_gain = if placement.quantizes(QuantizedSite::MemoryInput) {
        amplitude
    } else {
        1.0
    };
    let memory_state_gain = if placement.quantizes(QuantizedSite::MemoryState) {
        amplitude
    } else {
        1.0
    };
    let steps = record.hidden.len();
    let zeros_like = |matrix: &DMatrix<f64>| DMatrix::zeros(matrix.nrows(), matrix.ncols());
    let mut gradients = SampleGradients {
        encoder_input: zeros_like(&network.encoder_input),
        encoder_hidden: network.encoder_hidden.as_ref().map(zeros_like),
        encoder_memory: network.encoder_memory.as_ref().map(zeros_like),
        kernel_input: network.kernel_input.as_ref().map(zeros_like),
        kernel_hidden: zeros_like(&network.kernel_hidden),
        kernel_memory: zeros_like(&network.kernel_memory),
        readout_kernel: record.hidden[steps - 1].transpose() * dlogits,
        readout_bias: dlogits.clone(),
    };
    let zero_hidden = RowDVector::<f64>::zeros(lmu.hidden_size);
    let zero_memory = RowDVector::<f64>::zeros(lmu.memory_length());

    let mut hidden_adjoint = dlogits * network.readout_kernel.transpose();
    // The memory adjoint is kept as a `memory_size x order` matrix, like the memory itself.
    let mut memory_adjoint = DMatrix::<f64>::zeros(lmu.memory_size, lmu.order);
    for t in (0..steps).rev() {
        let x = RowDVector::from_row_slice(&inputs[t * lmu.input_size..(t + 1) * lmu.input_size]);
        let previous_hidden = if t == 0 {
            &zero_hidden
        } else {
            &record.hidden[t - 1]
        };
        let previous_memory = if t == 0 {
            &zero_memory
        } else {
            &record.memory[t - 1]
        };

        let preactivation_adjoint = hidden_adjoint
            .zip_map(&record.hidden_preactivation[t], |adjoint, z| {
                adjoint * activation::derivative(lmu.hidden_activation, z) * hidden_gain
            });
        if let Some(kernel_input) = &mut gradients.kernel_input {
            *kernel_input += x.transpose() * &preactivation_adjoint;
        }
        gradients.kernel_hidden += previous_hidden.transpose() * &preactivation_adjoint;
        gradients.kernel_memory += record.fed_memory[t].transpose() * &preactivation_adjoint;

        // Through the memory state's quantizer, when it spikes, with its rate's derivative
        // (identity: the amplitude), as the other sites (clause T2).
        let from_hidden =
            &preactivation_adjoint * network.kernel_memory.transpose() * memory_state_gain;
        memory_adjoint += unflatten(&from_hidden, lmu.memory_size, lmu.order);

        // u_t enters m_t through Bbar: du_t[j] = sum_i dm_t[j][i] * Bbar[i].
        let memory_input_adjoint =
            (&memory_adjoint * network.b_bar.transpose()).transpose() * memory_input_gain;
        gradients.encoder_input += x.transpose() * &memory_input_adjoint;

        let mut previous_hidden_adjoint =
            &preactivation_adjoint * network.kernel_hidden.transpose();
        if let (Some(gradient), Some(encoder)) =
            (&mut gradients.encoder_hidden, &network.encoder_hidden)
        {
            *gradient += previous_hidden.transpose() * &memory_input_adjoint;
            previous_hidden_adjoint += &memory_input_adjoint * encoder.transpose();
        }
        let mut previous_memory_adjoint = &memory_adjoint * &network.a_bar;
        if let (Some(gradient), Some(encoder)) =
            (&mut gradients.encoder_memory, &network.encoder_memory)
        {
            *gradient += previous_memory.transpose() * &memory_input_adjoint;
            let through_encoder = &memory_input_adjoint * encoder.transpose();
            previous_memory_adjoint += unflatten(&through_encoder, lmu.memory_size, lmu.order);
        }
        hidden_adjoint = previous_hidden_adjoint;
        memory_adjoint = previous_memory_adjoint;
    }
    gradients
}

/// A flattened (memory-dimension-major) row back into the `memory_size x order` matrix.
fn unflatten(row: &RowDVector<f64>, memory_size: usize, order: usize) -> DMatrix<f64> {
    DMatrix::from_row_slice(memory_size, order, row.as_slice())
}

fn to_tensor(matrix: &DMatrix<f64>) -> Tensor2 {
    crate::legendre::to_tensor(matrix)
}

/// Sequences per unit of parallel gradient work (clause T8): a batch is cut into chunks of
/// this many consecutive sequences, each chunk's mean gradient is computed on one thread, and
/// the chunks are combined in order with weight `chunk size / batch size`, so the result does
/// not depend on the number of threads.
pub const CHUNK: usize = 5;

/// Mean loss and gradients over a batch (clauses T1-T3, T8): forward with spikes, backward
/// with the rate derivative, in chunks of [`CHUNK`] sequences combined in chunk order.
pub fn loss_and_gradients(
    model: &Model,
    batch: &SequenceBatch,
    labels: &[usize],
    loss: LossFunction,
) -> Result<GradientOutput> {
    use rayon::prelude::*;
    let network = PreparedNetwork::new(model)?;
    check_batch(model, batch)?;
    if labels.len() != batch.batch {
        return Err(HsnnError::ShapeMismatch {
            name: "labels".into(),
            expected: format!("{} (one per sequence)", batch.batch),
            found: labels.len().to_string(),
        });
    }
    if let Some(label) = labels
        .iter()
        .find(|&&label| label >= model.config.output_size)
    {
        return Err(HsnnError::invalid(
            "labels",
            format!(
                "must be below output_size {}, found {label}",
                model.config.output_size
            ),
        ));
    }
    let starts: Vec<usize> = (0..batch.batch).step_by(CHUNK).collect();
    let chunks: Vec<Result<GradientOutput>> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + CHUNK).min(batch.batch);
            chunk_loss_and_gradients(&network, batch, start..end, &labels[start..end], loss)
        })
        .collect();
    let total = batch.batch as f64;
    let mut loss = 0.0;
    let mut gradients = Weights::zeros(&model.config);
    let mut logits = Tensor2::zeros(batch.batch, model.config.output_size);
    for (&start, chunk) in starts.iter().zip(chunks) {
        let chunk = chunk?;
        let weight = chunk.logits.rows as f64 / total;
        loss += weight * chunk.loss;
        for ((_, target), (_, source)) in gradients
            .named_mut()
            .into_iter()
            .zip(chunk.gradients.named())
        {
            for (target, source) in target.data.iter_mut().zip(&source.data) {
                *target += weight * source;
            }
        }
        let outputs = model.config.output_size;
        logits.data[start * outputs..start * outputs + chunk.logits.data.len()]
            .copy_from_slice(&chunk.logits.data);
    }
    Ok(GradientOutput {
        loss,
        gradients,
        logits,
    })
}

/// Mean loss and gradients over the sequences `samples` of `batch`, one after the other.
fn chunk_loss_and_gradients(
    network: &PreparedNetwork,
    batch: &SequenceBatch,
    samples: std::ops::Range<usize>,
    labels: &[usize],
    loss_function: LossFunction,
) -> Result<GradientOutput> {
    let config = &network.model.config;
    let mut total_loss = 0.0;
    let mut gradients = Weights::zeros(config);
    let mut logits = Tensor2::zeros(samples.len(), config.output_size);
    let sequence_length = batch.steps * batch.features;
    let scale = 1.0 / samples.len() as f64;
    for (position, (sample, &label)) in samples.zip(labels).enumerate() {
        let inputs = &batch.data[sample * sequence_length..(sample + 1) * sequence_length];
        let record = network.simulate(inputs, batch.steps, batch.sample_ids[sample])?;
        let (loss, dlogits) =
            loss_function.loss_and_logit_gradient(record.logits.as_slice(), label);
        let dlogits = RowDVector::from_vec(dlogits);
        total_loss += loss;
        for (output, value) in record.logits.iter().enumerate() {
            logits.set(position, output, *value);
        }
        let sample_gradients = backward(network, inputs, &record, &(dlogits * scale));
        accumulate(&mut gradients, &sample_gradients);
    }
    Ok(GradientOutput {
        loss: total_loss * scale,
        gradients,
        logits,
    })
}

fn accumulate(total: &mut Weights, sample: &SampleGradients) {
    let add = |target: &mut Tensor2, matrix: &DMatrix<f64>| {
        let values = to_tensor(matrix);
        for (target, value) in target.data.iter_mut().zip(&values.data) {
            *target += value;
        }
    };
    add(&mut total.encoder_input, &sample.encoder_input);
    if let (Some(target), Some(matrix)) = (&mut total.encoder_hidden, &sample.encoder_hidden) {
        add(target, matrix);
    }
    if let (Some(target), Some(matrix)) = (&mut total.encoder_memory, &sample.encoder_memory) {
        add(target, matrix);
    }
    if let (Some(target), Some(matrix)) = (&mut total.kernel_input, &sample.kernel_input) {
        add(target, matrix);
    }
    add(&mut total.kernel_hidden, &sample.kernel_hidden);
    add(&mut total.kernel_memory, &sample.kernel_memory);
    add(&mut total.readout_kernel, &sample.readout_kernel);
    for (target, value) in total
        .readout_bias
        .data
        .iter_mut()
        .zip(sample.readout_bias.iter())
    {
        *target += value;
    }
}
