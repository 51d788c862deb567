//! # hsnn-python: the native module of the `hsnn` Python package
//!
//! A thin shell over the hsnn crates, as `hsnn-cli` is: argument checking and conversion to
//! and from numpy, nothing of the specification's math. The Python package (`hsnn/`) adds
//! the exception hierarchy, the conformance runner and progress bars.
//!
//! - [`backends`]: `hsnn.Reference`, `hsnn.Optimized`, `hsnn.Hardware` (SPEC.md N5, T, H)
//! - [`model`] holds `hsnn.Model` (E2, N4, T6)
//! - [`port`] and [`runner`]: the conformance suite on a Python object (C6)
//! - [`keras`]: Keras models in and out (K)
//! - [`extras`]: psMNIST (D) and bit metrics from counts (B)
//! - [`training`]: evaluation and training through hsnn-train's engine (B, T)
//! - [`arrays`], [`errors`]: numpy and exceptions at the boundary (E1)
//!
//! The modules are private (the crate is a Python extension, not a Rust library), so these
//! docs are read with `cargo doc --document-private-items`, as CI builds them.

mod arrays;
mod backends;
mod errors;
mod extras;
mod keras;
mod model;
mod port;
mod runner;
mod training;

use pyo3::prelude::*;

/// The native module, imported as `hsnn._native` (the package re-exports its names).
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<backends::PyReference>()?;
    module.add_class::<backends::PyOptimized>()?;
    module.add_class::<backends::PyHardware>()?;
    module.add_class::<model::PyModel>()?;
    module.add_class::<model::PyFixedModel>()?;
    module.add_function(wrap_pyfunction!(extras::load_psmnist, module)?)?;
    module.add_function(wrap_pyfunction!(extras::bit_metrics, module)?)?;
    module.add_function(wrap_pyfunction!(extras::site_metrics, module)?)?;
    module.add_function(wrap_pyfunction!(extras::device_names, module)?)?;
    module.add_function(wrap_pyfunction!(training::evaluate, module)?)?;
    module.add_function(wrap_pyfunction!(training::reproduce, module)?)?;
    module.add_function(wrap_pyfunction!(keras::import_keras_file, module)?)?;
    module.add_function(wrap_pyfunction!(keras::keras_export, module)?)?;
    module.add_function(wrap_pyfunction!(runner::conformance_checks, module)?)?;
    module.add_function(wrap_pyfunction!(runner::run_conformance_check, module)?)?;
    Ok(())
}
