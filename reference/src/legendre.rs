//! The Legendre memory: continuous matrices and their discretizations at unit time step
//! (SPEC.md clauses L1-L3).

use hsnn_spec::{Discretizer, HsnnError, LmuMatrices, Result, Tensor2};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use nalgebra::{DMatrix, DVector};

/// The continuous Legendre system of order `order` and window `theta` (clause L1), for
/// `i, j = 0..order-1`:
///
/// ```text
/// A[i][j] = (2i+1)/theta * ( -1 if i < j, else (-1)^(i-j+1) )
/// B[i]    = (2i+1)/theta * (-1)^i
/// ```
pub fn continuous(order: usize, theta: f64) -> (DMatrix<f64>, DVector<f64>) {
    let sign = |power: usize| if power.is_multiple_of(2) { 1.0 } else { -1.0 };
    let a = DMatrix::from_fn(order, order, |i, j| {
        let scale = (2 * i + 1) as f64 / theta;
        if i < j {
            -scale
        } else {
            scale * sign(i - j + 1)
        }
    });
    let b = DVector::from_fn(order, |i, _| (2 * i + 1) as f64 / theta * sign(i));
    (a, b)
}

/// Zero-order hold at unit step (clause L2): the top blocks of the exponential of the
/// augmented matrix,
///
/// ```text
/// expm([[A, B], [0, 0]]) = [[Abar, Bbar], [0, 1]]
/// ```
///
/// which equals `Abar = expm(A)`, `Bbar = A^-1 (expm(A) - I) B` without inverting `A`.
/// The exponential is [`matrix_exponential`].
pub fn zero_order_hold(a: &DMatrix<f64>, b: &DVector<f64>) -> (DMatrix<f64>, DVector<f64>) {
    let order = a.nrows();
    let mut augmented = DMatrix::zeros(order + 1, order + 1);
    augmented.view_mut((0, 0), (order, order)).copy_from(a);
    augmented.view_mut((0, order), (order, 1)).copy_from(b);
    let exponential = matrix_exponential(&augmented);
    let a_bar = exponential.view((0, 0), (order, order)).into_owned();
    let b_bar = exponential
        .view((0, order), (order, 1))
        .column(0)
        .into_owned();
    (a_bar, b_bar)
}

/// Terms of the Taylor series in [`matrix_exponential`]: with the scaled matrix's 1-norm at
/// most 1/2, the first omitted term is below `2^-19 / 19! < 2e-23`, far under f64 precision.
pub const TAYLOR_TERMS: i32 = 18;

