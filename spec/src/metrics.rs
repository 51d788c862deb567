//! Bit and event metrics (SPEC.md section B). The definitions are in SPEC.md; the backends
//! compute them, this module only names the results.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::site::QuantizedSite;

/// Event counts of one quantized site (SPEC.md clauses B5, B6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCounts {
    /// Neuron updates: neurons times steps times sequences.
    pub neuron_updates: u64,
    /// Events: neuron updates with a non-zero count.
    pub events: u64,
    /// Synaptic events: every event times its fan-out (clause B6).
    pub synaptic_events: u64,
    /// Synaptic additions: every event times its fan-out times its significant bits, the
    /// additions a shift-and-add multiply needs (clause B6).
    pub synaptic_additions: u64,
}

/// All bit metrics of one quantized site over a set of sequences (SPEC.md section B).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteMetrics {
    /// Which site.
    pub site: QuantizedSite,
    /// Quantized neurons at the site.
    pub neurons: usize,
    /// B1: mean over neurons of `ceil(log2(max|n| + 1))`, the bits of the largest magnitude
    /// each neuron emits.
    pub activity_bits: f64,
    /// B1: [`Self::activity_bits`] plus one sign bit per neuron when the base activation is
    /// signed.
    pub activity_bits_signed: f64,
    /// B1: the largest `|n|` at the site.
    pub max_abs_count: u64,
    /// B2: mean over events of the width of `|n|` from its highest to its lowest set bit.
    pub mean_significant_bits: f64,
    /// B3: mean over events of the number of set bits of `|n|`.
    pub mean_popcount: f64,
    /// B4: events divided by neuron updates.
    pub nonzero_fraction: f64,
    /// B5: how often each count value occurred (zero included).
    pub histogram: BTreeMap<i64, u64>,
    /// B5, B6: event counts.
    pub events: EventCounts,
}

/// Bit metrics of every quantized site of a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BitMetrics {
    /// One entry per quantized site, in registry order ([`crate::QuantizedSite::ALL`]).
    pub sites: Vec<SiteMetrics>,
}

impl BitMetrics {
    /// The metrics of `site`, if it was quantized.
    pub fn site(&self, site: QuantizedSite) -> Option<&SiteMetrics> {
        self.sites.iter().find(|metrics| metrics.site == site)
    }
}
