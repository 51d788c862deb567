//! The hybrid LMU network's forward pass (SPEC.md clauses L4, N1-N3), one sequence at a time,
//! row-vector convention:
//!
//! ```text
//! u_t = x_t e_x + h_{t-1} e_h + m_{t-1} e_m          memory input        (L4)
//! u_t <- Q_identity(u_t)             if the memory input is quantized    (N2)
//! m_t = m_{t-1} Abar^T + u_t^T Bbar^T                per memory dimension (L4)
//! z_t = x_t W_x + h_{t-1} W_h + m_t W_m              note: the updated m_t (L4)
//! h_t = f(z_t), or Q_f(z_t) if the hidden units are quantized          (N2)
//! logits = h_T W_o + b_o                                               (N1)
//! ```
//!
//! with `h_0 = 0`, `m_0 = 0`, and the memory `m` held as a `memory_size x order` matrix whose
//! row `j` is the Legendre state of memory dimension `j` (flattened row by row, clause L4).

use hsnn_spec::{
    initial_state::initial_state, ForwardOptions, ForwardOutput, HsnnError, Model, QuantizedSite,
    Result, SequenceBatch, SiteMap, SiteTrace, Tensor2, Trace, TraceLevel,
};
use nalgebra::{DMatrix, RowDVector};

use crate::{activation, legendre, quantizer};

/// A model's weights as nalgebra matrices plus its discretized memory, ready to run.
#[derive(Debug, Clone)]
pub struct PreparedNetwork {
    /// The validated model.
    pub model: Model,
    /// `Abar`, `order x order`.
    pub a_bar: DMatrix<f64>,
    /// `Bbar` as a row, `1 x order`.
    pub b_bar: RowDVector<f64>,
    /// `e_x`.
    pub encoder_input: DMatrix<f64>,
    /// `e_h`, when present.
    pub encoder_hidden: Option<DMatrix<f64>>,
    /// `e_m`, when present.
    pub encoder_memory: Option<DMatrix<f64>>,
    /// `W_x`, when present.
    pub kernel_input: Option<DMatrix<f64>>,
    /// `W_h`.
    pub kernel_hidden: DMatrix<f64>,
    /// `W_m`.
    pub kernel_memory: DMatrix<f64>,
    /// `W_o`.
    pub readout_kernel: DMatrix<f64>,
    /// `b_o`.
    pub readout_bias: RowDVector<f64>,
}

impl PreparedNetwork {
    /// Validates the model and converts it (clause E1).
    pub fn new(model: &Model) -> Result<Self> {
        model.validate()?;
        let lmu = &model.config.lmu;
        let matrices = legendre::lmu_matrices(lmu.order, lmu.theta, lmu.discretizer)?;
        let weights = &model.weights;
        let optional = |tensor: &Option<Tensor2>| tensor.as_ref().map(legendre::to_matrix);
        Ok(PreparedNetwork {
            model: model.clone(),
            a_bar: legendre::to_matrix(&matrices.a_bar),
            b_bar: RowDVector::from_row_slice(&matrices.b_bar.data),
            encoder_input: legendre::to_matrix(&weights.encoder_input),
            encoder_hidden: optional(&weights.encoder_hidden),
            encoder_memory: optional(&weights.encoder_memory),
            kernel_input: optional(&weights.kernel_input),
            kernel_hidden: legendre::to_matrix(&weights.kernel_hidden),
            kernel_memory: legendre::to_matrix(&weights.kernel_memory),
            readout_kernel: legendre::to_matrix(&weights.readout_kernel),
            readout_bias: RowDVector::from_row_slice(&weights.readout_bias.data),
        })
    }

