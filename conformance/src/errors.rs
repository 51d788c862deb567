//! Bad input gives typed errors with messages a user understands, never a panic (SPEC.md
//! clauses E1, E2).

use hsnn_spec::{
    Activation, Backend, Discretizer, ForwardOptions, HsnnError, Model, QuantizerPlacement,
    SequenceBatch, Tensor2,
};

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::levels::{Level, NOT_IMPLEMENTED, NOT_SUPPORTED};
use crate::network::{small_batch, small_model};

/// Checks that `result`, the answer to `what` (the bad input, named in the failure), is an
/// error. On hsnn's own backends, also that its message holds every
/// fragment, and returns the error for further checks of its kind; on a port (SPEC.md clause
/// C6), whose wording and error kinds are its own, returns `None`.
fn expect_refusal<T>(
    backend: &impl Backend,
    what: &str,
    result: Result<T, HsnnError>,
    fragments: &[&str],
) -> Option<HsnnError> {
    let Err(error) = result else {
        panic!("{what} must be refused; the implementation answered it");
    };
    if backend.is_port() {
        return None;
    }
    Some(check_message(error, fragments))
}

/// On a port (SPEC.md clause C6), makes `valid`, the same request on valid input, first: if
/// the port declines it (`not supported`) or lacks the method (`not implemented`), the check
/// ends so, since refusing the bad input would then prove nothing about validation. Its
/// other outcomes (an answer, a refusal, an unreadable answer) are other checks' business.
/// On hsnn's own backends it does nothing.
fn supported<T>(backend: &impl Backend, valid: impl FnOnce() -> Result<T, HsnnError>) {
    if !backend.is_port() {
        return;
    }
    if let Err(payload) = catch_unwind(AssertUnwindSafe(valid)) {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with(NOT_SUPPORTED) || message.starts_with(NOT_IMPLEMENTED) {
            resume_unwind(payload);
        }
    }
}

fn check_message(error: HsnnError, fragments: &[&str]) -> HsnnError {
    let message = error.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "message {message:?} should mention {fragment:?}"
        );
    }
    error
}

/// hsnn's own file readers, which a port does not use: `result` is an error naming every
/// fragment.
fn expect_message(
    result: Result<impl std::fmt::Debug, HsnnError>,
    fragments: &[&str],
) -> HsnnError {
    check_message(result.expect_err("bad input must be rejected"), fragments)
}

/// E1: dt that is zero, negative, NaN or infinite is rejected, naming `dt`.
pub fn e1_quantizer_rejects_bad_dt(backend: &impl Backend, _level: Level) {
    let inputs = Tensor2::zeros(3, 1);
    supported(backend, || {
        backend.quantize(Activation::Tanh, 1.0, 1.0, &inputs, &[0.0])
    });
    for dt in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        if let Some(error) = expect_refusal(
            backend,
            &format!("quantize with dt {dt}"),
            backend.quantize(Activation::Tanh, dt, 1.0, &inputs, &[0.0]),
            &["dt", "greater than 0"],
        ) {
            assert!(
                matches!(error, HsnnError::InvalidConfig { .. }),
                "{error:?}"
            );
        }
    }
    let mut model = small_model(1, Activation::Tanh, QuantizerPlacement::HIDDEN, 1.0);
    let batch = small_batch(&model, 2, 1, 3);
    supported(backend, || {
        backend.forward(&model, &batch, &ForwardOptions::default())
    });
    for dt in [0.0, f64::NAN] {
        model.config.quantizer.dt = dt;
        expect_refusal(
            backend,
            &format!("forward with quantizer.dt {dt}"),
            backend.forward(&model, &batch, &ForwardOptions::default()),
            &["quantizer.dt"],
        );
    }
}

/// E1: initial states outside `[0, 1)`, of the wrong length, and non-finite inputs are
/// rejected.
pub fn e1_quantizer_rejects_bad_initial_state(backend: &impl Backend, _level: Level) {
    let inputs = Tensor2::zeros(3, 2);
    supported(backend, || {
        backend.quantize(Activation::Tanh, 1.0, 1.0, &inputs, &[0.0, 0.5])
    });
    expect_refusal(
        backend,
        "quantize with 1 initial state for 2 neurons",
        backend.quantize(Activation::Tanh, 1.0, 1.0, &inputs, &[0.0]),
        &["initial state", "2 values"],
    );
    expect_refusal(
        backend,
        "quantize with initial state 1.0",
        backend.quantize(Activation::Tanh, 1.0, 1.0, &inputs, &[0.0, 1.0]),
        &["[0, 1)"],
    );
    let mut bad_inputs = Tensor2::zeros(3, 2);
    bad_inputs.data[4] = f64::NAN;
    expect_refusal(
        backend,
        "quantize with a NaN input",
        backend.quantize(Activation::Tanh, 1.0, 1.0, &bad_inputs, &[0.0, 0.5]),
        &["non-finite", "index 4"],
    );
    expect_refusal(
        backend,
        "quantize with amplitude 0",
        backend.quantize(Activation::Tanh, 1.0, 0.0, &inputs, &[0.0, 0.5]),
        &["amplitude"],
    );
}

