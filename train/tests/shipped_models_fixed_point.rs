//! SPEC.md section H on the shipped paper models (models/psmnist-paper): the conversion's
//! integers against the figures of an independent numpy prototype of the clauses (the draft of
//! section H, docs/drafts/SPEC-H-draft.md), and the fixed-point network's accuracy against f64
//! on the embedded test images (clause H12's criterion).

use hsnn_spec::QuantizedSite;
use std::sync::Arc;

use hsnn_hardware::engine::EngineRun;
use hsnn_hardware::HardwareBackend;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::compiler::{convert, ReferenceConversion};
use hsnn_spec::fixed::{ConversionOptions, FixedActivation};
use hsnn_spec::TraceLevel;
use hsnn_train::data;
use hsnn_train::evaluation::evaluate;
use hsnn_train::experiment::DataConfig;
use hsnn_train::pretrained::{paper_experiment, shipped_models};

/// H2, H3, H5, H6, H7: the shipped spiking model (dt 10) converted at the default options has
/// the exponents, largest integers, table entries, sum widths and count range that the numpy
/// prototype computed from the same file (SPEC.md H2's table, H3, H5's table, H6's paper
/// values, H7's count range).
#[test]
fn h9_converted_paper_model_has_the_hand_computed_exponents() {
    let models = shipped_models().expect("shipped models");
    let fixed = convert(&models[1], &ConversionOptions::default()).expect("conversion");
    let tensors = &fixed.tensors;
    let largest = |tensor: &hsnn_spec::fixed::FixedTensor| {
        (
            tensor.exponent,
            tensor.data.iter().map(|v| v.abs()).max().unwrap_or(0),
        )
    };
    assert_eq!(largest(&tensors.encoder_input), (5, 99));
    assert_eq!(tensors.encoder_hidden.as_ref().map(largest), Some((14, 82)));
    assert_eq!(tensors.encoder_memory.as_ref().map(largest), Some((8, 81)));
    assert_eq!(tensors.kernel_input.as_ref().map(largest), Some((7, 121)));
    assert_eq!(largest(&tensors.kernel_hidden), (12, 121));
    assert_eq!(largest(&tensors.kernel_memory), (7, 93));
    assert_eq!(largest(&tensors.readout_kernel), (11, 112));
    assert_eq!(largest(&tensors.readout_bias), (11, 435));
    assert_eq!(largest(&tensors.a_bar), (15, 32726));
    assert_eq!(tensors.a_bar.data[0], 32726);
    assert_eq!((tensors.b_bar.exponent, tensors.b_bar.data[0]), (19, 669));
    assert_eq!(tensors.b_bar.data[25], -21797);
    let sums = &fixed.sums;
    let widths: Vec<(i32, u32)> = [
        &sums.memory_input,
        &sums.memory,
        &sums.preactivation,
        &sums.logits,
    ]
    .iter()
    .map(|sum| (sum.exponent, sum.bound_bits))
    .collect();
    assert_eq!(widths, vec![(28, 36), (38, 45), (27, 36), (11, 18)]);
    let FixedActivation::Table {
        first_index,
        values,
    } = &fixed.activations[QuantizedSite::Hidden]
        .as_ref()
        .expect("the hidden units have a rule")
    else {
        panic!("a spiking tanh site has a table");
    };
    let entry = |k: i64| values[(k - first_index) as usize];
    assert_eq!(
        (
            entry(0),
            entry(1),
            entry(256),
            entry(512),
            entry(2047),
            entry(-2048)
        ),
        (0, 2560, 499118, 631785, 655360, -655360)
    );
    let counts = fixed.counts[QuantizedSite::Hidden].expect("hidden spikes");
    assert_eq!((counts.min, counts.max, counts.payload_bits), (-10, 10, 5));
}

/// H12: on the first 200 embedded test images the shipped models run on the hardware backend
/// (its default engine, the fast one, which H13's checks hold equal to the chip) at the
/// default options (8-bit weights) classify within 2 points of their accuracy on the
/// optimized backend (f32, itself C2 to the f64 reference; SPEC.md H12's criterion; 200 paired
/// images make about 1 point of noise), without saturating anything, and far above chance.
#[test]
fn h12_accuracy_within_two_points_of_f64_on_the_shipped_models() {
    let experiment = paper_experiment().expect("paper experiment");
    let config = DataConfig {
        validation_size: None,
        limit: Some(200),
        permutation_seed: experiment.data.permutation_seed,
        recipe: experiment.data.recipe,
        file: None,
    };
    let images = data::load(None, &config).expect("embedded").split.test;
    let hardware = HardwareBackend::new(
        Arc::new(ReferenceConversion),
        ConversionOptions::default(),
        rayon::current_num_threads(),
    );
    for model in shipped_models().expect("shipped models") {
        let f64_accuracy = evaluate(&OptimizedBackend, &model, &images)
            .expect("optimized")
            .accuracy;
        let fixed = evaluate(&hardware, &model, &images).expect("hardware");
        let counters = hardware.take_counters();
        eprintln!(
            "{}: f32 {:.1} %, fixed point {:.1} %",
            model.config.quantizer.placement.name(),
            100.0 * f64_accuracy,
            100.0 * fixed.accuracy
        );
        assert_eq!(
            counters.saturations.total(),
            0,
            "{:?}",
            counters.saturations
        );
        assert!(fixed.accuracy > 0.9, "{}", fixed.accuracy);
        assert!(
            (fixed.accuracy - f64_accuracy).abs() <= 0.02,
            "fixed {} against {}",
            fixed.accuracy,
            f64_accuracy
        );
    }
}

