//! SPEC.md section H: the hardware backend's chip against the reference's dense fixed-point
//! mode, bit for bit (C1 as H12 states it), and the chip's counters against SPEC B6 derived
//! from the reference's own counts.

use hsnn_conformance::fixed_point::{
    h8_tiny_network_matches_hand_derivation, options_with, random_model, tiny_spiking_model,
};
use hsnn_hardware::chip::Chip;
use hsnn_hardware::counters::HardwareCounters;
use hsnn_hardware::engine::EngineRun;
use hsnn_hardware::{run_batch, run_batch_fast};
use hsnn_reference::compiler::convert;
use hsnn_reference::fixed::run as reference_run;
use hsnn_reference::metrics::SiteMetricsAccumulator;
use hsnn_spec::fixed::{ConversionOptions, FixedModel, FixedRun};
use hsnn_spec::{
    Activation, QuantizedSite, QuantizerPlacement, Result, SequenceBatch, SiteTrace, TraceLevel,
};
use proptest::prelude::*;

fn chip_run(model: &FixedModel, batch: &SequenceBatch, full: bool) -> Result<FixedRun> {
    let chip = Chip::new(model.clone())?;
    run_batch(&chip, batch, full, 2).map(|(run, _)| run)
}

fn tiny() -> FixedModel {
    convert(&tiny_spiking_model(), &ConversionOptions::default()).expect("conversion")
}

/// H8 on the reference's dense loops.
#[test]
fn h8_tiny_network_matches_hand_derivation_reference() {
    h8_tiny_network_matches_hand_derivation(&tiny(), reference_run);
}

/// H8 on the event-driven chip.
#[test]
fn h8_tiny_network_matches_hand_derivation_hardware() {
    h8_tiny_network_matches_hand_derivation(&tiny(), chip_run);
}

const ACTIVATIONS: &[Activation] = Activation::ALL;
/// Every placement: the empty one, then every set of sites (clause N2).
const PLACEMENTS: &[QuantizerPlacement] = QuantizerPlacement::ALL;

/// One random case: model, options, batch.
fn case(
    seed: u64,
    activation: usize,
    placement: usize,
    connections: u8,
    dt: f64,
    amplitude: f64,
    scale: f64,
) -> (hsnn_spec::Model, SequenceBatch) {
    let model = random_model(
        seed,
        ACTIVATIONS[activation],
        PLACEMENTS[placement],
        connections,
        dt,
        amplitude,
        scale,
    );
    let batch = hsnn_conformance::network::small_batch(&model, seed + 1000, 3, 12);
    (model, batch)
}

fn deterministic(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(5),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}

/// H12 (C1): on random small models (every connection flag, the four placements, tanh,
/// identity and relu, weight widths 4 to 16, memory widths 16 and 24, dt from 0.5 to 10,
/// amplitudes other than 1) the chip's integers equal the reference's dense fixed-point
/// mode's: counts, integrators, `U`, `M`, `Z`, `H`, the logits' integers and the saturation
/// counters. The two add the same integers in different orders (events vs dense loops,
/// i64 wrapping vs i128).
#[test]
fn h12_hardware_equals_fixed_reference_bit_for_bit() {
    let widths = [4u32, 6, 8, 12, 16];
    let compared = std::cell::Cell::new(0);
    let saturated = std::cell::Cell::new(0u64);
    proptest!(deterministic(160), |(
        seed in 0u64..1000,
        activation in 0..ACTIVATIONS.len(),
        placement in 0usize..PLACEMENTS.len(),
        connections in 0u8..8,
        dt in prop::sample::select(vec![0.5, 1.0, 2.0, 4.0, 10.0]),
        amplitude in prop::sample::select(vec![1.0, 0.5, 2.0]),
        width in 0usize..5,
        memory_bits in prop::sample::select(vec![16u32, 24]),
        scale in prop::sample::select(vec![0.7, 8.0]),
    )| {
        let (model, batch) = case(seed, activation, placement, connections, dt, amplitude, scale);
        let fixed = convert(&model, &options_with(widths[width], memory_bits))
            .expect("conversion of a small model");
        let reference = reference_run(&fixed, &batch, true).expect("reference run");
        let chip = chip_run(&fixed, &batch, true).expect("chip run");
        prop_assert_eq!(&reference, &chip);
        compared.set(compared.get() + 1);
        saturated.set(saturated.get() + u64::from(reference.saturations.total() > 0));
    });
    assert_eq!(compared.get(), 160);
    assert!(
        saturated.get() >= 10,
        "cases with saturation: {}",
        saturated.get()
    );
}

