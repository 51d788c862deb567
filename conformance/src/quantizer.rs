//! Conformance checks of the quantized activation (SPEC.md clauses Q1-Q5).
//!
//! The properties are mathematical facts of the sigma-delta quantizer (docs/PAPER.md section 2),
//! checked with proptest on random activations, time steps, amplitudes, inputs and initial
//! states; the golden sequences are derived by hand in the comments.

use hsnn_spec::{Activation, Backend, QuantizerRun, Tensor2};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::activation::{largest_rate, rate};
use crate::levels::Level;

/// A random quantizer problem.
#[derive(Debug, Clone)]
pub struct QuantizerProblem {
    /// Base activation.
    pub activation: Activation,
    /// Time step.
    pub dt: f64,
    /// Amplitude.
    pub amplitude: f64,
    /// `steps x neurons` inputs.
    pub inputs: Tensor2,
    /// `v_0` per neuron.
    pub initial_state: Vec<f64>,
}

/// Random problems: dt log-uniform in [0.01, 100], amplitude in [0.5, 2], up to 60 steps of up
/// to 4 neurons with inputs in [-5, 5].
pub fn problems() -> impl Strategy<Value = QuantizerProblem> {
    let activation = prop::sample::select(Activation::ALL);
    (activation, -2.0f64..2.0, 0.5f64..2.0, 1usize..60, 1usize..5).prop_flat_map(
        |(activation, log_dt, amplitude, steps, neurons)| {
            (
                prop::collection::vec(-5.0f64..5.0, steps * neurons),
                prop::collection::vec(0.0f64..1.0, neurons),
            )
                .prop_map(move |(inputs, initial_state)| QuantizerProblem {
                    activation,
                    dt: 10f64.powf(log_dt),
                    amplitude,
                    inputs: Tensor2 {
                        rows: steps,
                        cols: neurons,
                        data: inputs,
                    },
                    initial_state,
                })
        },
    )
}

fn run(backend: &impl Backend, problem: &QuantizerProblem) -> Result<QuantizerRun, TestCaseError> {
    backend
        .quantize(
            problem.activation,
            problem.dt,
            problem.amplitude,
            &problem.inputs,
            &problem.initial_state,
        )
        .map_err(|error| TestCaseError::fail(format!("backend refused a valid problem: {error}")))
}

/// Relative slack on the mathematical bounds: none beyond rounding for f64 backends, the
/// level's own bound otherwise (for the bounded level its absolute bound, used as a relative
/// one: the quantizer's outputs are of order 1).
fn slack(level: Level) -> f64 {
    match level {
        Level::Exact => 1e-12,
        Level::Explained { relative, .. } => relative,
        Level::Bounded { absolute } | Level::FixedPoint { absolute } => absolute,
    }
}

fn check_all(
    problems: impl Strategy<Value = QuantizerProblem>,
    check: impl Fn(&QuantizerProblem) -> Result<(), TestCaseError>,
) {
    let mut runner = crate::deterministic_runner(256);
    if let Err(error) = runner.run(&problems, |problem| check(&problem)) {
        panic!("{error}");
    }
}

/// Whether count `n` is what clause Q2 makes of integrator value `w`: `floor(w)`, or
/// `floor(w) + 1` where `w - floor(w)` rounds to 1.0 (the carry rule).
pub fn count_follows_integrator(integrator: f64, count: i64) -> bool {
    let floor = integrator.floor();
    let remainder = integrator - floor;
    (count as f64 == floor && remainder < 1.0) || (count as f64 == floor + 1.0 && remainder >= 1.0)
}

/// Q1, Q2: the carried error `v_t` stays in `[0, 1)`, and every step's count is what Q2 makes
/// of its integrator value.
pub fn q1_state_stays_in_unit_interval(backend: &impl Backend, _level: Level) {
    check_all(problems(), |problem| {
        let result = run(backend, problem)?;
        for &state in &result.final_state {
            prop_assert!((0.0..1.0).contains(&state), "final state {state}");
        }
        for (index, (&integrator, &count)) in
            result.integrator.iter().zip(&result.counts).enumerate()
        {
            prop_assert!(
                count_follows_integrator(integrator, count),
                "step {index}: w = {integrator}, n = {count}"
            );
        }
        Ok(())
    });
}

/// Q1: every output is within one spike of the rate, `|a_t - alpha f(x_t)| < alpha / dt`.
pub fn q1_output_error_below_one_spike(backend: &impl Backend, level: Level) {
    check_all(problems(), |problem| {
        let result = run(backend, problem)?;
        let bound = problem.amplitude / problem.dt;
        for (index, (&x, &output)) in problem.inputs.data.iter().zip(&result.outputs).enumerate() {
            let target = problem.amplitude * rate(problem.activation, x);
            let error = (output - target).abs();
            prop_assert!(
                error < bound * (1.0 + slack(level)) + slack(level) * target.abs(),
                "step {index}: |{output} - {target}| = {error} >= alpha/dt = {bound}"
            );
        }
        Ok(())
    });
}

