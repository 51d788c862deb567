//! Golden vectors (SPEC.md clause C4): generated from the reference, committed as
//! `spec/vectors/hsnn-golden-v2.json`, and reproduced by every backend at its level. The
//! version 1 file stays committed beside it: its cases are version 2's first ones, and a test
//! keeps it passing.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use hsnn_reference::ReferenceBackend;
use hsnn_spec::vectors::{
    GoldenVectors, LmuCase, NetworkCase, QuantizerCase, VECTORS_FORMAT, VECTORS_FORMAT_VERSION,
    VECTORS_FORMAT_VERSIONS,
};
use hsnn_spec::{
    model::parse_versioned_among, Activation, Backend, Discretizer, ForwardOptions, HsnnError,
    QuantizedSite, QuantizerPlacement, Result, Tensor2, TraceLevel,
};

use crate::levels::{
    assert_reals_agree, assert_tensors_agree, compare_counts, Level, NOT_SUPPORTED,
};
use crate::network::{small_batch, small_model, values};

/// Path of the committed golden-vector file, relative to the workspace root.
pub const GOLDEN_PATH: &str = "spec/vectors/hsnn-golden-v2.json";

/// The committed golden-vector file, compiled in so the check runs from any directory.
pub const GOLDEN_JSON: &str = include_str!("../../spec/vectors/hsnn-golden-v2.json");

/// The version 1 file, as committed before the memory-state site existed.
pub const GOLDEN_V1_JSON: &str = include_str!("../../spec/vectors/hsnn-golden-v1.json");

fn quantizer_cases(backend: &impl Backend) -> Result<Vec<QuantizerCase>> {
    let mut cases = Vec::new();
    let settings = [
        ("tanh_spiking_dt_0.05", Activation::Tanh, 0.05, 1.0, 4.0),
        ("tanh_dt_1", Activation::Tanh, 1.0, 1.0, 3.0),
        ("tanh_multibit_dt_3.7", Activation::Tanh, 3.7, 1.0, 3.0),
        ("relu_dt_2.5_amplitude_0.5", Activation::Relu, 2.5, 0.5, 2.0),
        ("identity_dt_50", Activation::Identity, 50.0, 1.0, 1.5),
        (
            "identity_dt_0.3_amplitude_2",
            Activation::Identity,
            0.3,
            2.0,
            6.0,
        ),
    ];
    for (index, (name, activation, dt, amplitude, input_scale)) in settings.into_iter().enumerate()
    {
        let (steps, neurons) = (24, 3);
        let inputs = Tensor2::from_row_major(
            steps,
            neurons,
            values(1000 + index as u64, steps * neurons, input_scale),
        )?;
        let initial_state: Vec<f64> = values(2000 + index as u64, neurons, 1.0)
            .iter()
            .map(|value| value.abs() * 0.999)
            .collect();
        let expected = backend.quantize(activation, dt, amplitude, &inputs, &initial_state)?;
        cases.push(QuantizerCase {
            name: name.into(),
            activation,
            dt,
            amplitude,
            initial_state,
            inputs,
            expected,
        });
    }
    // The carry rule of clause Q2: tiny negative integrator values.
    let inputs = Tensor2::from_row_major(3, 2, vec![-1e-20, -1e-17, -1e-300, 0.0, 1e-16, -2.0])?;
    let expected = backend.quantize(Activation::Identity, 1.0, 1.0, &inputs, &[0.0, 0.0])?;
    cases.push(QuantizerCase {
        name: "identity_carry_rule".into(),
        activation: Activation::Identity,
        dt: 1.0,
        amplitude: 1.0,
        initial_state: vec![0.0, 0.0],
        inputs,
        expected,
    });
    Ok(cases)
}

fn lmu_cases(backend: &impl Backend) -> Result<Vec<LmuCase>> {
    let mut cases = Vec::new();
    for (order, theta, discretizer) in [
        (1, 1.0, Discretizer::ZeroOrderHold),
        (4, 10.0, Discretizer::ZeroOrderHold),
        (4, 10.0, Discretizer::Euler),
        (12, 30.5, Discretizer::ZeroOrderHold),
        (32, 784.0, Discretizer::ZeroOrderHold),
    ] {
        let mut config = hsnn_spec::NetworkConfig::psmnist().lmu;
        config.order = order;
        config.theta = theta;
        config.discretizer = discretizer;
        let matrices = backend.lmu_matrices(&config)?;
        let kind = match discretizer {
            Discretizer::ZeroOrderHold => "zoh",
            Discretizer::Euler => "euler",
        };
        cases.push(LmuCase {
            name: format!("{kind}_order_{order}_theta_{theta}"),
            order,
            theta,
            discretizer,
            a_bar: matrices.a_bar,
            b_bar: matrices.b_bar,
        });
    }
    Ok(cases)
}