    /// Runs one sequence (`steps x input_size`, row-major) and records every intermediate
    /// value (clauses L4, N1, N2). `sample_id` keys the initial quantizer states (clause Q3).
    pub fn simulate(&self, inputs: &[f64], steps: usize, sample_id: u64) -> Result<SampleRecord> {
        let config = &self.model.config;
        let lmu = &config.lmu;
        if steps == 0 || inputs.len() != steps * lmu.input_size {
            return Err(HsnnError::ShapeMismatch {
                name: "sequence".into(),
                expected: format!("{steps} steps (at least 1) of {} inputs", lmu.input_size),
                found: format!("{} values", inputs.len()),
            });
        }
        let quantizer_config = &config.quantizer;
        let placement = quantizer_config.placement;
        let dt = quantizer_config.dt;
        let amplitude = quantizer_config.amplitude;
        let initial_states = |site: QuantizedSite, neurons: usize| -> Vec<f64> {
            (0..neurons)
                .map(|neuron| {
                    initial_state(&quantizer_config.initial_state, sample_id, site, neuron)
                })
                .collect()
        };
        let mut states = SiteMap::from_fn(|site| initial_states(site, site.neurons(lmu)));
        // One step of `site`'s quantizer on `values`, in place (clauses Q1, N2), wherever the
        // step places the site; counts and integrators go into the record.
        let mut quantize_site = |site: QuantizedSite,
                                 values: &mut RowDVector<f64>,
                                 record: &mut SampleRecord|
         -> Result<()> {
            let activation = site.activation(lmu);
            let mut counts = Vec::with_capacity(values.len());
            let mut integrators = Vec::with_capacity(values.len());
            for (value, state) in values.iter_mut().zip(states[site].iter_mut()) {
                let outcome = quantizer::step(activation, dt, amplitude, *state, *value)?;
                *state = outcome.state;
                *value = outcome.output;
                counts.push(outcome.count);
                integrators.push(outcome.integrator);
            }
            record.counts[site].push(counts);
            record.integrators[site].push(integrators);
            Ok(())
        };

        let mut record = SampleRecord::default();
        let mut hidden = RowDVector::<f64>::zeros(lmu.hidden_size);
        let mut memory = DMatrix::<f64>::zeros(lmu.memory_size, lmu.order);
        for step in 0..steps {
            let x = RowDVector::from_row_slice(
                &inputs[step * lmu.input_size..(step + 1) * lmu.input_size],
            );
            let previous_memory = flatten(&memory);

            // u_t = x_t e_x + h_{t-1} e_h + m_{t-1} e_m
            let mut memory_input = &x * &self.encoder_input;
            if let Some(encoder_hidden) = &self.encoder_hidden {
                memory_input += &hidden * encoder_hidden;
            }
            if let Some(encoder_memory) = &self.encoder_memory {
                memory_input += &previous_memory * encoder_memory;
            }
            record.memory_input_preactivation.push(memory_input.clone());
            if placement.quantizes(QuantizedSite::MemoryInput) {
                quantize_site(QuantizedSite::MemoryInput, &mut memory_input, &mut record)?;
            }

            // m_t = m_{t-1} Abar^T + u_t^T Bbar  (each row is one memory dimension)
            memory = &memory * self.a_bar.transpose() + memory_input.transpose() * &self.b_bar;
            let current_memory = flatten(&memory);
            // m_t as it feeds W_m: quantized where the memory state spikes (clause N2); the
            // memory's own update and e_m keep the dense m_t.
            let mut fed_memory = current_memory.clone();
            if placement.quantizes(QuantizedSite::MemoryState) {
                quantize_site(QuantizedSite::MemoryState, &mut fed_memory, &mut record)?;
            }

            // z_t = x_t W_x + h_{t-1} W_h + m~_t W_m
            let mut preactivation = &hidden * &self.kernel_hidden;
            if let Some(kernel_input) = &self.kernel_input {
                preactivation += &x * kernel_input;
            }
            preactivation += &fed_memory * &self.kernel_memory;

            // h_t = f(z_t), or its quantized version
            if placement.quantizes(QuantizedSite::Hidden) {
                hidden.copy_from(&preactivation);
                quantize_site(QuantizedSite::Hidden, &mut hidden, &mut record)?;
            } else {
                hidden = preactivation.map(|value| activation::apply(lmu.hidden_activation, value));
            }

            record.memory_input.push(memory_input);
            record.memory.push(current_memory);
            record.fed_memory.push(fed_memory);
            record.hidden_preactivation.push(preactivation);
            record.hidden.push(hidden.clone());
        }
        record.logits = &hidden * &self.readout_kernel + &self.readout_bias;
        Ok(record)
    }
}

