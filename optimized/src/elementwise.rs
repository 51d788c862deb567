//! The backward pass's per-step loops over values (SPEC.md clause T3), compiled for AVX-512
//! or AVX2 where the CPU has it and the dispatch level allows. Written as plain Rust without fused multiply-adds, so both builds of
//! each loop do the same IEEE operations lane by lane and give the same bits (clause T8): the
//! AVX-512 build only runs more lanes at once. Before these, the loops ran one value at a time
//! in the baseline build (the activation matched per value, the dot products a single chain),
//! 5 % of a paper-network training step.

use hsnn_spec::Activation;

use crate::activation::{with_kernel, Kernel};

/// Partial sums of the dot products and lanes of [`largest_magnitude`]: one AVX-512 vector.
const LANES: usize = 16;

/// Defines `pub fn $name` running `$portable` (`#[inline(always)]` plain Rust), recompiled
/// for AVX-512F as `$avx512` and for AVX2 and FMA as `$name`'s inner `avx2` where the
/// dispatch level ([`hsnn_spec::isa::IsaLevel::current`]) allows it.
macro_rules! compiled_for_avx512 {
    ($(#[$doc:meta])* pub fn $name:ident = $portable:ident / $avx512:ident
        ($($argument:ident: $type:ty),*) $(-> $result:ty)?) => {
        $(#[$doc])*
        pub fn $name($($argument: $type),*) $(-> $result)? {
            /// The portable loop compiled for AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[allow(unsafe_code)]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($argument: $type),*) $(-> $result)? {
                $portable($($argument),*)
            }
            #[cfg(target_arch = "x86_64")]
            match hsnn_spec::isa::IsaLevel::current() {
                hsnn_spec::isa::IsaLevel::Avx512 => {
                    // SAFETY: the level is AVX-512 only where the CPU has AVX-512F
                    // (`IsaLevel::supported`), the only requirement of the wrapper's target
                    // feature; the wrapper runs safe Rust.
                    #[allow(unsafe_code)]
                    return unsafe { $avx512($($argument),*) };
                }
                hsnn_spec::isa::IsaLevel::Avx2 => {
                    // SAFETY: the level is AVX2 only where the CPU has AVX2 and FMA
                    // (`IsaLevel::supported`), the wrapper's target features; it runs safe
                    // Rust.
                    #[allow(unsafe_code)]
                    return unsafe { avx2($($argument),*) };
                }
                hsnn_spec::isa::IsaLevel::Portable => {}
            }
            $portable($($argument),*)
        }

        /// The portable loop compiled for AVX-512F.
        #[cfg(target_arch = "x86_64")]
        #[allow(unsafe_code)]
        #[target_feature(enable = "avx512f")]
        unsafe fn $avx512($($argument: $type),*) $(-> $result)? {
            $portable($($argument),*)
        }
    };
}

compiled_for_avx512! {
    /// `dz[i] = dh[i] * f'(z_i) * gain` with `f'` from the stored activation or rate
    /// ([`crate::activation::derivative_from_rate`]; clause T3's `dZ_t`), over the common
    /// length of the slices.
    pub fn preactivation_adjoint = preactivation_adjoint_portable / preactivation_adjoint_avx512
        (dz: &mut [f32], dh: &[f32], rates: &[f32], activation: Activation, gain: f32)
}

#[inline(always)]
fn preactivation_adjoint_portable(
    dz: &mut [f32],
    dh: &[f32],
    rates: &[f32],
    activation: Activation,
    gain: f32,
) {
    // One loop per activation, so that no loop branches on it per value.
    #[inline(always)]
    fn each(dz: &mut [f32], dh: &[f32], rates: &[f32], gain: f32, derivative: impl Fn(f32) -> f32) {
        for ((dz, &dh), &rate) in dz.iter_mut().zip(dh).zip(rates) {
            *dz = dh * derivative(rate) * gain;
        }
    }
    with_kernel!(activation, K => each(dz, dh, rates, gain, K::derivative_from_rate))
}

compiled_for_avx512! {
    /// `dst[r * n + c] = a[r] * b[c]`, or `dst[r * n + c] += a[r] * b[c]` when `accumulate`,
    /// for `a.len()` rows and `n = b.len()` columns: a matrix product of inner dimension 1
    /// (clause L4's `X_t e_x` and `X_t W_x` with one input, clause T3's `dU_t e_h^T` and
    /// `dU_t e_m^T` with a memory of one dimension). Each product is rounded, then added, as
    /// [`crate::kernels::matmul`] does for it, so it gives the same values (and bits, but for
    /// the sign of a zero product: gemm's kernel for small shapes adds `+0` to it, so `-0`
    /// comes out `+0` there; every later addition makes it `+0` here too). A general product
    /// routine spends longer setting up such a call than computing it, 784 times per pass.
    /// Panics when `dst` holds fewer than `a.len() * b.len()` values.
    pub fn outer_product = outer_product_portable / outer_product_avx512
        (dst: &mut [f32], a: &[f32], b: &[f32], accumulate: bool)
}

#[inline(always)]
fn outer_product_portable(dst: &mut [f32], a: &[f32], b: &[f32], accumulate: bool) {
    assert!(
        dst.len() >= a.len() * b.len(),
        "destination too short for {} x {}",
        a.len(),
        b.len()
    );
    for (row, &left) in dst.chunks_exact_mut(b.len().max(1)).zip(a) {
        if accumulate {
            for (value, &right) in row.iter_mut().zip(b) {
                *value += left * right;
            }
        } else {
            for (value, &right) in row.iter_mut().zip(b) {
                *value = left * right;
            }
        }
    }
}

compiled_for_avx512! {
    /// `out[r] = gain * (row r of rows) . b` for each of `out.len()` rows of `b.len()` values:
    /// clause T3's `dU_t = dM_t Bbar`, per memory dimension. Each dot product is summed in 16
    /// partial sums (value `i` into sum `i % 16`, in order), then pairwise (sum `j` plus sum
    /// `j + 8`, then `j + 4`, ...). Panics when `rows` holds fewer than `out.len()` rows.
    pub fn row_dots = row_dots_portable / row_dots_avx512
        (out: &mut [f32], rows: &[f32], b: &[f32], gain: f32)
}

#[inline(always)]
fn row_dots_portable(out: &mut [f32], rows: &[f32], b: &[f32], gain: f32) {
    assert!(
        rows.len() >= out.len() * b.len(),
        "rows too short for {} dot products of {}",
        out.len(),
        b.len()
    );
    for (value, row) in out.iter_mut().zip(rows.chunks_exact(b.len().max(1))) {
        *value = dot_portable(row, b) * gain;
    }
}

/// `a . b` over their common length, summed in [`LANES`] partial sums (value `i` into sum
/// `i % 16`, in order) that are then added pairwise (sum `j` and `j + 8`, then `j + 4`, ...):
/// a fixed order, so the same bits in every build, and independent chains where a single one
/// would wait on every addition.
#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut sums = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    for (lane, (x, y)) in a_rest.iter().zip(b_rest).enumerate() {
        sums[lane] += x * y;
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
    }
    sums[0]
}