/// H13: on the random models of H12's check (every connection flag, the four placements,
/// tanh, identity and relu, weight widths 4 to 16, memory widths 16 and 24, dt from 0.5 to 10,
/// saturating and not) the fast engine gives the chip's integers (counts, integrators, `U`,
/// `M`, `Z`, `H`, logits, saturation counters) and every one of the chip's counters, on 1 and
/// 2 threads against the chip's 3; the products run in 16-bit integer pairs where their
/// bounds are proven, in binary64 elsewhere, and the cases cover both and their mixture.
#[test]
fn h13_fast_engine_equals_chip_bit_for_bit() {
    let widths = [4u32, 6, 8, 12, 16];
    let compared = std::cell::Cell::new(0);
    let tallied = std::cell::Cell::new(0u64);
    let with_events = std::cell::Cell::new(0);
    let (with_pairs, with_binary64, mixed) = (
        std::cell::Cell::new(0u64),
        std::cell::Cell::new(0u64),
        std::cell::Cell::new(0u64),
    );
    proptest!(deterministic(160), |(
        seed in 0u64..1000,
        activation in 0..ACTIVATIONS.len(),
        placement in 0usize..PLACEMENTS.len(),
        connections in 0u8..8,
        dt in prop::sample::select(vec![0.5, 1.0, 2.0, 4.0, 10.0]),
        amplitude in prop::sample::select(vec![1.0, 0.5, 2.0]),
        width in 0usize..5,
        memory_bits in prop::sample::select(vec![16u32, 24]),
        scale in prop::sample::select(vec![0.7, 8.0]),
        level in prop::sample::select(vec![TraceLevel::None, TraceLevel::Tally, TraceLevel::Counts, TraceLevel::Full]),
    )| {
        let (model, batch) = case(seed, activation, placement, connections, dt, amplitude, scale);
        let fixed = convert(&model, &options_with(widths[width], memory_bits))
            .expect("conversion of a small model");
        // These models' sums fit binary64 exactly, so the fast engine runs them itself (a
        // fallback to the chip would make the comparison below trivially true).
        prop_assert!(hsnn_hardware::fast::unsupported_reason(&fixed).is_none());
        // Which products ran in 16-bit pairs and which in binary64: both routes must be
        // compared, and on the same model where the proofs admit some tensors and not others.
        let pairs = hsnn_hardware::fast::pair_products(&fixed).len();
        let matrices = ["encoder_hidden", "encoder_memory", "kernel_hidden", "kernel_memory", "readout_kernel", "a_bar"]
            .iter()
            .filter_map(|name| fixed.tensors.named(name))
            .filter(|tensor| tensor.rows > 1 && tensor.cols > 1)
            .count();
        with_pairs.set(with_pairs.get() + u64::from(pairs > 0));
        with_binary64.set(with_binary64.get() + u64::from(pairs < matrices));
        mixed.set(mixed.get() + u64::from(pairs > 0 && pairs < matrices));
        let chip = Chip::new(fixed).expect("chip");
        let (on_chip, chip_counters) = run_batch(&chip, &batch, level == TraceLevel::Full, 3).expect("chip run");
        // The chip's record answered at the level: its counts tallied afterwards (N3).
        let expected = EngineRun::of_counts(&chip, on_chip, chip_counters, level);
        let spiking_sites = chip.model().counts.present().count();
        let tallies = expected.tallies.present().count();
        prop_assert_eq!(tallies, if level == TraceLevel::Tally { spiking_sites } else { 0 });
        for threads in [1, 2] {
            let fast = run_batch_fast(&chip, &batch, level, threads).expect("fast run");
            prop_assert_eq!(&expected.run, &fast.run, "integers, {} threads", threads);
            prop_assert_eq!(&expected.counters, &fast.counters, "counters, {} threads", threads);
            prop_assert_eq!(&expected.tallies, &fast.tallies, "tallies, {} threads", threads);
        }
        compared.set(compared.get() + 1);
        tallied.set(tallied.get() + u64::from(level == TraceLevel::Tally && spiking_sites > 0));
        let events: u64 = expected.counters.sites.iter().map(|site| site.events).sum();
        with_events.set(with_events.get() + u64::from(events > 0));
    });
    assert_eq!(compared.get(), 160);
    assert!(tallied.get() >= 20, "tallied cases: {}", tallied.get());
    assert!(
        with_events.get() >= 60,
        "cases with events: {}",
        with_events.get()
    );
    let routes = (with_pairs.get(), with_binary64.get(), mixed.get());
    assert!(
        routes.0 >= 100 && routes.1 >= 5 && routes.2 >= 5,
        "cases with pair products, with binary64 products, with both: {routes:?}"
    );
}

