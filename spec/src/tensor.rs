//! Dense row-major tensors with explicit shapes: the only array types in the interface, so that a
//! batched f32 backend, an event-driven fixed-point backend and a port in another language can
//! all read them without nalgebra (SPEC.md clause N5).

use serde::{Deserialize, Serialize};

use crate::error::{HsnnError, Result};

/// A dense matrix of f64 in row-major order: element (r, c) is `data[r * cols + c]`.
///
/// Weights use the row-vector convention of SPEC.md clause L4: a layer computes `x W` with `x`
/// a row vector, so `W` has shape `inputs x outputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tensor2 {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// `rows * cols` values, row-major.
    pub data: Vec<f64>,
}

impl Tensor2 {
    /// A `rows x cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Tensor2 {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// A matrix from row-major data; errors when the length does not match the shape.
    pub fn from_row_major(rows: usize, cols: usize, data: Vec<f64>) -> Result<Self> {
        if data.len() != rows * cols {
            return Err(HsnnError::ShapeMismatch {
                name: "tensor data".into(),
                expected: format!("{} values ({} x {})", rows * cols, rows, cols),
                found: format!("{} values", data.len()),
            });
        }
        Ok(Tensor2 { rows, cols, data })
    }

    /// Element at row `row`, column `col`. Panics when out of range, like slice indexing.
    pub fn get(&self, row: usize, col: usize) -> f64 {
        assert!(
            row < self.rows && col < self.cols,
            "Tensor2 index out of range"
        );
        self.data[row * self.cols + col]
    }

    /// Sets the element at row `row`, column `col`. Panics when out of range.
    pub fn set(&mut self, row: usize, col: usize, value: f64) {
        assert!(
            row < self.rows && col < self.cols,
            "Tensor2 index out of range"
        );
        self.data[row * self.cols + col] = value;
    }

    /// Row `row` as a slice.
    pub fn row(&self, row: usize) -> &[f64] {
        &self.data[row * self.cols..(row + 1) * self.cols]
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Checks that the data length matches the declared shape and that every value is finite.
    pub fn validate(&self, name: &str) -> Result<()> {
        let Some(cells) = self.rows.checked_mul(self.cols) else {
            return Err(HsnnError::invalid(
                name,
                format!(
                    "declares {} x {}, more values than memory can hold",
                    self.rows, self.cols
                ),
            ));
        };
        if self.data.len() != cells {
            return Err(HsnnError::ShapeMismatch {
                name: name.into(),
                expected: format!(
                    "{} values for the declared {} x {}",
                    self.rows * self.cols,
                    self.rows,
                    self.cols
                ),
                found: format!("{} values", self.data.len()),
            });
        }
        check_finite(name, &self.data)
    }
}

/// Errors with [`HsnnError::NonFinite`] at the first NaN or infinity in `values`.
pub fn check_finite(name: &str, values: &[f64]) -> Result<()> {
    match values.iter().position(|value| !value.is_finite()) {
        Some(index) => Err(HsnnError::NonFinite {
            name: name.into(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// A batch of input sequences, batch-major and contiguous: element (sample b, step t,
/// feature k) is `data[(b * steps + t) * features + k]` (SPEC.md clause N5).
///
/// `sample_ids` are stable identifiers of the samples (for example their index in the data
/// set). They key the seeded initial quantizer state (clause Q3), so a sample gets the same
/// initial state whatever batch it is evaluated in and whatever the thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SequenceBatch {
    /// Number of sequences.
    pub batch: usize,
    /// Time steps per sequence.
    pub steps: usize,
    /// Input features per step.
    pub features: usize,
    /// `batch * steps * features` values.
    pub data: Vec<f64>,
    /// One stable identifier per sequence.
    pub sample_ids: Vec<u64>,
}

impl SequenceBatch {
    /// A batch from contiguous data, with sample ids `0..batch`.
    pub fn new(batch: usize, steps: usize, features: usize, data: Vec<f64>) -> Result<Self> {
        let sample_ids = (0..batch as u64).collect();
        Self::with_ids(batch, steps, features, data, sample_ids)
    }

    /// A batch from contiguous data and explicit sample ids.
    pub fn with_ids(
        batch: usize,
        steps: usize,
        features: usize,
        data: Vec<f64>,
        sample_ids: Vec<u64>,
    ) -> Result<Self> {
        let batch = SequenceBatch {
            batch,
            steps,
            features,
            data,
            sample_ids,
        };
        batch.validate()?;
        Ok(batch)
    }

    /// Checks lengths and finiteness.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(HsnnError::invalid(
                "input batch",
                "must hold at least 1 sequence, got 0",
            ));
        }
        let Some(expected) = self
            .batch
            .checked_mul(self.steps)
            .and_then(|cells| cells.checked_mul(self.features))
        else {
            return Err(HsnnError::invalid(
                "input batch",
                format!(
                    "declares {} x {} x {}, more values than memory can hold",
                    self.batch, self.steps, self.features
                ),
            ));
        };
        if self.data.len() != expected {
            return Err(HsnnError::ShapeMismatch {
                name: "input batch".into(),
                expected: format!(
                    "{expected} values ({} sequences x {} steps x {} features)",
                    self.batch, self.steps, self.features
                ),
                found: format!("{} values", self.data.len()),
            });
        }
        if self.sample_ids.len() != self.batch {
            return Err(HsnnError::ShapeMismatch {
                name: "input batch sample ids".into(),
                expected: format!("{} ids", self.batch),
                found: format!("{} ids", self.sample_ids.len()),
            });
        }
        if self.steps == 0 {
            return Err(HsnnError::invalid(
                "input batch steps",
                "must be at least 1",
            ));
        }
        check_finite("input batch", &self.data)
    }

    /// Input of sample `sample` at step `step`, a slice of `features` values.
    pub fn step(&self, sample: usize, step: usize) -> &[f64] {
        let start = (sample * self.steps + step) * self.features;
        &self.data[start..start + self.features]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E1: shapes whose products overflow, and empty batches, are errors, not panics or
    /// wrapped sizes.
    #[test]
    fn e1_absurd_shapes_are_rejected() {
        let huge = Tensor2 {
            rows: 1 << 40,
            cols: 1 << 40,
            data: Vec::new(),
        };
        assert!(huge
            .validate("w")
            .expect_err("overflow")
            .to_string()
            .contains("memory"));
        let batch = SequenceBatch {
            batch: usize::MAX,
            steps: 2,
            features: 1,
            data: Vec::new(),
            sample_ids: Vec::new(),
        };
        assert!(batch
            .validate()
            .expect_err("overflow")
            .to_string()
            .contains("memory"));
        let error = SequenceBatch::new(0, 3, 1, Vec::new()).expect_err("empty batch");
        assert!(error.to_string().contains("at least 1"), "{error}");
    }
}
