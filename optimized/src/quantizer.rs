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

use crate::kernels;

/// Integrator magnitude (2^23) from which a step is refused: f32 has no fractional bits left
/// there, so the carried error, and later counts, would be silently wrong. The f32 counterpart
/// of the reference's 2^52 (clause Q2).
pub const MAX_INTEGRATOR_MAGNITUDE: f32 = 8_388_608.0;

/// `f(x)` in f32 (clause Q5).
#[inline(always)]
pub fn activate(activation: Activation, x: f32) -> f32 {
    match activation {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Tanh => kernels::tanh(x),
    }
}

/// `f'(x)` written in terms of `r = f(x)`, which the forward pass keeps (clause Q5):
/// `1 - r^2` for tanh, `1` for identity, and for relu 1 where `r > 0` (so `f'(0) = 0`).
#[inline(always)]
pub fn derivative_from_rate(activation: Activation, rate: f32) -> f32 {
    match activation {
        Activation::Identity => 1.0,
        Activation::Relu => {
            if rate > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - rate * rate,
    }
}

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
    /// `integrators` (`u`) and `rates` (`f(x)`, what the backward rule needs) out, `states`
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
        let (dt, amplitude) = (self.dt, self.amplitude);
        let mut largest = 0.0f32;
        for (((((&x, v), a), n), u_out), r_out) in inputs
            .iter()
            .zip(states.iter_mut())
            .zip(outputs.iter_mut())
            .zip(counts.iter_mut())
            .zip(integrators.iter_mut())
            .zip(rates.iter_mut())
        {
            let rate = activate(self.activation, x);
            let product = dt * rate;
            let u = *v + product;
            // NaN compares false with everything; `max` of a NaN keeps the other operand, so
            // track non-finite values through the magnitude instead: NaN.abs() is NaN, and
            // `largest < NaN` is false, so fold with a select that keeps any NaN.
            let magnitude = u.abs();
            largest = if magnitude.is_nan() || magnitude > largest {
                magnitude
            } else {
                largest
            };
            let floor = u.floor();
            let mut state = u - floor;
            let mut count = floor;
            if state >= 1.0 {
                count += 1.0;
                state = 0.0;
            }
            *v = state;
            *n = count as i32;
            *a = (amplitude * count) / dt;
            *u_out = u;
            *r_out = rate;
        }
        if largest.is_nan() || largest >= MAX_INTEGRATOR_MAGNITUDE {
            return Err(HsnnError::Numerical {
                operation: "quantizer (f32)".into(),
                reason: format!(
                    "an integrator value reached {largest} (dt {dt}): at 2^23 and beyond f32 \
                     can no longer carry the quantization error, so spike counts would be wrong; \
                     use a smaller dt, smaller inputs, or the reference backend"
                ),
            });
        }
        Ok(())
    }
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
    /// 0 and state 0; and a NaN or an integrator at 2^23 is an error, not a count.
    #[test]
    fn q2_carry_and_range_in_f32() {
        let identity = Quantizer {
            activation: Activation::Identity,
            dt: 1.0,
            amplitude: 1.0,
        };
        assert_eq!(run(identity, &[-1e-9], 0.0), (vec![0], vec![0.0], 0.0));
        let (mut a, mut n, mut u, mut r) = ([0.0; 2], [0; 2], [0.0; 2], [0.0; 2]);
        for bad in [f32::NAN, 8_388_608.0, -9e6] {
            let error = identity
                .step_row(&[0.5, bad], &mut [0.0, 0.0], &mut a, &mut n, &mut u, &mut r)
                .expect_err("out of range");
            assert!(error.to_string().contains("2^23"), "{error}");
        }
    }

    /// Q3: an f64 draw just below 1 stays below 1 in f32.
    #[test]
    fn q3_initial_state_stays_below_one() {
        assert!(initial_state_f32(1.0 - 1e-12) < 1.0);
        assert_eq!(initial_state_f32(0.5), 0.5);
    }
}