/// H13: a model whose sum is wider than binary64 holds exactly runs on the chip (the fast
/// engine says so and gives the chip's result).
#[test]
fn h13_fast_engine_leaves_sums_beyond_53_bits_to_the_chip() {
    let (model, batch) = case(21, 0, 3, 7, 2.0, 1.0, 8.0);
    let mut options = options_with(16, 24);
    options.accumulator_bits = 63;
    options.memory_bits = 32;
    options.memory_matrix_bits = 24;
    let fixed = convert(&model, &options).expect("conversion");
    assert!(
        fixed.sums.memory.bound_bits > 53,
        "{}",
        fixed.sums.memory.bound_bits
    );
    let reason = hsnn_hardware::fast::unsupported_reason(&fixed).expect("a sum beyond 53 bits");
    assert!(reason.contains("bits"), "{reason}");
    // The limit itself: a sum of 53 bits (bound below 2^52) is exact in binary64, 54 is not.
    let mut at_limit = fixed.clone();
    for bits in [
        &mut at_limit.sums.memory_input.bound_bits,
        &mut at_limit.sums.memory.bound_bits,
        &mut at_limit.sums.preactivation.bound_bits,
        &mut at_limit.sums.logits.bound_bits,
    ] {
        *bits = 53;
    }
    assert_eq!(hsnn_hardware::fast::unsupported_reason(&at_limit), None);
    at_limit.sums.logits.bound_bits = 54;
    let reason = hsnn_hardware::fast::unsupported_reason(&at_limit).expect("54 bits");
    assert!(
        reason.contains("logits") && reason.contains("54"),
        "{reason}"
    );
    let chip = Chip::new(fixed).expect("chip");
    let fast = run_batch_fast(&chip, &batch, TraceLevel::Full, 2).expect("fast run");
    assert_eq!(
        (fast.run, fast.counters),
        run_batch(&chip, &batch, true, 2).expect("chip run")
    );
}

/// The chip's counters and the reference's counts for one random case.
fn counted(
    seed: u64,
    activation: usize,
    placement: usize,
    connections: u8,
    dt: f64,
) -> (hsnn_spec::Model, FixedRun, HardwareCounters) {
    let (model, batch) = case(seed, activation, placement, connections, dt, 1.0, 0.7);
    let fixed = convert(&model, &ConversionOptions::default()).expect("conversion");
    let reference = reference_run(&fixed, &batch, false).expect("reference run");
    let chip = Chip::new(fixed).expect("chip");
    let (_, counters) = run_batch(&chip, &batch, false, 1).expect("chip run");
    (model, reference, counters)
}

