//! Conformance checks of training (SPEC.md section T), for backends that implement
//! [`hsnn_spec::Trainer`].

use hsnn_spec::{
    Activation, Discretizer, InitialStateConfig, LmuConfig, LossFunction, Model, NetworkConfig,
    QuantizerConfig, QuantizerPlacement, RecurrentConnections, SequenceBatch, Trainer, Weights,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::levels::Level;
use crate::network::values;

/// A random small training problem.
#[derive(Debug, Clone)]
pub struct GradientProblem {
    /// The model (non-spiking unless a check changes it).
    pub model: Model,
    /// Inputs.
    pub batch: SequenceBatch,
    /// Class labels.
    pub labels: Vec<usize>,
}

/// The base activations whose derivative finite differences can check.
fn smooth_activations() -> Vec<Activation> {
    Activation::ALL
        .iter()
        .copied()
        .filter(|&activation| crate::activation::is_smooth(activation))
        .collect()
}

/// Random problems: every size 1 to 4 (outputs 2 to 3), up to 6 steps, random connection flags
/// and discretizer, hidden units of every smooth activation (`crate::activation::is_smooth`:
/// relu's kink at 0 would defeat finite differences), weights of scale 0.5.
pub fn gradient_problems() -> impl Strategy<Value = GradientProblem> {
    (
        (1usize..3, 1usize..5, 1usize..3, 1usize..5, 2usize..4),
        (1usize..7, 1usize..3, any::<u64>()),
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(smooth_activations()),
        ),
    )
        .prop_map(
            |(
                (input_size, hidden_size, memory_size, order, output_size),
                (steps, batch, seed),
                flags,
            )| {
                let (input_to_hidden, hidden_to_memory, memory_to_memory, euler, activation) =
                    flags;
                let config = NetworkConfig {
                    lmu: LmuConfig {
                        input_size,
                        hidden_size,
                        memory_size,
                        order,
                        theta: 3.0 + (seed % 7) as f64,
                        discretizer: if euler {
                            Discretizer::Euler
                        } else {
                            Discretizer::ZeroOrderHold
                        },
                        hidden_activation: activation,
                        connections: RecurrentConnections {
                            input_to_hidden,
                            hidden_to_memory,
                            memory_to_memory,
                        },
                    },
                    output_size,
                    quantizer: QuantizerConfig::non_spiking(),
                };
                let mut weights = Weights::zeros(&config);
                for (index, (_, tensor)) in weights.named_mut().into_iter().enumerate() {
                    tensor.data = values(seed.wrapping_add(index as u64), tensor.data.len(), 0.5);
                }
                let model = Model::new(config, weights).expect("valid random model");
                let batch = SequenceBatch::new(
                    batch,
                    steps,
                    input_size,
                    values(seed ^ 0xABCD, batch * steps * input_size, 1.0),
                )
                .expect("valid batch");
                let labels = (0..batch.batch)
                    .map(|sample| (seed as usize + sample) % output_size)
                    .collect();
                GradientProblem {
                    model,
                    batch,
                    labels,
                }
            },
        )
}

fn loss(
    trainer: &impl Trainer,
    model: &Model,
    problem: &GradientProblem,
) -> Result<f64, TestCaseError> {
    trainer
        .gradients(model, &problem.batch, &problem.labels)
        .map(|output| output.loss)
        .map_err(|error| TestCaseError::fail(error.to_string()))
}

