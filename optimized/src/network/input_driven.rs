//! The memory driven by the input alone (no `e_h`, no `e_m`; SPEC.md clause L4, "feed-forward
//! memory"), through its impulse response instead of step by step.
//!
//! With `H_k = Abar^k Bbar` (k = 0..T-1) the memory is a convolution of the (possibly
//! quantized) memory input, `m_t = sum_k H_k u~_{t-k}`, so everything `W_m` does is one too,
//! with `G_k = W_m_j^T H_k` (a `hidden`-vector per memory dimension j):
//!
//! ```text
//! forward   z_t   += sum_j sum_k G_jk u~_{t-k, j}                   causal convolution
//! backward  du_tj  = alpha_m sum_k dz_{t+k} . G_jk                  correlation
//!           g(W_m)_j = H^T C_j,  C_jk = sum_t u~_{t-k, j} dz_t        correlation, then a product
//! ```
//!
//! All three by real FFTs of length at least 2T - 1. Only the hidden recurrence stays
//! sequential. The adjoint rescaling of the step-by-step backward pass has no counterpart here
//! (rescaled rows cannot enter one correlation), so a shard whose hidden adjoint passes 2^64
//! falls back to the step-by-step pass, recomputing the memory.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use hsnn_spec::{HsnnError, Result};

use super::Network;
use crate::kernels::{matmul, View};

/// Forward and inverse real FFTs of one length.
pub struct Transforms {
    /// The length, at least `2 * steps - 1`.
    pub length: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl std::fmt::Debug for Transforms {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Transforms({})", self.length)
    }
}

fn fft_error(error: impl std::fmt::Display) -> HsnnError {
    HsnnError::Numerical {
        operation: "FFT of the input-driven memory".into(),
        reason: error.to_string(),
    }
}

impl Transforms {
    /// Transforms for sequences of `steps` steps.
    pub fn new(steps: usize) -> Self {
        let length = (2 * steps).max(2);
        let mut planner = RealFftPlanner::<f32>::new();
        Transforms {
            length,
            forward: planner.plan_fft_forward(length),
            inverse: planner.plan_fft_inverse(length),
        }
    }

    /// The spectrum of `values` (at most `length` of them), zero-padded.
    pub fn spectrum(&self, values: impl Iterator<Item = f32>) -> Result<Vec<Complex<f32>>> {
        let mut input = vec![0.0f32; self.length];
        for (slot, value) in input.iter_mut().zip(values) {
            *slot = value;
        }
        let mut output = self.forward.make_output_vec();
        self.forward
            .process(&mut input, &mut output)
            .map_err(fft_error)?;
        Ok(output)
    }

    /// The first `count` values of the inverse transform of `spectrum`, divided by the length.
    pub fn inverse(&self, mut spectrum: Vec<Complex<f32>>, count: usize) -> Result<Vec<f32>> {
        // The spectrum of a real signal has real first (and, for even lengths, last) bins;
        // sums of products keep them real up to rounding, which the inverse refuses.
        if let Some(first) = spectrum.first_mut() {
            first.im = 0.0;
        }
        if self.length.is_multiple_of(2) {
            if let Some(last) = spectrum.last_mut() {
                last.im = 0.0;
            }
        }
        let mut output = self.inverse.make_output_vec();
        self.inverse
            .process(&mut spectrum, &mut output)
            .map_err(fft_error)?;
        let scale = 1.0 / self.length as f32;
        Ok(output[..count].iter().map(|value| value * scale).collect())
    }
}

type Responses = std::collections::HashMap<(usize, u64, u64, usize), Arc<Vec<f32>>>;

/// `H_k = Abar^k Bbar` for k = 0..steps-1, `steps x order` row-major, computed in f64 once per
/// (Abar, Bbar, steps) in the process: it depends on nothing that training changes.
pub fn impulse_response(matrices: &hsnn_spec::LmuMatrices, steps: usize) -> Arc<Vec<f32>> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Responses>> = std::sync::OnceLock::new();
    let order = matrices.b_bar.rows;
    let digest = |values: &[f64]| {
        values.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, value| {
            (hash ^ value.to_bits()).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let key = (
        order,
        digest(&matrices.a_bar.data),
        digest(&matrices.b_bar.data),
        steps,
    );
    let cache = CACHE.get_or_init(|| std::sync::Mutex::new(Responses::new()));
    if let Some(found) = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
    {
        return Arc::clone(found);
    }
    let a_bar = &matrices.a_bar.data;
    let mut response = Vec::with_capacity(steps * order);
    let mut current = matrices.b_bar.data.clone();
    for _ in 0..steps {
        response.extend(current.iter().map(|&value| value as f32));
        current = (0..order)
            .map(|i| {
                (0..order)
                    .map(|k| a_bar[i * order + k] * current[k])
                    .sum::<f64>()
            })
            .collect();
    }
    let response = Arc::new(response);
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, Arc::clone(&response));
    response
}

impl Network {
    /// `G_j = H W_m_j` for every memory dimension j: `steps x hidden` each, concatenated.
    pub(super) fn kernels(&self, response: &[f32], steps: usize) -> Vec<f32> {
        let (order, hidden) = (self.order, self.hidden);
        let mut kernels = vec![0.0f32; self.memory_size * steps * hidden];
        for dimension in 0..self.memory_size {
            matmul(
                &mut kernels[dimension * steps * hidden..(dimension + 1) * steps * hidden],
                View::row_major(response, steps, order),
                View::row_major(
                    &self.kernel_memory
                        [dimension * order * hidden..(dimension + 1) * order * hidden],
                    order,
                    hidden,
                ),
                false,
            );
        }
        kernels
    }

