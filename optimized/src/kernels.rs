//! The dense kernels: matrix products through the `gemm` crate, which picks AVX2, AVX-512 or
//! NEON micro-kernels at run time (no `-C target-cpu=native` needed), and a tanh that the
//! compiler can vectorize.
//!
//! Every product runs single-threaded (`Parallelism::None`): the backend partitions the work
//! across threads itself, in pieces that do not depend on the thread count, so the sums inside
//! each product are always taken in the same order (SPEC.md clause T8).

/// Element types the kernels multiply.
pub trait Real: Copy + 'static + Send + Sync {
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
}

impl Real for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
}

impl Real for f64 {
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
}

/// A read-only matrix inside a slice: element (r, c) is
/// `data[r * row_stride + c * column_stride]`. A row-major matrix and its transpose are both
/// views of the same slice, so no product needs a transposed copy.
#[derive(Debug, Clone, Copy)]
pub struct View<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a, T: Real> View<'a, T> {
    /// The first `rows * cols` values of `data` as a row-major `rows x cols` matrix. Panics
    /// when `data` is shorter: callers size their buffers from the same dimensions.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        assert!(
            data.len() >= rows * cols,
            "view of {rows} x {cols} over {} values",
            data.len()
        );
        View {
            data,
            rows,
            cols,
            row_stride: cols,
            column_stride: 1,
        }
    }

    /// The transpose of this view (no data moves).
    pub fn t(self) -> Self {
        View {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Element `(row, column)`. Panics outside the view.
    pub fn at(&self, row: usize, column: usize) -> T {
        assert!(
            row < self.rows && column < self.cols,
            "element outside the view"
        );
        self.data[row * self.row_stride + column * self.column_stride]
    }

    /// Row `row` as a slice of the data, when its elements lie next to each other (column
    /// stride 1: a row of a row-major matrix, or of the transpose of a one-column one).
    pub(crate) fn contiguous_row(&self, row: usize) -> Option<&'a [T]> {
        (self.column_stride == 1 && row < self.rows)
            .then(|| &self.data[row * self.row_stride..][..self.cols])
    }

    /// Whether this is the transpose of a row-major matrix ([`View::t`] of
    /// [`View::row_major`]) rather than a row-major one.
    pub fn is_transposed_row_major(&self) -> bool {
        self.column_stride != 1 && self.row_stride == 1
    }

    /// Whether every element the view can address lies inside its slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.column_stride
                < self.data.len()
    }
}

/// The family of product kernels the `gemm` crate runs on this CPU: `"avx512"`, `"avx2"` or
/// `"portable"` (its x86-v4 and x86-v3 levels, detected as it detects them); in the `"avx512"`
/// family the per-step products run on [`crate::packed::PackedMatrix`]. The f32 products,
/// and so every result of this backend, are the same for every thread count but not across
/// families: their kernels add a product's terms in blocks of other sizes, so the last bits
/// differ, and spike counts that sit on a threshold with them (clause C2). Snapshots of this
/// backend's results are therefore kept per family.
pub fn product_kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("bmi1") && has!("bmi2") && has!("lzcnt");
        let avx512 = has!("avx512f")
            && has!("avx512bw")
            && has!("avx512cd")
            && has!("avx512dq")
            && has!("avx512vl");
        if avx2 && avx512 {
            return "avx512";
        }
        if avx2 {
            return "avx2";
        }
    }
    "portable"
}

/// The dispatch level each of this backend's kernels runs at in this process
/// ([`hsnn_spec::isa::IsaLevel::current`]), as `hsnn bench --json` records it: the per-step
/// products on packed weights (AVX-512 only; below it they go through `gemm`), the quantizer,
/// tanh and the backward pass's elementwise loops, and the `gemm` crate's products, which
/// pick their own kernels from the CPU (their family, [`product_kernels`]) and know no cap.
pub fn kernel_levels() -> Vec<(&'static str, hsnn_spec::isa::IsaLevel)> {
    use hsnn_spec::isa::IsaLevel;
    let level = IsaLevel::current();
    let gemm = match product_kernels() {
        "avx512" => IsaLevel::Avx512,
        "avx2" => IsaLevel::Avx2,
        _ => IsaLevel::Portable,
    };
    let packed = if crate::packed::simd_available() {
        IsaLevel::Avx512
    } else {
        gemm
    };
    vec![
        ("packed_products", packed),
        ("quantizer", level),
        ("tanh", level),
        ("elementwise", level),
        ("gemm_products", gemm),
    ]
}