/// E1: order 0, an order beyond `MAX_ORDER` (refused before anything of its size is
/// allocated, E3) and theta that is not a positive finite number are rejected.
pub fn e1_lmu_rejects_bad_order_and_theta(backend: &impl Backend, _level: Level) {
    let model = small_model(1, Activation::Tanh, QuantizerPlacement::NONE, 1.0);
    supported(backend, || backend.lmu_matrices(&model.config.lmu));
    let mut config = model.config.lmu.clone();
    config.order = 0;
    expect_refusal(
        backend,
        "lmu_matrices with order 0",
        backend.lmu_matrices(&config),
        &["lmu.order", "at least 1"],
    );
    // A huge order is refused before order x order is allocated (E3): the process must not
    // abort. (hsnn's own limit, MAX_ORDER + 1, is checked on hsnn's backends only: a port
    // without a limit would spend hours on it.)
    let mut huge = model.config.lmu.clone();
    huge.order = (1 << 53) + 1;
    expect_refusal(
        backend,
        "lmu_matrices with order 2^53 + 1",
        backend.lmu_matrices(&huge),
        &["lmu.order"],
    );
    if !backend.is_port() {
        let mut above = model.config.lmu.clone();
        above.order = hsnn_spec::config::MAX_ORDER + 1;
        expect_refusal(
            backend,
            "lmu_matrices with order MAX_ORDER + 1",
            backend.lmu_matrices(&above),
            &["lmu.order", "largest order"],
        );
    }
    let mut euler = model.config.lmu.clone();
    euler.discretizer = Discretizer::Euler;
    supported(backend, || backend.lmu_matrices(&euler));
    let batch = small_batch(&model, 2, 1, 3);
    supported(backend, || {
        backend.forward(&model, &batch, &ForwardOptions::default())
    });
    for theta in [0.0, -3.0, f64::NAN, f64::INFINITY] {
        let mut config = model.config.lmu.clone();
        config.theta = theta;
        config.discretizer = Discretizer::Euler;
        expect_refusal(
            backend,
            &format!("lmu_matrices with theta {theta}"),
            backend.lmu_matrices(&config),
            &["lmu.theta"],
        );
        let mut bad = model.clone();
        bad.config.lmu.theta = theta;
        expect_refusal(
            backend,
            &format!("forward with lmu.theta {theta}"),
            backend.forward(&bad, &batch, &ForwardOptions::default()),
            &["lmu.theta"],
        );
    }
}

/// E1: weights whose shapes do not match the configuration, missing or superfluous optional
/// weights, and inputs with the wrong number of features are rejected, naming the tensor.
pub fn e1_forward_rejects_mismatched_shapes(backend: &impl Backend, _level: Level) {
    let model = small_model(1, Activation::Tanh, QuantizerPlacement::NONE, 1.0);
    let batch = small_batch(&model, 2, 2, 3);
    supported(backend, || {
        backend.forward(&model, &batch, &ForwardOptions::default())
    });

    let mut wrong_shape = model.clone();
    wrong_shape.weights.kernel_hidden = Tensor2::zeros(5, 4);
    if let Some(error) = expect_refusal(
        backend,
        "forward with kernel_hidden 5 x 4",
        backend.forward(&wrong_shape, &batch, &ForwardOptions::default()),
        &["weights.kernel_hidden", "5 x 5", "5 x 4"],
    ) {
        assert!(matches!(error, HsnnError::ShapeMismatch { .. }));
    }

    let mut missing = model.clone();
    missing.weights.encoder_hidden = None;
    expect_refusal(
        backend,
        "forward without encoder_hidden",
        backend.forward(&missing, &batch, &ForwardOptions::default()),
        &["encoder_hidden", "no tensor"],
    );

    let mut superfluous = model.clone();
    superfluous.config.lmu.connections.memory_to_memory = false;
    expect_refusal(
        backend,
        "forward with encoder_memory while memory_to_memory is off",
        backend.forward(&superfluous, &batch, &ForwardOptions::default()),
        &["encoder_memory", "disables"],
    );

    let mut short_data = model.clone();
    short_data.weights.readout_bias.data.pop();
    expect_refusal(
        backend,
        "forward with readout_bias one value short",
        backend.forward(&short_data, &batch, &ForwardOptions::default()),
        &["readout_bias"],
    );

    let wrong_features = SequenceBatch::new(2, 3, 3, vec![0.0; 18]).expect("consistent batch");
    expect_refusal(
        backend,
        "forward with 3 input features for lmu.input_size 2",
        backend.forward(&model, &wrong_features, &ForwardOptions::default()),
        &["features", "lmu.input_size"],
    );
    let inconsistent = SequenceBatch {
        batch: 2,
        steps: 3,
        features: 2,
        data: vec![0.0; 5],
        sample_ids: vec![0, 1],
    };
    expect_refusal(
        backend,
        "forward with a batch of 5 values for 12",
        backend.forward(&model, &inconsistent, &ForwardOptions::default()),
        &["input batch", "12 values"],
    );
}