/// The network cases of C4 (name, activation, placement, dt); case `i` uses
/// `small_model(300 + i, ...)` and `small_batch(.., 400 + i, 2, 16)`. The fixed-point golden
/// vectors convert the same models.
pub const NETWORK_CASES: [(&str, Activation, QuantizerPlacement, f64); 7] = [
    (
        "tanh_non_spiking",
        Activation::Tanh,
        QuantizerPlacement::NONE,
        1.0,
    ),
    (
        "tanh_hidden_spiking_dt_1",
        Activation::Tanh,
        QuantizerPlacement::HIDDEN,
        1.0,
    ),
    (
        "tanh_hidden_multibit_dt_6",
        Activation::Tanh,
        QuantizerPlacement::HIDDEN,
        6.0,
    ),
    (
        "relu_memory_input_spiking_dt_2",
        Activation::Relu,
        QuantizerPlacement::MEMORY_INPUT,
        2.0,
    ),
    (
        "tanh_both_spiking_dt_3",
        Activation::Tanh,
        QuantizerPlacement::BOTH,
        3.0,
    ),
    // Version 2: the memory state alone, then every site at once.
    (
        "tanh_memory_state_spiking_dt_2",
        Activation::Tanh,
        QuantizerPlacement::only(QuantizedSite::MemoryState),
        2.0,
    ),
    (
        "relu_every_site_spiking_dt_3",
        Activation::Relu,
        QuantizerPlacement::BOTH.with(QuantizedSite::MemoryState),
        3.0,
    ),
];

fn network_cases(backend: &impl Backend) -> Result<Vec<NetworkCase>> {
    let mut cases = Vec::new();
    for (index, (name, activation, placement, dt)) in NETWORK_CASES.into_iter().enumerate() {
        let model = small_model(300 + index as u64, activation, placement, dt);
        let inputs = small_batch(&model, 400 + index as u64, 2, 16);
        let output = backend.forward(
            &model,
            &inputs,
            &ForwardOptions {
                trace: TraceLevel::Full,
            },
        )?;
        let metrics = hsnn_reference::metrics::bit_metrics(&output.trace)?;
        cases.push(NetworkCase {
            name: name.into(),
            model,
            inputs,
            logits: output.logits,
            trace: output.trace,
            metrics,
        });
    }
    Ok(cases)
}

/// Generates the golden vectors from the reference backend (clause C4).
pub fn generate() -> Result<GoldenVectors> {
    let backend = ReferenceBackend;
    Ok(GoldenVectors {
        format: VECTORS_FORMAT.into(),
        format_version: VECTORS_FORMAT_VERSION,
        generator: format!(
            "hsnn-conformance {} from the reference backend",
            env!("CARGO_PKG_VERSION")
        ),
        quantizer: quantizer_cases(&backend)?,
        lmu: lmu_cases(&backend)?,
        network: network_cases(&backend)?,
    })
}

/// The golden vectors as the JSON text that is committed.
pub fn generate_json() -> Result<String> {
    let vectors = generate()?;
    serde_json::to_string_pretty(&vectors)
        .map(|text| text + "\n")
        .map_err(|error| HsnnError::Parse {
            what: "golden vectors".into(),
            reason: error.to_string(),
        })
}

/// Parses a golden-vector file, checking its format tag and version before the rest, so a
/// file of another version says so instead of failing on its schema (clause E2).
pub fn parse(text: &str) -> Result<GoldenVectors> {
    parse_versioned_among(
        text,
        "golden vectors",
        VECTORS_FORMAT,
        &VECTORS_FORMAT_VERSIONS,
    )
}

/// Clause C2 for a quantizer case: each neuron is its own sequence, so its first count
/// difference must lie where the reference integrator is within `integer_distance` of an
/// integer.
fn check_quantizer_case_explained(case: &QuantizerCase, counts: &[i64], integer_distance: f64) {
    let neurons = case.inputs.cols;
    for neuron in 0..neurons {
        let first_difference = (0..case.inputs.rows)
            .map(|step| step * neurons + neuron)
            .find(|&index| counts[index] != case.expected.counts[index]);
        if let Some(index) = first_difference {
            let integrator = case.expected.integrator[index];
            assert!(
                !crate::levels::is_carry_step(integrator),
                "quantizer case {}: neuron {neuron} counts {} at step {} where the reference \
                 integrator {integrator:e} is a carry step (Q2: the count is {}); rounding \
                 does not explain a missing carry rule",
                case.name,
                counts[index],
                index / neurons,
                case.expected.counts[index]
            );
            assert!(
                (integrator - integrator.round()).abs() <= integer_distance,
                "quantizer case {}: neuron {neuron} differs at step {} where the reference \
                 integrator {integrator} is not within {integer_distance} of an integer",
                case.name,
                index / neurons
            );
        }
    }
}