/// H13: on both shipped models (non-spiking and spiking at dt 10, the default conversion) and
/// the first 24 embedded test images, the fast engine gives the chip's integers at trace level
/// full and every one of its counters, and at level tally the tally of the chip's counts; the spiking model sends events at most steps, so the
/// counters derived from the counts are exercised at full load; its large products run in
/// 16-bit integer pairs.
#[test]
fn h13_fast_engine_equals_chip_on_the_shipped_models() {
    let experiment = paper_experiment().expect("paper experiment");
    let config = DataConfig {
        validation_size: None,
        limit: Some(24),
        permutation_seed: experiment.data.permutation_seed,
        recipe: experiment.data.recipe,
        file: None,
    };
    let images = data::load(None, &config).expect("embedded").split.test;
    let indices: Vec<usize> = (0..images.len()).collect();
    let ids = indices.iter().map(|&index| index as u64).collect();
    let (batch, _) = data::batch(&images, &indices, ids).expect("batch");
    for model in shipped_models().expect("shipped models") {
        let chip = hsnn_hardware::Chip::new(
            convert(&model, &ConversionOptions::default()).expect("conversion"),
        )
        .expect("chip");
        // Every product of the paper network with more than one row and column takes the
        // 16-bit pair route (8-bit weights, 16-bit Abar, the 24-bit memory in two pieces,
        // every bound within i32).
        let mut pairs = hsnn_hardware::fast::pair_products(chip.model());
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            ["a_bar", "kernel_hidden", "kernel_memory", "readout_kernel"]
        );
        let on_chip = hsnn_hardware::run_batch(&chip, &batch, true, 2).expect("chip run");
        // At every dispatch level this CPU has (portable, AVX2, AVX-512): the same integers.
        for isa in hsnn_spec::isa::IsaLevel::available() {
            let fast = hsnn_hardware::run_batch_fast_at(&chip, &batch, TraceLevel::Full, 2, isa)
                .expect("fast run");
            let name = format!("{} model at {isa}", model.config.quantizer.placement.name());
            assert_eq!(on_chip.0, fast.run, "integers of the {name}");
            assert_eq!(on_chip.1, fast.counters, "counters of the {name}");
            let events: u64 = on_chip.1.sites.iter().map(|site| site.events).sum();
            if model
                .config
                .quantizer
                .placement
                .quantizes(QuantizedSite::Hidden)
            {
                assert!(events > 24 * 784 * 100, "{name}: {events} events");
            }
            // At level tally (what eval asks) the engine tallies as it goes and keeps no counts:
            // its tally equals the tally of the chip's counts, on 2 threads joined from 2 pieces.
            let tallied =
                hsnn_hardware::run_batch_fast_at(&chip, &batch, TraceLevel::Tally, 2, isa)
                    .expect("tallied fast run");
            let expected = EngineRun::of_counts(
                &chip,
                on_chip.0.clone(),
                on_chip.1.clone(),
                TraceLevel::Tally,
            );
            assert!(
                tallied.run.counts[QuantizedSite::Hidden].is_empty()
                    && tallied.run.memory.is_empty()
            );
            assert_eq!(
                expected.run.logits, tallied.run.logits,
                "logits of the {name}"
            );
            assert_eq!(
                expected.counters, tallied.counters,
                "counters of the {name}"
            );
            assert_eq!(expected.tallies, tallied.tallies, "tallies of the {name}");
            assert_eq!(
                model
                    .config
                    .quantizer
                    .placement
                    .quantizes(QuantizedSite::Hidden),
                tallied.tallies[QuantizedSite::Hidden].is_some(),
                "{name}"
            );
        }
    }
}

/// H12 (C3 against f64) on the paper's spiking model at dt 10: over the first 120 steps of 4
/// embedded test sequences, the chip's memory stays within the derived bound of its shadow
/// until the first count difference, and every first difference is explained by the derived
/// integrator bound (the prototype saw every paper sequence diverge, at step 8 in the median).
#[test]
fn h12_first_count_differences_on_the_paper_model_are_explained() {
    use hsnn_conformance::fixed_point::fixed_inputs;
    use hsnn_conformance::shadow::check_against_shadow;
    let experiment = paper_experiment().expect("paper experiment");
    let config = DataConfig {
        validation_size: None,
        limit: Some(4),
        permutation_seed: experiment.data.permutation_seed,
        recipe: experiment.data.recipe,
        file: None,
    };
    let images = data::load(None, &config).expect("embedded").split.test;
    let indices: Vec<usize> = (0..4).collect();
    let (full, _) = data::batch(&images, &indices, (0..4).collect()).expect("batch");
    let steps = 120;
    let mut truncated = Vec::new();
    for sample in 0..4 {
        truncated.extend_from_slice(&full.data[sample * full.steps..sample * full.steps + steps]);
    }
    let batch = hsnn_spec::SequenceBatch::new(4, steps, 1, truncated).expect("batch");
    let models = shipped_models().expect("shipped models");
    let fixed = convert(&models[1], &ConversionOptions::default()).expect("conversion");
    let chip = hsnn_hardware::Chip::new(fixed.clone()).expect("chip");
    let (run, _) = hsnn_hardware::run_batch(&chip, &batch, true, 2).expect("chip run");
    assert_eq!(run.saturations.total(), 0);
    let report = check_against_shadow(&fixed, &run, &batch, &fixed_inputs(&fixed, &batch))
        .unwrap_or_else(|violation| panic!("{violation}"));
    eprintln!("{report:?}");
    assert_eq!(report.sequences, 4);
    assert!(report.explained >= report.diverged);
}