    /// `sum_j sum_k G_jk u~_{t-k, j}` for every step and sequence of a shard, time-major
    /// (`steps x S x hidden`), from the fed memory inputs `u~` (time-major `steps x S x Md`).
    pub(super) fn convolved_memory(
        &self,
        transforms: &Transforms,
        kernels: &[f32],
        fed: &[f32],
        s: usize,
        steps: usize,
    ) -> Result<Vec<f32>> {
        let (hidden, memory_size) = (self.hidden, self.memory_size);
        let kernel_spectra: Vec<Vec<Complex<f32>>> = (0..memory_size * hidden)
            .map(|index| {
                let (dimension, unit) = (index / hidden, index % hidden);
                let base = dimension * steps * hidden;
                transforms.spectrum((0..steps).map(|k| kernels[base + k * hidden + unit]))
            })
            .collect::<Result<_>>()?;
        let mut projected = vec![0.0f32; steps * s * hidden];
        for sample in 0..s {
            let first_input = (0..steps)
                .find(|&t| {
                    (0..memory_size)
                        .any(|dimension| fed[(t * s + sample) * memory_size + dimension] != 0.0)
                })
                .unwrap_or(steps);
            let input_spectra: Vec<Vec<Complex<f32>>> = (0..memory_size)
                .map(|dimension| {
                    transforms.spectrum(
                        (0..steps).map(|t| fed[(t * s + sample) * memory_size + dimension]),
                    )
                })
                .collect::<Result<_>>()?;
            for unit in 0..hidden {
                let mut product = vec![Complex::new(0.0f32, 0.0); transforms.length / 2 + 1];
                for (dimension, input) in input_spectra.iter().enumerate() {
                    let kernel = &kernel_spectra[dimension * hidden + unit];
                    for ((total, a), b) in product.iter_mut().zip(input).zip(kernel) {
                        *total += a * b;
                    }
                }
                let values = transforms.inverse(product, steps)?;
                // Before a sequence's first non-zero memory input its memory is exactly 0;
                // the FFT leaves rounding noise there (relative to the largest value), which
                // an unstable hidden recurrence at h = 0 would amplify step after step.
                for (t, value) in values.into_iter().enumerate().skip(first_input) {
                    projected[(t * s + sample) * hidden + unit] = value;
                }
            }
        }
        Ok(projected)
    }

    /// The backward pass's memory part by correlations: `du` (time-major `steps x S x Md`,
    /// times `gain`) and `g(W_m)` (`memory_length x hidden`) from `dz` (time-major
    /// `steps x S x hidden`) and the fed memory inputs.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn correlated_memory_gradients(
        &self,
        transforms: &Transforms,
        response: &[f32],
        kernels: &[f32],
        fed: &[f32],
        dz: &[f32],
        s: usize,
        steps: usize,
        gain: f32,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (hidden, memory_size, order) = (self.hidden, self.memory_size, self.order);
        // corr[t] = sum_k a[t + k] b[k] is the convolution of a reversed in time with b,
        // read at T-1-t.
        let kernel_spectra: Vec<Vec<Complex<f32>>> = (0..memory_size * hidden)
            .map(|index| {
                let (dimension, unit) = (index / hidden, index % hidden);
                let base = dimension * steps * hidden;
                transforms.spectrum((0..steps).map(|k| kernels[base + k * hidden + unit]))
            })
            .collect::<Result<_>>()?;
        let bins = transforms.length / 2 + 1;
        let mut du = vec![0.0f32; steps * s * memory_size];
        // C_j accumulated over the shard's sequences in the frequency domain.
        let mut correlation_spectra =
            vec![vec![Complex::new(0.0f32, 0.0); bins]; memory_size * hidden];
        for sample in 0..s {
            let reversed: Vec<Vec<Complex<f32>>> = (0..hidden)
                .map(|unit| {
                    transforms.spectrum(
                        (0..steps).map(|n| dz[((steps - 1 - n) * s + sample) * hidden + unit]),
                    )
                })
                .collect::<Result<_>>()?;
            for dimension in 0..memory_size {
                let input = transforms.spectrum(
                    (0..steps).map(|t| fed[(t * s + sample) * memory_size + dimension]),
                )?;
                let mut product = vec![Complex::new(0.0f32, 0.0); bins];
                for (unit, spectrum) in reversed.iter().enumerate() {
                    let kernel = &kernel_spectra[dimension * hidden + unit];
                    for ((total, a), b) in product.iter_mut().zip(spectrum).zip(kernel) {
                        *total += a * b;
                    }
                    let correlation = &mut correlation_spectra[dimension * hidden + unit];
                    for ((total, a), b) in correlation.iter_mut().zip(spectrum).zip(&input) {
                        *total += a * b;
                    }
                }
                let values = transforms.inverse(product, steps)?;
                for t in 0..steps {
                    du[(t * s + sample) * memory_size + dimension] = gain * values[steps - 1 - t];
                }
            }
        }
        let mut kernel_memory = vec![0.0f32; memory_size * order * hidden];
        for dimension in 0..memory_size {
            let mut correlation = vec![0.0f32; steps * hidden];
            for unit in 0..hidden {
                let spectrum = std::mem::take(&mut correlation_spectra[dimension * hidden + unit]);
                let values = transforms.inverse(spectrum, steps)?;
                for k in 0..steps {
                    correlation[k * hidden + unit] = values[steps - 1 - k];
                }
            }
            // g(W_m)_j = H^T C_j
            matmul(
                &mut kernel_memory[dimension * order * hidden..(dimension + 1) * order * hidden],
                View::row_major(response, steps, order).t(),
                View::row_major(&correlation, steps, hidden),
                false,
            );
        }
        Ok((du, kernel_memory))
    }
}