/// H10 (C1 on bit counts): for every spiking site the chip's own counters equal SPEC B6
/// computed by the reference's metrics from the reference's counts (neuron updates, events,
/// synaptic events, synaptic additions = bit-serial steps), and its additions and unit
/// spikes equal `sum fan_out * popcount(n)` and `sum fan_out * |n|` recomputed here.
#[test]
fn h10_chip_counters_equal_b6_from_reference_counts() {
    let sites_checked = std::cell::Cell::new(0);
    proptest!(deterministic(60), |(
        seed in 0u64..1000,
        activation in 0..ACTIVATIONS.len(),
        placement in 1usize..PLACEMENTS.len(),
        connections in 0u8..8,
        dt in prop::sample::select(vec![0.5, 1.0, 3.0, 10.0]),
    )| {
        let (model, reference, counters) = counted(seed, activation, placement, connections, dt);
        let config = &model.config;
        for (site, counts, neurons, site_activation) in [
            (QuantizedSite::Hidden, &reference.counts[QuantizedSite::Hidden], config.lmu.hidden_size, config.lmu.hidden_activation),
            (QuantizedSite::MemoryInput, &reference.counts[QuantizedSite::MemoryInput], config.lmu.memory_size, Activation::Identity),
            (QuantizedSite::MemoryState, &reference.counts[QuantizedSite::MemoryState], config.lmu.memory_size * config.lmu.order, Activation::Identity),
        ] {
            let Some(chip_site) = counters.site(site) else {
                prop_assert!(counts.is_empty());
                continue;
            };
            let (fan_out, fan_out_last_step) = site.fan_outs(config);
            let trace = SiteTrace {
                site,
                activation: site_activation,
                batch: reference.batch,
                steps: reference.steps,
                neurons,
                fan_out: fan_out.clone(),
                fan_out_last_step: fan_out_last_step.clone(),
                counts: counts.clone().into(),
                integrator: Vec::new(),
                tally: None,
            };
            let mut accumulator = SiteMetricsAccumulator::new(&trace);
            accumulator.add(&trace).expect("consistent trace");
            let b6 = accumulator.finish().events;
            prop_assert_eq!(chip_site.neuron_updates, b6.neuron_updates);
            prop_assert_eq!(chip_site.events, b6.events);
            prop_assert_eq!(chip_site.total(|t| t.synaptic_events), b6.synaptic_events);
            prop_assert_eq!(chip_site.total(|t| t.bit_serial_steps), b6.synaptic_additions);
            let (mut additions, mut unit_spikes) = (0u64, 0u64);
            for (index, &n) in counts.iter().enumerate() {
                let step = (index / neurons) % reference.steps;
                let fan = if step + 1 == reference.steps { &fan_out_last_step } else { &fan_out };
                let fan = fan[index % neurons];
                additions += fan * u64::from(n.unsigned_abs().count_ones());
                unit_spikes += fan * n.unsigned_abs();
            }
            prop_assert_eq!(chip_site.total(|t| t.additions), additions);
            prop_assert_eq!(chip_site.total(|t| t.spike_synops), unit_spikes);
            sites_checked.set(sites_checked.get() + 1);
        }
    });
    assert!(sites_checked.get() >= 60, "{}", sites_checked.get());
}

/// H10: the dense multiply-accumulates are structural, hand-computed for the random model's
/// shapes (input 2, hidden 4, memory 2 x order 3, outputs 3) over 3 sequences of 12 steps,
/// all connections, hidden units spiking: per step `Abar M` 2*3*3, `x e_x` 2*2, `M e_m` 6*2,
/// `x W_x` 2*4, `M W_m` 6*4, `Bbar U` 2*3; none for the hidden and readout (events).
#[test]
fn h10_dense_mac_counts_are_structural() {
    let (_, _, counters) = counted(4, 0, 1, 7, 1.0);
    let per_sequence = |tensor: &str| {
        counters
            .dense
            .iter()
            .find(|counter| counter.tensor == tensor)
            .map(|counter| counter.macs / 3 / 12)
    };
    assert_eq!(per_sequence("a_bar"), Some(18));
    assert_eq!(per_sequence("encoder_input"), Some(4));
    assert_eq!(per_sequence("encoder_memory"), Some(12));
    assert_eq!(per_sequence("kernel_input"), Some(8));
    assert_eq!(per_sequence("kernel_memory"), Some(24));
    assert_eq!(per_sequence("b_bar"), Some(6));
    assert_eq!(
        per_sequence("kernel_hidden"),
        None,
        "hidden spikes: events, no MACs"
    );
    assert_eq!(counters.dense.len(), 6);
    // The same network without spikes: every hidden update is one MAC per target.
    let hidden = counters.site(QuantizedSite::Hidden).expect("hidden spikes");
    let dense_equivalent: Vec<u64> = hidden
        .targets
        .iter()
        .map(|target| target.dense_equivalent_macs / 3)
        .collect();
    // W_h: 11 deliveries of 4 x 4; e_h: 11 of 4 x 2; W_o: 1 of 4 x 3.
    assert_eq!(dense_equivalent, vec![176, 88, 12]);
}