/// `dst = a b` (or `dst += a b` when `accumulate`), with `dst` the first
/// `a.rows() * b.cols()` values of the slice, row-major. Panics on mismatched shapes or a
/// destination too short: those are programming errors of this crate, not user input.
#[allow(unsafe_code)] // a gemm call: see the SAFETY note
pub fn matmul<T: Real>(dst: &mut [T], a: View<'_, T>, b: View<'_, T>, accumulate: bool) {
    assert_eq!(a.cols, b.rows, "inner dimensions of a product differ");
    let (m, n, k) = (a.rows, b.cols, a.cols);
    assert!(dst.len() >= m * n, "product destination too short");
    assert!(
        a.in_bounds() && b.in_bounds(),
        "product operand out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::ZERO);
        }
        return;
    }
    // SAFETY: `gemm` reads `lhs` at `r * lhs_rs + c * lhs_cs` for r < m, c < k and `rhs` at
    // `r * rhs_rs + c * rhs_cs` for r < k, c < n; `in_bounds` checked that the largest such
    // offset lies inside each operand's slice (all strides are non-negative). It writes
    // `dst` at `r * n + c` for r < m, c < n, inside `dst[..m * n]`, checked above. `dst` is a
    // unique borrow, so it aliases neither operand, and the slices outlive the call. The
    // strides fit `isize` because they index existing slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.column_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.column_stride as isize,
            b.row_stride as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Below this magnitude tanh is evaluated by its odd Taylor polynomial, above it through
/// `exp(-2|x|)`: where the polynomial's 9 terms are accurate to f32 precision and
/// `(1 - t) / (1 + t)` has no cancellation (t <= e^-1.1 < 1/3).
const TANH_SERIES_LIMIT: f32 = 0.55;

/// Beyond this magnitude tanh rounds to +-1 in f32 (tanh(9) = 1 - 3.0e-8).
const TANH_SATURATION: f32 = 9.0;

/// `exp(y)` for `y` in `[-2 * TANH_SATURATION, 0]`: `y = n ln 2 + r` with `|r| <= ln 2 / 2`
/// (ln 2 split in two parts so `r` is exact to f32), `exp(r)` by its degree-7 Taylor
/// polynomial (error below `0.35^8 / 8! < 5e-9`), times `2^n` built from the exponent bits.
#[inline(always)]
fn exp_nonpositive(y: f32) -> f32 {
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    // Round to nearest by adding and subtracting 1.5 * 2^23 (exact for |y log2 e| < 2^22):
    // `f32::round` is a library call on baseline x86-64 and would stop the vectorization.
    const ROUNDING: f32 = 12_582_912.0;
    let shifted = y * std::f32::consts::LOG2_E + ROUNDING;
    let n = shifted - ROUNDING;
    let r = (y - n * LN2_HIGH) - n * LN2_LOW;
    let mut p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // n lies in [-26, 0], so 127 + n is a normal exponent. `shifted` is exactly 1.5 * 2^23 + n,
    // in the binade of ROUNDING, so its bits minus ROUNDING's are n in two's complement:
    // `n as i32`, a saturating conversion, ran one lane at a time and cost half of tanh.
    let n_bits = shifted.to_bits().wrapping_sub(ROUNDING.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    p * scale
}

/// tanh in f32 to within a few ulps, written without branches so that a loop over a slice
/// vectorizes (std's `f32::tanh` calls libm one value at a time, about 40x slower here).
///
/// For `|x| < 0.55`: `x (1 - x^2/3 + 2x^4/15 - 17x^6/315 + ...)`, nine terms of the Taylor
/// series (coefficients from the Bernoulli numbers); the tenth term is below 2e-8 relative.
/// Otherwise `sign(x) (1 - t) / (1 + t)` with `t = exp(-2 min(|x|, 9))`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let magnitude = x.abs().min(TANH_SATURATION);
    let t = exp_nonpositive(-2.0 * magnitude);
    let large = ((1.0 - t) / (1.0 + t)).copysign(x);
    let x2 = x * x;
    let mut p = 443_861_162.0 / 1_856_156_927_625.0;
    p = p * x2 - 6_404_582.0 / 10_854_718_875.0;
    p = p * x2 + 929_569.0 / 638_512_875.0;
    p = p * x2 - 21_844.0 / 6_081_075.0;
    p = p * x2 + 1_382.0 / 155_925.0;
    p = p * x2 - 62.0 / 2_835.0;
    p = p * x2 + 17.0 / 315.0;
    p = p * x2 - 2.0 / 15.0;
    p = p * x2 + 1.0 / 3.0;
    let small = x - x * x2 * p;
    if x.abs() < TANH_SERIES_LIMIT {
        small
    } else {
        large
    }
}

