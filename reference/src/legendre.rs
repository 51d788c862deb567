//! The Legendre memory: continuous matrices and their discretizations at unit time step
//! (SPEC.md clauses L1-L3).

use hsnn_spec::{Discretizer, HsnnError, LmuMatrices, Result, Tensor2};
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
/// The exponential is nalgebra's scaling-and-squaring Padé approximant (Higham 2005).
pub fn zero_order_hold(a: &DMatrix<f64>, b: &DVector<f64>) -> (DMatrix<f64>, DVector<f64>) {
    let order = a.nrows();
    let mut augmented = DMatrix::zeros(order + 1, order + 1);
    augmented.view_mut((0, 0), (order, order)).copy_from(a);
    augmented.view_mut((0, order), (order, 1)).copy_from(b);
    let exponential = augmented.exp();
    let a_bar = exponential.view((0, 0), (order, order)).into_owned();
    let b_bar = exponential
        .view((0, order), (order, 1))
        .column(0)
        .into_owned();
    (a_bar, b_bar)
}

/// Forward Euler at unit step (clause L3): `Abar = I + A`, `Bbar = B`.
pub fn euler(a: &DMatrix<f64>, b: &DVector<f64>) -> (DMatrix<f64>, DVector<f64>) {
    let identity = DMatrix::<f64>::identity(a.nrows(), a.ncols());
    (identity + a, b.clone())
}

/// The continuous and discrete matrices of one memory (clauses L1-L3), validated
/// (clause E1: order at least 1, theta finite and positive).
pub fn lmu_matrices(order: usize, theta: f64, discretizer: Discretizer) -> Result<LmuMatrices> {
    if order == 0 {
        return Err(HsnnError::invalid("lmu.order", "must be at least 1, got 0"));
    }
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