/// The matrix exponential by scaling and squaring with a Taylor series (clause L2), written in
/// plain loops so that every platform performs the same operations in the same order (a
/// library product may pick fused multiply-add kernels at run time, changing last bits):
///
/// ```text
/// s    = smallest s >= 0 with ||M||_1 / 2^s <= 1/2       (||.||_1: largest column sum of |m|)
/// X    = M / 2^s
/// E    = I + X + X^2/2! + ... + X^18/18!                  (term_k = term_{k-1} X / k)
/// expm(M) = E^(2^s)                                       (s squarings)
/// ```
pub fn matrix_exponential(matrix: &DMatrix<f64>) -> DMatrix<f64> {
    let size = matrix.nrows();
    let norm = (0..size)
        .map(|column| {
            matrix
                .column(column)
                .iter()
                .map(|value| value.abs())
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let mut squarings = 0;
    while norm / 2f64.powi(squarings) > 0.5 {
        squarings += 1;
    }
    let scaled = matrix / 2f64.powi(squarings);
    let mut sum = DMatrix::<f64>::identity(size, size);
    let mut term = DMatrix::<f64>::identity(size, size);
    for k in 1..=TAYLOR_TERMS {
        term = product(&term, &scaled) / f64::from(k);
        sum += &term;
    }
    for _ in 0..squarings {
        sum = product(&sum, &sum);
    }
    sum
}

/// `a b` with every entry summed over `k` in increasing order, in plain loops: entry `(i, j)`
/// is `((0 + a_i0 b_0j) + a_i1 b_1j) + ...`, whatever the loop nest.
fn product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    let rows = a.nrows().max(1);
    let mut result = DMatrix::<f64>::zeros(a.nrows(), b.ncols());
    // Column `j` of the result gathers a's columns, weighted by column `j` of `b`, in
    // increasing `k`: each entry still sums its terms in that order, and the innermost loop runs
    // down contiguous columns (nalgebra stores column-major), which the compiler vectorizes
    // across entries without reordering any entry's sum (Rust fuses no multiply-add).
    let a_columns: Vec<&[f64]> = a.as_slice().chunks_exact(rows).collect();
    let b_columns = b.as_slice().chunks_exact(b.nrows().max(1));
    for (column, weights) in result.as_mut_slice().chunks_exact_mut(rows).zip(b_columns) {
        for (&weight, left) in weights.iter().zip(&a_columns) {
            for (entry, &left) in column.iter_mut().zip(left.iter()) {
                *entry += left * weight;
            }
        }
    }
    result
}

/// Forward Euler at unit step (clause L3): `Abar = I + A`, `Bbar = B`.
pub fn euler(a: &DMatrix<f64>, b: &DVector<f64>) -> (DMatrix<f64>, DVector<f64>) {
    let identity = DMatrix::<f64>::identity(a.nrows(), a.ncols());
    (identity + a, b.clone())
}

/// Discretizations by (order, theta bits, discretizer).
type Discretizations = HashMap<(usize, u64, Discretizer), LmuMatrices>;

/// Discretizations already computed in this process: they depend on nothing but their key, and
/// the exponential of a psMNIST-sized memory costs a good fraction of a second.
fn computed() -> &'static Mutex<Discretizations> {
    static COMPUTED: OnceLock<Mutex<Discretizations>> = OnceLock::new();
    COMPUTED.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The continuous and discrete matrices of one memory (clauses L1-L3), validated
/// (clause E1: order at least 1, theta finite and positive), computed once per process.
pub fn lmu_matrices(order: usize, theta: f64, discretizer: Discretizer) -> Result<LmuMatrices> {
    let key = (order, theta.to_bits(), discretizer);
    let cache = computed();
    // A panic elsewhere while holding the lock leaves the map intact: keep using it.
    if let Some(found) = cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
    {
        return Ok(found.clone());
    }
    let matrices = compute_lmu_matrices(order, theta, discretizer)?;
    cache
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, matrices.clone());
    Ok(matrices)
}

fn compute_lmu_matrices(order: usize, theta: f64, discretizer: Discretizer) -> Result<LmuMatrices> {
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
        Discretizer::ZeroOrderHold => zero_order_hold(&a, &b),
        Discretizer::Euler => euler(&a, &b),
    };
    if a_bar
        .iter()
        .chain(b_bar.iter())
        .any(|value| !value.is_finite())
    {
        return Err(HsnnError::Numerical {
            operation: "Legendre discretization".into(),
            reason: format!("non-finite matrix entries for order {order}, theta {theta}"),
        });
    }
    Ok(LmuMatrices {
        a: to_tensor(&a),
        b: to_tensor(&DMatrix::from_column_slice(order, 1, b.as_slice())),
        a_bar: to_tensor(&a_bar),
        b_bar: to_tensor(&DMatrix::from_column_slice(order, 1, b_bar.as_slice())),
    })
}

/// A nalgebra matrix as a row-major [`Tensor2`].
pub fn to_tensor(matrix: &DMatrix<f64>) -> Tensor2 {
    let data = (0..matrix.nrows())
        .flat_map(|row| (0..matrix.ncols()).map(move |col| (row, col)))
        .map(|(row, col)| matrix[(row, col)])
        .collect();
    Tensor2 {
        rows: matrix.nrows(),
        cols: matrix.ncols(),
        data,
    }
}

