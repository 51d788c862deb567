//! # hsnn-cli: the `hsnn` command line
//!
//! Arguments, progress bars, printing and plots around the training engine of `hsnn-train`.
//!
//! - [`plot`]: the accuracy and bits against dt figure
//! - [`progress`]: progress bars and per-epoch lines, an [`hsnn_train::training_loop::Observer`]

pub mod plot;
pub mod progress;
