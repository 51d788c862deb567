//! Adam and initialization (SPEC.md clauses T4, T6) against values derived by hand.

use hsnn_spec::{AdamConfig, NetworkConfig, Weights};
use hsnn_train::initialization::{initial_weights, SeededStream};
use hsnn_train::optimizer::{adam_state, adam_update};

/// T4: Adam's first step moves every weight by `lr * g / (|g| + eps / sqrt(1 - b2))`:
/// `m = (1-b1) g`, `v = (1-b2) g^2`, step size `lr sqrt(1-b2) / (1-b1)`, so the update is
/// `lr sqrt(1-b2) g / (sqrt(1-b2) |g| + eps)`. The second step with the same gradient moves by
/// the same amount again (bias correction makes `m/sqrt(v)` exactly `g/|g|` up to eps).
#[test]
fn t4_adam_first_steps_match_hand_derivation() {
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = 2;
    config.lmu.order = 2;
    let adam = AdamConfig {
        learning_rate: 0.1,
        ..AdamConfig::default()
    };
    let mut weights = Weights::zeros(&config);
    let mut gradients = Weights::zeros(&config);
    gradients.kernel_hidden.data = vec![0.5, -2.0, 0.0, 1e-3];
    let mut state = adam_state(&config);
    adam_update(&adam, &mut state, &mut weights, &gradients).expect("consistent shapes");
    let root = (1.0f64 - 0.999).sqrt();
    for (index, &g) in gradients.kernel_hidden.data.iter().enumerate() {
        let expected = -0.1 * root * g / (root * g.abs() + 1e-7);
        let got = weights.kernel_hidden.data[index];
        assert!(
            (got - expected).abs() < 1e-15,
            "weight {index}: {got} vs {expected}"
        );
    }
    assert_eq!(state.step, 1);
    let after_one = weights.kernel_hidden.data.clone();
    adam_update(&adam, &mut state, &mut weights, &gradients).expect("consistent shapes");
    // Step 2: m = (1 - b1^2) g (bias-corrected to g), v = (1 - b2^2) g^2 (to g^2).
    let root_two = (1.0f64 - 0.999 * 0.999).sqrt();
    for (index, &g) in gradients.kernel_hidden.data.iter().enumerate() {
        let expected = after_one[index] - 0.1 * root_two * g / (root_two * g.abs() + 1e-7);
        let got = weights.kernel_hidden.data[index];
        assert!(
            (got - expected).abs() < 1e-15,
            "step 2, weight {index}: {got} vs {expected}"
        );
    }
    assert!(
        weights.readout_bias.data.iter().all(|&value| value == 0.0),
        "zero gradient, no move"
    );
}

/// T6: the original LMU's initialization: `e_x = 1`, `W_x = W_h = e_h = e_m = 0`, readout bias
/// 0, `W_m` truncated Glorot-normal with standard deviation `sqrt(2 / (fan_in + fan_out))`,
/// readout kernel Glorot-uniform within `sqrt(6 / (fan_in + fan_out))`; and reproducible.
#[test]
fn t6_initialization_follows_the_original_lmu() {
    let config = NetworkConfig::psmnist();
    let weights = initial_weights(&config, 7);
    assert!(weights.encoder_input.data.iter().all(|&value| value == 1.0));
    for tensor in [
        weights.encoder_hidden.as_ref().expect("present"),
        weights.encoder_memory.as_ref().expect("present"),
        weights.kernel_input.as_ref().expect("present"),
        &weights.kernel_hidden,
        &weights.readout_bias,
    ] {
        assert!(tensor.data.iter().all(|&value| value == 0.0));
    }
    let memory = &weights.kernel_memory.data;
    let target = (2.0 / (256.0 + 212.0f64)).sqrt();
    let mean = memory.iter().sum::<f64>() / memory.len() as f64;
    let deviation = (memory
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>()
        / memory.len() as f64)
        .sqrt();
    // 54,272 samples: the sample deviation is within 1% of the target with overwhelming odds.
    assert!(
        (deviation / target - 1.0).abs() < 0.01,
        "deviation {deviation}, target {target}"
    );
    assert!(mean.abs() < 0.01 * target);
    let truncation = 2.0 * target / 0.879_625_661_034_239_8;
    assert!(memory
        .iter()
        .all(|value| value.abs() <= truncation * (1.0 + 1e-12)));
    let limit = (6.0 / (212.0 + 10.0f64)).sqrt();
    assert!(weights
        .readout_kernel
        .data
        .iter()
        .all(|value| value.abs() <= limit));
    assert_eq!(
        initial_weights(&config, 7),
        weights,
        "same seed, same weights"
    );
    assert_ne!(initial_weights(&config, 8), weights, "the seed matters");
}