/// `values[i] = tanh(values[i])` for every element; the loop compiled for AVX-512 or AVX2
/// where the CPU has it and the dispatch level allows (the same IEEE operations lane by lane,
/// so the same results as SSE2's).
pub fn tanh_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match hsnn_spec::isa::IsaLevel::current() {
        hsnn_spec::isa::IsaLevel::Avx512 => {
            // SAFETY: the level is AVX-512 only where the CPU has AVX-512F
            // (`IsaLevel::supported`), the only requirement of `tanh_in_place_avx512`'s target
            // feature; it runs the portable loop, safe Rust, recompiled for it.
            #[allow(unsafe_code)]
            unsafe {
                tanh_in_place_avx512(values)
            };
            return;
        }
        hsnn_spec::isa::IsaLevel::Avx2 => {
            // SAFETY: the level is AVX2 only where the CPU has AVX2 and FMA
            // (`IsaLevel::supported`), `tanh_in_place_avx2`'s target features; it runs the
            // portable loop, safe Rust, recompiled for them.
            #[allow(unsafe_code)]
            unsafe {
                tanh_in_place_avx2(values)
            };
            return;
        }
        hsnn_spec::isa::IsaLevel::Portable => {}
    }
    tanh_in_place_portable(values);
}

/// [`tanh_in_place_portable`] compiled for AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_in_place_avx2(values: &mut [f32]) {
    tanh_in_place_portable(values);
}

/// [`tanh_in_place_portable`] compiled for AVX-512F.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn tanh_in_place_avx512(values: &mut [f32]) {
    tanh_in_place_portable(values);
}