/// H8: the chip as a stream (one input step in, that step's events out, state kept between
/// calls) emits exactly the reference's non-zero counts, in neuron order, and its readout
/// equals the reference's logits.
#[test]
fn h8_stream_equals_batch_forward() {
    // Placement 7 is every site: the memory state's events come between the memory input's
    // and the hidden units', as the step runs them.
    for (placement, activation) in [(3usize, 0usize), (1, 1), (2, 2), (7, 0), (4, 1)] {
        let (model, batch) = case(9, activation, placement, 7, 2.0, 1.0, 0.7);
        let fixed = convert(&model, &ConversionOptions::default()).expect("conversion");
        let reference = reference_run(&fixed, &batch, false).expect("reference run");
        let chip = Chip::new(fixed).expect("chip");
        let (hidden, memory_size) = (model.config.lmu.hidden_size, model.config.lmu.memory_size);
        for sample in 0..batch.batch {
            let mut state = chip.start(batch.sample_ids[sample], false);
            for step in 0..batch.steps {
                let at = (sample * batch.steps + step) * batch.features;
                let output = chip
                    .step(&mut state, &batch.data[at..at + batch.features])
                    .expect("step");
                let mut expected = Vec::new();
                let row = sample * batch.steps + step;
                if !reference.counts[QuantizedSite::MemoryInput].is_empty() {
                    for neuron in 0..memory_size {
                        let n = reference.counts[QuantizedSite::MemoryInput]
                            [row * memory_size + neuron];
                        if n != 0 {
                            expected.push((QuantizedSite::MemoryInput, neuron, n));
                        }
                    }
                }
                let memory_length = memory_size * model.config.lmu.order;
                if !reference.counts[QuantizedSite::MemoryState].is_empty() {
                    for neuron in 0..memory_length {
                        let n = reference.counts[QuantizedSite::MemoryState]
                            [row * memory_length + neuron];
                        if n != 0 {
                            expected.push((QuantizedSite::MemoryState, neuron, n));
                        }
                    }
                }
                if !reference.counts[QuantizedSite::Hidden].is_empty() {
                    for neuron in 0..hidden {
                        let n = reference.counts[QuantizedSite::Hidden][row * hidden + neuron];
                        if n != 0 {
                            expected.push((QuantizedSite::Hidden, neuron, n));
                        }
                    }
                }
                let got: Vec<_> = output
                    .events
                    .iter()
                    .map(|event| (event.site, event.neuron, event.count))
                    .collect();
                assert_eq!(got, expected, "sample {sample} step {step}");
            }
            let outputs = model.config.output_size;
            assert_eq!(
                chip.finish(&mut state),
                reference.logits[sample * outputs..(sample + 1) * outputs].to_vec()
            );
        }
    }
}

/// H12: the chip's results do not depend on the thread count (same integers and counters on
/// 1 and 3 threads).
#[test]
fn h12_chip_is_independent_of_threads() {
    let (model, batch) = case(21, 0, 3, 7, 2.0, 1.0, 8.0);
    let chip = Chip::new(convert(&model, &ConversionOptions::default()).expect("conversion"))
        .expect("chip");
    let one = run_batch(&chip, &batch, true, 1).expect("one thread");
    let three = run_batch(&chip, &batch, true, 3).expect("three threads");
    assert_eq!(one, three);
}

fn small_fixed() -> FixedModel {
    let (model, _) = case(3, 0, 3, 7, 2.0, 0.5, 0.7);
    convert(&model, &ConversionOptions::default()).expect("conversion")
}

/// H9: the conversion is deterministic: two conversions give byte-identical files, and a
/// written file reads back equal.
#[test]
fn h9_conversion_is_deterministic() {
    let (model, _) = case(3, 0, 3, 7, 2.0, 0.5, 0.7);
    let first = convert(&model, &ConversionOptions::default()).expect("conversion");
    let second = convert(&model, &ConversionOptions::default()).expect("conversion");
    assert_eq!(first.to_json(), second.to_json());
    let read = FixedModel::from_json(&first.to_json(), "test").expect("round trip");
    assert_eq!(read, first);
    assert_eq!(first.source.content_sha256, model.content_checksum());
}

