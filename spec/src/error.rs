//! The error type shared by every hsnn crate (SPEC.md clause E1: bad input is a typed error with
//! a message a user understands, never a panic).

use thiserror::Error;

/// Result with the hsnn error type.
pub type Result<T> = std::result::Result<T, HsnnError>;

/// Everything that can go wrong when a user hands hsnn a configuration, a model or data
/// (SPEC.md clause E1). Each message names the offending field and says what was expected.
#[derive(Debug, Error)]
pub enum HsnnError {
    /// A configuration value is outside its allowed range.
    #[error("invalid configuration: `{field}` {reason}")]
    InvalidConfig {
        /// Dotted path of the field, e.g. `quantizer.dt`.
        field: String,
        /// What is wrong with it, phrased to follow the field name.
        reason: String,
    },
    /// A weight matrix or an input does not have the shape the configuration implies.
    #[error("shape mismatch for `{name}`: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Name of the tensor, e.g. `weights.kernel_hidden`.
        name: String,
        /// The shape the configuration implies, e.g. `212 x 212`.
        expected: String,
        /// The shape that was given.
        found: String,
    },
    /// A value that must be finite is NaN or infinite.
    #[error("`{name}` contains a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// Name of the tensor or field.
        name: String,
        /// Flat index of the first offending value.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// A model or vector file names a format this build does not read.
    #[error("unsupported {what}: file says format `{found_format}` version {found_version}, this build reads `{expected_format}` version {expected_version}")]
    FormatVersion {
        /// Which kind of file, e.g. `model file`.
        what: String,
        /// Format tag found in the file.
        found_format: String,
        /// Version found in the file.
        found_version: u32,
        /// Format tag this build reads.
        expected_format: String,
        /// Version this build reads.
        expected_version: u32,
    },
    /// A file could not be parsed (corrupted, truncated, or not the expected kind of file).
    #[error("could not read {what}: {reason}")]
    Parse {
        /// Which kind of file, e.g. `model file runs/a.json`.
        what: String,
        /// The parser's explanation, with line and column where known.
        reason: String,
    },
    /// An input/output operation on a named path failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done, e.g. `cannot read model file`.
        action: String,
        /// The path involved.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The backend does not implement this part of the specification.
    #[error("backend `{backend}` does not support {feature}")]
    Unsupported {
        /// Backend name.
        backend: String,
        /// The unsupported feature, phrased to follow "does not support".
        feature: String,
    },
    /// An implementation outside hsnn, driven through the conformance bridge (SPEC.md clause
    /// C6), refused the input with an exception of its own; the wording is the port's, so the
    /// error checks ask only that it was refused.
    #[error("`{implementation}` raised {message}")]
    Port {
        /// The port's name (its `name()`).
        implementation: String,
        /// The exception's type and message, e.g. `ValueError: dt must be positive`.
        message: String,
    },
    /// A numerical procedure failed (e.g. a singular matrix where the spec needs an inverse).
    #[error("numerical failure in {operation}: {reason}")]
    Numerical {
        /// The operation, e.g. `zero-order hold`.
        operation: String,
        /// What went wrong.
        reason: String,
    },
}

impl HsnnError {
    /// Shorthand for [`HsnnError::InvalidConfig`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        HsnnError::InvalidConfig {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`HsnnError::ShapeMismatch`] with `rows x cols` shapes.
    pub fn shape(name: impl Into<String>, expected: (usize, usize), found: (usize, usize)) -> Self {
        HsnnError::ShapeMismatch {
            name: name.into(),
            expected: format!("{} x {}", expected.0, expected.1),
            found: format!("{} x {}", found.0, found.1),
        }
    }
}