/// Q1: `sum_t n_t = sum_t dt f(x_t) + v_0 - v_T`, so the accumulated error of
/// `sum_t a_t dt` against `alpha sum_t f(x_t) dt` is below `alpha`.
pub fn q1_cumulative_error_bounded_by_amplitude(backend: &impl Backend, level: Level) {
    check_all(problems(), |problem| {
        let result = run(backend, problem)?;
        let neurons = problem.inputs.cols;
        for neuron in 0..neurons {
            let mut spikes = 0.0;
            let mut integral = 0.0;
            let mut output_integral = 0.0;
            for step in 0..problem.inputs.rows {
                let index = step * neurons + neuron;
                spikes += result.counts[index] as f64;
                integral += problem.dt * rate(problem.activation, problem.inputs.data[index]);
                output_integral += result.outputs[index] * problem.dt;
            }
            let balance = integral + problem.initial_state[neuron] - result.final_state[neuron];
            // A fixed-point backend reads each input rounded to 2^-9 (H4, H7), which moves
            // dt f(x) by up to dt 2^-9 per step, and rounds its increment to 2^-17.
            let per_step = match level {
                Level::FixedPoint { .. } => problem.dt * 2f64.powi(-9) + 2f64.powi(-17),
                _ => slack(level),
            };
            let tolerance = 1e-9 * (1.0 + integral.abs()) + per_step * problem.inputs.rows as f64;
            prop_assert!(
                (spikes - balance).abs() <= tolerance,
                "neuron {neuron}: sum n = {spikes}, sum dt f + v0 - vT = {balance}"
            );
            let error = (output_integral - problem.amplitude * integral).abs();
            prop_assert!(
                error < problem.amplitude * (1.0 + slack(level)) + tolerance * problem.amplitude,
                "neuron {neuron}: accumulated error {error} exceeds alpha = {}",
                problem.amplitude
            );
        }
        Ok(())
    });
}

/// Q1: when `dt * max|f| <= 1` every count is -1, 0 or 1 (1-bit spikes, plus sign).
pub fn q1_one_bit_spikes_when_dt_times_max_rate_at_most_one(backend: &impl Backend, _level: Level) {
    let strategy = problems().prop_map(|mut problem| {
        // Choose dt so that dt * max|f| <= 1 over the inputs' range [-5, 5].
        // (At least 1: tanh's largest rate, tanh(5), is just below 1, and dt just above 1
        // would leave f32's rounding of `dt * r` no margin.)
        problem.dt = problem
            .dt
            .min(1.0 / largest_rate(problem.activation, 5.0).max(1.0));
        problem
    });
    check_all(strategy, |problem| {
        let result = run(backend, problem)?;
        for &count in &result.counts {
            prop_assert!(
                (-1..=1).contains(&count),
                "count {count} with dt {}",
                problem.dt
            );
        }
        Ok(())
    });
}

/// Q5: relu never emits a negative count.
pub fn q5_relu_never_spikes_negative(backend: &impl Backend, _level: Level) {
    let strategy = problems().prop_map(|mut problem| {
        problem.activation = Activation::Relu;
        problem
    });
    check_all(strategy, |problem| {
        let result = run(backend, problem)?;
        prop_assert!(result.counts.iter().all(|&count| count >= 0));
        Ok(())
    });
}

/// Q4: as dt grows the output tends to `alpha f(x)`: the largest error over a fixed input is
/// below `alpha / dt` for dt = 10, 100, ..., 10^6, hence below 1e-6 at the end.
pub fn q4_converges_to_rate_as_dt_grows(backend: &impl Backend, level: Level) {
    let inputs: Vec<f64> = (0..200)
        .map(|step| (step as f64 * 0.37).sin() * 3.0)
        .collect();
    let inputs = Tensor2 {
        rows: 200,
        cols: 1,
        data: inputs,
    };
    for &activation in Activation::ALL {
        for exponent in 1..=6 {
            let dt = 10f64.powi(exponent);
            let result = backend
                .quantize(activation, dt, 1.5, &inputs, &[0.25])
                .expect("valid problem");
            let worst = inputs
                .data
                .iter()
                .zip(&result.outputs)
                .map(|(&x, &output)| (output - 1.5 * rate(activation, x)).abs())
                .fold(0.0, f64::max);
            assert!(
                worst < 1.5 / dt * (1.0 + slack(level)) + slack(level),
                "{activation:?}, dt {dt}: worst error {worst}"
            );
        }
    }
}