/// H9: a fixed model file of another format or version, truncated, or with a misspelt field
/// is refused, naming what is wrong.
#[test]
fn h9_fixed_model_round_trip_and_version() {
    let text = small_fixed().to_json();
    let refused = |text: &str| {
        FixedModel::from_json(text, "f")
            .map(drop)
            .map_err(|error| error.to_string())
            .expect_err("refused")
    };
    let message = refused(&text.replacen("\"format_version\":1", "\"format_version\":99", 1));
    assert!(message.contains("99"), "{message}");
    let message = refused(&text.replacen("hsnn-fixed-model", "hsnn-model", 1));
    assert!(message.contains("hsnn-model"), "{message}");
    let message = refused(&text[..text.len() / 2]);
    assert!(message.contains("not valid JSON"), "{message}");
    let message = refused(&text.replacen("\"generator\"", "\"generater\"", 1));
    assert!(message.contains("generater"), "{message}");
}

/// H9: an integer outside its stated width is refused, naming the tensor (the checksum is
/// resealed, so it is the width check that refuses).
#[test]
fn h9_fixed_model_rejects_integers_outside_their_width() {
    let mut fixed = small_fixed();
    fixed.tensors.kernel_hidden.data[0] = 128;
    fixed.seal();
    let message = FixedModel::from_json(&fixed.to_json(), "f")
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("refused");
    assert!(message.contains("tensors.kernel_hidden"), "{message}");
}

/// H9: an edited fixed model is refused by its checksum.
#[test]
fn h9_fixed_model_checksum_detects_edits() {
    let fixed = small_fixed();
    let original = fixed.tensors.readout_kernel.data[0];
    let edited = fixed.to_json().replacen(
        &format!("\"readout_kernel\":{{\"rows\":4,\"cols\":3,\"bits\":8,\"exponent\":{},\"folded\":true,\"data\":[{original},", fixed.tensors.readout_kernel.exponent),
        &format!("\"readout_kernel\":{{\"rows\":4,\"cols\":3,\"bits\":8,\"exponent\":{},\"folded\":true,\"data\":[{},", fixed.tensors.readout_kernel.exponent, original + 1),
        1,
    );
    assert_ne!(edited, fixed.to_json(), "the edit applied");
    let message = FixedModel::from_json(&edited, "f")
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("refused");
    assert!(message.contains("content_sha256"), "{message}");
}

/// H9: a sum whose shifts disagree with the tensors' exponents is refused.
#[test]
fn h9_sums_in_the_file_are_checked_against_the_tensors() {
    let mut fixed = small_fixed();
    fixed.sums.preactivation.terms[0].shift += 1;
    fixed.seal();
    let message = FixedModel::from_json(&fixed.to_json(), "f")
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("refused");
    assert!(message.contains("sums.preactivation"), "{message}");
    let mut fixed = small_fixed();
    fixed.sums.memory.target_shift -= 1;
    fixed.seal();
    assert!(FixedModel::from_json(&fixed.to_json(), "f").is_err());
}

/// H5: a model whose sum cannot fit the accumulator is refused with the sum and the option
/// named (32-bit accumulator against the memory sum of 24-bit state and 16-bit matrices).
#[test]
fn h5_model_whose_sum_exceeds_the_accumulator_is_refused() {
    let (model, _) = case(3, 0, 1, 7, 2.0, 1.0, 0.7);
    let options = ConversionOptions {
        accumulator_bits: 32,
        ..ConversionOptions::default()
    };
    let message = convert(&model, &options)
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("refused");
    assert!(
        message.contains("memory") && message.contains("accumulator_bits"),
        "{message}"
    );
}

/// H3: Abar rounded to too few bits becomes unstable where the exact one is stable, and the
/// conversion refuses it naming `memory_matrix_bits` (order 24: unstable at 4 bits, stable
/// from 5).
#[test]
fn h3_unstable_quantized_memory_is_refused() {
    let (mut model, _) = case(2, 0, 1, 7, 2.0, 1.0, 0.7);
    model.config.lmu.order = 24;
    model.config.lmu.theta = 24.0;
    model.weights = hsnn_spec::Weights::zeros(&model.config);
    let options = ConversionOptions {
        memory_matrix_bits: 4,
        ..ConversionOptions::default()
    };
    let message = convert(&model, &options)
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("refused");
    assert!(message.contains("memory_matrix_bits"), "{message}");
    let five_bits = ConversionOptions {
        memory_matrix_bits: 5,
        ..ConversionOptions::default()
    };
    if let Err(error) = convert(&model, &five_bits) {
        panic!("stable again at 5 bits, but: {error}");
    }
}

