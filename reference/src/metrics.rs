//! Bit and event metrics from spike counts (SPEC.md section B).
//!
//! For a count `n`, with `|n|` written in binary:
//!
//! ```text
//! magnitude bits     ceil(log2(|n| + 1))  = bit length of |n|                   (B1)
//! significant bits   floor(log2|n|) - trailing_zeros(|n|) + 1,  n != 0          (B2)
//! popcount           number of set bits of |n|,                  n != 0          (B3)
//! ```

use std::collections::BTreeMap;

use hsnn_spec::{CountTally, EventCounts, HsnnError, Result, SiteMetrics, SiteTrace, TallyCell};

/// Bits needed for the magnitude `|n|`: `ceil(log2(|n| + 1))`, 0 for 0 (clause B1).
pub fn magnitude_bits(count: i64) -> u32 {
    64 - count.unsigned_abs().leading_zeros()
}

/// Width of `|n|` from its highest to its lowest set bit, 0 for 0 (clause B2): the additions
/// a shift-and-add multiply by `n` needs when runs of zeros are skipped (1, 2, 4, 8 -> 1;
/// 3, 6 -> 2; 5, 7 -> 3).
pub fn significant_bits(count: i64) -> u32 {
    let magnitude = count.unsigned_abs();
    if magnitude == 0 {
        0
    } else {
        magnitude_bits(count) - magnitude.trailing_zeros()
    }
}

/// Set bits of `|n|` (clause B3).
pub fn popcount(count: i64) -> u32 {
    count.unsigned_abs().count_ones()
}

/// Accumulates the metrics of one site over any number of batches, so a whole test set can be
/// measured without holding its trace (section B).
#[derive(Debug, Clone)]
pub struct SiteMetricsAccumulator {
    first: SiteTrace,
    max_abs_per_neuron: Vec<u64>,
    histogram: BTreeMap<i64, u64>,
    events: EventCounts,
    significant_bits_total: u64,
    popcount_total: u64,
}

impl SiteMetricsAccumulator {
    /// An empty accumulator shaped like `template` (its counts are not added).
    pub fn new(template: &SiteTrace) -> Self {
        let mut first = template.clone();
        first.counts = hsnn_spec::Counts::new();
        first.integrator = Vec::new();
        SiteMetricsAccumulator {
            max_abs_per_neuron: vec![0; template.neurons],
            first,
            histogram: BTreeMap::new(),
            events: EventCounts::default(),
            significant_bits_total: 0,
            popcount_total: 0,
        }
    }

    /// Adds a batch's counts; errors when the trace is of another site or shape.
    pub fn add(&mut self, trace: &SiteTrace) -> Result<()> {
        if trace.site != self.first.site || trace.neurons != self.first.neurons {
            return Err(HsnnError::ShapeMismatch {
                name: "site trace".into(),
                expected: format!("{:?} with {} neurons", self.first.site, self.first.neurons),
                found: format!("{:?} with {} neurons", trace.site, trace.neurons),
            });
        }
        if trace.fan_out.len() != trace.neurons || trace.fan_out_last_step.len() != trace.neurons {
            return Err(HsnnError::ShapeMismatch {
                name: "site trace fan-out".into(),
                expected: format!("{} values per step kind (one per neuron)", trace.neurons),
                found: format!(
                    "{} and {}",
                    trace.fan_out.len(),
                    trace.fan_out_last_step.len()
                ),
            });
        }
        let counted;
        let tally = match &trace.tally {
            Some(tally) => {
                check_tally(trace, tally)?;
                tally
            }
            None => {
                let expected_length = trace.batch * trace.steps * trace.neurons;
                if trace.counts.len() != expected_length {
                    return Err(HsnnError::ShapeMismatch {
                        name: "site trace counts".into(),
                        expected: format!("{expected_length} values"),
                        found: format!("{} values", trace.counts.len()),
                    });
                }
                // Tallied by neuron and value first, so that the metrics of a (neuron, value)
                // pair are taken once per batch: the same sums as counting one by one, in a few
                // nanoseconds per count instead of a tree update.
                counted = trace.counts.tally(trace.steps, trace.neurons);
                &counted
            }
        };
        for cell in &tally.steps {
            self.count_one(
                cell.neuron,
                cell.count,
                trace.fan_out[cell.neuron],
                cell.times,
            );
        }
        for cell in &tally.last_step {
            let fan_out = trace.fan_out_last_step[cell.neuron];
            self.count_one(cell.neuron, cell.count, fan_out, cell.times);
        }
        Ok(())
    }