/// Q2: the integrator is two roundings, `p = dt * r` then `w = v + p`, never one fused
/// multiply-add, and in that order. Derived by hand with `p` bits of precision (53 for the
/// exact level, 24 for the f32 levels) and `e = 2^-(p-2)`, the spacing of numbers in [2, 4):
/// `r = 1 - 2^-p`, `dt = 3`, so `dt * r = 3 - 0.75 e` exactly and rounds to `3 - e`;
/// `v_0 = 0.375 e`. Two roundings: `u = fl(3 - 0.625 e) = 3 - e`, so `n = 2`, `v = 1 - e`.
/// A fused multiply-add rounds `3 - 0.375 e` to 3 once (n = 3, v = 0), and `(v/dt + r) dt`
/// gives 3 as well: either changes the count.
pub fn q2_no_fused_multiply_add_in_the_integrator(backend: &impl Backend, level: Level) {
    if level == crate::levels::F64_EXPLAINED {
        crate::levels::not_applicable(
            "the f64 level is for implementations that do not follow Q2's operation order; \
             the count this input changes lies within 4.5e-16 of an integer, which C2 explains \
             at that level (Q2)",
        );
    }
    let precision = match level {
        Level::Exact => 53,
        Level::Explained { .. } => 24,
        // A fixed-point backend has its own arithmetic (section H); nothing to check here.
        Level::Bounded { .. } | Level::FixedPoint { .. } => return,
    };
    let spacing = 2f64.powi(-(precision - 2));
    let rate = 1.0 - 2f64.powi(-precision);
    let inputs = Tensor2::from_row_major(1, 1, vec![rate]).expect("1 x 1");
    let run = backend
        .quantize(Activation::Identity, 3.0, 1.0, &inputs, &[0.375 * spacing])
        .expect("valid quantizer input");
    assert_eq!(
        run.integrator,
        vec![3.0 - spacing],
        "u must be fl(v + fl(dt * r)), rounded twice"
    );
    assert_eq!(run.counts, vec![2], "a fused multiply-add would count 3");
    assert_eq!(run.final_state, vec![1.0 - spacing]);
}

/// Q2 (libm): the quantizer's `tanh` is faithfully rounded. One step at dt 1 from `v_0 = 0`
/// makes the integrator `w = 0 + 1 * tanh(x) = tanh(x)` exactly, so the recorded integrator
/// is the implementation's tanh; 1024 neurons in one row (a vectorized tanh may differ from a
/// scalar one), x from 0.01 to 19. Each must lie within 2 ulp of the platform libm's tanh,
/// which is within an ulp of the exact value: two faithful results differ by at most one.
/// At the f32 levels each value is held to the level's bound on reals instead (their ulp bound
/// is q5_tanh_is_accurate_to_a_few_ulps); the f64 level admits a tanh that is not faithful
/// (Q2), so it is `n/a` there, and so is fixed point, whose tanh is a table (H6).
pub fn q2_tanh_is_faithfully_rounded(backend: &impl Backend, level: Level) {
    match level {
        Level::Exact | Level::Explained { .. } | Level::Bounded { .. }
            if level != crate::levels::F64_EXPLAINED => {}
        _ => crate::levels::not_applicable(
            "faithful rounding of tanh is asked at the exact level only; the f64 level admits \
             a tanh that is not faithful and f32 and fixed point have their own bounds (Q2, H6)",
        ),
    }
    let neurons = 1024;
    let inputs: Vec<f64> = (0..neurons)
        .map(|k| 0.01 + 18.99 * (k as f64 / (neurons - 1) as f64).powi(2))
        .collect();
    let row = Tensor2::from_row_major(1, neurons, inputs.clone()).expect("1 x 1024");
    let run = backend
        .quantize(Activation::Tanh, 1.0, 1.0, &row, &vec![0.0; neurons])
        .expect("valid quantizer input");
    if level != Level::Exact {
        // Binary32 and bounded levels: each value within the level's own bound on reals.
        crate::levels::assert_reals_agree(
            level,
            "tanh read from the integrator",
            &inputs.iter().map(|x| x.tanh()).collect::<Vec<_>>(),
            &run.integrator,
        );
        return;
    }
    for (index, (&x, &got)) in inputs.iter().zip(&run.integrator).enumerate() {
        let expected = x.tanh();
        // The spacing of binary64 numbers above |tanh(x)|.
        let ulp = f64::from_bits(expected.abs().to_bits() + 1) - expected.abs();
        let ulps = (got - expected).abs() / ulp;
        assert!(
            ulps <= 2.0,
            "tanh({x:e}) = {got:e}, {ulps:.0} ulp from libm's {expected:e} (neuron {index} of \
             a row of {neurons}): not faithfully rounded (Q2)"
        );
    }
}

