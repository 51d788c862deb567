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

use hsnn_spec::{EventCounts, HsnnError, Result, SiteMetrics, SiteTrace};

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

/// The largest tally (neurons times distinct counts) [`SiteMetricsAccumulator::add`] keeps:
/// 32 MiB of u64 cells.
const MAX_TALLY_CELLS: usize = 1 << 22;

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
        first.counts = Vec::new();
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
        let expected_length = trace.batch * trace.steps * trace.neurons;
        if trace.counts.len() != expected_length {
            return Err(HsnnError::ShapeMismatch {
                name: "site trace counts".into(),
                expected: format!("{expected_length} values"),
                found: format!("{} values", trace.counts.len()),
            });
        }
        // Every step but the last reaches `fan_out`; there, each count is tallied by neuron
        // and value, and the metrics of a (neuron, value) pair are taken once per batch: the
        // same sums as counting one by one, in a few nanoseconds per count instead of a
        // tree update. The tally spans the batch's own range of counts (a few values at dt
        // 10, a few thousand at dt 1000); a range too wide for it, and the last step
        // (fan_out_last_step), are counted one by one.
        let neurons = trace.neurons;
        let lowest = trace.counts.iter().copied().min().unwrap_or(0);
        let highest = trace.counts.iter().copied().max().unwrap_or(0);
        let width = highest
            .checked_sub(lowest)
            .and_then(|span| usize::try_from(span).ok())
            .map(|span| span + 1)
            .filter(|&width| width.saturating_mul(neurons) <= MAX_TALLY_CELLS);
        let mut tally = vec![0u64; width.map_or(0, |width| width * neurons)];
        for sample in 0..trace.batch {
            for step in 0..trace.steps {
                let start = (sample * trace.steps + step) * neurons;
                let counts = &trace.counts[start..start + neurons];
                match width {
                    Some(width) if step + 1 < trace.steps => {
                        for (cells, &count) in tally.chunks_mut(width).zip(counts) {
                            // In range by construction: lowest <= count <= highest.
                            cells[count.abs_diff(lowest) as usize] += 1;
                        }
                    }
                    _ => {
                        let fan_out = if step + 1 == trace.steps {
                            &trace.fan_out_last_step
                        } else {
                            &trace.fan_out
                        };
                        for (neuron, &count) in counts.iter().enumerate() {
                            self.count_one(neuron, count, fan_out[neuron], 1);
                        }
                    }
                }
            }
        }
        if let Some(width) = width {
            for (neuron, cells) in tally.chunks(width).enumerate() {
                for (offset, &times) in cells.iter().enumerate() {
                    if times > 0 {
                        let count = lowest.wrapping_add(offset as i64);
                        self.count_one(neuron, count, trace.fan_out[neuron], times);
                    }
                }
            }
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