/// A row-major [`Tensor2`] as a nalgebra matrix. Panics if `data` does not hold
/// `rows * cols` values; validated tensors (`Tensor2::validate`) always do.
pub fn to_matrix(tensor: &Tensor2) -> DMatrix<f64> {
    DMatrix::from_row_slice(tensor.rows, tensor.cols, &tensor.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// L2: the exponential of a diagonal matrix is the exponential of its entries; of a
    /// nilpotent one, the finite series; of a rotation generator, the rotation (values by hand).
    #[test]
    fn l2_matrix_exponential_of_matrices_known_by_hand() {
        let diagonal = DMatrix::from_row_slice(2, 2, &[-3.0, 0.0, 0.0, 0.5]);
        let result = matrix_exponential(&diagonal);
        // Three squarings (the norm is 3) cost a few ulps.
        assert!((result[(0, 0)] / (-3.0f64).exp() - 1.0).abs() < 1e-14);
        assert!((result[(1, 1)] / 0.5f64.exp() - 1.0).abs() < 1e-14);
        assert_eq!((result[(0, 1)], result[(1, 0)]), (0.0, 0.0));
        // [[0, 1], [0, 0]]^2 = 0, so expm = I + N.
        let nilpotent = DMatrix::from_row_slice(2, 2, &[0.0, 7.0, 0.0, 0.0]);
        let result = matrix_exponential(&nilpotent);
        assert_eq!(result, DMatrix::from_row_slice(2, 2, &[1.0, 7.0, 0.0, 1.0]));
        // expm([[0, -t], [t, 0]]) = [[cos t, -sin t], [sin t, cos t]], here with t = 5 (scaled).
        let generator = DMatrix::from_row_slice(2, 2, &[0.0, -5.0, 5.0, 0.0]);
        let result = matrix_exponential(&generator);
        let expected = [5f64.cos(), -(5f64.sin()), 5f64.sin(), 5f64.cos()];
        for (index, value) in expected.iter().enumerate() {
            let got = result[(index / 2, index % 2)];
            assert!(
                (got - value).abs() < 1e-14,
                "entry {index}: {got} vs {value}"
            );
        }
    }

    /// L2: the exponential's products sum every entry over `k` in increasing order (what makes
    /// them the same on every platform): bit for bit a dot product per entry, on values whose
    /// sums change with the order of their terms (checked: summed backwards, some differ).
    #[test]
    fn l2_product_sums_each_entry_in_increasing_order() {
        let (rows, inner, cols) = (7, 33, 5);
        // Magnitudes from 2^-30 to 2^30 with both signs, so that rounding depends on the order.
        let value = |seed: usize| {
            let mixed = seed.wrapping_mul(2_654_435_761) % 1_000_003;
            let sign = if mixed.is_multiple_of(2) { 1.0 } else { -1.0 };
            sign * (1.0 + (mixed % 997) as f64 / 997.0) * 2f64.powi((mixed % 61) as i32 - 30)
        };
        let a = DMatrix::from_fn(rows, inner, |i, k| value(i * inner + k + 1));
        let b = DMatrix::from_fn(inner, cols, |k, j| value(10_000 + k * cols + j));
        let result = product(&a, &b);
        let mut order_matters = false;
        for i in 0..rows {
            for j in 0..cols {
                let mut forwards = 0.0;
                for k in 0..inner {
                    forwards += a[(i, k)] * b[(k, j)];
                }
                let mut backwards = 0.0;
                for k in (0..inner).rev() {
                    backwards += a[(i, k)] * b[(k, j)];
                }
                assert_eq!(
                    result[(i, j)].to_bits(),
                    f64::to_bits(forwards),
                    "({i}, {j})"
                );
                order_matters |= backwards != forwards;
            }
        }
        assert!(order_matters, "the values should make the order visible");
    }

    /// L2: a discretization is computed once and served from the cache afterwards, unchanged.
    #[test]
    fn l2_cached_matrices_equal_fresh_ones() {
        let first = lmu_matrices(9, 13.0, Discretizer::ZeroOrderHold).expect("valid");
        let second = lmu_matrices(9, 13.0, Discretizer::ZeroOrderHold).expect("valid");
        let fresh = compute_lmu_matrices(9, 13.0, Discretizer::ZeroOrderHold).expect("valid");
        assert_eq!(first, fresh);
        assert_eq!(second, fresh);
    }
}
