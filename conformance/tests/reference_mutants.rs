//! Tests that kill the mutants cargo-mutants found missed in the reference backend's math
//! modules (docs/mutants/hsnn-reference.md lists every mutant and what kills it). Each test is
//! named after the clause it verifies; its expected values are derived by hand in its doc
//! comment, never by running the code under test.

use hsnn_conformance::network::small_model;
use hsnn_reference::metrics::{bit_metrics, SiteMetricsAccumulator};
use hsnn_reference::network::PreparedNetwork;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{
    Activation, Backend, HsnnError, QuantizedSite, QuantizerPlacement, SiteTrace, Tensor2, Trace,
};

/// `2^52`, the integrator magnitude from which clause Q2 refuses a step.
const TWO_POW_52: f64 = 4_503_599_627_370_496.0;

/// Q2 (limit 2^52): a *finite* integrator value at or beyond 2^52 in magnitude is an error
/// that mentions 2^52, and one just below is counted exactly. By hand, identity, dt 1,
/// alpha 1, `v_0 = 0` unless stated (every value below is an integer or a half-integer below
/// 2^53, so exact in binary64):
///
/// - `x = 2^52`: `u = 2^52`, at the limit: error.
/// - `x = -2^52`: `u = -2^52`: error.
/// - dt `2^26`, `x = 2^26`: `p = 2^52` exactly, `u = 2^52`: error.
/// - `v_0 = 0.5`, `x = 2^52 - 0.5` (a multiple of the spacing 0.5 of [2^51, 2^52)):
///   `u = 2^52` exactly: error, so the limit applies to `u`, not to `p`.
/// - `x = 2^52 - 1`: `u = 2^52 - 1`, below the limit: `n = 2^52 - 1`, `v = 0`.
///
/// (The existing E1 test overflows to infinity, which a check of finiteness alone refuses.)
#[test]
fn q2_finite_integrator_at_or_beyond_2_pow_52_is_refused() {
    let backend = ReferenceBackend;
    let refused = [
        (1.0, 0.0, TWO_POW_52),
        (1.0, 0.0, -TWO_POW_52),
        (67_108_864.0, 0.0, 67_108_864.0),
        (1.0, 0.5, TWO_POW_52 - 0.5),
    ];
    for (dt, initial_state, x) in refused {
        let inputs = Tensor2::from_row_major(1, 1, vec![x]).expect("1 x 1");
        let error = backend
            .quantize(Activation::Identity, dt, 1.0, &inputs, &[initial_state])
            .expect_err("an integrator of magnitude 2^52 must be refused");
        assert!(
            error.to_string().contains("2^52"),
            "dt {dt}, v0 {initial_state}, x {x}: {error}"
        );
    }
    let inputs = Tensor2::from_row_major(1, 1, vec![TWO_POW_52 - 1.0]).expect("1 x 1");
    let run = backend
        .quantize(Activation::Identity, 1.0, 1.0, &inputs, &[0.0])
        .expect("2^52 - 1 is below the limit");
    assert_eq!(run.counts, vec![4_503_599_627_370_495]);
    assert_eq!(run.integrator, vec![TWO_POW_52 - 1.0]);
    assert_eq!(run.final_state, vec![0.0]);
}

/// N5 (`quantize`): a run over zero neurons is valid and gives empty `steps x 0` buffers and
/// an empty final state; zero steps give empty buffers and `v_T = v_0`. Follows from the
/// layout of N5 alone (`steps x neurons` values, one final state per neuron).
#[test]
fn n5_quantize_over_zero_neurons_or_steps_returns_empty_buffers() {
    let backend = ReferenceBackend;
    let run = backend
        .quantize(Activation::Tanh, 1.0, 1.0, &Tensor2::zeros(3, 0), &[])
        .expect("3 steps of no neurons is a valid problem");
    assert!(run.counts.is_empty() && run.outputs.is_empty() && run.integrator.is_empty());
    assert!(run.final_state.is_empty());
    let run = backend
        .quantize(
            Activation::Tanh,
            1.0,
            1.0,
            &Tensor2::zeros(0, 2),
            &[0.25, 0.5],
        )
        .expect("no steps of 2 neurons is a valid problem");
    assert!(run.counts.is_empty() && run.outputs.is_empty() && run.integrator.is_empty());
    assert_eq!(run.final_state, vec![0.25, 0.5]);
}