/// Compares every analytic gradient of `problem` with central differences of the loss (step
/// `step`): `|analytic - numeric| <= relative * max(|analytic|, |numeric|) + absolute`.
fn check_against_differences(
    trainer: &impl Trainer,
    problem: &GradientProblem,
    step: f64,
    relative: f64,
    absolute: f64,
) -> Result<(), TestCaseError> {
    let analytic = trainer
        .gradients(&problem.model, &problem.batch, &problem.labels)
        .map_err(|error| TestCaseError::fail(error.to_string()))?;
    let placement = problem.model.config.quantizer.placement;
    for (tensor_index, (name, gradient)) in analytic.gradients.named().into_iter().enumerate() {
        for element in 0..gradient.data.len() {
            let mut plus = problem.model.clone();
            let mut minus = problem.model.clone();
            plus.weights.named_mut()[tensor_index].1.data[element] += step;
            minus.weights.named_mut()[tensor_index].1.data[element] -= step;
            let numeric =
                (loss(trainer, &plus, problem)? - loss(trainer, &minus, problem)?) / (2.0 * step);
            let exact = gradient.data[element];
            prop_assert!(
                (exact - numeric).abs() <= relative * exact.abs().max(numeric.abs()) + absolute,
                "placement {placement:?}, {name}[{element}]: analytic {exact:e}, central difference {numeric:e}"
            );
        }
    }
    Ok(())
}

/// Every placement where something spikes (clause N2: every non-empty set of sites).
fn spiking_placements() -> impl Strategy<Value = QuantizerPlacement> {
    prop::sample::select(QuantizerPlacement::ALL[1..].to_vec())
}

/// The bound on gradients that `level` allows against the reference's, relative to the
/// problem's largest reference gradient (clause C3): `absolute` of a bounded level; the exact
/// level allows C1's bound.
fn gradient_bound(level: Level) -> f64 {
    match level {
        Level::Exact => crate::levels::EXACT_RELATIVE,
        Level::Bounded { absolute } => absolute,
        Level::Explained { .. } | Level::FixedPoint { .. } => panic!(
            "training checks compare gradients at C1 or C3: instantiate trainer_suite! with \
             Level::Exact or a Level::Bounded such as levels::F32_GRADIENTS"
        ),
    }
}

/// Compares the gradients of `trainer` on `problem` with the reference's (clause C3): every
/// element within `bound * max(largest |reference gradient|, 1e-3)`, and the losses within
/// `bound * max(loss, 1)`. When the two forward passes spike differently (a count difference
/// that clause C2 explains), the trajectories differ and the comparison is skipped: returns
/// `Ok(None)`; otherwise the largest error as a fraction of the allowed one.
fn check_against_reference(
    trainer: &impl Trainer,
    problem: &GradientProblem,
    bound: f64,
) -> Result<Option<f64>, TestCaseError> {
    let reference = hsnn_reference::ReferenceBackend;
    let fail = |error: hsnn_spec::HsnnError| TestCaseError::fail(error.to_string());
    if problem.model.config.quantizer.placement != QuantizerPlacement::NONE {
        let full = hsnn_spec::ForwardOptions {
            trace: hsnn_spec::TraceLevel::Full,
        };
        let expected =
            hsnn_spec::Backend::forward(&reference, &problem.model, &problem.batch, &full)
                .map_err(fail)?;
        let got = trainer
            .forward(&problem.model, &problem.batch, &full)
            .map_err(fail)?;
        let comparison = crate::levels::compare_counts(&expected.trace, &got.trace, 1e-3);
        prop_assert!(
            comparison.unexplained.is_empty(),
            "unexplained count differences: {:?}",
            comparison.unexplained
        );
        if !comparison.diverged.is_empty() {
            return Ok(None);
        }
    }
    let expected =
        hsnn_spec::Trainer::gradients(&reference, &problem.model, &problem.batch, &problem.labels)
            .map_err(fail)?;
    let got = trainer
        .gradients(&problem.model, &problem.batch, &problem.labels)
        .map_err(fail)?;
    prop_assert!(
        (expected.loss - got.loss).abs() <= bound * expected.loss.abs().max(1.0),
        "loss {} against the reference's {}",
        got.loss,
        expected.loss
    );
    let scale = expected
        .gradients
        .named()
        .iter()
        .flat_map(|(_, tensor)| tensor.data.iter())
        .fold(1e-3f64, |acc, value| acc.max(value.abs()));
    let mut worst = 0.0f64;
    for ((name, wanted), (_, candidate)) in expected
        .gradients
        .named()
        .into_iter()
        .zip(got.gradients.named())
    {
        for (element, (&wanted, &candidate)) in wanted.data.iter().zip(&candidate.data).enumerate()
        {
            let error = (wanted - candidate).abs();
            worst = worst.max(error / (bound * scale));
            prop_assert!(
                error <= bound * scale,
                "placement {:?}, {name}[{element}]: reference {wanted:e}, candidate {candidate:e}, \
                 allowed {:e}",
                problem.model.config.quantizer.placement,
                bound * scale
            );
        }
    }
    Ok(Some(worst))
}

