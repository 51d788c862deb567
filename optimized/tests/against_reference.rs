//! The optimized backend against the reference on networks of the size training uses, and its
//! determinism across thread counts (SPEC.md clauses C2, C3, T8).

use hsnn_conformance::levels::{compare_counts, Level, F32_EXPLAINED, F32_GRADIENTS};
use hsnn_conformance::network::values;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::{
    Backend, ForwardOptions, GradientOutput, Model, NetworkConfig, QuantizerPlacement,
    RecurrentConnections, SequenceBatch, TraceLevel, Trainer, Weights,
};

/// The embedded default's network (32 tanh units, order 32, theta 784, all connections) with
/// weights of the scale training produces, and `batch` sequences of 784 pixel-like inputs.
fn psmnist_sized(batch: usize, seed: u64) -> (Model, SequenceBatch, Vec<usize>) {
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = 32;
    config.lmu.order = 32;
    let mut weights = Weights::zeros(&config);
    for (index, (name, tensor)) in weights.named_mut().into_iter().enumerate() {
        let scale = if name == "kernel_hidden" { 0.15 } else { 0.5 };
        tensor.data = values(seed + index as u64, tensor.data.len(), scale);
    }
    let model = Model::new(config, weights).expect("valid model");
    let inputs: Vec<f64> = values(seed ^ 0x5EED, batch * 784, 1.0)
        .iter()
        .map(|value| value.abs())
        .collect();
    let sequences = SequenceBatch::new(batch, 784, 1, inputs).expect("valid batch");
    let labels = (0..batch).map(|sample| (sample * 3 + 1) % 10).collect();
    (model, sequences, labels)
}

/// The largest gradient error as a fraction of what F32_GRADIENTS allows (clause C3).
fn gradient_error_fraction(expected: &GradientOutput, got: &GradientOutput) -> f64 {
    let Level::Bounded { absolute } = F32_GRADIENTS else {
        unreachable!("F32_GRADIENTS is a bounded level")
    };
    let scale = expected
        .gradients
        .named()
        .iter()
        .flat_map(|(_, tensor)| tensor.data.iter())
        .fold(1e-3f64, |acc, value| acc.max(value.abs()));
    expected
        .gradients
        .named()
        .iter()
        .zip(got.gradients.named())
        .flat_map(|((_, a), (_, b))| a.data.iter().zip(b.data.iter()))
        .map(|(a, b)| (a - b).abs() / (absolute * scale))
        .fold(0.0, f64::max)
}

/// C2, C3: on 784-step sequences the f32 logits agree with the reference at C2 and the f32
/// gradients within the C3 bound; spiking at dt 4, the first 200 steps (over all 784 a count
/// lands within f32 rounding of an integer, an explained difference after which the runs part:
/// measured at steps 500 and 613 for these sequences), so the spiking gradients are compared.
#[test]
fn c2_gradients_match_the_reference_on_a_psmnist_sized_sequence() {
    let (model, batch, labels) = psmnist_sized(2, 7);
    let mut spiking = model.clone();
    spiking.config.quantizer.placement = QuantizerPlacement::HIDDEN;
    spiking.config.quantizer.dt = 4.0;
    let mut short = batch.clone();
    short.steps = 200;
    short.data = (0..2)
        .flat_map(|sample| batch.data[sample * 784..sample * 784 + 200].to_vec())
        .collect();
    for (model, batch) in [(model, batch), (spiking, short)] {
        let full = ForwardOptions {
            trace: TraceLevel::Full,
        };
        let expected = ReferenceBackend
            .forward(&model, &batch, &full)
            .expect("reference");
        let got = OptimizedBackend
            .forward(&model, &batch, &full)
            .expect("optimized");
        let comparison = compare_counts(&expected.trace, &got.trace, 1e-3);
        assert!(comparison.unexplained.is_empty(), "{comparison:?}");
        assert!(comparison.diverged.is_empty(), "{comparison:?}");
        hsnn_conformance::levels::assert_tensors_agree(
            F32_EXPLAINED,
            "logits",
            &expected.logits,
            &got.logits,
        );
        let expected = ReferenceBackend
            .gradients(&model, &batch, &labels)
            .expect("reference gradients");
        let got = OptimizedBackend
            .gradients(&model, &batch, &labels)
            .expect("optimized gradients");
        let fraction = gradient_error_fraction(&expected, &got);
        eprintln!(
            "placement {:?}: largest gradient error {fraction:.4} of the C3 bound",
            model.config.quantizer.placement
        );
        assert!(fraction <= 1.0, "gradient error {fraction} of the bound");
        assert!((expected.loss - got.loss).abs() <= 1e-4 * expected.loss.max(1.0));
    }
}

