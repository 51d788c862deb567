//! # hsnn-cli: the `hsnn` command line
//!
//! Arguments, progress bars, printing and plots around the training engine of `hsnn-train`.
//!
//! - [`mod@bench`]: `hsnn bench`, the timing of training steps and inference batches
//! - [`choice`]: arguments that name a choice, parsed from the words its type lists
//! - [`energy`]: `hsnn energy`, the cost of a model on spiking hardware (SPEC.md H10, H11)
//! - [`plot`]: the accuracy and bits against dt figure
//! - [`sweep`]: `hsnn sweep`, which hands a sweep file to the Python package on Ray (H14)
//! - [`progress`]: progress bars and per-epoch lines, an [`hsnn_train::training_loop::Observer`]

pub mod bench;
pub mod choice;
pub mod energy;
pub mod plot;
pub mod progress;
pub mod sweep;