    /// Counts `times` occurrences of `count` at `neuron`, whose events reach `fan_out`
    /// targets (B1-B6).
    fn count_one(&mut self, neuron: usize, count: i64, fan_out: u64, times: u64) {
        *self.histogram.entry(count).or_insert(0) += times;
        self.events.neuron_updates += times;
        let magnitude = count.unsigned_abs();
        let maximum = &mut self.max_abs_per_neuron[neuron];
        *maximum = (*maximum).max(magnitude);
        if count != 0 {
            let significant = u64::from(significant_bits(count));
            self.events.events += times;
            self.events.synaptic_events += fan_out * times;
            self.events.synaptic_additions += fan_out * significant * times;
            self.significant_bits_total += significant * times;
            self.popcount_total += u64::from(popcount(count)) * times;
        }
    }

    /// The metrics of everything added (section B). Means over no events are 0.
    pub fn finish(&self) -> SiteMetrics {
        let neurons = self.first.neurons;
        let magnitude_total: u64 = self
            .max_abs_per_neuron
            .iter()
            // The bit length of the magnitude itself: |i64::MIN| = 2^63 needs 64 bits, which a
            // conversion back to i64 would lose.
            .map(|&maximum| u64::from(64 - maximum.leading_zeros()))
            .sum();
        let activity_bits = magnitude_total as f64 / neurons as f64;
        let sign_bit = if self.first.activation.is_signed() {
            1.0
        } else {
            0.0
        };
        let per_event = |total: u64| {
            if self.events.events == 0 {
                0.0
            } else {
                total as f64 / self.events.events as f64
            }
        };
        SiteMetrics {
            site: self.first.site,
            neurons,
            activity_bits,
            activity_bits_signed: activity_bits + sign_bit,
            max_abs_count: self.max_abs_per_neuron.iter().copied().max().unwrap_or(0),
            mean_significant_bits: per_event(self.significant_bits_total),
            mean_popcount: per_event(self.popcount_total),
            nonzero_fraction: if self.events.neuron_updates == 0 {
                0.0
            } else {
                self.events.events as f64 / self.events.neuron_updates as f64
            },
            histogram: self.histogram.clone(),
            events: self.events.clone(),
        }
    }
}

/// Checks a tally against its trace's shape (B5, N3): every cell of one of its neurons, and
/// as many updates as `batch * steps * neurons`, `batch * neurons` of them at the last step.
fn check_tally(trace: &SiteTrace, tally: &CountTally) -> Result<()> {
    let cells = tally.steps.iter().chain(&tally.last_step);
    if let Some(cell) = cells.clone().find(|cell| cell.neuron >= trace.neurons) {
        return Err(HsnnError::ShapeMismatch {
            name: "site trace tally".into(),
            expected: format!("neurons below {}", trace.neurons),
            found: format!("a cell of neuron {}", cell.neuron),
        });
    }
    let total = |cells: &[TallyCell]| {
        cells
            .iter()
            .try_fold(0u64, |sum, cell| sum.checked_add(cell.times))
    };
    let last_steps = if trace.steps > 0 {
        trace.batch * trace.neurons
    } else {
        0
    };
    let expected = (
        (trace.batch * trace.steps * trace.neurons - last_steps) as u64,
        last_steps as u64,
    );
    let found = (total(&tally.steps), total(&tally.last_step));
    if found != (Some(expected.0), Some(expected.1)) {
        return Err(HsnnError::ShapeMismatch {
            name: "site trace tally".into(),
            expected: format!(
                "{} updates before the last step and {} at it",
                expected.0, expected.1
            ),
            found: format!("{:?} and {:?}", found.0, found.1),
        });
    }
    Ok(())
}

/// The metrics of every site of one trace (section B).
pub fn bit_metrics(trace: &hsnn_spec::Trace) -> Result<hsnn_spec::BitMetrics> {
    let mut sites = Vec::new();
    for site_trace in &trace.sites {
        let mut accumulator = SiteMetricsAccumulator::new(site_trace);
        accumulator.add(site_trace)?;
        sites.push(accumulator.finish());
    }
    Ok(hsnn_spec::BitMetrics { sites })
}
