//! The command line's error type: every failure a user can cause, with its cause attached.

use thiserror::Error;

/// What can go wrong in a command.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A specification-level error (bad model, bad configuration, numerical failure).
    #[error(transparent)]
    Spec(#[from] hsnn_spec::HsnnError),
    /// A data error (missing or malformed MNIST files).
    #[error(transparent)]
    Data(#[from] hsnn_data::DataError),
    /// A file of the command line's own (experiment, checkpoint, results) is unusable.
    #[error("{0}")]
    Usage(String),
    /// A Keras file cannot be imported (SPEC.md clause K2): it is unreadable, of another
    /// architecture, or holds something hsnn cannot express; the reason names the layer and
    /// the variable.
    #[error("cannot import {file}: {reason}")]
    Import {
        /// The file, as given.
        file: String,
        /// What is wrong, naming the layer and variable where there is one.
        reason: String,
    },
    /// The run stopped on request right after a checkpoint (`--stop-after-epochs`, tests).
    #[error("stopped on request in stage {stage} after {minibatches} minibatches, checkpoint saved; continue with --resume")]
    Interrupted {
        /// The stage that stopped.
        stage: String,
        /// Minibatches of that stage completed.
        minibatches: u64,
    },
}

/// Result with the command line's error.
pub type TrainResult<T> = Result<T, TrainError>;
