//! Conformance checks of the whole hybrid network (SPEC.md clauses N1-N4, Q3).

use hsnn_spec::{
    initial_state::splitmix64, Activation, Backend, Discretizer, ForwardOptions,
    InitialStateConfig, LmuConfig, Model, NetworkConfig, QuantizedSite, QuantizerConfig,
    QuantizerPlacement, RecurrentConnections, SequenceBatch, Tensor2, TraceLevel, Weights,
};

use crate::independent::plain_lmu_logits;
use crate::levels::{assert_reals_agree, assert_tensors_agree, Level};

/// Deterministic pseudo-random numbers in `[-scale, scale)` for test weights and inputs.
pub fn values(seed: u64, count: usize, scale: f64) -> Vec<f64> {
    (0..count as u64)
        .map(|index| {
            let bits = splitmix64(seed.wrapping_mul(0x1000_0000_01B3) ^ index);
            ((bits >> 11) as f64 / 9_007_199_254_740_992.0 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A small network with every connection and random weights of scale `scale`.
pub fn small_model(
    seed: u64,
    activation: Activation,
    placement: QuantizerPlacement,
    dt: f64,
) -> Model {
    let config = NetworkConfig {
        lmu: LmuConfig {
            input_size: 2,
            hidden_size: 5,
            memory_size: 2,
            order: 4,
            theta: 6.0,
            discretizer: Discretizer::ZeroOrderHold,
            hidden_activation: activation,
            connections: RecurrentConnections::all(),
        },
        output_size: 3,
        quantizer: QuantizerConfig {
            placement,
            dt,
            amplitude: 1.0,
            initial_state: InitialStateConfig::Uniform { seed: 11 },
        },
    };
    let mut weights = Weights::zeros(&config);
    for (index, (_, tensor)) in weights.named_mut().into_iter().enumerate() {
        tensor.data = values(seed + index as u64, tensor.data.len(), 0.6);
    }
    Model::new(config, weights).expect("valid model")
}

/// A batch of `batch` random sequences of `steps` steps for `model`.
pub fn small_batch(model: &Model, seed: u64, batch: usize, steps: usize) -> SequenceBatch {
    let features = model.config.lmu.input_size;
    SequenceBatch::new(
        batch,
        steps,
        features,
        values(seed, batch * steps * features, 1.0),
    )
    .expect("valid batch")
}

fn forward(
    backend: &impl Backend,
    model: &Model,
    batch: &SequenceBatch,
    trace: TraceLevel,
) -> hsnn_spec::ForwardOutput {
    backend
        .forward(model, batch, &ForwardOptions { trace })
        .expect("forward pass of a valid model")
}

/// The tiny network of the hand derivations: one input, one hidden unit, one memory of
/// order 1 and theta 1, so `A = [-1]`, `B = [1]`, `Abar = e^-1`, `Bbar = 1 - e^-1`.
pub fn tiny_model(activation: Activation, quantizer: QuantizerConfig, memory_weight: f64) -> Model {
    let config = NetworkConfig {
        lmu: LmuConfig {
            input_size: 1,
            hidden_size: 1,
            memory_size: 1,
            order: 1,
            theta: 1.0,
            discretizer: Discretizer::ZeroOrderHold,
            hidden_activation: activation,
            connections: RecurrentConnections::all(),
        },
        output_size: 1,
        quantizer,
    };
    let one = |value: f64| Tensor2 {
        rows: 1,
        cols: 1,
        data: vec![value],
    };
    let weights = Weights {
        encoder_input: one(1.0),
        encoder_hidden: Some(one(0.5)),
        encoder_memory: Some(one(0.25)),
        kernel_input: Some(one(2.0)),
        kernel_hidden: one(0.5),
        kernel_memory: one(memory_weight),
        readout_kernel: one(3.0),
        readout_bias: one(0.25),
    };
    Model::new(config, weights).expect("valid model")
}

/// N1: the tiny network by hand, inputs `x = [1, 0]`, identity and tanh, with
/// `c = 1 - e^-1`:
///
/// ```text
/// t=1: u = 1,  m1 = c,                    z1 = 2 + c,          h1 = f(z1)
/// t=2: u = h1/2 + c/4,  m2 = e^-1 c + c u, z2 = h1/2 + m2,      h2 = f(z2)
/// logit = 3 h2 + 1/4
/// ```
pub fn n1_tiny_network_matches_hand_derivation(backend: &impl Backend, level: Level) {
    let decay = (-1.0f64).exp();
    let c = 1.0 - decay;
    for activation in [Activation::Identity, Activation::Tanh] {
        let f = |z: f64| crate::activation::rate(activation, z);
        let h1 = f(2.0 + c);
        let u2 = h1 / 2.0 + c / 4.0;
        let m2 = decay * c + c * u2;
        let h2 = f(h1 / 2.0 + m2);
        let expected = 3.0 * h2 + 0.25;
        let model = tiny_model(activation, QuantizerConfig::non_spiking(), 1.0);
        let batch = SequenceBatch::new(1, 2, 1, vec![1.0, 0.0]).expect("valid batch");
        let output = forward(backend, &model, &batch, TraceLevel::Full);
        assert_reals_agree(
            level,
            &format!("{activation:?} logit"),
            &[expected],
            &output.logits.data,
        );
        assert_reals_agree(
            level,
            &format!("{activation:?} hidden"),
            &[h1, h2],
            &output.trace.hidden,
        );
    }
}

/// N1, N2: the tiny network with spiking identity hidden units, dt 1, `v_0 = 0`, no memory
/// path into the hidden unit (`W_m = 0`), inputs `x = [0.7, 0.7]`:
///
/// ```text
/// t=1: z = 2 * 0.7 = 1.4,            u = 1.4 -> n = 1, v = 0.4, h1 = 1
/// t=2: z = 1.4 + 0.5 * 1 = 1.9,      u = 0.4 + 1.9 = 2.3 -> n = 2, h2 = 2
/// logit = 3 * 2 + 0.25 = 6.25
/// ```
pub fn n1_tiny_spiking_network_matches_hand_derivation(backend: &impl Backend, level: Level) {
    let quantizer = QuantizerConfig {
        placement: QuantizerPlacement::HIDDEN,
        dt: 1.0,
        amplitude: 1.0,
        initial_state: InitialStateConfig::Zero,
    };
    let model = tiny_model(Activation::Identity, quantizer, 0.0);
    let batch = SequenceBatch::new(1, 2, 1, vec![0.7, 0.7]).expect("valid batch");
    let output = forward(backend, &model, &batch, TraceLevel::Full);
    let hidden = output
        .trace
        .site(QuantizedSite::Hidden)
        .expect("hidden site recorded");
    assert_eq!(hidden.counts, vec![1, 2]);
    assert_reals_agree(level, "logit", &[6.25], &output.logits.data);
    assert_reals_agree(level, "integrator", &[1.4, 2.3], &hidden.integrator);
}

/// N2: with nothing quantized the network is the plain LMU, checked against the independent
/// implementation, for every activation.
pub fn n2_spiking_off_equals_plain_lmu(backend: &impl Backend, level: Level) {
    // Seeds 1, 2, 3 for tanh, relu, identity: identity's unbounded hidden state on seed 1's
    // weights leaves the fixed point's formats (H5 saturates it), which is not what N2 checks.
    for (seed, &activation) in (1..).zip(Activation::ALL.iter().rev()) {
        let model = small_model(seed, activation, QuantizerPlacement::NONE, 1.0);
        let batch = small_batch(&model, seed + 100, 3, 25);
        let matrices = backend.lmu_matrices(&model.config.lmu).expect("matrices");
        let output = forward(backend, &model, &batch, TraceLevel::Counts);
        assert!(
            output.trace.sites.is_empty(),
            "nothing spikes, nothing recorded"
        );
        for sample in 0..batch.batch {
            let sequence = &batch.data[sample * 25 * 2..(sample + 1) * 25 * 2];
            let expected = plain_lmu_logits(&model, &matrices, sequence, 25);
            let got = output.logits.row(sample);
            assert_reals_agree(
                level,
                &format!("{activation:?} sample {sample} logits"),
                &expected,
                got,
            );
        }
    }
}

/// N2: with large dt the spiking network approaches the plain one: the logit error shrinks
/// as dt grows by factors of 100 and is below 1e-5 at dt = 1e8. At the f32 levels the integrator
/// must stay below 2^23 (clause Q2), so the dts are 1e1 to 1e5 and the bound at 1e5 is 1e-3
/// (the quantization error alpha / dt = 1e-5 times the network's gain, plus f32 rounding).
pub fn n2_large_dt_approaches_plain_lmu(backend: &impl Backend, level: Level) {
    if let Level::FixedPoint { .. } = level {
        crate::levels::not_applicable(
            "the non-spiking fixed point rounds h to 8 bits (H4), coarser than the spiking \
             one at large dt, so the error stops shrinking at about 0.02; H12 bounds fixed \
             point against its shadow instead",
        );
    }
    let (dts, bound): (&[f64], f64) = match level {
        Level::Exact => (&[1e2, 1e4, 1e6, 1e8], 1e-5),
        _ => (&[1e1, 1e3, 1e5], 1e-3),
    };
    for &placement in &QuantizerPlacement::ALL[1..] {
        let plain = small_model(5, Activation::Tanh, QuantizerPlacement::NONE, 1.0);
        let batch = small_batch(&plain, 9, 2, 30);
        let target = forward(backend, &plain, &batch, TraceLevel::None).logits;
        let mut previous = f64::INFINITY;
        for &dt in dts {
            let mut model = plain.clone();
            model.config.quantizer.placement = placement;
            model.config.quantizer.dt = dt;
            let logits = forward(backend, &model, &batch, TraceLevel::None).logits;
            let error = target
                .data
                .iter()
                .zip(&logits.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(
                error < previous,
                "{placement:?} dt {dt}: error {error} not below {previous}"
            );
            previous = error;
        }
        assert!(
            previous < bound,
            "{placement:?}: error {previous} at dt {}",
            dts[dts.len() - 1]
        );
    }
}

/// N2, N3, Q2: with both sites quantized, every recorded count is what clause Q2 makes of its
/// recorded integrator value, and both sites do spike.
pub fn n2_quantized_sites_record_consistent_counts(backend: &impl Backend, _level: Level) {
    let model = small_model(21, Activation::Tanh, QuantizerPlacement::BOTH, 3.0);
    let batch = small_batch(&model, 22, 2, 40);
    let output = forward(backend, &model, &batch, TraceLevel::Full);
    assert_eq!(output.trace.sites.len(), 2);
    for site in &output.trace.sites {
        let mut nonzero = 0;
        for (count, integrator) in site.counts.iter().zip(&site.integrator) {
            assert!(
                crate::quantizer::count_follows_integrator(*integrator, count),
                "{:?}: u {integrator}, n {count}",
                site.site
            );
            nonzero += usize::from(count != 0);
        }
        assert!(
            nonzero > 0,
            "{:?} never spiked: the check would be empty",
            site.site
        );
    }
}

/// N3: each trace level records what it promises, with the shapes of clause N3.
pub fn n3_trace_levels_record_what_they_promise(backend: &impl Backend, _level: Level) {
    let model = small_model(31, Activation::Tanh, QuantizerPlacement::BOTH, 2.0);
    let batch = small_batch(&model, 32, 3, 7);
    let none = forward(backend, &model, &batch, TraceLevel::None);
    assert!(none.trace.sites.is_empty() && none.trace.hidden.is_empty());
    let counts = forward(backend, &model, &batch, TraceLevel::Counts);
    let full = forward(backend, &model, &batch, TraceLevel::Full);
    assert_eq!(counts.trace.sites.len(), 2);
    for (site, neurons) in [(QuantizedSite::Hidden, 5), (QuantizedSite::MemoryInput, 2)] {
        let counted = counts.trace.site(site).expect("site recorded");
        let complete = full.trace.site(site).expect("site recorded");
        assert_eq!(
            (counted.batch, counted.steps, counted.neurons),
            (3, 7, neurons)
        );
        assert_eq!(counted.counts.len(), 3 * 7 * neurons);
        assert!(counted.integrator.is_empty());
        assert_eq!(complete.integrator.len(), 3 * 7 * neurons);
        assert_eq!(counted.counts, complete.counts);
    }
    assert_eq!(full.trace.hidden.len(), 3 * 7 * 5);
    assert_eq!(
        none.logits, full.logits,
        "recording must not change the result"
    );
    assert_eq!(full.trace.dt, 2.0);
}

/// N3: the level `tally` gives the logits of any other level and, per site, its counts
/// tallied by neuron and value with the last step apart, counted here one by one from the
/// level `counts` trace; no counts, integrators or hidden states. 110 sequences, so that a
/// backend that works in shards (of 50, the optimized one) joins several.
pub fn n3_the_tally_level_tallies_the_counts(backend: &impl Backend, _level: Level) {
    let model = small_model(33, Activation::Tanh, QuantizerPlacement::BOTH, 20.0);
    let batch = small_batch(&model, 34, 110, 6);
    let counts = forward(backend, &model, &batch, TraceLevel::Counts);
    let tallied = forward(backend, &model, &batch, TraceLevel::Tally);
    assert_eq!(
        tallied.logits, counts.logits,
        "recording must not change the result"
    );
    assert!(tallied.trace.hidden.is_empty());
    assert_eq!(tallied.trace.sites.len(), 2);
    for (counted, tallied) in counts.trace.sites.iter().zip(&tallied.trace.sites) {
        assert_eq!(
            (tallied.site, tallied.batch, tallied.steps, tallied.neurons),
            (counted.site, counted.batch, counted.steps, counted.neurons)
        );
        assert_eq!(tallied.fan_out, counted.fan_out);
        assert_eq!(tallied.fan_out_last_step, counted.fan_out_last_step);
        assert!(tallied.counts.is_empty() && tallied.integrator.is_empty());
        let mut by_hand: std::collections::BTreeMap<(bool, usize, i64), u64> =
            std::collections::BTreeMap::new();
        for sample in 0..counted.batch {
            for step in 0..counted.steps {
                for neuron in 0..counted.neurons {
                    let count = counted.count(sample, step, neuron);
                    *by_hand
                        .entry((step + 1 == counted.steps, neuron, count))
                        .or_insert(0) += 1;
                }
            }
        }
        let tally = tallied.tally.as_ref().expect("a tally at level tally");
        let cells = tally
            .steps
            .iter()
            .map(|cell| ((false, cell.neuron, cell.count), cell.times))
            .chain(
                tally
                    .last_step
                    .iter()
                    .map(|cell| ((true, cell.neuron, cell.count), cell.times)),
            );
        let mut listed = std::collections::BTreeMap::new();
        for (key, times) in cells {
            assert!(times > 0, "{:?}: a cell of no updates", counted.site);
            assert!(
                listed.insert(key, times).is_none(),
                "{:?}: a (neuron, count) listed twice",
                counted.site
            );
        }
        assert_eq!(listed, by_hand, "{:?}: the tally", counted.site);
        // Distinct values exist, or this test would not tell a tally from its totals.
        assert!(
            by_hand.len() > 2 * counted.neurons,
            "{:?}: counts too uniform",
            counted.site
        );
    }
}

/// N4: the psMNIST network of docs/PAPER.md section 3 has 102,027 trainable parameters.
pub fn n4_psmnist_has_102027_trainable_parameters(_backend: &impl Backend, _level: Level) {
    let config = NetworkConfig::psmnist();
    assert_eq!(config.trainable_parameter_count(), 102_027);
    let weights = Weights::zeros(&config);
    let stored: usize = weights
        .named()
        .iter()
        .map(|(_, tensor)| tensor.data.len())
        .sum();
    assert_eq!(stored, 102_027);
}

/// Q3: the initial state is keyed by sample id, so a sequence gives identical counts and
/// logits alone or inside a batch, in any position.
pub fn q3_initial_state_independent_of_batching(backend: &impl Backend, level: Level) {
    let model = small_model(41, Activation::Tanh, QuantizerPlacement::BOTH, 4.0);
    let batch = small_batch(&model, 42, 4, 12);
    let together = forward(backend, &model, &batch, TraceLevel::Counts);
    let sequence_length = 12 * 2;
    for sample in (0..4).rev() {
        let alone = SequenceBatch::with_ids(
            1,
            12,
            2,
            batch.data[sample * sequence_length..(sample + 1) * sequence_length].to_vec(),
            vec![batch.sample_ids[sample]],
        )
        .expect("valid batch");
        let output = forward(backend, &model, &alone, TraceLevel::Counts);
        assert_reals_agree(
            level,
            "logits",
            together.logits.row(sample),
            &output.logits.data,
        );
        for site in &together.trace.sites {
            let single = output.trace.site(site.site).expect("site recorded");
            let start = sample * 12 * site.neurons;
            assert_eq!(
                site.counts.range_to_vec(start, start + 12 * site.neurons),
                single.counts.to_vec()
            );
        }
    }
    let mut reseeded = model.clone();
    reseeded.config.quantizer.initial_state = InitialStateConfig::Uniform { seed: 12 };
    let other = forward(backend, &reseeded, &batch, TraceLevel::Counts);
    assert_ne!(
        other.trace.sites[0].counts, together.trace.sites[0].counts,
        "the seed must matter"
    );
    assert_tensors_agree(
        level,
        "same seed, same logits",
        &together.logits,
        &forward(backend, &model, &batch, TraceLevel::Counts).logits,
    );
}
