//! The conformance levels of SPEC.md section C, with their numbers.

use hsnn_spec::{QuantizedSite, SiteTrace, Tensor2, Trace};

/// How closely a backend must agree with the reference (SPEC.md clauses C1-C3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    /// C1: integers identical; reals within [`EXACT_RELATIVE`] (the reference against itself
    /// and against its golden vectors on another platform).
    Exact,
    /// C2: every spike-count difference occurs where the reference's integrator lies within
    /// `integer_distance` of an integer (first divergence per sequence), and reals agree within
    /// `relative` on sequences that did not diverge.
    Explained {
        /// Largest distance of the reference integrator to an integer that explains a count
        /// difference.
        integer_distance: f64,
        /// Relative bound on real-valued outputs.
        relative: f64,
    },
    /// C3: a fixed-point backend against the reference's rounding of the same weights, with
    /// the bound of clause C3 on every real-valued output.
    Bounded {
        /// Absolute bound on real-valued outputs.
        absolute: f64,
    },
    /// H12: a fixed-point backend (section H) run through the generic checks. Its own
    /// conformance is H12's (bit for bit against the reference's fixed-point mode, the shadow
    /// bound, the accuracy criterion); here reals agree within `absolute` of f64 where the
    /// fixed-point formats allow it, Legendre matrices within half a unit of a 16-bit entry,
    /// and a check that compares what fixed point cannot reproduce says so
    /// ([`not_applicable`]).
    FixedPoint {
        /// Absolute bound on real-valued outputs of small networks at the default widths.
        absolute: f64,
    },
}

/// The generic checks' level for the hardware backend at the default conversion options:
/// reals of the small test networks within 0.025 of f64 (8-bit weights, 8-bit hidden
/// outputs; the largest difference measured over the suite is 0.0106, in
/// n2_spiking_off_equals_plain_lmu, so the suite fails at 0.01).
pub const FIXED_POINT: Level = Level::FixedPoint { absolute: 0.025 };

/// Half a unit of a 16-bit Legendre matrix entry of magnitude below 1 (H3: exponent 15 or
/// more): the agreement of a fixed-point backend's stored matrices with f64.
pub const FIXED_POINT_MATRIX: f64 = 1.0 / 65536.0;

/// Prefix of the panic message of a check that does not apply to a level; the matrix shows it
/// as `n/a` with the reason.
pub const NOT_APPLICABLE: &str = "n/a: ";

/// Prefix of the panic message of a check that needs a method a port (SPEC.md clause C6) does
/// not implement; the runner reports it as `not implemented`, not as a failure.
pub const NOT_IMPLEMENTED: &str = "not implemented: ";

/// Prefix of the panic message of a check whose input a port (SPEC.md clause C6) declined as
/// outside what it supports (a placement, a loss, an activation, a discretizer, a trace
/// level); the runner reports it as `not supported`, never as a failure or a pass.
pub const NOT_SUPPORTED: &str = "not supported: ";

/// Ends a check that cannot hold at this level, with the reason and the clause that checks the
/// property instead (clause C5).
pub fn not_applicable(reason: &str) -> ! {
    panic!("{NOT_APPLICABLE}{reason}")
}

/// C1's bound on reals: results may differ by the last bits of libm functions across
/// platforms, nothing more.
pub const EXACT_RELATIVE: f64 = 1e-12;

/// C2's numbers for an f32 backend: 2^-13 relative on reals (a few f32 ulps accumulated over
/// a few hundred terms), 1e-3 distance to an integer to explain a spike-count difference.
pub const F32_EXPLAINED: Level = Level::Explained {
    integer_distance: 1e-3,
    relative: 1.0 / 8192.0,
};

/// C2's numbers for a float64 implementation that does not follow Q2's operation order or
/// whose tanh is not faithfully rounded (SPEC.md clause Q2; TensorFlow's, for example): a
/// count difference is explained where the reference integrator lies within 1e-9 of an
/// integer (thousands of f64 ulps of the integrators of C4's cases, none of which lies
/// closer than 4.9e-5 but the carry case, which C2 never explains), reals within 1e-9
/// relative. The carry rule and the hand-derived sequences of Q2 are compared exactly at
/// every level.
pub const F64_EXPLAINED: Level = Level::Explained {
    integer_distance: 1e-9,
    relative: 1e-9,
};

/// The gradients of a float64 trainer at the level of [`F64_EXPLAINED`]: within 1e-9 of the
/// problem's largest reference gradient (C3's comparison with f64 numbers).
pub const F64_GRADIENTS: Level = Level::Bounded { absolute: 1e-9 };