/// T8: 1, 2 and 4 threads give bit-identical losses, gradients and logits, on a batch that
/// is not a multiple of the shard size (three shards: 50, 50, 20), spiking.
#[test]
fn t8_optimized_results_do_not_depend_on_the_thread_count() {
    let (mut model, batch, labels) = psmnist_sized(120, 3);
    model.config.quantizer.placement = QuantizerPlacement::BOTH;
    model.config.quantizer.dt = 2.0;
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("thread pool")
            .install(|| {
                let gradients = OptimizedBackend
                    .gradients(&model, &batch, &labels)
                    .expect("gradients");
                let forward = OptimizedBackend
                    .forward(&model, &batch, &ForwardOptions::default())
                    .expect("forward");
                (gradients, forward)
            })
    };
    let one = run(1);
    for threads in [2, 4] {
        let other = run(threads);
        assert_eq!(
            one.0.loss.to_bits(),
            other.0.loss.to_bits(),
            "{threads} threads"
        );
        assert_eq!(one.0.gradients, other.0.gradients, "{threads} threads");
        assert_eq!(one.0.logits, other.0.logits, "{threads} threads");
        assert_eq!(one.1, other.1, "{threads} threads");
    }
    assert!(one
        .1
        .trace
        .sites
        .iter()
        .all(|site| site.counts.iter().any(|n| n != 0)));
}

/// T3 in f32: an adjoint that grows past f32's range through an unsaturated hidden
/// recurrence (W_h = 4 I over 119 steps of zero input, where h stays exactly 0) while the
/// gradient itself stays moderate: the optimized backend rescales it by powers of two and
/// matches the reference within the C3 bound, instead of turning infinity times 0 into NaN
/// (which stopped the paper's run at minibatch 3918).
#[test]
fn t3_exploding_adjoints_stay_finite_in_f32() {
    let (model, batch, labels) = exploding_adjoint_problem(RecurrentConnections::all());
    let expected = ReferenceBackend
        .gradients(&model, &batch, &labels)
        .expect("reference gradients");
    let got = OptimizedBackend
        .gradients(&model, &batch, &labels)
        .expect("optimized gradients");
    assert!(
        got.gradients
            .named()
            .iter()
            .all(|(_, tensor)| tensor.data.iter().all(|value| value.is_finite())),
        "non-finite f32 gradients"
    );
    let fraction = gradient_error_fraction(&expected, &got);
    assert!(fraction <= 1.0, "gradient error {fraction} of the C3 bound");
}

/// A problem whose adjoint passes f32's range: 4 tanh units with W_h = 4 I, 120 steps with
/// input only at the last one, so the adjoint is not damped by saturated units on its way back
/// through the 119 steps where h = 0 (growth 4^119 = 1e71 > f32's 3e38), while the gradient
/// stays moderate (those steps' activations are exactly 0). Absent connections have no weights.
fn exploding_adjoint_problem(
    connections: RecurrentConnections,
) -> (Model, SequenceBatch, Vec<usize>) {
    let mut config = NetworkConfig::psmnist();
    config.lmu.hidden_size = 4;
    config.lmu.order = 4;
    config.lmu.connections = connections;
    let mut weights = Weights::zeros(&config);
    weights.encoder_input.data.fill(1.0);
    for neuron in 0..4 {
        weights.kernel_hidden.data[neuron * 4 + neuron] = 4.0;
    }
    weights.kernel_memory.data = values(5, weights.kernel_memory.data.len(), 0.5);
    weights.readout_kernel.data = values(6, weights.readout_kernel.data.len(), 0.5);
    let model = Model::new(config, weights).expect("valid model");
    let steps = 120;
    let mut inputs = vec![0.0; 2 * steps];
    for sample in 0..2 {
        inputs[sample * steps + steps - 1] = 0.3 + 0.2 * sample as f64;
    }
    let batch = SequenceBatch::new(2, steps, 1, inputs).expect("batch");
    (model, batch, vec![3, 7])
}

