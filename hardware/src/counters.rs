//! What the modeled chip counts while it runs (SPEC.md clause H10). The counters are kept by
//! the event-driven loop itself, never recomputed from a trace, so that the conformance suite
//! can compare them with SPEC B6 derived from the reference's own spike counts.

use hsnn_spec::fixed::Saturations;
use hsnn_spec::QuantizedSite;
use serde::{Deserialize, Serialize};

/// The events of one spiking site into one target tensor (clause H10): hidden events reach
/// `kernel_hidden` and `encoder_hidden` at every step but the last and `readout_kernel` at the
/// last; memory-input events reach `b_bar`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventTarget {
    /// The tensor the events are multiplied into.
    pub tensor: String,
    /// The sum the products are added to (`preactivation`, `memory_input`, `memory`, `logits`).
    pub sum: String,
    /// Width of that sum (its bound, clause H5): the width of every addition.
    pub sum_bits: u32,
    /// Width of the tensor's entries.
    pub weight_bits: u32,
    /// Events times the targets each reaches (B6 `synaptic_events`).
    pub synaptic_events: u64,
    /// Per target, the bit positions of `|n|` from its lowest to its highest set bit (B2:
    /// what a bit-serial unit spends; B6 `synaptic_additions`).
    pub bit_serial_steps: u64,
    /// Per target, the set bits of `|n|` (B3): the additions of a shifted weight.
    pub additions: u64,
    /// Per target, `|n|`: unit spikes, keras-spiking's count of synaptic operations.
    pub spike_synops: u64,
    /// The multiply-accumulates the same network would do here without spikes: one per
    /// neuron update (zero or not) and target.
    pub dense_equivalent_macs: u64,
}

/// The counters of one spiking site (clause H10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteCounters {
    /// Which site.
    pub site: QuantizedSite,
    /// Neurons at the site.
    pub neurons: usize,
    /// Bits an event carries (clause H7).
    pub payload_bits: u32,
    /// Steps times neurons times sequences.
    pub neuron_updates: u64,
    /// Updates with a non-zero count.
    pub events: u64,
    /// One entry per target tensor.
    pub targets: Vec<EventTarget>,
}

impl SiteCounters {
    /// Events times their payload width: the bits the site sends.
    pub fn payload_bits_sent(&self) -> u64 {
        self.events * u64::from(self.payload_bits)
    }

    /// The sum of `field` over the targets.
    pub fn total(&self, field: impl Fn(&EventTarget) -> u64) -> u64 {
        self.targets.iter().map(field).sum()
    }
}

/// The multiply-accumulates of one dense product (clause H10), zeros included.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseCounter {
    /// The tensor (`a_bar`, `kernel_memory`, ...).
    pub tensor: String,
    /// Its operand (`memory`, `input`, `hidden`, ...).
    pub operand: String,
    /// The sum it feeds.
    pub sum: String,
    /// Width of the operand.
    pub operand_bits: u32,
    /// Width of the tensor's entries.
    pub weight_bits: u32,
    /// Width of the sum (the width of each MAC's addition).
    pub sum_bits: u32,
    /// Multiply-accumulates.
    pub macs: u64,
}

/// Words moved between memory and the arithmetic (clause H10), for a chip without weight
/// reuse between steps: an upper bound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryTraffic {
    /// One weight word per event target and per dense MAC.
    pub weight_words_read: u64,
    /// Each operand word once per dense product that reads it, per step.
    pub state_words_read: u64,
    /// `U`, `M`, `V` and the hidden output, once per step.
    pub state_words_written: u64,
}

/// Everything the modeled chip counted over a run (clause H10).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareCounters {
    /// Sequences run.
    pub sequences: u64,
    /// Steps per sequence (the last run's).
    pub steps: u64,
    /// The spiking sites, in registry order (hidden, memory input, memory state).
    pub sites: Vec<SiteCounters>,
    /// The dense products.
    pub dense: Vec<DenseCounter>,
    /// Reads of a lookup table (one per tanh neuron update).
    pub table_reads: u64,
    /// Updates of nonlinear neurons: the hidden units, and the memory-input neurons when they
    /// spike (what keras-spiking's `energy_per_neuron` prices; the linear memory has none).
    pub nonlinear_neuron_updates: u64,
    /// Memory words moved.
    pub memory: MemoryTraffic,
    /// Values saturated to their format (clause H1).
    pub saturations: Saturations,
}

impl HardwareCounters {
    /// The counters of `site`, if it spikes.
    pub fn site(&self, site: QuantizedSite) -> Option<&SiteCounters> {
        self.sites.iter().find(|counters| counters.site == site)
    }

    /// The counters of `site`, which the chip set up when the sequence started because the
    /// site spikes.
    pub(crate) fn site_mut(&mut self, site: QuantizedSite) -> &mut SiteCounters {
        self.sites
            .iter_mut()
            .find(|counters| counters.site == site)
            .expect("a spiking site's counters exist from the sequence's start")
    }

    /// Counts `macs` multiply-accumulates of `tensor` into `sum`, and a weight read each
    /// (clause H10).
    pub fn count_dense(&mut self, tensor: &str, sum: &str, macs: u64) {
        if let Some(counter) = self
            .dense
            .iter_mut()
            .find(|counter| counter.tensor == tensor && counter.sum == sum)
        {
            counter.macs += macs;
        }
        self.memory.weight_words_read += macs;
    }

    /// Multiply-accumulates of all dense products.
    pub fn dense_macs(&self) -> u64 {
        self.dense.iter().map(|counter| counter.macs).sum()
    }

    /// Adds another run's counters (the same model's), so a test split can be counted batch
    /// by batch.
    pub fn add(&mut self, other: &HardwareCounters) {
        if self.sites.is_empty() && self.dense.is_empty() {
            let sequences = self.sequences;
            *self = other.clone();
            self.sequences += sequences;
            return;
        }
        self.sequences += other.sequences;
        self.steps = other.steps;
        for (mine, theirs) in self.sites.iter_mut().zip(&other.sites) {
            mine.neuron_updates += theirs.neuron_updates;
            mine.events += theirs.events;
            for (target, other_target) in mine.targets.iter_mut().zip(&theirs.targets) {
                target.synaptic_events += other_target.synaptic_events;
                target.bit_serial_steps += other_target.bit_serial_steps;
                target.additions += other_target.additions;
                target.spike_synops += other_target.spike_synops;
                target.dense_equivalent_macs += other_target.dense_equivalent_macs;
            }
        }
        for (mine, theirs) in self.dense.iter_mut().zip(&other.dense) {
            mine.macs += theirs.macs;
        }
        self.table_reads += other.table_reads;
        self.nonlinear_neuron_updates += other.nonlinear_neuron_updates;
        self.memory.weight_words_read += other.memory.weight_words_read;
        self.memory.state_words_read += other.memory.state_words_read;
        self.memory.state_words_written += other.memory.state_words_written;
        self.saturations.add(&other.saturations);
    }
}
