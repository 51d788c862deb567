//! Bit metrics (SPEC.md section B) against values computed by hand, and the accumulation
//! property that lets a test set be measured batch by batch.

use hsnn_reference::metrics::{
    bit_metrics, magnitude_bits, popcount, significant_bits, SiteMetricsAccumulator,
};
use hsnn_spec::{Activation, QuantizedSite, SiteTrace, Trace};
use proptest::prelude::*;

fn site(
    activation: Activation,
    batch: usize,
    steps: usize,
    neurons: usize,
    counts: Vec<i64>,
    fan_out: u64,
    fan_out_last: u64,
) -> SiteTrace {
    SiteTrace {
        site: QuantizedSite::Hidden,
        activation,
        batch,
        steps,
        neurons,
        fan_out: vec![fan_out; neurons],
        fan_out_last_step: vec![fan_out_last; neurons],
        counts: counts.into(),
        integrator: Vec::new(),
        tally: None,
    }
}

/// B1-B3: the examples of docs/PAPER.md section 5, by hand.
#[test]
fn b1_b2_b3_single_count_widths() {
    for (count, magnitude, significant, ones) in [
        (0, 0, 0, 0),
        (1, 1, 1, 1),
        (-1, 1, 1, 1),
        (2, 2, 1, 1),
        (3, 2, 2, 2),
        (4, 3, 1, 1),
        (5, 3, 3, 2),
        (6, 3, 2, 2),
        (7, 3, 3, 3),
        (-8, 4, 1, 1),
        (12, 4, 2, 2),
        (255, 8, 8, 8),
        (i64::MIN, 64, 1, 1),
    ] {
        assert_eq!(
            magnitude_bits(count),
            magnitude,
            "magnitude bits of {count}"
        );
        assert_eq!(
            significant_bits(count),
            significant,
            "significant bits of {count}"
        );
        assert_eq!(popcount(count), ones, "popcount of {count}");
    }
}

/// B1-B6 on one sequence of 4 steps and 2 tanh neurons, fan-out 10 (3 at the last step):
///
/// ```text
/// step:      0    1    2    3
/// neuron 0:  0   -3    6    0     max |n| 6 -> 3 bits
/// neuron 1:  1    4    5   -1     max |n| 5 -> 3 bits
/// ```
///
/// activity bits (3 + 3) / 2 = 3, signed 4; events 6 of 8 updates; significant bits of
/// 1, 3, 4, 6, 5, 1 = 1, 2, 1, 2, 3, 1 (mean 10/6); popcounts 1, 2, 1, 2, 2, 1 (mean 9/6);
/// synaptic events 1*10 + 2*10 + 2*10 + 1*3 = 53; additions 1*10 + (2+1)*10 + (2+3)*10 + 1*3 = 93.
#[test]
fn b1_to_b6_hand_computed_sequence() {
    let counts = vec![0, 1, -3, 4, 6, 5, 0, -1];
    let trace = Trace {
        dt: 1.0,
        sites: vec![site(Activation::Tanh, 1, 4, 2, counts, 10, 3)],
        hidden: Vec::new(),
    };
    let metrics = bit_metrics(&trace).expect("consistent trace");
    let hidden = metrics.site(QuantizedSite::Hidden).expect("hidden site");
    assert_eq!(hidden.activity_bits, 3.0);
    assert_eq!(hidden.activity_bits_signed, 4.0);
    assert_eq!(hidden.max_abs_count, 6);
    assert_eq!(hidden.mean_significant_bits, 10.0 / 6.0);
    assert_eq!(hidden.mean_popcount, 9.0 / 6.0);
    assert_eq!(hidden.nonzero_fraction, 0.75);
    assert_eq!(hidden.events.neuron_updates, 8);
    assert_eq!(hidden.events.events, 6);
    assert_eq!(hidden.events.synaptic_events, 53);
    assert_eq!(hidden.events.synaptic_additions, 93);
    let histogram: Vec<(i64, u64)> = hidden.histogram.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(
        histogram,
        vec![(-3, 1), (-1, 1), (0, 2), (1, 1), (4, 1), (5, 1), (6, 1)]
    );
}