/// T3: analytic gradients of the non-spiking network equal central finite differences
/// (step 1e-5) to a relative error below 1e-6 (plus 1e-9 absolute for gradients near zero),
/// for every weight tensor of random small networks. At a bounded level (an f32 trainer) the
/// gradients are compared with the reference's instead, within the level's bound (C3).
pub fn t3_gradients_match_finite_differences(trainer: &impl Trainer, level: Level) {
    let mut runner = crate::deterministic_runner(48);
    let result = if level == Level::Exact {
        runner.run(&gradient_problems(), |problem| {
            check_against_differences(trainer, &problem, 1e-5, 1e-6, 1e-9)
        })
    } else {
        // f32 losses are too coarse for central differences (their noise, 1e-7 / 1e-5, is
        // 1e-2 of a gradient); compare with the reference, whose gradients pass this check
        // at C1 (clause C3).
        let bound = gradient_bound(level);
        runner.run(&gradient_problems(), |problem| {
            check_against_reference(trainer, &problem, bound).map(|_| ())
        })
    };
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// T2: with spikes on the forward pass and the rate derivative on the backward pass, the
/// gradient tends to the non-spiking gradient as dt grows: the largest difference shrinks from
/// dt = 1e2 to 1e4 to 1e6 and is below 1e-4 of the largest gradient at 1e6.
pub fn t2_surrogate_gradient_tends_to_rate_gradient(trainer: &impl Trainer, _level: Level) {
    let mut runner = crate::deterministic_runner(16);
    let result = runner.run(
        &(gradient_problems(), spiking_placements()),
        |(problem, placement)| {
            let rate = trainer
                .gradients(&problem.model, &problem.batch, &problem.labels)
                .map_err(|error| TestCaseError::fail(error.to_string()))?;
            let flatten = |weights: &Weights| -> Vec<f64> {
                weights
                    .named()
                    .iter()
                    .flat_map(|(_, tensor)| tensor.data.clone())
                    .collect()
            };
            let target = flatten(&rate.gradients);
            let scale = target
                .iter()
                .fold(0.0f64, |acc, value| acc.max(value.abs()))
                .max(1e-3);
            let mut previous = f64::INFINITY;
            for dt in [1e2, 1e4, 1e6] {
                let mut model = problem.model.clone();
                model.config.quantizer = QuantizerConfig {
                    placement,
                    dt,
                    amplitude: 1.0,
                    initial_state: InitialStateConfig::Uniform { seed: 3 },
                };
                let spiking = trainer
                    .gradients(&model, &problem.batch, &problem.labels)
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                let difference = flatten(&spiking.gradients)
                    .iter()
                    .zip(&target)
                    .fold(0.0f64, |acc, (a, b)| acc.max((a - b).abs()));
                prop_assert!(
                    difference <= previous,
                    "dt {dt}: difference {difference} grew from {previous}"
                );
                previous = difference;
            }
            prop_assert!(
                previous < 1e-4 * scale,
                "dt 1e6: difference {previous}, gradient scale {scale}"
            );
            Ok(())
        },
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// T2 with an amplitude: at dt = 1e11 the spiking forward pass is `alpha f(z)` up to
/// `alpha / dt`, a smooth function of the weights, so central differences of the *spiking* loss
/// (step 1e-3: smaller steps see the `alpha / dt` quantization, measured) must match the
/// surrogate gradient `alpha f'(z)` to 1e-3 relative (plus 1e-6).
/// With alpha = 2 a backward pass that dropped the amplitude would be off by a factor of 2.
/// At a bounded level: dt 4, alpha 2, against the reference's gradients (C3).
pub fn t2_surrogate_gradient_carries_the_amplitude(trainer: &impl Trainer, level: Level) {
    let mut runner = crate::deterministic_runner(12);
    let result = if level == Level::Exact {
        runner.run(
            &(gradient_problems(), spiking_placements()),
            |(mut problem, placement)| {
                problem.model.config.quantizer = QuantizerConfig {
                    placement,
                    dt: 1e11,
                    amplitude: 2.0,
                    initial_state: InitialStateConfig::Uniform { seed: 5 },
                };
                check_against_differences(trainer, &problem, 1e-3, 1e-3, 1e-6)
            },
        )
    } else {
        // f32 cannot hold an integrator of 1e11 (clause Q2); at dt 4 the network really
        // spikes, and the reference (checked above at dt 1e11) gives the gradient to match.
        let bound = gradient_bound(level);
        runner.run(
            &(gradient_problems(), spiking_placements()),
            |(mut problem, placement)| {
                problem.model.config.quantizer = QuantizerConfig {
                    placement,
                    dt: 4.0,
                    amplitude: 2.0,
                    initial_state: InitialStateConfig::Uniform { seed: 5 },
                };
                check_against_reference(trainer, &problem, bound).map(|_| ())
            },
        )
    };
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// Softmax cross-entropy of one row (clause T1), written here independently.
fn cross_entropy(logits: &[f64], label: usize) -> f64 {
    let maximum = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = logits.iter().map(|value| (value - maximum).exp()).sum();
    total.ln() + maximum - logits[label]
}

/// T2, T3: the spiking-aware gradient at realistic dt (1, 2, 10) and amplitudes other than 1
/// (0.7, 1.5), for spiking hidden units, memory input or both, equals central differences
/// (step 1e-5) of the spiking network restated as a smooth function whose value is the spiking
/// loss and whose derivative at every quantized site is `alpha f'(x)`
/// ([`crate::independent::restated_lmu_logits`], written from SPEC.md, not from a backend):
/// relative error below 1e-6 plus 1e-9. At a bounded level, the reference's gradient is the
/// yardstick instead (C3), at dt 2 and alpha 1.5.
pub fn t2_spiking_gradients_match_differences_of_the_restated_network(
    trainer: &impl Trainer,
    level: Level,
) {
    let mut runner = crate::deterministic_runner(24);
    let settings = (
        spiking_placements(),
        prop_oneof![Just(1.0), Just(2.0), Just(10.0)],
        prop_oneof![Just(0.7), Just(1.5)],
    );
    let result = runner.run(
        &(gradient_problems(), settings),
        |(mut problem, (placement, dt, amplitude))| {
            problem.model.config.quantizer = QuantizerConfig {
                placement,
                dt,
                amplitude,
                initial_state: InitialStateConfig::Uniform { seed: 9 },
            };
            if level != Level::Exact {
                problem.model.config.quantizer.dt = 2.0;
                problem.model.config.quantizer.amplitude = 1.5;
                return check_against_reference(trainer, &problem, gradient_bound(level)).map(|_| ());
            }
            let fail = |error: hsnn_spec::HsnnError| TestCaseError::fail(error.to_string());
            let matrices = trainer.lmu_matrices(&problem.model.config.lmu).map_err(fail)?;
            let batch = &problem.batch;
            let length = batch.steps * batch.features;
            let sequence = |sample: usize| &batch.data[sample * length..(sample + 1) * length];
            let anchors: Vec<_> = (0..batch.batch)
                .map(|sample| {
                    crate::independent::restated_lmu_logits(
                        &problem.model,
                        &matrices,
                        sequence(sample),
                        batch.steps,
                        batch.sample_ids[sample],
                        None,
                    )
                })
                .collect();
            let restated_loss = |model: &Model| -> f64 {
                (0..batch.batch)
                    .map(|sample| {
                        let (logits, _) = crate::independent::restated_lmu_logits(
                            model,
                            &matrices,
                            sequence(sample),
                            batch.steps,
                            batch.sample_ids[sample],
                            Some(&anchors[sample].1),
                        );
                        cross_entropy(&logits, problem.labels[sample])
                    })
                    .sum::<f64>()
                    / batch.batch as f64
            };
            let analytic = trainer
                .gradients(&problem.model, batch, &problem.labels)
                .map_err(fail)?;
            // The restated network spikes as the backend does: same loss at the anchor.
            let spiking_loss = restated_loss(&problem.model);
            prop_assert!(
                (analytic.loss - spiking_loss).abs() <= 1e-12 * spiking_loss.max(1.0),
                "loss {} but the restated network's is {spiking_loss}",
                analytic.loss
            );
            let step = 1e-5;
            for (tensor_index, (name, gradient)) in analytic.gradients.named().into_iter().enumerate() {
                for element in 0..gradient.data.len() {
                    let mut plus = problem.model.clone();
                    let mut minus = problem.model.clone();
                    plus.weights.named_mut()[tensor_index].1.data[element] += step;
                    minus.weights.named_mut()[tensor_index].1.data[element] -= step;
                    let numeric = (restated_loss(&plus) - restated_loss(&minus)) / (2.0 * step);
                    let exact = gradient.data[element];
                    prop_assert!(
                        (exact - numeric).abs() <= 1e-6 * exact.abs().max(numeric.abs()) + 1e-9,
                        "{placement:?} dt {dt} alpha {amplitude}, {name}[{element}]: analytic {exact:e}, \
                         restated central difference {numeric:e}"
                    );
                }
            }
            Ok(())
        },
    );
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// T8, T1: the loss and gradients of a batch are the means over its sequences, whatever way
/// the backend cuts the batch: batch sizes 1, 7 (the reference's chunks of 5 plus 2), 12, 51
/// and 101 (the optimized backend's shards of 50 plus 1), each against the mean of the
/// sequences' own one-sequence results, and the logits row by row.
pub fn t8_batch_gradient_is_the_mean_over_its_sequences(trainer: &impl Trainer, level: Level) {
    let bound = match level {
        Level::Exact => 1e-12,
        other => gradient_bound(other),
    };
    let config = NetworkConfig {
        lmu: LmuConfig {
            input_size: 2,
            hidden_size: 3,
            memory_size: 2,
            order: 3,
            theta: 5.0,
            discretizer: Discretizer::ZeroOrderHold,
            hidden_activation: Activation::Tanh,
            connections: RecurrentConnections::all(),
        },
        output_size: 3,
        quantizer: QuantizerConfig::non_spiking(),
    };
    let mut weights = Weights::zeros(&config);
    for (index, (_, tensor)) in weights.named_mut().into_iter().enumerate() {
        tensor.data = values(40 + index as u64, tensor.data.len(), 0.5);
    }
    let model = Model::new(config, weights).expect("valid model");
    let steps = 4;
    for size in [1usize, 7, 12, 51, 101] {
        let data = values(size as u64, size * steps * 2, 1.0);
        let batch = SequenceBatch::new(size, steps, 2, data.clone()).expect("batch");
        let labels: Vec<usize> = (0..size).map(|sample| (sample * 7 + 1) % 3).collect();
        let whole = trainer
            .gradients(&model, &batch, &labels)
            .expect("gradients of the batch");
        let mut loss = 0.0;
        let mut mean = Weights::zeros(&model.config);
        for sample in 0..size {
            let single = SequenceBatch::with_ids(
                1,
                steps,
                2,
                data[sample * steps * 2..(sample + 1) * steps * 2].to_vec(),
                vec![sample as u64],
            )
            .expect("one sequence");
            let output = trainer
                .gradients(&model, &single, &labels[sample..=sample])
                .expect("gradients of one sequence");
            loss += output.loss / size as f64;
            for ((_, total), (_, part)) in
                mean.named_mut().into_iter().zip(output.gradients.named())
            {
                for (total, value) in total.data.iter_mut().zip(&part.data) {
                    *total += value / size as f64;
                }
            }
            for (got, wanted) in whole.logits.row(sample).iter().zip(output.logits.row(0)) {
                assert!(
                    (got - wanted).abs() <= bound * wanted.abs().max(1.0),
                    "batch {size}, sequence {sample}: logit {got} alone {wanted}"
                );
            }
        }
        assert!(
            (whole.loss - loss).abs() <= bound * loss.max(1.0),
            "batch {size}: loss {} but the mean over sequences is {loss}",
            whole.loss
        );
        let scale = mean
            .named()
            .iter()
            .flat_map(|(_, tensor)| tensor.data.iter())
            .fold(1e-3f64, |acc, value| acc.max(value.abs()));
        for ((name, got), (_, wanted)) in whole.gradients.named().into_iter().zip(mean.named()) {
            for (index, (got, wanted)) in got.data.iter().zip(&wanted.data).enumerate() {
                assert!(
                    (got - wanted).abs() <= bound * scale,
                    "batch {size}, {name}[{index}]: {got} but the mean over sequences is {wanted}"
                );
            }
        }
    }
}

/// T1: the loss of a network whose logits are all equal is `ln(classes)`, and its gradient
/// with respect to the readout bias is `1/classes - onehot`, averaged over the batch.
pub fn t1_uniform_logits_give_log_classes(trainer: &impl Trainer, level: Level) {
    // A zero readout kernel and bias: every logit is 0 whatever the hidden state.
    let model = bias_only_model([0.0; 4]);
    let batch = SequenceBatch::new(2, 3, 1, vec![0.5, -1.0, 0.25, 1.0, 0.0, -0.5]).expect("batch");
    let output = trainer
        .gradients(&model, &batch, &[1, 3])
        .expect("gradients");
    crate::levels::assert_reals_agree(level, "loss", &[4f64.ln()], &[output.loss]);
    let expected_bias = [0.25, 0.25 - 0.5, 0.25, 0.25 - 0.5];
    crate::levels::assert_reals_agree(
        level,
        "bias gradient",
        &expected_bias,
        &output.gradients.readout_bias.data,
    );
    // Bad labels are refused; the wording is checked on hsnn's own trainers only (C6).
    let error = trainer
        .gradients(&model, &batch, &[1, 4])
        .expect_err("label 4 of 4 classes must be refused");
    assert!(
        trainer.is_port() || error.to_string().contains("output_size"),
        "{error}"
    );
    let error = trainer
        .gradients(&model, &batch, &[1])
        .expect_err("one label for two sequences must be refused");
    assert!(
        trainer.is_port() || error.to_string().contains("labels"),
        "{error}"
    );
}

/// A small network with readout bias `bias` and a zero readout kernel, so that every
/// sequence's logits are exactly `bias` (the T1 checks).
fn bias_only_model(bias: [f64; 4]) -> Model {
    let config = NetworkConfig {
        lmu: LmuConfig {
            input_size: 1,
            hidden_size: 2,
            memory_size: 1,
            order: 2,
            theta: 4.0,
            discretizer: Discretizer::ZeroOrderHold,
            hidden_activation: Activation::Tanh,
            connections: RecurrentConnections::all(),
        },
        output_size: 4,
        quantizer: QuantizerConfig::non_spiking(),
    };
    let mut weights = Weights::zeros(&config);
    weights.kernel_memory.data.fill(0.3);
    weights.kernel_hidden.data = vec![0.2, -0.4, 0.5, 0.1];
    weights.readout_bias.data = bias.to_vec();
    Model::new(config, weights).expect("valid model")
}

/// T1 (second loss, `keras2_probability`): Keras 2's clipped probability cross-entropy.
/// Hand-derived clip cases: logits with the true class 40 above the rest give `q_y = 1` in binary32, above `1 - 1e-7` (which rounds to
/// `1 - 2^-23`), so the loss is `-ln(1 - 2^-23) = 2^-23 + 2^-47 + ...`, which binary32 gives
/// as `2^-23` or, correctly rounded, one ulp (`2^-46`) above (SPEC T1b: faithful), and every
/// gradient is exactly 0; the true class 40 *below* another gives `q_y = e^-40 < 1e-7`, a
/// loss of `-ln(1e-7) = 16.1180957` (to binary32's 2e-6 at 16) and again no gradient, where
/// T1's exact loss is 40 with a gradient. Away from the clip: every gradient against central
/// differences of this loss (step 1e-2: binary32 losses are too coarse for smaller steps),
/// and against T1's gradients, which it equals there up to binary32 rounding.
pub fn t1_keras2_probability_loss_clips_and_differentiates(trainer: &impl Trainer, level: Level) {
    let keras = LossFunction::Keras2Probability;
    let batch = SequenceBatch::new(2, 3, 1, vec![0.5, -1.0, 0.25, 1.0, 0.0, -0.5]).expect("batch");
    let all_zero = |weights: &Weights| {
        weights
            .named()
            .iter()
            .all(|(_, tensor)| tensor.data.iter().all(|&value| value == 0.0))
    };

    let confident = bias_only_model([0.0, 40.0, 0.0, 0.0]);
    for (case, labels, expected_loss, tolerance) in [
        // One binary32 ulp at 2^-23 (2^-46) and a little: an unclipped loss would be 0.
        (
            "confidently right",
            [1, 1],
            2f64.powi(-23),
            1.01 * 2f64.powi(-46),
        ),
        ("confidently wrong", [0, 2], 16.118_095_650_958_32, 2e-6),
    ] {
        let clipped = trainer
            .gradients_with_loss(&confident, &batch, &labels, keras)
            .expect("gradients");
        assert!(
            (clipped.loss - expected_loss).abs() < tolerance,
            "{case}: loss {} instead of {expected_loss}",
            clipped.loss
        );
        assert!(
            all_zero(&clipped.gradients),
            "{case}: the clipped probability must pass no gradient, got {:?}",
            clipped.gradients.readout_bias.data
        );
    }
    let exact = trainer
        .gradients(&confident, &batch, &[0, 2])
        .expect("gradients");
    assert!(
        (exact.loss - 40.0).abs() < 1e-4 && !all_zero(&exact.gradients),
        "T1 on the same sequences: loss {} (40 expected) with a gradient",
        exact.loss
    );

    let model = bias_only_model([0.3, -0.2, 0.1, 0.5]);
    let labels = [1, 3];
    let analytic = trainer
        .gradients_with_loss(&model, &batch, &labels, keras)
        .expect("gradients");
    let reference_loss = trainer
        .gradients(&model, &batch, &labels)
        .expect("gradients");
    crate::levels::assert_reals_agree(
        crate::levels::Level::Bounded { absolute: 1e-6 },
        "keras2 loss against T1 away from the clip",
        &[reference_loss.loss],
        &[analytic.loss],
    );
    let step = 1e-2;
    let loss_at = |model: &Model| {
        trainer
            .gradients_with_loss(model, &batch, &labels, keras)
            .expect("gradients")
            .loss
    };
    for (tensor_index, ((name, gradient), (_, unclipped))) in analytic
        .gradients
        .named()
        .into_iter()
        .zip(reference_loss.gradients.named())
        .enumerate()
    {
        for element in 0..gradient.data.len() {
            let mut plus = model.clone();
            let mut minus = model.clone();
            plus.weights.named_mut()[tensor_index].1.data[element] += step;
            minus.weights.named_mut()[tensor_index].1.data[element] -= step;
            let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * step);
            let value = gradient.data[element];
            assert!(
                (value - numeric).abs() <= 2e-3 * value.abs().max(numeric.abs()) + 5e-5,
                "{name}[{element}]: analytic {value:e}, central difference {numeric:e} \
                 (level {level:?})"
            );
            assert!(
                (value - unclipped.data[element]).abs() <= 1e-5,
                "{name}[{element}]: keras2 gradient {value:e}, T1's {:e}: they must agree \
                 away from the clip",
                unclipped.data[element]
            );
        }
    }
}