/// Checks `backend` against `vectors` at `level`, panicking with the case name on the first
/// disagreement (clause C4): the quantizer, Legendre and network families in turn.
pub fn check_against(backend: &impl Backend, level: Level, vectors: &GoldenVectors) {
    check_quantizer_family(backend, level, vectors);
    check_lmu_family(backend, level, vectors);
    check_network_family(backend, level, vectors);
}

/// Runs `check` on each case of one family of C4 on its own: a case the implementation
/// declines as outside what it supports (a port's `NotSupported`, SPEC.md clause C6) is set
/// aside and the others are still checked. A failure ends the check at once; if any case
/// was declined, the check ends `not supported`, saying how many cases held.
fn each_case<C>(family: &str, cases: &[C], mut check: impl FnMut(&C)) {
    let mut declined = Vec::new();
    for case in cases {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| check(case))) {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or_default();
            match message.strip_prefix(NOT_SUPPORTED) {
                Some(reason) => declined.push(reason.to_string()),
                None => resume_unwind(payload),
            }
        }
    }
    if let Some(reason) = declined.first() {
        panic!(
            "{NOT_SUPPORTED}{reason}; {} of {} {family} cases declined, the other {} held",
            declined.len(),
            cases.len(),
            cases.len() - declined.len()
        );
    }
}

/// C4's quantizer cases of `vectors` on `backend` at `level`.
pub fn check_quantizer_family(backend: &impl Backend, level: Level, vectors: &GoldenVectors) {
    each_case("quantizer", &vectors.quantizer, |case| {
        let result = backend
            .quantize(
                case.activation,
                case.dt,
                case.amplitude,
                &case.inputs,
                &case.initial_state,
            )
            .unwrap_or_else(|error| panic!("quantizer case {}: {error}", case.name));
        if let Level::Explained {
            integer_distance, ..
        } = level
        {
            check_quantizer_case_explained(case, &result.counts, integer_distance);
        }
        if level == Level::Exact {
            assert_eq!(
                result.counts, case.expected.counts,
                "quantizer case {}: counts",
                case.name
            );
            assert_reals_agree(
                level,
                &format!("{} outputs", case.name),
                &case.expected.outputs,
                &result.outputs,
            );
            assert_reals_agree(
                level,
                &format!("{} integrator", case.name),
                &case.expected.integrator,
                &result.integrator,
            );
            assert_reals_agree(
                level,
                &format!("{} final state", case.name),
                &case.expected.final_state,
                &result.final_state,
            );
        }
    });
}

/// C4's Legendre cases of `vectors` on `backend` at `level`.
pub fn check_lmu_family(backend: &impl Backend, level: Level, vectors: &GoldenVectors) {
    each_case("Legendre", &vectors.lmu, |case| {
        let mut config = hsnn_spec::NetworkConfig::psmnist().lmu;
        config.order = case.order;
        config.theta = case.theta;
        config.discretizer = case.discretizer;
        let matrices = backend
            .lmu_matrices(&config)
            .unwrap_or_else(|error| panic!("lmu case {}: {error}", case.name));
        let matrix_level = match level {
            Level::Exact => Level::Exact,
            Level::FixedPoint { .. } => Level::Bounded {
                absolute: crate::levels::FIXED_POINT_MATRIX,
            },
            _ => Level::Bounded { absolute: 1e-6 },
        };
        assert_tensors_agree(
            matrix_level,
            &format!("{} Abar", case.name),
            &case.a_bar,
            &matrices.a_bar,
        );
        assert_tensors_agree(
            matrix_level,
            &format!("{} Bbar", case.name),
            &case.b_bar,
            &matrices.b_bar,
        );
    });
}