/// B1: relu is unsigned, so no sign bit; a silent neuron needs 0 bits; no events give means
/// of 0 rather than NaN.
#[test]
fn b1_relu_has_no_sign_bit_and_silence_costs_nothing() {
    let trace = Trace {
        dt: 1.0,
        sites: vec![site(Activation::Relu, 1, 2, 2, vec![0, 1, 0, 1], 4, 4)],
        hidden: Vec::new(),
    };
    let metrics = bit_metrics(&trace).expect("consistent trace");
    let hidden = &metrics.sites[0];
    assert_eq!(hidden.activity_bits, 0.5);
    assert_eq!(hidden.activity_bits_signed, 0.5);
    let silent = Trace {
        dt: 1.0,
        sites: vec![site(Activation::Tanh, 1, 3, 1, vec![0, 0, 0], 4, 4)],
        hidden: Vec::new(),
    };
    let metrics = bit_metrics(&silent).expect("consistent trace");
    assert_eq!(metrics.sites[0].mean_significant_bits, 0.0);
    assert_eq!(metrics.sites[0].nonzero_fraction, 0.0);
    assert_eq!(metrics.sites[0].activity_bits, 0.0);
}

/// B5: a trace whose counts do not match its shape is an error, not a panic.
#[test]
fn b5_inconsistent_trace_is_an_error() {
    let trace = Trace {
        dt: 1.0,
        sites: vec![site(Activation::Tanh, 2, 3, 2, vec![0; 5], 1, 1)],
        hidden: Vec::new(),
    };
    let error = bit_metrics(&trace).expect_err("5 counts for 12 cells");
    assert!(error.to_string().contains("12 values"), "{error}");
}

/// B1-B6 from a tally (trace level tally, N3): the hand-computed sequence above, its
/// counts replaced by their tally, gives the same hand-derived values.
#[test]
fn b5_the_hand_computed_sequence_from_its_tally() {
    let counts = vec![0, 1, -3, 4, 6, 5, 0, -1];
    let trace = Trace {
        dt: 1.0,
        sites: vec![site(Activation::Tanh, 1, 4, 2, counts, 10, 3)],
        hidden: Vec::new(),
    }
    .into_tallied();
    assert!(trace.sites[0].counts.is_empty());
    let metrics = bit_metrics(&trace).expect("consistent tally");
    let hidden = &metrics.sites[0];
    assert_eq!(hidden.activity_bits, 3.0);
    assert_eq!(hidden.max_abs_count, 6);
    assert_eq!(hidden.mean_significant_bits, 10.0 / 6.0);
    assert_eq!(hidden.mean_popcount, 9.0 / 6.0);
    assert_eq!(hidden.nonzero_fraction, 0.75);
    assert_eq!(hidden.events.neuron_updates, 8);
    // Steps 0-2 (rows (0, 1), (-3, 4), (6, 5)) reach 10 targets: events 1, -3, 4, 6, 5 of
    // sig 1, 2, 1, 2, 3; the last step (0, -1) reaches 3: the event -1 of sig 1. So 50 + 3
    // events, 90 + 3 additions.
    assert_eq!(hidden.events.synaptic_events, 53);
    assert_eq!(hidden.events.synaptic_additions, 93);
    assert_eq!(hidden.histogram.values().sum::<u64>(), 8);
}

/// B5: a tally that does not fit its trace's shape (a cell of a neuron the site lacks, or
/// another number of updates in all or at the last step) is an error, not a panic.
#[test]
fn b5_a_tally_of_another_shape_is_an_error() {
    let tallied = |counts: Vec<i64>| {
        Trace {
            dt: 1.0,
            sites: vec![site(Activation::Tanh, 2, 3, 2, counts, 1, 1)],
            hidden: Vec::new(),
        }
        .into_tallied()
    };
    let good = tallied(vec![1, 0, 2, 0, -1, 3, 0, 0, 4, 1, 1, 1]);
    assert!(bit_metrics(&good).is_ok());
    let mut foreign = good.clone();
    if let Some(tally) = &mut foreign.sites[0].tally {
        tally.steps[0].neuron = 2;
    }
    let error = bit_metrics(&foreign).expect_err("a cell of neuron 2 of 2");
    assert!(error.to_string().contains("neuron 2"), "{error}");
    let mut fewer = good.clone();
    if let Some(tally) = &mut fewer.sites[0].tally {
        tally.last_step[0].times += 1;
    }
    let error = bit_metrics(&fewer).expect_err("5 updates at the last step of 4");
    assert!(error.to_string().contains("4 at it"), "{error}");
    let mut moved = good;
    if let Some(tally) = &mut moved.sites[0].tally {
        let cell = tally.last_step.remove(0);
        tally.steps.push(cell);
    }
    assert!(
        bit_metrics(&moved).is_err(),
        "an update moved off the last step"
    );
}

