//! The backend interface: what every implementation of the specification provides, so that
//! one conformance suite can check them all (SPEC.md section C).

use serde::{Deserialize, Serialize};

use crate::config::{Activation, LmuConfig};
use crate::error::{HsnnError, Result};
use crate::model::Model;
use crate::tensor::{SequenceBatch, Tensor2};
use crate::trace::{Trace, TraceLevel};

/// The continuous and discretized Legendre matrices of one memory (SPEC.md clauses L1-L3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmuMatrices {
    /// Continuous `A`, `order x order`.
    pub a: Tensor2,
    /// Continuous `B`, `order x 1`.
    pub b: Tensor2,
    /// Discrete `Abar`, `order x order`.
    pub a_bar: Tensor2,
    /// Discrete `Bbar`, `order x 1`.
    pub b_bar: Tensor2,
}

/// The result of running the quantized activation alone over a sequence (SPEC.md clauses
/// Q1-Q4). Every field but `final_state` is `steps x neurons`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizerRun {
    /// Spike counts `n_t`.
    pub counts: Vec<i64>,
    /// Output activities `a_t = alpha * n_t / dt`.
    pub outputs: Vec<f64>,
    /// Integrator values `w_t` (SPEC Q1) before rounding.
    pub integrator: Vec<f64>,
    /// `v_T`, one per neuron.
    pub final_state: Vec<f64>,
}

/// Options of a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForwardOptions {
    /// What to record.
    pub trace: TraceLevel,
}

impl Default for ForwardOptions {
    fn default() -> Self {
        ForwardOptions {
            trace: TraceLevel::Counts,
        }
    }
}

/// The result of a forward pass over a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardOutput {
    /// Readout of the last step, `batch x output_size`.
    pub logits: Tensor2,
    /// What was recorded.
    pub trace: Trace,
}

/// An implementation of the forward semantics of SPEC.md. Implementations take and return
/// plain row-major buffers; a backend that computes in f32 or fixed point converts at the
/// boundary, and its results are compared with the reference in f64 at the conformance level
/// SPEC.md section C gives for it.
pub trait Backend: Send + Sync {
    /// A short name, e.g. `reference`.
    fn name(&self) -> &str;

    /// True for an implementation outside hsnn driven through the conformance bridge (SPEC.md
    /// clause C6): its errors are [`HsnnError::Port`], and the error checks (E1, E2) ask only
    /// that bad input is refused, not that the refusal uses hsnn's words.
    fn is_port(&self) -> bool {
        false
    }

    /// The Legendre matrices of `config` (clauses L1-L3).
    fn lmu_matrices(&self, config: &LmuConfig) -> Result<LmuMatrices>;

    /// Runs the quantized activation with base activation `activation` over `inputs`
    /// (`steps x neurons`), from the given initial states (clauses Q1-Q4).
    fn quantize(
        &self,
        activation: Activation,
        dt: f64,
        amplitude: f64,
        inputs: &Tensor2,
        initial_state: &[f64],
    ) -> Result<QuantizerRun>;

    /// The hybrid network's forward pass over a batch (clauses N1-N3).
    fn forward(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        options: &ForwardOptions,
    ) -> Result<ForwardOutput>;
}

/// Checks the arguments of [`Backend::quantize`] (clauses Q1-Q4, E1): `dt` and `amplitude`
/// finite and positive, finite inputs, one initial state per neuron, each in `[0, 1)`. Every
/// backend refuses the same inputs with the same messages.
pub fn check_quantize_arguments(
    dt: f64,
    amplitude: f64,
    inputs: &Tensor2,
    initial_state: &[f64],
) -> Result<()> {
    crate::config::validate_dt(dt)?;
    if !(amplitude.is_finite() && amplitude > 0.0) {
        return Err(HsnnError::invalid(
            "quantizer.amplitude",
            format!("must be a finite number greater than 0, got {amplitude}"),
        ));
    }
    inputs.validate("quantizer inputs")?;
    if initial_state.len() != inputs.cols {
        return Err(HsnnError::ShapeMismatch {
            name: "quantizer initial state".into(),
            expected: format!("{} values (one per neuron)", inputs.cols),
            found: format!("{} values", initial_state.len()),
        });
    }
    if let Some(index) = initial_state
        .iter()
        .position(|value| !(0.0..1.0).contains(value))
    {
        return Err(HsnnError::invalid(
            format!("quantizer initial state [{index}]"),
            format!("must lie in [0, 1), got {}", initial_state[index]),
        ));
    }
    Ok(())
}