/// H2: with the hidden units spiking, the tensors that read counts hold `alpha * w / dt`
/// rounded; with the memory input spiking, `Bbar` does; the others are unfolded.
#[test]
fn h2_alpha_over_dt_is_folded_into_the_tensors_that_read_spikes() {
    let (model, _) = case(3, 0, 3, 7, 4.0, 0.5, 0.7);
    let fixed = convert(&model, &ConversionOptions::default()).expect("conversion");
    let folded: Vec<(&str, bool)> = [
        "encoder_input",
        "encoder_hidden",
        "encoder_memory",
        "kernel_input",
        "kernel_hidden",
        "kernel_memory",
        "readout_kernel",
        "b_bar",
    ]
    .iter()
    .map(|name| (*name, fixed.tensors.named(name).expect("present").folded))
    .collect();
    assert_eq!(
        folded,
        vec![
            ("encoder_input", false),
            ("encoder_hidden", true),
            ("encoder_memory", false),
            ("kernel_input", false),
            ("kernel_hidden", true),
            ("kernel_memory", false),
            ("readout_kernel", true),
            ("b_bar", true),
        ]
    );
    // The folded W_h stands for alpha w / dt = w / 8 within half a unit of its exponent.
    let w = &model.weights.kernel_hidden.data;
    let tensor = &fixed.tensors.kernel_hidden;
    for (index, &original) in w.iter().enumerate() {
        let difference = (tensor.value(index) - original * 0.5 / 4.0).abs();
        assert!(
            difference <= 0.5 * 2f64.powi(-tensor.exponent),
            "{index}: {difference}"
        );
    }
}

/// H12 (C3 against f64): on random small networks with spiking hidden units (tanh, identity,
/// relu; every connection flag; dt 1 to 10; weight widths 6 to 16), the chip's memory stays
/// within the derived bound of its shadow until the first count difference, every first
/// difference is explained by the derived integrator bound, and sequences without a
/// difference have the shadow's logits.
#[test]
fn h12_first_count_differences_are_explained_by_the_derived_bound() {
    use hsnn_conformance::fixed_point::fixed_inputs;
    use hsnn_conformance::shadow::check_against_shadow;
    let totals = std::cell::Cell::new((0usize, 0usize, 0usize));
    proptest!(deterministic(48), |(
        seed in 0u64..1000,
        activation in 0..ACTIVATIONS.len(),
        connections in 0u8..8,
        dt in prop::sample::select(vec![1.0, 2.0, 4.0, 10.0]),
        width in prop::sample::select(vec![6u32, 8, 12, 16]),
    )| {
        let model = random_model(seed, ACTIVATIONS[activation], QuantizerPlacement::HIDDEN, connections, dt, 1.0, 0.7);
        let batch = hsnn_conformance::network::small_batch(&model, seed + 7, 3, 40);
        let fixed = convert(&model, &options_with(width, 24)).expect("conversion");
        let run = chip_run(&fixed, &batch, true).expect("chip run");
        prop_assume!(run.saturations.total() == 0);
        let report = check_against_shadow(&fixed, &run, &batch, &fixed_inputs(&fixed, &batch))
            .map_err(TestCaseError::fail)?;
        let (sequences, diverged, explained) = totals.get();
        totals.set((sequences + report.sequences, diverged + report.diverged, explained + report.explained));
    });
    let (sequences, diverged, explained) = totals.get();
    eprintln!("{sequences} sequences, {diverged} diverged, {explained} differences explained");
    assert!(sequences >= 100, "{sequences}");
    assert!(
        diverged >= 10 && explained >= diverged,
        "{diverged} {explained}"
    );
    assert!(
        diverged < sequences,
        "some sequences keep every count and compare logits"
    );
}

