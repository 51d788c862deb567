//! The quantized activation in f32 (SPEC.md clauses Q1-Q5), one whole row of neurons per call,
//! with the operations of clause Q2 in the same order as the reference but rounded to f32:
//!
//! ```text
//! r = f(x);  p = dt * r;  u = v + p;  n = floor(u);  v' = u - n
//! if v' == 1: n += 1, v' = 0          (carry rule; in f32 it fires for -2^-25 <= u < 0)
//! a = (alpha * n) / dt
//! ```
//!
//! No fused multiply-add: Rust never contracts `v + dt * r` on its own, and the code does not
//! ask for it. The loop has no branches, so the compiler vectorizes it; out-of-range values are
//! detected after the row, not inside the loop.

use hsnn_spec::{Activation, HsnnError, Result};

use crate::activation::{with_kernel, Kernel};

/// Integrator magnitude (2^22) from which a step is refused: f32 keeps at most one fractional
/// bit there (none from 2^23), so the carried error, and later counts, would be silently wrong.
/// The f32 counterpart of the reference's 2^52 (clause Q2); below it the rounding of the loop
/// below is exact.
pub const MAX_INTEGRATOR_MAGNITUDE: f32 = 4_194_304.0;

/// 1.5 * 2^23: adding it to an f32 of magnitude below 2^22 rounds to the nearest integer,
/// which then sits in the low mantissa bits of the sum.
const ROUNDING: f32 = 12_582_912.0;

/// The f32 form of a `v_0` drawn in f64 (clause Q3): rounding to f32 could give 1.0 for a draw
/// just below 1, which breaks P1, so such a draw becomes the largest f32 below 1.
pub fn initial_state_f32(value: f64) -> f32 {
    let rounded = value as f32;
    if rounded >= 1.0 {
        1.0 - f32::EPSILON / 2.0
    } else {
        rounded
    }
}

/// The quantizer's parameters in f32.
#[derive(Debug, Clone, Copy)]
pub struct Quantizer {
    /// Base activation.
    pub activation: Activation,
    /// `dt`.
    pub dt: f32,
    /// `alpha`.
    pub amplitude: f32,
}

impl Quantizer {
    /// One step for a row of neurons (clauses Q1, Q2, Q4): `inputs` in, `outputs`, `counts`,
    /// `integrators` (`w`, SPEC Q1) and `rates` (`f(x)`, what the backward rule needs) out, `states`
    /// (`v`) updated in place. All slices have the row's length. Errors when any `u` is not
    /// finite or reaches [`MAX_INTEGRATOR_MAGNITUDE`]; the row's outputs are then undefined.
    #[allow(clippy::too_many_arguments)]
    pub fn step_row(
        &self,
        inputs: &[f32],
        states: &mut [f32],
        outputs: &mut [f32],
        counts: &mut [i32],
        integrators: &mut [f32],
        rates: &mut [f32],
    ) -> Result<()> {
        let row = Row {
            inputs,
            states,
            outputs,
            counts,
            integrators: &mut *integrators,
            rates,
        };
        let out_of_range = self.integrate_row(row);
        if out_of_range {
            let largest = integrators.iter().map(|u| u.abs()).fold(0.0f32, |acc, m| {
                if m.is_nan() || m > acc {
                    m
                } else {
                    acc
                }
            });
            return Err(HsnnError::Numerical {
                operation: "quantizer (f32)".into(),
                reason: format!(
                    "an integrator value reached {largest} (dt {}): at 2^22 and beyond f32 \
                     can no longer carry the quantization error, so spike counts would be wrong; \
                     use a smaller dt, smaller inputs, or the reference backend",
                    self.dt
                ),
            });
        }
        Ok(())
    }

