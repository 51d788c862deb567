//! The quantized activation: a first-order sigma-delta modulator on `f(x)` (SPEC.md clauses
//! Q1-Q4).
//!
//! Per neuron and step, with the floating-point operations in exactly this order (clause Q2):
//!
//! ```text
//! r_t = f(x_t)
//! p_t = dt * r_t                  one rounded product
//! u_t = v_{t-1} + p_t             one rounded sum
//! n_t = floor(u_t)                integer spike count
//! v_t = u_t - n_t                 one rounded difference; if it is 1.0, then n_t += 1, v_t = 0
//! a_t = (alpha * n_t) / dt        the output activity
//! ```

use hsnn_spec::{Activation, HsnnError, QuantizerRun, Result, Tensor2};

use crate::activation;

/// Integrator magnitude (2^52) from which a step is refused: at and beyond it f64 has no
/// fractional bits left, so the carried error and hence later spike counts would be silently
/// wrong (clause Q2).
pub const MAX_INTEGRATOR_MAGNITUDE: f64 = 4_503_599_627_370_496.0;

/// The result of one quantizer step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    /// `u_t`, the integrator value before rounding.
    pub integrator: f64,
    /// `n_t`.
    pub count: i64,
    /// `v_t`, in `[0, 1)`.
    pub state: f64,
    /// `a_t = (alpha * n_t) / dt`.
    pub output: f64,
}

/// One step of the quantizer from state `state` on input `x` (clauses Q1, Q2).
///
/// `u_t - floor(u_t)` is exact for `u_t >= 0` and `u_t <= -1/2`, but rounded for
/// `-1/2 < u_t < 0`, and for `-2^-54 <= u_t < 0` it rounds to 1.0; the spec then counts one
/// more spike and restarts from 0, keeping `v_t` in `[0, 1)` (clause Q2).
pub fn step(activation: Activation, dt: f64, amplitude: f64, state: f64, x: f64) -> Result<Step> {
    let rate = activation::apply(activation, x);
    let product = dt * rate;
    let integrator = state + product;
    if !integrator.is_finite() || integrator.abs() >= MAX_INTEGRATOR_MAGNITUDE {
        return Err(HsnnError::Numerical {
            operation: "quantizer".into(),
            reason: format!(
                "integrator value {integrator} (from input {x}, dt {dt}) is not finite or exceeds \
                 2^52, where spike counts can no longer be exact; use a smaller dt or smaller inputs"
            ),
        });
    }
    let floor = integrator.floor();
    let mut new_state = integrator - floor;
    let mut count = floor as i64;
    if new_state >= 1.0 {
        count += 1;
        new_state = 0.0;
    }
    Ok(Step {
        integrator,
        count,
        state: new_state,
        output: (amplitude * count as f64) / dt,
    })
}

/// Runs the quantizer over `inputs` (`steps x neurons`) from `initial_state` (one `v_0` per
/// neuron, each in `[0, 1)`) (clauses Q1-Q4).
pub fn run(
    activation: Activation,
    dt: f64,
    amplitude: f64,
    inputs: &Tensor2,
    initial_state: &[f64],
) -> Result<QuantizerRun> {
    hsnn_spec::backend::check_quantize_arguments(dt, amplitude, inputs, initial_state)?;
    let cells = inputs.rows * inputs.cols;
    let mut result = QuantizerRun {
        counts: Vec::with_capacity(cells),
        outputs: Vec::with_capacity(cells),
        integrator: Vec::with_capacity(cells),
        final_state: initial_state.to_vec(),
    };
    for step_index in 0..inputs.rows {
        for (neuron, &x) in inputs.row(step_index).iter().enumerate() {
            let outcome = step(activation, dt, amplitude, result.final_state[neuron], x)?;
            result.final_state[neuron] = outcome.state;
            result.counts.push(outcome.count);
            result.outputs.push(outcome.output);
            result.integrator.push(outcome.integrator);
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q2: a tiny negative integrator value rounds `u - floor(u)` to 1.0; the spec's carry rule
    /// turns it into one more spike and state 0.
    #[test]
    fn q2_carry_keeps_state_below_one() {
        let outcome = step(Activation::Identity, 1.0, 1.0, 0.0, -1e-20).expect("valid step");
        assert_eq!(outcome.count, 0);
        assert_eq!(outcome.state, 0.0);
        assert_eq!(outcome.integrator, -1e-20);
    }

    /// E1: an integrator beyond 2^52 is an error, not a silently wrong count.
    #[test]
    fn e1_huge_integrator_is_an_error() {
        let error = step(Activation::Identity, 1e300, 1.0, 0.0, 1e10).expect_err("too large");
        assert!(error.to_string().contains("2^52"), "{error}");
    }
}