/// T6, T8: the seeded stream's bounded draws are unbiased enough to shuffle: every index of
/// 0..6 appears within 5% of its expected count in 60,000 draws.
#[test]
fn t8_index_below_is_uniform() {
    let mut stream = SeededStream::new(3);
    let mut counts = [0u32; 6];
    for _ in 0..60_000 {
        counts[stream.index_below(6) as usize] += 1;
    }
    assert!(
        counts
            .iter()
            .all(|&count| (9_500..=10_500).contains(&count)),
        "{counts:?}"
    );
}

/// T4, E1: an optimizer state of other tensors (another connection layout) is refused before
/// anything moves.
#[test]
fn t4_adam_refuses_a_mismatched_state() {
    let config = NetworkConfig::psmnist();
    let mut other = config.clone();
    other.lmu.connections.memory_to_memory = false;
    other.lmu.connections.input_to_hidden = false;
    other.lmu.connections.hidden_to_memory = false;
    let mut weights = initial_weights(&config, 1);
    let before = weights.clone();
    let gradients = Weights::zeros(&config);
    let mut state = adam_state(&other);
    let error = adam_update(&AdamConfig::default(), &mut state, &mut weights, &gradients)
        .expect_err("state of another layout");
    assert!(error.to_string().contains("optimizer"), "{error}");
    assert_eq!(weights, before);
    assert_eq!(state.step, 0);
    // Right names and shapes but a moment with too few values (a damaged checkpoint).
    let mut state = adam_state(&config);
    state.second_moment.kernel_hidden.data.pop();
    let error = adam_update(&AdamConfig::default(), &mut state, &mut weights, &gradients)
        .expect_err("short moment");
    assert!(error.to_string().contains("kernel_hidden"), "{error}");
    assert_eq!(weights, before);
}

/// T4: Keras's Adam defaults (lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7), pinned: a
/// changed default would silently change every training run.
#[test]
fn t4_adam_defaults_are_keras() {
    let defaults = AdamConfig::default();
    assert_eq!(
        (
            defaults.learning_rate,
            defaults.beta1,
            defaults.beta2,
            defaults.epsilon
        ),
        (1e-3, 0.9, 0.999, 1e-7)
    );
}

/// T4: three Adam steps with a changing gradient (1, -0.5, 2), lr 0.1: momentum and both
/// bias corrections are visible (a constant gradient would cancel beta1). Expected weights
/// from an independent computation in plain Python floats:
/// `m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr sqrt(1-b2^t)/(1-b1^t) m/(sqrt(v)+eps)`
/// gives -0.09999968377323398, -0.12663331237784586, -0.19244438155592397.
#[test]
fn t4_adam_with_a_changing_gradient_matches_an_independent_computation() {
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = 1;
    config.lmu.order = 1;
    let adam = AdamConfig {
        learning_rate: 0.1,
        ..AdamConfig::default()
    };
    let mut weights = Weights::zeros(&config);
    let mut state = adam_state(&config);
    for (gradient, expected) in [
        (1.0, -0.099_999_683_773_233_98),
        (-0.5, -0.126_633_312_377_845_86),
        (2.0, -0.192_444_381_555_923_97),
    ] {
        let mut gradients = Weights::zeros(&config);
        gradients.kernel_hidden.data[0] = gradient;
        adam_update(&adam, &mut state, &mut weights, &gradients).expect("consistent shapes");
        let got = weights.kernel_hidden.data[0];
        assert!(
            (got - expected).abs() < 1e-15,
            "step {}: {got} vs {expected}",
            state.step
        );
    }
}

/// T6: the readout's Glorot-uniform draw has the uniform's statistics for its limit
/// `l = sqrt(6 / (fan_in + fan_out))`: mean 0, variance `l^2 / 3`, and draws reaching close to
/// `l` (a limit of `sqrt(3 / n)` would give half the variance).
#[test]
fn t6_glorot_uniform_has_the_uniform_statistics() {
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = 2_000;
    config.lmu.order = 4;
    let weights = initial_weights(&config, 11);
    let values = &weights.readout_kernel.data;
    let limit = (6.0 / (2_000.0 + 10.0f64)).sqrt();
    let count = values.len() as f64;
    let mean = values.iter().sum::<f64>() / count;
    let variance = values
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>()
        / count;
    // 20,000 draws: the variance's relative standard error is sqrt(0.8 / n) = 0.6 %.
    assert!(
        (variance / (limit * limit / 3.0) - 1.0).abs() < 0.04,
        "variance {variance}, expected {}",
        limit * limit / 3.0
    );
    assert!(mean.abs() < 0.02 * limit, "mean {mean}");
    let largest = values
        .iter()
        .fold(0.0f64, |acc, value| acc.max(value.abs()));
    assert!(
        largest <= limit && largest > 0.999 * limit,
        "largest {largest}, limit {limit}"
    );
}