/// C2, C3 for the input-driven memory (no e_h, no e_m), which the optimized backend runs
/// through its impulse response by FFT: on 784-step sequences of the embedded-sized network
/// the logits agree with the reference at C2 and the gradients within the C3 bound; and with
/// an adjoint that must be rescaled (W_h = 4 I over 119 silent steps) the fallback to the
/// step-by-step pass gives finite gradients within the bound too.
#[test]
fn c2_input_driven_memory_by_fft_matches_the_reference() {
    let (mut model, batch, labels) = psmnist_sized(2, 13);
    model.config.lmu.connections = RecurrentConnections::feedforward_memory();
    model.weights.encoder_hidden = None;
    model.weights.encoder_memory = None;
    let model = Model::new(model.config, model.weights).expect("input-driven model");
    let full = ForwardOptions {
        trace: TraceLevel::Full,
    };
    let expected = ReferenceBackend
        .forward(&model, &batch, &full)
        .expect("reference");
    let got = OptimizedBackend
        .forward(&model, &batch, &full)
        .expect("optimized");
    hsnn_conformance::levels::assert_tensors_agree(
        F32_EXPLAINED,
        "logits",
        &expected.logits,
        &got.logits,
    );
    let expected = ReferenceBackend
        .gradients(&model, &batch, &labels)
        .expect("reference");
    let got = OptimizedBackend
        .gradients(&model, &batch, &labels)
        .expect("optimized");
    let fraction = gradient_error_fraction(&expected, &got);
    eprintln!("input-driven: largest gradient error {fraction:.4} of the C3 bound");
    assert!(fraction <= 1.0, "gradient error {fraction} of the bound");

    let (model, batch, _) = exploding_adjoint_problem(RecurrentConnections::feedforward_memory());
    let expected = ReferenceBackend
        .gradients(&model, &batch, &[3, 7])
        .expect("reference");
    let got = OptimizedBackend
        .gradients(&model, &batch, &[3, 7])
        .expect("optimized");
    let fraction = gradient_error_fraction(&expected, &got);
    assert!(
        fraction <= 1.0,
        "fallback: gradient error {fraction} of the bound"
    );
}

/// T8: the optimized backend reuses each thread's per-step history buffers from one training
/// step to the next; a batch's gradients after a longer, different batch (spiking, so every
/// buffer is in use) equal its gradients on fresh threads, bit for bit. Debug builds fill a
/// reused buffer with NaN, so a value read before it is written shows as NaN here; in release
/// it would be the other batch's.
#[test]
fn t8_gradients_after_another_batch_equal_gradients_alone() {
    let spiking = |mut model: Model| {
        model.config.quantizer.placement = QuantizerPlacement::BOTH;
        model.config.quantizer.dt = 2.0;
        model
    };
    let (other_model, other_batch, other_labels) = psmnist_sized(50, 11);
    let other_model = spiking(other_model);
    let (model, long_batch, labels) = psmnist_sized(50, 12);
    let model = spiking(model);
    // 400 of the 784 steps: the reused buffers are longer than this batch needs.
    let steps = 400;
    let data = long_batch
        .data
        .chunks(784)
        .flat_map(|sequence| sequence[..steps].iter().copied())
        .collect();
    let batch = SequenceBatch::new(50, steps, 1, data).expect("valid batch");
    let one_thread = || {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("thread pool")
    };
    let alone = one_thread().install(|| OptimizedBackend.gradients(&model, &batch, &labels));
    let alone = alone.expect("gradients alone");
    let after = one_thread().install(|| {
        OptimizedBackend
            .gradients(&other_model, &other_batch, &other_labels)
            .expect("the other batch");
        OptimizedBackend.gradients(&model, &batch, &labels)
    });
    let after = after.expect("gradients after the other batch");
    assert!(alone
        .gradients
        .named()
        .iter()
        .all(|(_, tensor)| tensor.data.iter().all(|value| value.is_finite())));
    assert_eq!(alone.loss.to_bits(), after.loss.to_bits());
    assert_eq!(alone.gradients, after.gradients);
    assert_eq!(alone.logits, after.logits);
}
