//! The conformance levels of SPEC.md section C, with their numbers.

use hsnn_spec::{SiteTrace, Tensor2};

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

impl Level {
    /// Whether `candidate` is close enough to `expected` for this level.
    pub fn reals_agree(&self, expected: f64, candidate: f64) -> bool {
        let difference = (expected - candidate).abs();
        match *self {
            Level::Exact => difference <= EXACT_RELATIVE * expected.abs().max(1.0),
            Level::Explained { relative, .. } => difference <= relative * expected.abs().max(1.0),
            Level::Bounded { absolute } => difference <= absolute,
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

/// The comparison of one site's counts between the reference and a candidate (clause C2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountComparison {
    /// Sequences compared.
    pub sequences: usize,
    /// Sequences whose counts differ somewhere.
    pub diverged: Vec<usize>,
    /// First differences `(sample, step, neuron, reference integrator)` that are explained.
    pub explained: Vec<(usize, usize, usize, f64)>,
    /// First differences that are not explained.
    pub unexplained: Vec<(usize, usize, usize, f64)>,
}

/// Compares counts sequence by sequence up to each sequence's first difference, which is
/// explained when the reference integrator there lies within `integer_distance` of an integer
/// (clause C2). After a first difference the two runs follow different trajectories, so later
/// steps of that sequence are not compared. `reference` must carry integrator values
/// (trace level `full`).
pub fn compare_counts(
    reference: &SiteTrace,
    candidate: &SiteTrace,
    integer_distance: f64,
) -> CountComparison {
    assert_eq!(
        (reference.batch, reference.steps, reference.neurons),
        (candidate.batch, candidate.steps, candidate.neurons),
        "site traces of different shapes"
    );
    assert_eq!(
        reference.integrator.len(),
        reference.counts.len(),
        "the reference trace needs integrator values (trace level full)"
    );
    let mut comparison = CountComparison {
        sequences: reference.batch,
        ..CountComparison::default()
    };
    for sample in 0..reference.batch {
        'steps: for step in 0..reference.steps {
            for neuron in 0..reference.neurons {
                let index = (sample * reference.steps + step) * reference.neurons + neuron;
                if reference.counts[index] != candidate.counts[index] {
                    let integrator = reference.integrator[index];
                    let distance = (integrator - integrator.round()).abs();
                    let entry = (sample, step, neuron, integrator);
                    if distance <= integer_distance {
                        comparison.explained.push(entry);
                    } else {
                        comparison.unexplained.push(entry);
                    }
                    comparison.diverged.push(sample);
                    break 'steps;
                }
            }
        }
    }
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsnn_spec::{Activation, QuantizedSite};

    fn site(counts: Vec<i64>, integrator: Vec<f64>) -> SiteTrace {
        SiteTrace {
            site: QuantizedSite::Hidden,
            activation: Activation::Tanh,
            batch: 2,
            steps: 2,
            neurons: 1,
            fan_out: vec![1],
            fan_out_last_step: vec![1],
            counts,
            integrator,
        }
    }

    /// C2: a difference next to an integer is explained, one far from it is not, and later
    /// steps of a diverged sequence are not compared.
    #[test]
    fn c2_count_comparison_classifies_first_differences() {
        let reference = site(vec![1, 0, 2, 5], vec![1.0004, 0.5, 2.5, 5.2]);
        let candidate = site(vec![0, 3, 1, 5], vec![]);
        let comparison = compare_counts(&reference, &candidate, 1e-3);
        assert_eq!(comparison.diverged, vec![0, 1]);
        assert_eq!(comparison.explained, vec![(0, 0, 0, 1.0004)]);
        assert_eq!(comparison.unexplained, vec![(1, 0, 0, 2.5)]);
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