/// C4's network cases of `vectors` on `backend` at `level`.
pub fn check_network_family(backend: &impl Backend, level: Level, vectors: &GoldenVectors) {
    if let Level::FixedPoint { .. } = level {
        crate::levels::not_applicable(
            "the golden network cases are f64 trajectories (C4), which a spiking fixed-point \
             run leaves at its first count flip; the fixed-point network has its own vectors, \
             spec/vectors/hsnn-golden-fixed-v2.json, checked bit for bit (H12); its \
             quantizer cases run and its Legendre matrices are compared within 2^-16 in the \
             other C4 checks",
        );
    }
    each_case("network", &vectors.network, |case| {
        let output = backend
            .forward(
                &case.model,
                &case.inputs,
                &ForwardOptions {
                    trace: TraceLevel::Full,
                },
            )
            .unwrap_or_else(|error| panic!("network case {}: {error}", case.name));
        match level {
            Level::Exact => {
                for (expected, got) in case.trace.sites.iter().zip(&output.trace.sites) {
                    assert_eq!(
                        expected.counts, got.counts,
                        "network case {}: {:?} counts",
                        case.name, expected.site
                    );
                }
                assert_eq!(case.trace.sites.len(), output.trace.sites.len());
                assert_tensors_agree(
                    level,
                    &format!("{} logits", case.name),
                    &case.logits,
                    &output.logits,
                );
                assert_reals_agree(
                    level,
                    &format!("{} hidden", case.name),
                    &case.trace.hidden,
                    &output.trace.hidden,
                );
                let metrics = hsnn_reference::metrics::bit_metrics(&output.trace)
                    .unwrap_or_else(|error| panic!("network case {}: {error}", case.name));
                assert_eq!(
                    metrics, case.metrics,
                    "network case {}: bit metrics",
                    case.name
                );
            }
            Level::Explained {
                integer_distance, ..
            } => {
                let comparison = compare_counts(&case.trace, &output.trace, integer_distance);
                assert!(
                    comparison.unexplained.is_empty(),
                    "network case {}: unexplained count differences {:?}",
                    case.name,
                    comparison.unexplained
                );
                let diverged = comparison.diverged;
                for sample in (0..case.inputs.batch).filter(|sample| !diverged.contains(sample)) {
                    assert_reals_agree(
                        level,
                        &format!("{} logits of sample {sample}", case.name),
                        case.logits.row(sample),
                        output.logits.row(sample),
                    );
                }
            }
            Level::Bounded { .. } | Level::FixedPoint { .. } => {
                assert_tensors_agree(
                    level,
                    &format!("{} logits", case.name),
                    &case.logits,
                    &output.logits,
                );
            }
        }
    });
}

/// Asserts that two lists of reals are the same to the bit (clause C1 where no libm function is
/// involved).
pub fn assert_reals_identical(what: &str, expected: &[f64], candidate: &[f64]) {
    assert_eq!(expected.len(), candidate.len(), "{what}: lengths differ");
    for (index, (wanted, got)) in expected.iter().zip(candidate).enumerate() {
        assert!(
            wanted.to_bits() == got.to_bits(),
            "{what}[{index}]: expected exactly {wanted:e}, got {got:e}"
        );
    }
}