/// Every intermediate value of one sequence, one entry per step (what training's backward
/// pass needs, and what a full trace records).
#[derive(Debug, Clone, Default)]
pub struct SampleRecord {
    /// `u_t` before the memory-input quantizer.
    pub memory_input_preactivation: Vec<RowDVector<f64>>,
    /// `u_t` as fed to the memory (quantized when the memory input spikes).
    pub memory_input: Vec<RowDVector<f64>>,
    /// `m_t`, flattened memory-dimension-major.
    pub memory: Vec<RowDVector<f64>>,
    /// `m_t` as fed to W_m (quantized when the memory state spikes).
    pub fed_memory: Vec<RowDVector<f64>>,
    /// `z_t`, the hidden pre-activation.
    pub hidden_preactivation: Vec<RowDVector<f64>>,
    /// `h_t`.
    pub hidden: Vec<RowDVector<f64>>,
    /// Each site's spike counts per step (empty where the site does not spike).
    pub counts: SiteMap<Vec<Vec<i64>>>,
    /// Each site's integrator values per step.
    pub integrators: SiteMap<Vec<Vec<f64>>>,
    /// `h_T W_o + b_o`.
    pub logits: RowDVector<f64>,
}

/// The memory matrix flattened row by row (memory-dimension-major, clause L4).
fn flatten(memory: &DMatrix<f64>) -> RowDVector<f64> {
    RowDVector::from_iterator(
        memory.len(),
        (0..memory.nrows()).flat_map(|row| memory.row(row).iter().copied().collect::<Vec<_>>()),
    )
}

/// Checks that a batch fits a model (clause E1).
pub fn check_batch(model: &Model, batch: &SequenceBatch) -> Result<()> {
    batch.validate()?;
    if batch.features != model.config.lmu.input_size {
        return Err(HsnnError::ShapeMismatch {
            name: "input batch features".into(),
            expected: format!(
                "{} (the model's lmu.input_size)",
                model.config.lmu.input_size
            ),
            found: batch.features.to_string(),
        });
    }
    Ok(())
}

/// The forward pass over a batch (clauses N1-N3).
pub fn forward(
    model: &Model,
    batch: &SequenceBatch,
    options: &ForwardOptions,
) -> Result<ForwardOutput> {
    let network = PreparedNetwork::new(model)?;
    check_batch(model, batch)?;
    let config = &model.config;
    let placement = config.quantizer.placement;
    let mut logits = Tensor2::zeros(batch.batch, config.output_size);
    let mut sites = Vec::new();
    if options.trace != TraceLevel::None {
        for site in placement.sites() {
            sites.push(SiteTrace::of_site(
                site,
                config,
                (batch.batch, batch.steps),
                hsnn_spec::Counts::new(),
                Vec::new(),
                None,
            ));
        }
    }
    let mut hidden_trace = Vec::new();
    let sequence_length = batch.steps * batch.features;
    // Sequences are independent (clause Q1): simulate them in parallel, assemble in order.
    use rayon::prelude::*;
    let records: Vec<Result<SampleRecord>> = (0..batch.batch)
        .into_par_iter()
        .map(|sample| {
            let inputs = &batch.data[sample * sequence_length..(sample + 1) * sequence_length];
            network.simulate(inputs, batch.steps, batch.sample_ids[sample])
        })
        .collect();
    for (sample, record) in records.into_iter().enumerate() {
        let record = record?;
        for (output, value) in record.logits.iter().enumerate() {
            logits.set(sample, output, *value);
        }
        for site_trace in &mut sites {
            let site = site_trace.site;
            let (counts, integrators) = (&record.counts[site], &record.integrators[site]);
            site_trace.counts.extend(counts.iter().flatten().copied());
            if options.trace == TraceLevel::Full {
                site_trace.integrator.extend(integrators.iter().flatten());
            }
        }
        if options.trace == TraceLevel::Full {
            hidden_trace.extend(record.hidden.iter().flat_map(|h| h.iter().copied()));
        }
    }
    let trace = Trace {
        dt: config.quantizer.dt,
        sites,
        hidden: hidden_trace,
    };
    Ok(ForwardOutput {
        logits,
        // The reference records every count and tallies them after: the readable way.
        trace: if options.trace == TraceLevel::Tally {
            trace.into_tallied()
        } else {
            trace
        },
    })
}
