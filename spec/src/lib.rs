//! # hsnn-spec: the shared vocabulary of the hsnn specification
//!
//! This crate holds what every backend, port and tool must agree on, and no network
//! mathematics: configurations ([`config`]), weights and model files ([`model`]), dense row-major tensors
//! ([`tensor`]), what a forward pass records ([`trace`]), the bit and event metrics
//! ([`metrics`]), the base activations' descriptor ([`activation`]), the backend interface ([`backend`]), the quantized sites and placements ([`site`]), the seeded initial-state generator that
//! every backend must reproduce bit for bit ([`initial_state`]), the losses every trainer
//! minimises ([`loss`]), the golden-vector schema
//! ([`vectors`]), the words that name each choice ([`words`]) and the error type ([`error`]).
//!
//! Clause identifiers (Q1, L3, N2, B4, C1, ...) refer to `spec/SPEC.md`.

pub mod activation;
pub mod backend;
pub mod config;
pub mod counts;
pub mod error;
pub mod fixed;
pub mod initial_state;
pub mod isa;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod site;
pub mod tensor;
pub mod trace;
pub mod training;
pub mod vectors;
pub mod words;

pub use activation::{ActivationProperties, FixedPointForm};
pub use backend::{Backend, ForwardOptions, ForwardOutput, LmuMatrices, QuantizerRun};
pub use config::{
    Activation, Discretizer, InitialState as InitialStateConfig, LmuConfig, NetworkConfig,
    QuantizerConfig, RecurrentConnections,
};
pub use counts::Counts;
pub use error::{HsnnError, Result};
pub use metrics::{BitMetrics, EventCounts, SiteMetrics};
pub use model::{
    DataProvenance, DataRecipe, DataSource, FixedMatrixCheck, ImportProvenance, Model, Provenance,
    SequenceFileRecord, Weights, MODEL_FORMAT, MODEL_FORMAT_VERSION, MODEL_FORMAT_VERSION_IMPORTED,
    MODEL_FORMAT_VERSION_SEQUENCE_FILE,
};
pub use site::{QuantizedSite, QuantizerPlacement, SiteActivation, SiteMap, StepPosition};
pub use tensor::{SequenceBatch, Tensor2};
pub use trace::{CountTally, SiteTrace, TallyBuilder, TallyCell, Trace, TraceLevel};
pub use training::{AdamConfig, AdamState, DtSchedule, GradientOutput, LossFunction, Trainer};
pub use words::Words;
