//! # hsnn-train: the training engine
//!
//! Experiment files, minibatch training with dt schedules, atomic checkpoints and exact resume,
//! evaluation, and the paper reproduction's report, written against the
//! [`hsnn_spec::Trainer`] and [`hsnn_spec::Backend`] traits so any backend can run them
//! (SPEC.md section T). The command line (`hsnn-cli`) adds arguments, progress bars, printing
//! and plots; progress reaches it through [`training_loop::Observer`].
//!
//! - [`experiment`]: experiment files (network, data, stages)
//! - [`data`]: from the psMNIST splits to backend batches
//! - [`evaluation`]: accuracy, loss and bit metrics of a model on a split
//! - [`optimizer`]: Adam in the Keras form (clause T4)
//! - [`initialization`]: the original LMU's initialization and the seeded stream (T6, T8)
//! - [`training_loop`]: minibatch training with dt schedules, checkpoints and resume
//! - [`reproduce`]: the main job: stages, evaluation sweep, table, results JSON
//! - [`keras`]: Keras models in and out: the paper's file and keras-lmu 0.9 (section K)
//! - [`pretrained`]: the shipped paper models and the quick path that evaluates them
//! - [`run_folder`]: the output folder: checked up front, refused when taken, locked

pub mod data;
pub mod error;
pub mod evaluation;
pub mod experiment;
pub mod initialization;
pub mod keras;
pub mod model_file;
pub mod optimizer;
pub mod pretrained;
pub mod report;
pub mod reproduce;
pub mod run_folder;
pub mod training_loop;

pub use error::{TrainError, TrainResult};
