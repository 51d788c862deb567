//! Rust errors as Python exceptions of the `hsnn.HsnnError` hierarchy (`hsnn/_errors.py`),
//! one class per Rust error kind, with the Rust message unchanged (SPEC.md clause E1).

use hsnn_spec::HsnnError;
use hsnn_train::TrainError;
use pyo3::prelude::*;

/// An exception of class `hsnn.<class>` with `message`; if the hierarchy cannot be imported
/// (a broken install), the import error itself, which says why.
pub fn raise(py: Python<'_>, class: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    match py
        .import("hsnn._errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call1((message,)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(error) => error,
    }
}

/// The Python class of a specification error.
pub fn class_of(error: &HsnnError) -> &'static str {
    match error {
        HsnnError::InvalidConfig { .. } => "InvalidConfigError",
        HsnnError::ShapeMismatch { .. } => "ShapeMismatchError",
        HsnnError::NonFinite { .. } => "NonFiniteError",
        HsnnError::FormatVersion { .. } => "FormatVersionError",
        HsnnError::Parse { .. } => "ParseError",
        HsnnError::Io { .. } => "FileError",
        HsnnError::Unsupported { .. } => "UnsupportedError",
        HsnnError::Port { .. } => "PortError",
        HsnnError::Numerical { .. } => "NumericalError",
    }
}

/// Converts the Rust results of the hsnn crates into Python results.
pub trait OrRaise<T> {
    /// The value, or the error as an `hsnn.HsnnError`.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, HsnnError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| raise(py, class_of(&error), error.to_string()))
    }
}

impl<T> OrRaise<T> for Result<T, TrainError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| {
            let class = match &error {
                TrainError::Spec(inner) => class_of(inner),
                TrainError::Data(_) => "DataError",
                TrainError::Usage(_) => "UsageError",
                TrainError::Import { .. } => "KerasImportError",
                TrainError::Interrupted { .. } => "RunInterrupted",
            };
            raise(py, class, error.to_string())
        })
    }
}

impl<T> OrRaise<T> for Result<T, hsnn_data::DataError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| raise(py, "DataError", error.to_string()))
    }
}

impl<T> OrRaise<T> for Result<T, pythonize::PythonizeError> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|error| raise(py, "ParseError", error.to_string()))
    }
}