/// Q2: sequences derived by hand, where every intermediate value is exact in binary floating
/// point, so every backend must produce them exactly.
pub fn q2_hand_derived_sequences(backend: &impl Backend, level: Level) {
    struct Case {
        activation: Activation,
        dt: f64,
        amplitude: f64,
        initial_state: f64,
        inputs: Vec<f64>,
        counts: Vec<i64>,
        outputs: Vec<f64>,
        final_state: f64,
    }
    let cases = [
        // identity, dt 1, v0 0, x = -0.25 each step:
        // u = -0.25 -> n = -1, v = 0.75; u = 0.5 -> 0, v = 0.5; u = 0.25 -> 0; u = 0 -> 0, v = 0;
        // u = -0.25 -> -1, v = 0.75. Sum n = -2 = 5 * -0.25 + 0 - 0.75.
        Case {
            activation: Activation::Identity,
            dt: 1.0,
            amplitude: 1.0,
            initial_state: 0.0,
            inputs: vec![-0.25; 5],
            counts: vec![-1, 0, 0, 0, -1],
            outputs: vec![-1.0, 0.0, 0.0, 0.0, -1.0],
            final_state: 0.75,
        },
        // identity, dt 0.5, amplitude 2, v0 0.5, x = 1.5, 1, 0.5, 3:
        // dt*r = 0.75, 0.5, 0.25, 1.5. u = 1.25 -> n 1, v .25; u = .75 -> 0; u = 1.0 -> 1, v 0;
        // u = 1.5 -> 1, v .5. a = 2 n / 0.5 = 4 n.
        Case {
            activation: Activation::Identity,
            dt: 0.5,
            amplitude: 2.0,
            initial_state: 0.5,
            inputs: vec![1.5, 1.0, 0.5, 3.0],
            counts: vec![1, 0, 1, 1],
            outputs: vec![4.0, 0.0, 4.0, 4.0],
            final_state: 0.5,
        },
        // relu, dt 4, v0 0.25, x = 0.625, -3, 1.25: dt*r = 2.5, 0, 5.
        // u = 2.75 -> 2, v .75; u = .75 -> 0; u = 5.75 -> 5, v .75. a = n / 4.
        Case {
            activation: Activation::Relu,
            dt: 4.0,
            amplitude: 1.0,
            initial_state: 0.25,
            inputs: vec![0.625, -3.0, 1.25],
            counts: vec![2, 0, 5],
            outputs: vec![0.5, 0.0, 1.25],
            final_state: 0.75,
        },
        // tanh, dt 8, v0 0, x = 0: tanh(0) = 0 exactly, so nothing happens; x = -40: tanh
        // rounds to -1 in f64, dt*r = -8, u = -8 -> n = -8, v = 0.
        Case {
            activation: Activation::Tanh,
            dt: 8.0,
            amplitude: 1.0,
            initial_state: 0.0,
            inputs: vec![0.0, -40.0],
            counts: vec![0, -8],
            outputs: vec![0.0, -1.0],
            final_state: 0.0,
        },
        // The carry rule (Q2), compared exactly at every level: identity, dt 1, v0 0,
        // x = -1e-20: w = -1e-20, floor(w) = -1 and w + 1 rounds to 1.0, so the carry rule
        // counts 0 and restarts from v = 0; x = 0 then leaves everything at 0. Without the
        // rule the counts are -1 then +1 (the delayed spike) and v = 1.0 in between.
        // Rounding never explains this difference: it is a rule, not an operation order.
        Case {
            activation: Activation::Identity,
            dt: 1.0,
            amplitude: 1.0,
            initial_state: 0.0,
            inputs: vec![-1e-20, 0.0],
            counts: vec![0, 0],
            outputs: vec![0.0, 0.0],
            final_state: 0.0,
        },
    ];
    for (number, case) in cases.iter().enumerate() {
        let inputs = Tensor2 {
            rows: case.inputs.len(),
            cols: 1,
            data: case.inputs.clone(),
        };
        let result = backend
            .quantize(
                case.activation,
                case.dt,
                case.amplitude,
                &inputs,
                &[case.initial_state],
            )
            .expect("valid problem");
        assert_eq!(
            result.counts, case.counts,
            "case {number} ({:?}, dt {}, inputs {:?}): counts",
            case.activation, case.dt, case.inputs
        );
        crate::levels::assert_reals_agree(
            level,
            &format!("case {number} outputs"),
            &case.outputs,
            &result.outputs,
        );
        crate::levels::assert_reals_agree(
            level,
            &format!("case {number} final state"),
            &[case.final_state],
            &result.final_state,
        );
    }
}