/// Whether the reference's integrator value `w` is at a carry step of SPEC.md clause Q2
/// (`-2^-54 <= w < 0`, where `1 + w` rounds to 1.0): its count is decided by the carry rule,
/// not by rounding, so no level explains a difference there (C2).
pub fn is_carry_step(integrator: f64) -> bool {
    (-(2f64.powi(-54))..0.0).contains(&integrator)
}

/// C3's bound for the gradients of an f32 trainer (SPEC.md clause C3): every gradient within
/// `absolute` times the problem's largest reference gradient (at least 1e-3), on the same
/// model and, when it spikes, the same spike counts.
pub const F32_GRADIENTS: Level = Level::Bounded { absolute: 1e-4 };

impl Level {
    /// Whether `candidate` is close enough to `expected` for this level.
    pub fn reals_agree(&self, expected: f64, candidate: f64) -> bool {
        let difference = (expected - candidate).abs();
        match *self {
            Level::Exact => difference <= EXACT_RELATIVE * expected.abs().max(1.0),
            Level::Explained { relative, .. } => difference <= relative * expected.abs().max(1.0),
            Level::Bounded { absolute } | Level::FixedPoint { absolute } => difference <= absolute,
        }
    }
}

/// Asserts that every element of `candidate` agrees with `expected` at `level`, naming the
/// first element that does not.
pub fn assert_reals_agree(level: Level, what: &str, expected: &[f64], candidate: &[f64]) {
    assert_eq!(expected.len(), candidate.len(), "{what}: lengths differ");
    for (index, (&wanted, &got)) in expected.iter().zip(candidate).enumerate() {
        assert!(
            level.reals_agree(wanted, got),
            "{what}[{index}]: expected {wanted:e}, got {got:e} (difference {:e}) at level {level:?}",
            (wanted - got).abs()
        );
    }
}

/// Asserts that two tensors have the same shape and agree at `level`.
pub fn assert_tensors_agree(level: Level, what: &str, expected: &Tensor2, candidate: &Tensor2) {
    assert_eq!(expected.shape(), candidate.shape(), "{what}: shapes differ");
    assert_reals_agree(level, what, &expected.data, &candidate.data);
}

/// A first count difference of one sequence: where it is and the reference integrator there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FirstDifference {
    /// The sequence.
    pub sample: usize,
    /// The step.
    pub step: usize,
    /// The site.
    pub site: QuantizedSite,
    /// The neuron.
    pub neuron: usize,
    /// The reference's integrator value `w` there (SPEC Q1).
    pub integrator: f64,
}

/// The comparison of the spike counts of two traces (clause C2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountComparison {
    /// Sequences compared.
    pub sequences: usize,
    /// Sequences whose counts differ somewhere.
    pub diverged: Vec<usize>,
    /// First differences that are explained (every neuron that differs at a sequence's first
    /// differing step and site).
    pub explained: Vec<FirstDifference>,
    /// First differences that are not explained.
    pub unexplained: Vec<FirstDifference>,
}

