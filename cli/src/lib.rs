//! # hsnn-cli: the `hsnn` command line as a library
//!
//! The training loop, evaluation, the paper reproduction and its report, written against the
//! [`hsnn_spec::Trainer`] and [`hsnn_spec::Backend`] traits so any backend can run them.
//!
//! - [`experiment`]: experiment files (network, data, stages)
//! - [`data`]: from the psMNIST splits to backend batches
//! - [`evaluation`]: accuracy, loss and bit metrics of a model on a split
//! - [`training_loop`]: minibatch training with dt schedules, checkpoints and resume
//! - [`reproduce`]: the main job: stages, evaluation sweep, table, results JSON, plot
//! - [`plot`]: the accuracy and bits against dt figure

pub mod data;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod plot;
pub mod reproduce;
pub mod training_loop;

pub use error::{CliError, CliResult};