/// B5: metrics accumulated batch by batch equal the metrics of the concatenated batch
/// (proptest with a fixed seed, 256 cases).
#[test]
fn b5_accumulation_over_batches_equals_whole() {
    let mut runner = hsnn_conformance::deterministic_runner(256);
    let result = runner.run(&prop::collection::vec(-9i64..10, 6 * 5 * 3), |counts| {
        let whole = site(Activation::Tanh, 6, 5, 3, counts.clone(), 7, 2);
        let mut accumulator = SiteMetricsAccumulator::new(&whole);
        for chunk in counts.chunks(2 * 5 * 3) {
            accumulator
                .add(&site(Activation::Tanh, 2, 5, 3, chunk.to_vec(), 7, 2))
                .expect("consistent");
        }
        let expected = bit_metrics(&Trace {
            dt: 1.0,
            sites: vec![whole],
            hidden: Vec::new(),
        })
        .expect("consistent");
        prop_assert_eq!(&accumulator.finish(), &expected.sites[0]);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

/// B1-B6 on random traces, against a count-by-count computation written here from the
/// clauses: narrow and wide ranges of counts (the accumulator's tally keeps a window of
/// values and a map beyond it: i64's extremes in one batch),
/// a fan-out of its own per neuron and for the last step.
#[test]
fn b6_metrics_equal_a_count_by_count_computation() {
    let (batch, steps, neurons) = (3usize, 4usize, 5usize);
    let count = prop_oneof![
        6 => -12i64..13,
        3 => -200i64..200,
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX, 65, -65, 64, -64]),
    ];
    let mut runner = hsnn_conformance::deterministic_runner(256);
    let strategy = (
        prop::collection::vec(count, batch * steps * neurons),
        prop::collection::vec(0u64..50, neurons),
        prop::collection::vec(0u64..50, neurons),
    );
    let result = runner.run(&strategy, |(counts, fan_out, fan_out_last)| {
        let trace = SiteTrace {
            site: QuantizedSite::Hidden,
            activation: Activation::Tanh,
            batch,
            steps,
            neurons,
            fan_out: fan_out.clone(),
            fan_out_last_step: fan_out_last.clone(),
            counts: counts.clone().into(),
            integrator: Vec::new(),
            tally: None,
        };
        let mut accumulator = SiteMetricsAccumulator::new(&trace);
        accumulator.add(&trace).expect("consistent");
        let metrics = accumulator.finish();

        let mut histogram = std::collections::BTreeMap::new();
        let mut largest = vec![0u64; neurons];
        let (mut events, mut synaptic_events, mut synaptic_additions) = (0u64, 0u64, 0u64);
        let (mut significant_total, mut popcount_total) = (0u64, 0u64);
        for (index, &n) in counts.iter().enumerate() {
            let neuron = index % neurons;
            let step = (index / neurons) % steps;
            *histogram.entry(n).or_insert(0u64) += 1;
            let magnitude = n.unsigned_abs();
            largest[neuron] = largest[neuron].max(magnitude);
            if n != 0 {
                let bit_length = 64 - u64::from(magnitude.leading_zeros());
                let significant = bit_length - u64::from(magnitude.trailing_zeros());
                let reach = if step + 1 == steps {
                    fan_out_last[neuron]
                } else {
                    fan_out[neuron]
                };
                events += 1;
                synaptic_events += reach;
                synaptic_additions += reach * significant;
                significant_total += significant;
                popcount_total += u64::from(magnitude.count_ones());
            }
        }
        let activity: u64 = largest
            .iter()
            .map(|&m| 64 - u64::from(m.leading_zeros()))
            .sum();
        let per_event = |total: u64| {
            if events == 0 {
                0.0
            } else {
                total as f64 / events as f64
            }
        };
        prop_assert_eq!(&metrics.histogram, &histogram);
        prop_assert_eq!(metrics.events.neuron_updates, counts.len() as u64);
        prop_assert_eq!(metrics.events.events, events);
        prop_assert_eq!(metrics.events.synaptic_events, synaptic_events);
        prop_assert_eq!(metrics.events.synaptic_additions, synaptic_additions);
        prop_assert_eq!(
            metrics.max_abs_count,
            largest.iter().copied().max().unwrap_or(0)
        );
        prop_assert_eq!(metrics.activity_bits, activity as f64 / neurons as f64);
        prop_assert_eq!(
            metrics.activity_bits_signed,
            activity as f64 / neurons as f64 + 1.0
        );
        prop_assert_eq!(metrics.mean_significant_bits, per_event(significant_total));
        prop_assert_eq!(metrics.mean_popcount, per_event(popcount_total));
        prop_assert_eq!(
            metrics.nonzero_fraction,
            events as f64 / counts.len() as f64
        );
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}