    /// The loop of [`Self::step_row`], compiled for AVX-512 or AVX2 where the CPU has it and
    /// the dispatch level allows (16 or 8 lanes instead of SSE2's 4; the same IEEE operations
    /// lane by lane, so the same results).
    fn integrate_row(&self, row: Row<'_>) -> bool {
        #[cfg(target_arch = "x86_64")]
        match hsnn_spec::isa::IsaLevel::current() {
            hsnn_spec::isa::IsaLevel::Avx512 => {
                // SAFETY: the level is AVX-512 only where the CPU has AVX-512F
                // (`IsaLevel::supported`), the only requirement of `integrate_avx512`'s target
                // feature; it runs the portable loop, safe Rust, recompiled for it.
                #[allow(unsafe_code)]
                return unsafe { self.integrate_avx512(row) };
            }
            hsnn_spec::isa::IsaLevel::Avx2 => {
                // SAFETY: the level is AVX2 only where the CPU has AVX2 and FMA
                // (`IsaLevel::supported`), `integrate_avx2`'s target features; it runs the
                // portable loop, safe Rust, recompiled for them.
                #[allow(unsafe_code)]
                return unsafe { self.integrate_avx2(row) };
            }
            hsnn_spec::isa::IsaLevel::Portable => {}
        }
        self.integrate_activation(row)
    }

    /// [`Self::integrate_activation`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn integrate_avx2(&self, row: Row<'_>) -> bool {
        self.integrate_activation(row)
    }

    /// [`Self::integrate_activation`] compiled for AVX-512F.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx512f")]
    unsafe fn integrate_avx512(&self, row: Row<'_>) -> bool {
        self.integrate_activation(row)
    }

    /// One loop per activation, so that none has a branch on the activation inside.
    #[inline(always)]
    fn integrate_activation(&self, row: Row<'_>) -> bool {
        with_kernel!(self.activation, K => self.integrate(row, K::activate))
    }

    /// The loop of [`Self::step_row`] for base activation `f`; returns whether any `u` was
    /// NaN or reached [`MAX_INTEGRATOR_MAGNITUDE`].
    #[inline(always)]
    fn integrate(&self, row: Row<'_>, f: impl Fn(f32) -> f32) -> bool {
        let Row {
            inputs,
            states,
            outputs,
            counts,
            integrators,
            rates,
        } = row;
        let length = inputs.len();
        assert!(
            states.len() == length
                && outputs.len() == length
                && counts.len() == length
                && integrators.len() == length
                && rates.len() == length,
            "quantizer row slices differ in length"
        );
        let (dt, amplitude) = (self.dt, self.amplitude);
        // An integer OR over the row (NaN fails `<`): a reduction the compiler vectorizes,
        // unlike a NaN-aware maximum.
        let mut out_of_range = 0u32;
        for index in 0..length {
            let rate = f(inputs[index]);
            let product = dt * rate;
            let u = states[index] + product;
            let magnitude = u.abs();
            out_of_range |= u32::from(magnitude.is_nan() || magnitude >= MAX_INTEGRATOR_MAGNITUDE);
            // floor(u) and the count as an integer without library calls or saturating casts,
            // so the loop vectorizes: round to nearest through ROUNDING (exact for |u| < 2^22;
            // larger values are refused), read the integer from the sum's mantissa bits, and
            // step down by one where rounding went up.
            let shifted = u + ROUNDING;
            let rounded = shifted - ROUNDING;
            let down = i32::from(rounded > u);
            let mut count = (shifted.to_bits() as i32 - ROUNDING.to_bits() as i32) - down;
            let floor = rounded - down as f32;
            let mut state = u - floor;
            if state >= 1.0 {
                count += 1;
                state = 0.0;
            }
            states[index] = state;
            counts[index] = count;
            outputs[index] = (amplitude * count as f32) / dt;
            integrators[index] = u;
            rates[index] = rate;
        }
        out_of_range != 0
    }
}

