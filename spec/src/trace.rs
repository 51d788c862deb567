//! What a forward pass records (SPEC.md clause N3).

use serde::{Deserialize, Serialize};

use crate::config::Activation;

/// How much of the run a forward pass records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceLevel {
    /// Nothing beyond the logits.
    None,
    /// Integer spike counts of every quantized site.
    Counts,
    /// Counts, the integrator values `w_t` (SPEC Q1) before rounding (needed by the "explained"
    /// conformance level, clause C2), and the hidden states `h_t`.
    Full,
}

/// A place in the network where the quantizer sits (SPEC.md clause N2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantizedSite {
    /// The hidden units `h_t` (base activation: the hidden activation).
    Hidden,
    /// The memory input `u_t` (base activation: identity).
    MemoryInput,
}

impl QuantizedSite {
    /// The site's code in the initial-state generator of clause Q3.
    pub fn code(self) -> u64 {
        match self {
            QuantizedSite::Hidden => 1,
            QuantizedSite::MemoryInput => 2,
        }
    }

    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            QuantizedSite::Hidden => "hidden",
            QuantizedSite::MemoryInput => "memory_input",
        }
    }
}

/// The record of one quantized site over a batch, batch-major: element (sample b, step t,
/// neuron k) is at `(b * steps + t) * neurons + k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SiteTrace {
    /// Which site.
    pub site: QuantizedSite,
    /// The site's base activation (decides the sign bit of clause B1).
    pub activation: Activation,
    /// Sequences in the batch.
    pub batch: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// Quantized neurons at this site.
    pub neurons: usize,
    /// Fan-out of one event of each neuron at every step but the last (clause B6).
    pub fan_out: Vec<u64>,
    /// Fan-out of one event of each neuron at the last step (clause B6).
    pub fan_out_last_step: Vec<u64>,
    /// Spike counts `n_t`, `batch * steps * neurons` values.
    pub counts: Vec<i64>,
    /// Integrator values `w_t = v_{t-1} + dt * r_t` (SPEC Q1) before rounding; empty unless the
    /// trace level is [`TraceLevel::Full`].
    pub integrator: Vec<f64>,
}

impl SiteTrace {
    /// Spike count of `neuron` at `step` of `sample`.
    pub fn count(&self, sample: usize, step: usize, neuron: usize) -> i64 {
        self.counts[(sample * self.steps + step) * self.neurons + neuron]
    }
}

/// Everything a forward pass records besides the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The quantizer time step the run used.
    pub dt: f64,
    /// One record per quantized site, in the order hidden, memory input; empty when nothing
    /// spikes or the trace level is [`TraceLevel::None`].
    pub sites: Vec<SiteTrace>,
    /// Hidden states `h_t`, `batch * steps * hidden_size` values; empty unless the level is
    /// [`TraceLevel::Full`].
    pub hidden: Vec<f64>,
}

impl Trace {
    /// The record of `site`, if it was quantized and recorded.
    pub fn site(&self, site: QuantizedSite) -> Option<&SiteTrace> {
        self.sites.iter().find(|record| record.site == site)
    }
}

/// Fan-out of one event of each neuron at `site` (SPEC.md clause B6), structural: `(every step
/// but the last, the last step)`. A hidden event reaches W_h and, when present, e_h; at the last
/// step only the readout reads h_T. A memory-input event enters its memory through Bbar: `order`
/// targets at every step. Part of the contract, so every backend records the same fan-outs.
pub fn fan_outs(config: &crate::NetworkConfig, site: QuantizedSite) -> (Vec<u64>, Vec<u64>) {
    let lmu = &config.lmu;
    match site {
        QuantizedSite::Hidden => {
            let mut recurrent = lmu.hidden_size as u64;
            if lmu.connections.hidden_to_memory {
                recurrent += lmu.memory_size as u64;
            }
            (
                vec![recurrent; lmu.hidden_size],
                vec![config.output_size as u64; lmu.hidden_size],
            )
        }
        QuantizedSite::MemoryInput => {
            let targets = vec![lmu.order as u64; lmu.memory_size];
            (targets.clone(), targets)
        }
    }
}