/// E1: invalid sizes and amplitudes in a model are rejected before any computation. The size
/// and weight cases use a non-spiking model and the amplitude case a spiking one, so a port
/// that declines spiking is still checked on the first two (C6).
pub fn e1_forward_rejects_invalid_config(backend: &impl Backend, _level: Level) {
    let plain = small_model(1, Activation::Tanh, QuantizerPlacement::NONE, 1.0);
    let batch = small_batch(&plain, 2, 1, 3);
    supported(backend, || {
        backend.forward(&plain, &batch, &ForwardOptions::default())
    });
    let mut zero_outputs = plain.clone();
    zero_outputs.config.output_size = 0;
    expect_refusal(
        backend,
        "forward with output_size 0",
        backend.forward(&zero_outputs, &batch, &ForwardOptions::default()),
        &["output_size"],
    );
    let mut nan_weight = plain.clone();
    nan_weight.weights.kernel_memory.data[3] = f64::NAN;
    expect_refusal(
        backend,
        "forward with a NaN in kernel_memory",
        backend.forward(&nan_weight, &batch, &ForwardOptions::default()),
        &["kernel_memory", "non-finite"],
    );
    let spiking = small_model(1, Activation::Tanh, QuantizerPlacement::HIDDEN, 1.0);
    supported(backend, || {
        backend.forward(&spiking, &batch, &ForwardOptions::default())
    });
    let mut bad_amplitude = spiking.clone();
    bad_amplitude.config.quantizer.amplitude = -1.0;
    expect_refusal(
        backend,
        "forward with quantizer.amplitude -1",
        backend.forward(&bad_amplitude, &batch, &ForwardOptions::default()),
        &["amplitude"],
    );
}

/// E2: a model file round-trips; one of another format version, of another format, truncated,
/// or with a missing field is rejected with the reason.
pub fn e2_model_file_version_and_corruption(backend: &impl Backend, _level: Level) {
    let model = small_model(1, Activation::Tanh, QuantizerPlacement::HIDDEN, 1.0);
    if backend.is_port() {
        // A port reads the model it is handed, not hsnn's files: it must refuse one whose
        // header names another format or a version it does not read. The model does not
        // spike, so that a port without a quantizer is checked too.
        let model = small_model(1, Activation::Tanh, QuantizerPlacement::NONE, 1.0);
        let batch = small_batch(&model, 2, 1, 3);
        supported(backend, || {
            backend.forward(&model, &batch, &ForwardOptions::default())
        });
        let mut future = model.clone();
        future.format_version = 99;
        let mut other = model.clone();
        other.format = "something-else".into();
        for bad in [future, other] {
            expect_refusal(
                backend,
                &format!(
                    "forward with a model of format {:?} version {}",
                    bad.format, bad.format_version
                ),
                backend.forward(&bad, &batch, &ForwardOptions::default()),
                &[],
            );
        }
        return;
    }
    let text = model.to_json();
    assert_eq!(
        Model::from_json(&text, "round trip").expect("round trip"),
        model
    );

    let future = text.replacen("\"format_version\": 1", "\"format_version\": 99", 1);
    let error = expect_message(
        Model::from_json(&future, "future.json"),
        &["version 99", "future.json"],
    );
    assert!(matches!(error, HsnnError::FormatVersion { .. }));

    let other = text.replacen("\"hsnn-model\"", "\"something-else\"", 1);
    expect_message(Model::from_json(&other, "other.json"), &["something-else"]);

    let truncated = &text[..text.len() / 2];
    let error = expect_message(
        Model::from_json(truncated, "cut.json"),
        &["cut.json", "not valid JSON"],
    );
    assert!(matches!(error, HsnnError::Parse { .. }));

    let missing_field = text.replacen("\"kernel_hidden\"", "\"kernel_hiden\"", 1);
    expect_message(
        Model::from_json(&missing_field, "typo.json"),
        &["kernel_hidden"],
    );

    let missing_file = std::path::Path::new("/nonexistent/hsnn/model.json");
    expect_message(Model::load(missing_file), &["/nonexistent/hsnn/model.json"]);
}