/// H7: the hardware backend's standalone quantizer reproduces Q2's hand-derived sequences
/// exactly on its integers (SPEC.md H7's table: every input and state is a multiple of 2^-8
/// and 2^-16, dt is exact at 16 bits, and tanh's inputs 0 and -40 map to 0 and the clamped
/// end of the table, -dt).
#[test]
fn h7_hand_derived_sequences() {
    use hsnn_spec::{Backend, Tensor2};
    let backend = hsnn_hardware::HardwareBackend::new(
        std::sync::Arc::new(hsnn_reference::compiler::ReferenceConversion),
        ConversionOptions::default(),
        1,
    );
    /// activation, dt, alpha, v_0, inputs, counts, outputs, v_T
    type Case = (Activation, f64, f64, f64, Vec<f64>, Vec<i64>, Vec<f64>, f64);
    let cases: [Case; 4] = [
        (
            Activation::Identity,
            1.0,
            1.0,
            0.0,
            vec![-0.25; 5],
            vec![-1, 0, 0, 0, -1],
            vec![-1.0, 0.0, 0.0, 0.0, -1.0],
            0.75,
        ),
        (
            Activation::Identity,
            0.5,
            2.0,
            0.5,
            vec![1.5, 1.0, 0.5, 3.0],
            vec![1, 0, 1, 1],
            vec![4.0, 0.0, 4.0, 4.0],
            0.5,
        ),
        (
            Activation::Relu,
            4.0,
            1.0,
            0.25,
            vec![0.625, -3.0, 1.25],
            vec![2, 0, 5],
            vec![0.5, 0.0, 1.25],
            0.75,
        ),
        (
            Activation::Tanh,
            8.0,
            1.0,
            0.0,
            vec![0.0, -40.0],
            vec![0, -8],
            vec![0.0, -1.0],
            0.0,
        ),
    ];
    for (activation, dt, alpha, v0, inputs, counts, outputs, final_state) in cases {
        let steps = inputs.len();
        let run = backend
            .quantize(
                activation,
                dt,
                alpha,
                &Tensor2::from_row_major(steps, 1, inputs).expect("inputs"),
                &[v0],
            )
            .expect("quantize");
        assert_eq!(run.counts, counts, "{activation:?} dt {dt}");
        assert_eq!(run.outputs, outputs, "{activation:?} dt {dt}");
        assert_eq!(run.final_state, vec![final_state], "{activation:?} dt {dt}");
    }
}

/// H3: the hardware backend reports the Legendre matrices the chip stores (each rounded to
/// `memory_matrix_bits` with its own exponent), not the exact f64 ones: equal, entry by entry,
/// to the integers of the converted model times their `2^-s`, at 8 and 16 bits.
#[test]
fn h3_hardware_backend_reports_the_stored_legendre_matrices() {
    let (model, _) = case(3, 0, 1, 7, 1.0, 1.0, 0.7);
    let exact = hsnn_reference::legendre::lmu_matrices(
        model.config.lmu.order,
        model.config.lmu.theta,
        model.config.lmu.discretizer,
    )
    .expect("exact matrices");
    for bits in [8u32, 16] {
        let options = ConversionOptions {
            memory_matrix_bits: bits,
            ..ConversionOptions::default()
        };
        let fixed = convert(&model, &options).expect("conversion");
        let backend = hsnn_hardware::HardwareBackend::new(
            std::sync::Arc::new(hsnn_reference::compiler::ReferenceConversion),
            options,
            1,
        );
        let reported = hsnn_spec::Backend::lmu_matrices(&backend, &model.config.lmu)
            .expect("reported matrices");
        for (name, reported, stored, exact) in [
            ("a_bar", &reported.a_bar, &fixed.tensors.a_bar, &exact.a_bar),
            ("b_bar", &reported.b_bar, &fixed.tensors.b_bar, &exact.b_bar),
        ] {
            let stored: Vec<f64> = (0..stored.data.len()).map(|i| stored.value(i)).collect();
            assert_eq!(reported.data, stored, "{name} at {bits} bits");
            assert_ne!(
                reported.data, exact.data,
                "{name} at {bits} bits is rounded"
            );
        }
        assert_eq!(reported.a, exact.a, "the continuous matrices are exact");
    }
}