/// Compares the counts of every site, sequence by sequence and step by step in causal order
/// (within a step the memory input before the hidden units, clause N2), up to each sequence's
/// first difference. That difference is explained when the reference integrator there lies
/// within `integer_distance` of an integer (clause C2). After it the two runs follow
/// different trajectories, so the rest of that sequence is not compared. `reference` must
/// carry integrator values (trace level `full`).
pub fn compare_counts(
    reference: &Trace,
    candidate: &Trace,
    integer_distance: f64,
) -> CountComparison {
    // Within a step, the sites in the order the step quantizes them (clause N2).
    let mut causal_order = QuantizedSite::ALL;
    causal_order.sort_by_key(|site| site.position());
    let pairs: Vec<(&SiteTrace, &SiteTrace)> = causal_order
        .iter()
        .filter_map(|&site| Some((reference.site(site)?, candidate.site(site)?)))
        .collect();
    assert_eq!(
        pairs.len(),
        reference.sites.len().max(candidate.sites.len()),
        "the traces record different sites"
    );
    let Some((first, _)) = pairs.first() else {
        return CountComparison::default();
    };
    let (batch, steps) = (first.batch, first.steps);
    for (expected, got) in &pairs {
        assert_eq!(
            (expected.batch, expected.steps, expected.neurons),
            (got.batch, got.steps, got.neurons),
            "{:?} site traces of different shapes",
            expected.site
        );
        assert_eq!(
            expected.integrator.len(),
            expected.counts.len(),
            "the reference trace needs integrator values (trace level full)"
        );
    }
    let mut comparison = CountComparison {
        sequences: batch,
        ..CountComparison::default()
    };
    for sample in 0..batch {
        // The first (step, site) where the runs differ; every neuron that differs there is an
        // independent first cause and must be explained.
        let first_differences = (0..steps).find_map(|step| {
            pairs.iter().find_map(|(expected, got)| {
                let differences: Vec<FirstDifference> = (0..expected.neurons)
                    .filter_map(|neuron| {
                        let index = (sample * steps + step) * expected.neurons + neuron;
                        (expected.counts.get(index) != got.counts.get(index)).then(|| {
                            FirstDifference {
                                sample,
                                step,
                                site: expected.site,
                                neuron,
                                integrator: expected.integrator[index],
                            }
                        })
                    })
                    .collect();
                (!differences.is_empty()).then_some(differences)
            })
        });
        if let Some(differences) = first_differences {
            for difference in differences {
                let distance = (difference.integrator - difference.integrator.round()).abs();
                if distance <= integer_distance && !is_carry_step(difference.integrator) {
                    comparison.explained.push(difference);
                } else {
                    comparison.unexplained.push(difference);
                }
            }
            comparison.diverged.push(sample);
        }
    }
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsnn_spec::Activation;

    fn site(site: QuantizedSite, counts: Vec<i64>, integrator: Vec<f64>) -> SiteTrace {
        SiteTrace {
            site,
            activation: Activation::Tanh,
            batch: 3,
            steps: 2,
            neurons: 1,
            fan_out: vec![1],
            fan_out_last_step: vec![1],
            counts: counts.into(),
            integrator,
            tally: None,
        }
    }

    fn trace(sites: Vec<SiteTrace>) -> Trace {
        Trace {
            dt: 1.0,
            sites,
            hidden: Vec::new(),
        }
    }

    /// C2: a difference next to an integer is explained, one far from it is not, later steps
    /// of a diverged sequence are not compared, and within a step the memory input comes
    /// first (sample 2: its memory-input difference at step 1 explains the sequence although
    /// the hidden units also differ at that step).
    #[test]
    fn c2_count_comparison_classifies_first_differences() {
        let reference = trace(vec![
            site(
                QuantizedSite::Hidden,
                vec![1, 0, 2, 5, 1, 1],
                vec![1.0004, 0.5, 2.5, 5.2, 1.5, 1.5],
            ),
            site(
                QuantizedSite::MemoryInput,
                vec![0, 0, 0, 0, 0, 3],
                vec![0.5, 0.5, 0.5, 0.5, 0.5, 2.9999],
            ),
        ]);
        let candidate = trace(vec![
            site(QuantizedSite::Hidden, vec![0, 3, 1, 5, 1, 2], vec![]),
            site(QuantizedSite::MemoryInput, vec![0, 0, 0, 0, 0, 2], vec![]),
        ]);
        let comparison = compare_counts(&reference, &candidate, 1e-3);
        assert_eq!(comparison.diverged, vec![0, 1, 2]);
        let explained: Vec<_> = comparison
            .explained
            .iter()
            .map(|d| (d.sample, d.step, d.site))
            .collect();
        assert_eq!(
            explained,
            vec![
                (0, 0, QuantizedSite::Hidden),
                (2, 1, QuantizedSite::MemoryInput)
            ]
        );
        assert_eq!(comparison.unexplained.len(), 1);
        assert_eq!(
            (
                comparison.unexplained[0].sample,
                comparison.unexplained[0].integrator
            ),
            (1, 2.5)
        );
    }

    /// C2: two neurons differing at the same first step are both first causes: an explained
    /// one does not hide an unexplained one.
    #[test]
    fn c2_every_neuron_at_the_first_difference_is_judged() {
        let hidden = |counts: Vec<i64>, integrator: Vec<f64>| SiteTrace {
            neurons: 2,
            batch: 1,
            fan_out: vec![1, 1],
            fan_out_last_step: vec![1, 1],
            ..site(QuantizedSite::Hidden, counts, integrator)
        };
        let reference = trace(vec![hidden(vec![1, 2, 0, 0], vec![1.0002, 2.5, 0.5, 0.5])]);
        let candidate = trace(vec![hidden(vec![0, 3, 0, 0], vec![])]);
        let comparison = compare_counts(&reference, &candidate, 1e-3);
        assert_eq!(comparison.explained.len(), 1);
        assert_eq!(comparison.unexplained.len(), 1);
        assert_eq!(comparison.unexplained[0].neuron, 1);
    }

    /// C1: the exact level allows only libm-sized differences.
    #[test]
    fn c1_exact_level_rejects_visible_differences() {
        assert!(Level::Exact.reals_agree(1.0, 1.0 + 1e-13));
        assert!(!Level::Exact.reals_agree(1.0, 1.0 + 1e-9));
        assert!(F32_EXPLAINED.reals_agree(100.0, 100.0 + 1e-3));
        assert!(!F32_EXPLAINED.reals_agree(100.0, 100.1));
    }
}