compiled_for_avx512! {
    /// The largest `|v|` of `values`, 0 when empty, NaNs ignored (as `f32::max` does): the
    /// test of the backward pass's adjoint rescaling (clause T3). The maximum of a set does not
    /// depend on the order it is taken in, so lanes give the sequential fold's value.
    pub fn largest_magnitude = largest_magnitude_portable / largest_magnitude_avx512
        (values: &[f32]) -> f32
}

#[inline(always)]
fn largest_magnitude_portable(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for lane in 0..LANES {
            lanes[lane] = lanes[lane].max(chunk[lane].abs());
        }
    }
    for (lane, value) in rest.iter().enumerate() {
        lanes[lane] = lanes[lane].max(value.abs());
    }
    lanes
        .iter()
        .fold(0.0f32, |largest, &lane| largest.max(lane))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with no pattern a wrong index could match by accident, some large.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                ((x % 20_001) as f32 / 1000.0 - 10.0) * if x.is_multiple_of(7) { 1e3 } else { 1.0 }
            })
            .collect()
    }

    #[test]
    fn c2_outer_products_give_the_bits_of_the_general_product() {
        use crate::kernels::{matmul, View};
        for (rows, columns) in [
            (50, 212),
            (50, 256),
            (7, 1),
            (50, 1),
            (1, 33),
            (0, 5),
            (5, 0),
        ] {
            // Exact zeros of both signs among the factors (pixels of 0, weights of either sign).
            let with_zeros = |mut values: Vec<f32>| {
                for (i, value) in values.iter_mut().enumerate() {
                    match i % 5 {
                        1 => *value = 0.0,
                        3 => *value = -0.0,
                        _ => {}
                    }
                }
                values
            };
            let (a, b) = (with_zeros(values(rows, 3)), with_zeros(values(columns, 4)));
            for accumulate in [false, true] {
                let start = values(rows * columns, 5);
                let mut expected = start.clone();
                matmul(
                    &mut expected,
                    View::row_major(&a, rows, 1),
                    View::row_major(&b, 1, columns),
                    accumulate,
                );
                let mut got = start.clone();
                outer_product(&mut got, &a, &b, accumulate);
                // Zeros compare equal whatever their sign (see the doc), all else to the bit.
                let bits = |values: &[f32]| {
                    values
                        .iter()
                        .map(|v| if *v == 0.0 { 0 } else { v.to_bits() })
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    bits(&got),
                    bits(&expected),
                    "{rows} x {columns}, {accumulate}"
                );
                // And the values themselves: rounded products, added once.
                for r in 0..rows {
                    for c in 0..columns {
                        let product = a[r] * b[c];
                        let want = if accumulate {
                            start[r * columns + c] + product
                        } else {
                            product
                        };
                        assert_eq!(got[r * columns + c].to_bits(), want.to_bits());
                    }
                }
            }
        }
        let mut short = vec![0.0f32; 5];
        let refused = std::panic::catch_unwind(move || {
            outer_product(&mut short, &[1.0, 2.0], &[1.0, 2.0, 3.0], false)
        });
        assert!(refused.is_err(), "a short destination is refused");
    }

    #[test]
    fn t3_dot_products_equal_f64_sums_and_follow_their_stated_order() {
        for len in [0usize, 1, 15, 16, 17, 33, 212, 256] {
            let (a, b) = (values(len, 1), values(len, 2));
            let exact: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let bound: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| (f64::from(x) * f64::from(y)).abs())
                .sum::<f64>()
                * 1e-6;
            let got = dot_portable(&a, &b);
            assert!(
                (f64::from(got) - exact).abs() <= bound,
                "{len}: {got} vs {exact}"
            );
            // The order the doc comment states, written out independently: sums by residue
            // mod 16 in index order, then halves folded onto the lower lanes.
            let mut sums = [0.0f32; 16];
            for i in 0..len {
                sums[i % 16] += a[i] * b[i];
            }
            for width in [8, 4, 2, 1] {
                for lane in 0..width {
                    sums[lane] += sums[lane + width];
                }
            }
            assert_eq!(got.to_bits(), sums[0].to_bits(), "{len}");
        }
    }

    #[test]
    fn t3_row_dots_scale_each_row_and_refuse_short_rows() {
        let (order, count) = (37, 5);
        let rows = values(order * count, 3);
        let b = values(order, 4);
        let mut out = vec![f32::NAN; count];
        row_dots(&mut out, &rows, &b, 0.5);
        for (r, &value) in out.iter().enumerate() {
            let want = dot_portable(&rows[r * order..(r + 1) * order], &b) * 0.5;
            assert_eq!(value.to_bits(), want.to_bits(), "row {r}");
        }
        let short = std::panic::catch_unwind(|| {
            let mut out = vec![0.0f32; count + 1];
            row_dots(&mut out, &rows, &b, 1.0);
        });
        assert!(short.is_err(), "a missing row must not be read as zeros");
    }

    #[test]
    fn t3_largest_magnitude_is_the_sequential_maximum() {
        for len in [0usize, 1, 15, 16, 17, 100, 468] {
            let mut data = values(len, 5);
            if len > 3 {
                data[len / 2] = f32::NAN;
                data[len - 1] = -1e30;
            }
            let sequential = data.iter().fold(0.0f32, |acc, value| acc.max(value.abs()));
            assert_eq!(
                largest_magnitude(&data).to_bits(),
                sequential.to_bits(),
                "{len}"
            );
        }
        assert_eq!(largest_magnitude(&[f32::NAN, f32::NAN]), 0.0);
    }

    #[test]
    fn t3_preactivation_adjoints_equal_the_derivative_formula_value_by_value() {
        let len = 213;
        let dh = values(len, 6);
        let rates: Vec<f32> = values(len, 7).iter().map(|v| v / 1e4).collect();
        for &activation in Activation::ALL {
            let mut dz = vec![f32::NAN; len];
            preactivation_adjoint(&mut dz, &dh, &rates, activation, 0.75);
            for i in 0..len {
                let want =
                    dh[i] * crate::activation::derivative_from_rate(activation, rates[i]) * 0.75;
                assert_eq!(dz[i].to_bits(), want.to_bits(), "{activation:?} {i}");
            }
        }
        // Relu's derivative is 0 or 1 by the sign of the rate; tanh's is 1 - r^2.
        let mut dz = vec![0.0f32; 2];
        preactivation_adjoint(&mut dz, &[2.0, 2.0], &[-0.5, 0.5], Activation::Relu, 1.0);
        assert_eq!(dz, vec![0.0, 2.0]);
        preactivation_adjoint(&mut dz, &[2.0, 2.0], &[-0.5, 0.5], Activation::Tanh, 1.0);
        assert_eq!(dz, vec![1.5, 1.5]);
    }
}