/// The slices of one quantizer row.
struct Row<'a> {
    inputs: &'a [f32],
    states: &'a mut [f32],
    outputs: &'a mut [f32],
    counts: &'a mut [i32],
    integrators: &'a mut [f32],
    rates: &'a mut [f32],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(quantizer: Quantizer, inputs: &[f32], v0: f32) -> (Vec<i32>, Vec<f32>, f32) {
        let mut state = [v0];
        let mut counts = Vec::new();
        let mut outputs = Vec::new();
        for &x in inputs {
            let (mut a, mut n, mut u, mut r) = ([0.0], [0], [0.0], [0.0]);
            quantizer
                .step_row(&[x], &mut state, &mut a, &mut n, &mut u, &mut r)
                .expect("in range");
            counts.push(n[0]);
            outputs.push(a[0]);
        }
        (counts, outputs, state[0])
    }

    /// Q1, Q2: the dispatched row loop (AVX-512 on CPUs that have it) gives the portable
    /// loop's bits, every output slice and the states, for the three activations over rows of
    /// 4,099 neurons and 20 steps.
    #[test]
    fn c2_simd_quantizer_row_equals_the_portable_loop_bit_for_bit() {
        let width = 4_099;
        for &activation in Activation::ALL {
            let quantizer = Quantizer {
                activation,
                dt: 2.5,
                amplitude: 1.5,
            };
            let mut dispatched = vec![0.1f32; width];
            let mut portable = dispatched.clone();
            for step in 0..20 {
                let inputs: Vec<f32> = (0..width)
                    .map(|i| ((i * 7 + step * 13) % 401) as f32 / 40.0 - 5.0)
                    .collect();
                let mut fast = (
                    vec![0.0; width],
                    vec![0; width],
                    vec![0.0; width],
                    vec![0.0; width],
                );
                let mut plain = fast.clone();
                quantizer
                    .step_row(
                        &inputs,
                        &mut dispatched,
                        &mut fast.0,
                        &mut fast.1,
                        &mut fast.2,
                        &mut fast.3,
                    )
                    .expect("in range");
                let out_of_range = quantizer.integrate_activation(Row {
                    inputs: &inputs,
                    states: &mut portable,
                    outputs: &mut plain.0,
                    counts: &mut plain.1,
                    integrators: &mut plain.2,
                    rates: &mut plain.3,
                });
                assert!(!out_of_range);
                let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(plain.1, fast.1, "{activation:?} counts, step {step}");
                for (name, a, b) in [
                    ("outputs", &plain.0, &fast.0),
                    ("integrators", &plain.2, &fast.2),
                    ("rates", &plain.3, &fast.3),
                    ("states", &portable, &dispatched),
                ] {
                    assert_eq!(bits(a), bits(b), "{activation:?} {name}, step {step}");
                }
            }
        }
    }

    /// Q2: the hand-derived sequences of SPEC.md (every value exact in f32 too).
    #[test]
    fn q2_hand_derived_sequences_in_f32() {
        let identity = |dt, amplitude| Quantizer {
            activation: Activation::Identity,
            dt,
            amplitude,
        };
        assert_eq!(
            run(identity(1.0, 1.0), &[-0.25; 5], 0.0),
            (vec![-1, 0, 0, 0, -1], vec![-1.0, 0.0, 0.0, 0.0, -1.0], 0.75)
        );
        assert_eq!(
            run(identity(0.5, 2.0), &[1.5, 1.0, 0.5, 3.0], 0.5),
            (vec![1, 0, 1, 1], vec![4.0, 0.0, 4.0, 4.0], 0.5)
        );
        let relu = Quantizer {
            activation: Activation::Relu,
            dt: 4.0,
            amplitude: 1.0,
        };
        assert_eq!(
            run(relu, &[0.625, -3.0, 1.25], 0.25),
            (vec![2, 0, 5], vec![0.5, 0.0, 1.25], 0.75)
        );
    }

    /// Q2: the carry rule in f32: u = -1e-9 rounds `u - floor(u)` to 1.0, which becomes count
    /// 0 and state 0; and a NaN or an integrator at 2^22 is an error, not a count.
    #[test]
    fn q2_carry_and_range_in_f32() {
        let identity = Quantizer {
            activation: Activation::Identity,
            dt: 1.0,
            amplitude: 1.0,
        };
        assert_eq!(run(identity, &[-1e-9], 0.0), (vec![0], vec![0.0], 0.0));
        let (mut a, mut n, mut u, mut r) = ([0.0; 2], [0; 2], [0.0; 2], [0.0; 2]);
        for bad in [f32::NAN, 4_194_304.0, -5e6] {
            let error = identity
                .step_row(&[0.5, bad], &mut [0.0, 0.0], &mut a, &mut n, &mut u, &mut r)
                .expect_err("out of range");
            assert!(error.to_string().contains("2^22"), "{error}");
        }
    }

    /// Q3: an f64 draw just below 1 stays below 1 in f32.
    #[test]
    fn q3_initial_state_stays_below_one() {
        assert!(initial_state_f32(1.0 - 1e-12) < 1.0);
        assert_eq!(initial_state_f32(0.5), 0.5);
    }
}
