//! # hsnn-reference: the reference backend
//!
//! Readable f64 code straight from the equations of `spec/SPEC.md`, one module per spec
//! section, the equation beside the code that computes it. Clarity first: this is what every
//! faster backend and every port is checked against, so nothing here is optimized.
//!
//! - [`activation`]: base activations and derivatives (clause Q5)
//! - [`quantizer`]: the quantized activation (clauses Q1-Q4)
//! - [`legendre`]: the Legendre memory and its discretizations (clauses L1-L3)
//! - [`network`]: the hybrid LMU network's forward pass (clauses L4, N1-N3)
//! - [`metrics`]: bit and event metrics from a trace (section B)
//! - [`training`]: backpropagation through time (section T; the loss is `hsnn_spec::loss`)
//! - [`compiler`]: the fixed-point compiler, a model file to a fixed model (clauses H2-H7, H9)
//! - [`fixed`]: the fixed-point network's integer rules and forward pass (clauses H1, H6-H8)

pub mod activation;
pub mod compiler;
pub mod fixed;
pub mod legendre;
pub mod metrics;
pub mod network;
pub mod quantizer;
pub mod training;

use hsnn_spec::{
    Activation, Backend, ForwardOptions, ForwardOutput, GradientOutput, LmuConfig, LmuMatrices,
    LossFunction, Model, QuantizerRun, Result, SequenceBatch, Tensor2, Trainer,
};

/// The reference backend: f64, nalgebra, one sequence at a time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceBackend;

impl Backend for ReferenceBackend {
    fn name(&self) -> &str {
        "reference"
    }

    fn lmu_matrices(&self, config: &LmuConfig) -> Result<LmuMatrices> {
        legendre::lmu_matrices(config.order, config.theta, config.discretizer)
    }

    fn quantize(
        &self,
        activation: Activation,
        dt: f64,
        amplitude: f64,
        inputs: &Tensor2,
        initial_state: &[f64],
    ) -> Result<QuantizerRun> {
        quantizer::run(activation, dt, amplitude, inputs, initial_state)
    }

    fn forward(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        options: &ForwardOptions,
    ) -> Result<ForwardOutput> {
        network::forward(model, batch, options)
    }
}

impl Trainer for ReferenceBackend {
    fn gradients_with_loss(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        labels: &[usize],
        loss: LossFunction,
    ) -> Result<GradientOutput> {
        training::loss_and_gradients(model, batch, labels, loss)
    }
}
