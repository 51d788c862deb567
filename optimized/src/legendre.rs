//! The Legendre matrices (SPEC.md clauses L1-L3), computed in f64 once per (order, theta,
//! discretizer) and kept for the process; the network converts them to f32 at its boundary.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use hsnn_spec::{Discretizer, HsnnError, LmuMatrices, Result, Tensor2};

use crate::kernels::{matmul, View};

/// `A` (order x order, row-major) and `B` (order) of clause L1:
/// `A[i][j] = (2i+1)/theta * (-1 if i < j else (-1)^(i-j+1))`, `B[i] = (2i+1)/theta (-1)^i`.
fn continuous(order: usize, theta: f64) -> (Vec<f64>, Vec<f64>) {
    let alternating = |power: usize| if power.is_multiple_of(2) { 1.0 } else { -1.0 };
    let mut a = vec![0.0; order * order];
    for i in 0..order {
        let scale = (2 * i + 1) as f64 / theta;
        for j in 0..order {
            a[i * order + j] = if i < j {
                -scale
            } else {
                scale * alternating(i - j + 1)
            };
        }
    }
    let b = (0..order)
        .map(|i| (2 * i + 1) as f64 / theta * alternating(i))
        .collect();
    (a, b)
}

/// `expm(matrix)` of a `size x size` row-major matrix by scaling and squaring: halve until the
/// 1-norm is at most 1/2, sum 18 Taylor terms (the first omitted one is below 2e-23), square
/// back. Products go through the SIMD kernel: the result is accurate to f64 rounding, which is
/// far below what an f32 backend needs (clause L2 leaves the algorithm free).
fn exponential(matrix: &[f64], size: usize) -> Vec<f64> {
    let norm = (0..size)
        .map(|column| {
            (0..size)
                .map(|row| matrix[row * size + column].abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let mut halvings = 0;
    while norm / 2f64.powi(halvings) > 0.5 {
        halvings += 1;
    }
    let scale = 2f64.powi(-halvings);
    let scaled: Vec<f64> = matrix.iter().map(|value| value * scale).collect();
    let mut sum = vec![0.0; size * size];
    let mut term = vec![0.0; size * size];
    for index in 0..size {
        sum[index * size + index] = 1.0;
        term[index * size + index] = 1.0;
    }
    let mut next = vec![0.0; size * size];
    for k in 1..=18 {
        matmul(
            &mut next,
            View::row_major(&term, size, size),
            View::row_major(&scaled, size, size),
            false,
        );
        let divisor = f64::from(k);
        for ((term, next), sum) in term.iter_mut().zip(&next).zip(sum.iter_mut()) {
            *term = next / divisor;
            *sum += *term;
        }
    }
    for _ in 0..halvings {
        matmul(
            &mut next,
            View::row_major(&sum, size, size),
            View::row_major(&sum, size, size),
            false,
        );
        std::mem::swap(&mut sum, &mut next);
    }
    sum
}

fn compute(order: usize, theta: f64, discretizer: Discretizer) -> Result<LmuMatrices> {
    // Before `continuous` allocates order x order: a file or a caller may ask for any size.
    hsnn_spec::config::validate_order(order)?;
    if !(theta.is_finite() && theta > 0.0) {
        return Err(HsnnError::invalid(
            "lmu.theta",
            format!("must be a finite number of time steps greater than 0, got {theta}"),
        ));
    }
    let (a, b) = continuous(order, theta);
    let (a_bar, b_bar) = match discretizer {
        Discretizer::ZeroOrderHold => {
            // expm([[A, B], [0, 0]]) = [[Abar, Bbar], [0, 1]]   (clause L2)
            let size = order + 1;
            let mut augmented = vec![0.0; size * size];
            for i in 0..order {
                augmented[i * size..i * size + order]
                    .copy_from_slice(&a[i * order..(i + 1) * order]);
                augmented[i * size + order] = b[i];
            }
            let exponential = exponential(&augmented, size);
            let mut a_bar = vec![0.0; order * order];
            for i in 0..order {
                a_bar[i * order..(i + 1) * order]
                    .copy_from_slice(&exponential[i * size..i * size + order]);
            }
            let b_bar = (0..order).map(|i| exponential[i * size + order]).collect();
            (a_bar, b_bar)
        }
        Discretizer::Euler => {
            // Abar = I + A, Bbar = B   (clause L3)
            let mut a_bar = a.clone();
            for i in 0..order {
                a_bar[i * order + i] += 1.0;
            }
            (a_bar, b.clone())
        }
    };
    Ok(LmuMatrices {
        a: Tensor2::from_row_major(order, order, a)?,
        b: Tensor2::from_row_major(order, 1, b)?,
        a_bar: Tensor2::from_row_major(order, order, a_bar)?,
        b_bar: Tensor2::from_row_major(order, 1, b_bar)?,
    })
}

type Cache = HashMap<(usize, u64, Discretizer), Arc<LmuMatrices>>;

/// The matrices of one memory (clauses L1-L3), validated (E1), computed once per process:
/// they depend only on their key, and the psMNIST memory's exponential is not free.
pub fn lmu_matrices(
    order: usize,
    theta: f64,
    discretizer: Discretizer,
) -> Result<Arc<LmuMatrices>> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (order, theta.to_bits(), discretizer);
    // A panic elsewhere while holding the lock leaves the map intact: keep using it.
    if let Some(found) = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
    {
        return Ok(Arc::clone(found));
    }
    let matrices = Arc::new(compute(order, theta, discretizer)?);
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, Arc::clone(&matrices));
    Ok(matrices)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L2: the exponential of matrices whose exponential is known in closed form: a diagonal
    /// one and a nilpotent one (`expm([[0, 1], [0, 0]]) = [[1, 1], [0, 1]]`), and a rotation
    /// generator (`expm([[0, -t], [t, 0]])` is the rotation by t).
    #[test]
    fn l2_optimized_exponential_of_matrices_known_by_hand() {
        let diagonal = exponential(&[1.0, 0.0, 0.0, -2.0], 2);
        assert!((diagonal[0] - 1f64.exp()).abs() < 1e-14);
        assert!((diagonal[3] - (-2f64).exp()).abs() < 1e-15);
        assert_eq!((diagonal[1], diagonal[2]), (0.0, 0.0));
        assert_eq!(
            exponential(&[0.0, 1.0, 0.0, 0.0], 2),
            vec![1.0, 1.0, 0.0, 1.0]
        );
        let angle = 3.0f64;
        let rotation = exponential(&[0.0, -angle, angle, 0.0], 2);
        let expected = [angle.cos(), -angle.sin(), angle.sin(), angle.cos()];
        for (got, wanted) in rotation.iter().zip(expected) {
            assert!((got - wanted).abs() < 1e-13, "{got} vs {wanted}");
        }
    }
}