fn hidden_trace(neurons: usize, counts: Vec<i64>) -> SiteTrace {
    SiteTrace {
        site: QuantizedSite::Hidden,
        activation: Activation::Tanh,
        batch: 1,
        steps: counts.len() / neurons,
        neurons,
        fan_out: vec![2; neurons],
        fan_out_last_step: vec![1; neurons],
        counts: counts.into(),
        integrator: Vec::new(),
        tally: None,
    }
}

/// B5: an accumulator refuses a trace of another site even with the same number of neurons,
/// and a trace in which only one of the two fan-out lists is not one value per neuron (the
/// other being right) is an error, whichever of the two is wrong. Clause B5 makes each of
/// these an error on its own.
#[test]
fn b5_other_site_or_one_bad_fan_out_list_is_an_error() {
    let hidden = hidden_trace(2, vec![1, 0, 0, 1]);
    let mut accumulator = SiteMetricsAccumulator::new(&hidden);
    let mut memory_input = hidden.clone();
    memory_input.site = QuantizedSite::MemoryInput;
    memory_input.activation = Activation::Identity;
    let error = accumulator
        .add(&memory_input)
        .expect_err("a memory-input trace added to a hidden-site accumulator");
    assert!(error.to_string().contains("MemoryInput"), "{error}");

    let mut short_last = hidden.clone();
    short_last.fan_out_last_step = vec![1];
    let mut short_other = hidden.clone();
    short_other.fan_out = vec![2, 2, 2];
    for (name, trace) in [("last step", short_last), ("other steps", short_other)] {
        let error = bit_metrics(&Trace {
            dt: 1.0,
            sites: vec![trace],
            hidden: Vec::new(),
        })
        .expect_err(name);
        assert!(error.to_string().contains("fan-out"), "{name}: {error}");
    }
}

/// E1 (and N1: T >= 1): `PreparedNetwork::simulate`, public and called on its own by
/// training and tools, refuses a sequence of zero steps and inputs whose length is not
/// `steps * input_size`, too long as well as too short, with a shape error instead of a
/// result or a panic. The small model has `input_size = 2`, so 3 steps need 6 values.
#[test]
fn e1_simulate_refuses_zero_steps_and_a_wrong_input_length() {
    let model = small_model(3, Activation::Tanh, QuantizerPlacement::HIDDEN, 2.0);
    let network = PreparedNetwork::new(&model).expect("valid model");
    let valid = vec![0.25; 6];
    network
        .simulate(&valid, 3, 0)
        .expect("3 steps of 2 inputs is valid");
    for (inputs, steps) in [(Vec::new(), 0), (vec![0.25; 2], 0), (vec![0.25; 7], 3)] {
        let length = inputs.len();
        let error = network
            .simulate(&inputs, steps, 0)
            .expect_err("a wrong sequence shape must be refused");
        assert!(
            matches!(error, HsnnError::ShapeMismatch { .. }),
            "{length} values for {steps} steps: {error:?}"
        );
    }
}

/// B1: the activity bits of a neuron are the bit length of its largest `|n|`, for the largest
/// magnitude an i64 count can have too: `|i64::MIN| = 2^63` takes 64 bits (found by the
/// mutation round: the accumulator used to convert the magnitude back to i64 and saturate it,
/// giving 63). A hand-made trace, since no forward pass emits such a count (Q2's 2^52 limit).
#[test]
fn b1_the_largest_magnitude_takes_64_bits() {
    let trace = hidden_trace(2, vec![i64::MIN, 3]);
    let mut accumulator = SiteMetricsAccumulator::new(&trace);
    accumulator.add(&trace).expect("a consistent trace");
    let metrics = accumulator.finish();
    assert_eq!(metrics.max_abs_count, 1u64 << 63);
    // Neuron 0: 64 bits; neuron 1: |3| takes 2 bits; mean 33, plus the sign bit of tanh.
    assert_eq!(metrics.activity_bits, 33.0);
    assert_eq!(metrics.activity_bits_signed, 34.0);
}