/// The loop of [`tanh_in_place`] as plain Rust.
#[inline(always)]
pub fn tanh_in_place_portable(values: &mut [f32]) {
    for value in values.iter_mut() {
        *value = tanh(*value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                for i in 0..k {
                    out[r * n + c] += a[r * k + i] * b[i * n + c];
                }
            }
        }
        out
    }

    /// A view lends a row in place exactly where its elements are adjacent: the rows of a
    /// row-major matrix and the one row of a one-column matrix's transpose, never a row of
    /// another transpose or one past the last.
    #[test]
    fn c2_a_view_lends_a_row_only_where_it_is_contiguous() {
        let data: Vec<f64> = (0..12).map(f64::from).collect();
        let matrix = View::row_major(&data, 3, 4);
        assert_eq!(matrix.contiguous_row(0), Some(&data[0..4]));
        assert_eq!(matrix.contiguous_row(2), Some(&data[8..12]));
        assert_eq!(matrix.contiguous_row(3), None, "past the last row");
        assert_eq!(
            matrix.t().contiguous_row(0),
            None,
            "a column of a wider matrix"
        );
        let column = View::row_major(&data, 5, 1).t();
        assert_eq!(column.contiguous_row(0), Some(&data[0..5]));
        assert_eq!(column.contiguous_row(1), None);
    }

    /// The product and its transposed views agree with a triple loop, for shapes around the
    /// micro-kernel sizes and for accumulation.
    #[test]
    fn c2_matmul_matches_triple_loop_with_transposes() {
        for (m, k, n) in [(1, 1, 1), (3, 5, 2), (17, 33, 9), (50, 256, 212), (2, 0, 3)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
            let b: Vec<f64> = (0..k * n).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
            let expected = naive(&a, &b, m, k, n);
            let mut got = vec![1.0; m * n];
            matmul(
                &mut got,
                View::row_major(&a, m, k),
                View::row_major(&b, k, n),
                false,
            );
            assert_eq!(got, expected, "{m} x {k} x {n}");
            // (b^T a^T)^T = a b: compute b^T a^T through transposed views of the same data.
            let mut transposed = vec![0.0; n * m];
            matmul(
                &mut transposed,
                View::row_major(&b, k, n).t(),
                View::row_major(&a, m, k).t(),
                false,
            );
            for r in 0..m {
                for c in 0..n {
                    assert_eq!(transposed[c * m + r], expected[r * n + c]);
                }
            }
            let mut accumulated = expected.clone();
            matmul(
                &mut accumulated,
                View::row_major(&a, m, k),
                View::row_major(&b, k, n),
                true,
            );
            let doubled: Vec<f64> = expected.iter().map(|v| 2.0 * v).collect();
            assert_eq!(accumulated, doubled);
        }
    }

    /// The product refuses a destination too short instead of writing past it.
    #[test]
    #[should_panic(expected = "destination too short")]
    fn c2_matmul_refuses_short_destination() {
        let a = [1.0f32; 6];
        let mut dst = [0.0f32; 3];
        matmul(
            &mut dst,
            View::row_major(&a, 2, 3),
            View::row_major(&a, 3, 2),
            false,
        );
    }

    /// The dispatched tanh loop (AVX-512 on CPUs that have it) gives the portable loop's
    /// bits on 100,000 values across tanh's regimes, specials included.
    #[test]
    fn c2_simd_tanh_loop_equals_the_portable_loop_bit_for_bit() {
        let mut values: Vec<f32> = (0..100_000)
            .map(|i| (i as f32 - 50_000.0) * 2.7e-4)
            .chain([0.0, -0.0, 0.55, -0.55, 9.0, 1e30, -1e30, f32::MIN_POSITIVE])
            .collect();
        let mut portable = values.clone();
        tanh_in_place(&mut values);
        tanh_in_place_portable(&mut portable);
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&portable));
    }

    /// tanh agrees with f64's tanh to 4 f32 ulps (relative 5e-7) over the whole range, is odd,
    /// saturates, and keeps tiny arguments exact.
    #[test]
    fn q5_tanh_is_accurate_to_a_few_ulps() {
        let mut worst: f64 = 0.0;
        let mut x = -12.0f32;
        while x <= 12.0 {
            let expected = f64::from(x).tanh();
            let got = f64::from(tanh(x));
            let error = (got - expected).abs() / expected.abs().max(1e-30);
            worst = worst.max(error);
            assert_eq!(tanh(-x), -tanh(x));
            x += 0.000_731;
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
        assert_eq!(tanh(20.0), 1.0);
        assert_eq!(tanh(-1e30), -1.0);
        assert_eq!(tanh(1e-30), 1e-30);
        assert_eq!(tanh(0.0), 0.0);
        for &x in &[0.549_999_9f32, 0.55, 0.550_000_1] {
            let error = (f64::from(tanh(x)) - f64::from(x).tanh()).abs();
            assert!(error < 3e-7, "at the switch {x}: {error:e}");
        }
    }
}
