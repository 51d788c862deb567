//! # hsnn-hardware: the modeled spiking chip
//!
//! The fixed-point network of SPEC.md section H run the way a chip would run it: per step,
//! only neurons with a non-zero count send an event, each event adds `n * w` to its targets
//! by shift-and-add, and the dense parts are multiply-accumulates. The chip counts what it
//! does (clause H10) and [`energy`] prices the counts per device (clause H11).
//!
//! - [`counters`]: what the chip counts (H10)
//! - [`energy`]: device profiles and the pricing rule (H11)

pub mod counters;
pub mod energy;