/// Asserts that two golden-vector files pose the same problems (inputs identical) and agree
/// on every expected result at the exact level (clause C1): counts identical, reals within
/// 1e-12 relative where libm is involved (tanh, the matrix exponential), identical to the
/// bit in the quantizer cases without tanh. Used to check that the committed file is what the reference generates now,
/// allowing last-bit differences of another platform's libm.
pub fn assert_vectors_agree(committed: &GoldenVectors, regenerated: &GoldenVectors) {
    let level = Level::Exact;
    assert_eq!(
        committed.quantizer.len(),
        regenerated.quantizer.len(),
        "quantizer cases"
    );
    for (old, new) in committed.quantizer.iter().zip(&regenerated.quantizer) {
        assert_eq!(
            (
                &old.name,
                old.activation,
                old.dt,
                old.amplitude,
                &old.initial_state,
                &old.inputs
            ),
            (
                &new.name,
                new.activation,
                new.dt,
                new.amplitude,
                &new.initial_state,
                &new.inputs
            ),
            "quantizer case {}: inputs changed",
            old.name
        );
        assert_eq!(
            old.expected.counts, new.expected.counts,
            "quantizer case {}: counts",
            old.name
        );
        // With a linear activation (identity, relu: clause H6's linear form) a quantizer run is
        // only +, *, /, max and floor (clause Q2), which IEEE 754 rounds the same on every
        // platform: those values must agree to the bit, so that a fused multiply-add or a
        // reordered sum cannot hide under the tolerance. With a transcendental one (tanh),
        // libm's last digit may differ between platforms.
        let exact = matches!(
            old.activation.properties().fixed_point,
            hsnn_spec::FixedPointForm::Linear { .. }
        );
        for (what, old_values, new_values) in [
            ("outputs", &old.expected.outputs, &new.expected.outputs),
            (
                "integrator",
                &old.expected.integrator,
                &new.expected.integrator,
            ),
            (
                "final_state",
                &old.expected.final_state,
                &new.expected.final_state,
            ),
        ] {
            let name = format!("quantizer case {} {what}", old.name);
            if exact {
                assert_reals_identical(&name, old_values, new_values);
            } else {
                assert_reals_agree(level, &name, old_values, new_values);
            }
        }
    }
    assert_eq!(committed.lmu.len(), regenerated.lmu.len(), "lmu cases");
    for (old, new) in committed.lmu.iter().zip(&regenerated.lmu) {
        assert_eq!(
            (&old.name, old.order, old.theta, old.discretizer),
            (&new.name, new.order, new.theta, new.discretizer),
            "lmu case {}: inputs changed",
            old.name
        );
        assert_tensors_agree(level, &old.name, &old.a_bar, &new.a_bar);
        assert_tensors_agree(level, &old.name, &old.b_bar, &new.b_bar);
    }
    assert_eq!(
        committed.network.len(),
        regenerated.network.len(),
        "network cases"
    );
    for (old, new) in committed.network.iter().zip(&regenerated.network) {
        assert_eq!(
            (&old.name, &old.model, &old.inputs),
            (&new.name, &new.model, &new.inputs),
            "network case {}: inputs changed",
            old.name
        );
        assert_tensors_agree(level, &old.name, &old.logits, &new.logits);
        assert_reals_agree(level, &old.name, &old.trace.hidden, &new.trace.hidden);
        assert_eq!(old.trace.sites.len(), new.trace.sites.len());
        for (old_site, new_site) in old.trace.sites.iter().zip(&new.trace.sites) {
            assert_eq!(
                old_site.counts, new_site.counts,
                "network case {}: counts",
                old.name
            );
            assert_reals_agree(level, &old.name, &old_site.integrator, &new_site.integrator);
        }
        assert_eq!(old.trace.dt, new.trace.dt, "network case {}: dt", old.name);
        assert_eq!(
            old.metrics.sites.len(),
            new.metrics.sites.len(),
            "network case {}: metric sites",
            old.name
        );
        for (old_metrics, new_metrics) in old.metrics.sites.iter().zip(&new.metrics.sites) {
            assert_eq!(
                (
                    old_metrics.site,
                    old_metrics.neurons,
                    old_metrics.max_abs_count
                ),
                (
                    new_metrics.site,
                    new_metrics.neurons,
                    new_metrics.max_abs_count
                ),
                "{}: metric site",
                old.name
            );
            assert_eq!(
                old_metrics.histogram, new_metrics.histogram,
                "{}: histogram",
                old.name
            );
            assert_eq!(
                old_metrics.events, new_metrics.events,
                "{}: events",
                old.name
            );
            let reals = |metrics: &hsnn_spec::SiteMetrics| {
                [
                    metrics.activity_bits,
                    metrics.activity_bits_signed,
                    metrics.mean_significant_bits,
                    metrics.mean_popcount,
                    metrics.nonzero_fraction,
                ]
            };
            assert_reals_agree(level, &old.name, &reals(old_metrics), &reals(new_metrics));
        }
    }
}

/// Every family of `vectors` (quantizer, Legendre, network) reproduced by `backend` at
/// `level`: how a file of any version read by [`parse`] is checked.
pub fn check_vectors(backend: &impl Backend, level: Level, vectors: &GoldenVectors) {
    check_quantizer_family(backend, level, vectors);
    check_lmu_family(backend, level, vectors);
    check_network_family(backend, level, vectors);
}

fn committed_vectors() -> GoldenVectors {
    let vectors = parse(GOLDEN_JSON).expect("the committed golden vectors parse");
    assert!(
        !vectors.quantizer.is_empty() && !vectors.lmu.is_empty() && !vectors.network.is_empty()
    );
    vectors
}

/// C4: the backend reproduces the golden quantizer cases at its level (a port that implements
/// only the quantizer is checked on them alone).
pub fn c4_golden_quantizer_cases(backend: &impl Backend, level: Level) {
    check_quantizer_family(backend, level, &committed_vectors());
}

/// C4: the backend reproduces the golden Legendre cases (Abar, Bbar) at its level.
pub fn c4_golden_legendre_cases(backend: &impl Backend, level: Level) {
    check_lmu_family(backend, level, &committed_vectors());
}

/// C4: the backend reproduces the golden network cases (counts, logits, the trace's hidden
/// values, the bit metrics) at its level.
pub fn c4_golden_network_cases(backend: &impl Backend, level: Level) {
    check_network_family(backend, level, &committed_vectors());
}
