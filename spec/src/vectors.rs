//! The golden-vector schema (SPEC.md clause C4): one JSON file that every backend and every
//! port is tested against. Written by `hsnn vectors` / `hsnn-vectors` from the reference.

use serde::{Deserialize, Serialize};

use crate::backend::QuantizerRun;
use crate::config::{Activation, Discretizer};
use crate::fixed::{FixedModel, FixedRun};
use crate::metrics::BitMetrics;
use crate::model::Model;
use crate::tensor::{SequenceBatch, Tensor2};
use crate::trace::Trace;

/// The `format` tag of a golden-vector file.
pub const VECTORS_FORMAT: &str = "hsnn-vectors";
/// The golden-vector format version: 2 adds network cases where the memory state spikes
/// (clause N2's third site), whose placement words version 1 readers do not know; version 1
/// files read unchanged.
pub const VECTORS_FORMAT_VERSION: u32 = 2;

/// Every golden-vector format version this crate reads, oldest first.
pub const VECTORS_FORMAT_VERSIONS: [u32; 2] = [1, VECTORS_FORMAT_VERSION];

/// A whole golden-vector file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldenVectors {
    /// Always [`VECTORS_FORMAT`].
    pub format: String,
    /// One of [`VECTORS_FORMAT_VERSIONS`]; written as [`VECTORS_FORMAT_VERSION`].
    pub format_version: u32,
    /// What produced the file.
    pub generator: String,
    /// Quantizer cases (clauses Q1-Q4).
    pub quantizer: Vec<QuantizerCase>,
    /// Legendre-matrix cases (clauses L1-L3).
    pub lmu: Vec<LmuCase>,
    /// Whole-network cases (clauses N1-N3, B1-B6).
    pub network: Vec<NetworkCase>,
}

/// One quantizer run: inputs and parameters, and what the reference computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizerCase {
    /// A unique, descriptive name.
    pub name: String,
    /// Base activation.
    pub activation: Activation,
    /// Time step.
    pub dt: f64,
    /// Amplitude.
    pub amplitude: f64,
    /// `v_0`, one per neuron.
    pub initial_state: Vec<f64>,
    /// Inputs `x_t`, `steps x neurons`.
    pub inputs: Tensor2,
    /// The reference's result.
    pub expected: QuantizerRun,
}

/// One Legendre memory: parameters and the reference's matrices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmuCase {
    /// A unique, descriptive name.
    pub name: String,
    /// Order `d`.
    pub order: usize,
    /// Window `theta`.
    pub theta: f64,
    /// Discretizer.
    pub discretizer: Discretizer,
    /// Expected `Abar`.
    pub a_bar: Tensor2,
    /// Expected `Bbar`.
    pub b_bar: Tensor2,
}

/// One forward pass of a whole network: model, inputs, and the reference's logits, full trace
/// and bit metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkCase {
    /// A unique, descriptive name.
    pub name: String,
    /// The model (config and weights).
    pub model: Model,
    /// The inputs.
    pub inputs: SequenceBatch,
    /// Expected logits.
    pub logits: Tensor2,
    /// Expected trace at level `full`.
    pub trace: Trace,
    /// Expected bit metrics of the trace.
    pub metrics: BitMetrics,
}

/// The `format` tag of the fixed-point golden-vector file (SPEC.md clauses C4, H12).
pub const FIXED_VECTORS_FORMAT: &str = "hsnn-fixed-vectors";
/// The fixed-point golden-vector format version: 2 adds cases where the memory state spikes,
/// whose fixed models carry the `memory_state` site; version 1 files read unchanged.
pub const FIXED_VECTORS_FORMAT_VERSION: u32 = 2;

/// Every fixed-point golden-vector format version this crate reads, oldest first.
pub const FIXED_VECTORS_FORMAT_VERSIONS: [u32; 2] = [1, FIXED_VECTORS_FORMAT_VERSION];

/// The fixed-point golden vectors (SPEC.md C4, H12): fixed models with inputs and the
/// integers every fixed-point implementation must reproduce bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedVectors {
    /// Always [`FIXED_VECTORS_FORMAT`].
    pub format: String,
    /// One of [`FIXED_VECTORS_FORMAT_VERSIONS`]; written as [`FIXED_VECTORS_FORMAT_VERSION`].
    pub format_version: u32,
    /// What produced the file.
    pub generator: String,
    /// The cases.
    pub cases: Vec<FixedNetworkCase>,
}

/// One fixed model run over a batch (SPEC.md H8): the expected integers at trace level full
/// and the bit metrics of the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedNetworkCase {
    /// A unique, descriptive name.
    pub name: String,
    /// The fixed model (H9), the contract: run it as it is.
    pub fixed_model: FixedModel,
    /// The inputs (reals; the fixed point rounds them, H4).
    pub inputs: SequenceBatch,
    /// Expected integers (H12's C1).
    pub expected: FixedRun,
    /// Expected bit metrics of the counts (section B).
    pub metrics: BitMetrics,
}
