//! # hsnn-hardware: the modeled spiking chip
//!
//! The fixed-point network of SPEC.md section H run the way a chip would run it: per step,
//! only neurons with a non-zero count send an event, each event adds `n * w` to its targets
//! by shift-and-add, and the dense parts are multiply-accumulates. The chip counts what it
//! does (clause H10) and [`energy`] prices the counts per device (clause H11). It depends on
//! hsnn-spec only: model files reach it through a [`hsnn_spec::fixed::FixedPointConversion`]
//! (the reference's), or as fixed model files.
//!
//! - [`arithmetic`]: the chip's integer rules, written independently of the reference (H1)
//! - [`chip`]: one sequence as a stream of steps, event-driven (H7, H8)
//! - [`engine`]: what both engines share: a batch's run record, its pieces per thread, the
//!   chip's batch runner (H8, H12)
//! - [`backend`]: the choice of engine and the [`hsnn_spec::Backend`] interface (H8, H13)
//! - [`fast`]: the same integers and counters, computed densely over a batch (H13)
//! - [`pairs`]: the fast engine's exact 16-bit integer products (VNNI where present, H13)
//! - [`counters`]: what the chip counts (H10)
//! - [`energy`]: device profiles and the pricing rule (H11)

pub mod arithmetic;
pub mod backend;
pub mod chip;
pub mod counters;
pub mod energy;
pub mod engine;
pub mod fast;
pub mod pairs;

pub use backend::{Engine, HardwareBackend};
pub use chip::{Chip, ChipState, Event, StepOutput};
pub use counters::HardwareCounters;
pub use engine::{run_batch, EngineRun};
pub use fast::{run_batch_fast, run_batch_fast_at};
