//! The modeled chip running a fixed model (SPEC.md clauses H7, H8, H10), one sequence as a
//! stream of steps.
//!
//! A spiking neuron's count is not read by its targets as a dense vector: each neuron with
//! `n != 0` sends an event `(neuron, n)`, and every target adds `n * w` by shift-and-add over
//! the set bits of `|n|` into its accumulator. Hidden events of step `t` are delivered at the
//! start of step `t + 1` (to `W_h` and `e_h`) or, after the last step, to the readout; a
//! memory-input event is delivered within its step to its memory through `Bbar`. The dense
//! parts are multiply-accumulates. Every sum is exact, so the order of delivery changes no bit
//! (clause H5), and each counter is incremented where the work is done.

use hsnn_spec::fixed::{FixedActivation, FixedModel, FixedRun, FixedTensor, Sum};
use hsnn_spec::initial_state::initial_state;
use hsnn_spec::{HsnnError, QuantizedSite, Result, SiteMap};

use crate::arithmetic::{bit_serial_steps, fire, nearest, popcount, rshr, saturate, shift_and_add};
use crate::counters::{DenseCounter, EventTarget, HardwareCounters, SiteCounters};

/// One event: a neuron of a spiking site sent its non-zero count (clause H8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The site.
    pub site: QuantizedSite,
    /// The neuron.
    pub neuron: usize,
    /// Its count, with its sign.
    pub count: i64,
}

/// A fixed model loaded into the chip (validated once, when loaded).
#[derive(Debug, Clone)]
pub struct Chip {
    model: FixedModel,
}

/// The state of one sequence on the chip (clause H8): the memory, the previous hidden output,
/// the integrators, events waiting for delivery, and the counters so far.
#[derive(Debug, Clone)]
pub struct ChipState {
    step: usize,
    memory: Vec<i64>,
    hidden_output: Vec<i64>,
    /// Each spiking site's integrators `V` (empty where the site does not spike).
    pub(crate) integrators: SiteMap<Vec<i64>>,
    pending_hidden_events: Vec<Event>,
    /// What the chip counted for this sequence so far.
    pub counters: HardwareCounters,
    /// The integers of every step so far (clause H12), when recording was asked for.
    pub record: FixedRun,
    full: bool,
}

/// One step's result in a stream (clause H8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutput {
    /// The events the step's spiking sites sent in the order the step runs them (memory input,
    /// memory state, hidden units), each in neuron order.
    pub events: Vec<Event>,
}

/// The term of `sum` whose tensor is `tensor`, if the sum has one (H5).
pub(crate) fn term<'a>(sum: &'a Sum, tensor: &str) -> Option<&'a hsnn_spec::fixed::SumTerm> {
    sum.terms.iter().find(|term| term.tensor == tensor)
}

impl Chip {
    /// Loads a fixed model (validated again: the chip trusts no file).
    pub fn new(model: FixedModel) -> Result<Self> {
        model.validate()?;
        Ok(Chip { model })
    }

    /// The loaded model.
    pub fn model(&self) -> &FixedModel {
        &self.model
    }

    fn tensor(&self, name: &str) -> &FixedTensor {
        self.model
            .tensors
            .named(name)
            .expect("a validated fixed model holds every tensor its sums name")
    }

    /// A new sequence: zero memory and hidden output, the integrators at `V_0` (clause H7),
    /// counters at zero. `full` records `U`, `M`, `Z` and `H` of every step.
    pub fn start(&self, sample_id: u64, full: bool) -> ChipState {
        let lmu = &self.model.config.lmu;
        let placement = self.model.config.quantizer.placement;
        let scale = 2f64.powi(self.model.formats.integrator_fraction_bits as i32);
        let integrators = |site: QuantizedSite, neurons: usize| -> Vec<i64> {
            (0..neurons)
                .map(|neuron| {
                    let v0 = initial_state(
                        &self.model.config.quantizer.initial_state,
                        sample_id,
                        site,
                        neuron,
                    );
                    (v0 * scale).floor() as i64
                })
                .collect()
        };
        let mut counters = HardwareCounters {
            sequences: 1,
            ..HardwareCounters::default()
        };
        // Each spiking site's counters, in registry order, with the tensors its events reach
        // (B6's fan-outs): a hidden event W_h, e_h when present, and at the last step W_o; a
        // memory-input event Bbar; a memory-state event W_m.
        for site in QuantizedSite::ALL {
            let Some(range) = self.model.counts[site] else {
                continue;
            };
            let targets = match site {
                QuantizedSite::Hidden => {
                    let mut targets = vec![self.event_target("kernel_hidden", "preactivation")];
                    if self.model.tensors.encoder_hidden.is_some() {
                        targets.push(self.event_target("encoder_hidden", "memory_input"));
                    }
                    targets.push(self.event_target("readout_kernel", "logits"));
                    targets
                }
                QuantizedSite::MemoryInput => vec![self.event_target("b_bar", "memory")],
                QuantizedSite::MemoryState => {
                    vec![self.event_target("kernel_memory", "preactivation")]
                }
            };
            counters.sites.push(SiteCounters {
                site,
                neurons: site.neurons(lmu),
                payload_bits: range.payload_bits,
                neuron_updates: 0,
                events: 0,
                targets,
            });
        }
        for (sum_name, sum) in self.sums() {
            for term in &sum.terms {
                if term.operand.ends_with("_counts") {
                    continue;
                }
                let tensor = self.tensor(&term.tensor);
                counters.dense.push(DenseCounter {
                    tensor: term.tensor.clone(),
                    operand: term.operand.clone(),
                    sum: sum_name.into(),
                    operand_bits: self.operand_bits(&term.operand),
                    weight_bits: tensor.bits,
                    sum_bits: sum.bound_bits,
                    macs: 0,
                });
            }
        }
        ChipState {
            step: 0,
            memory: vec![0; lmu.memory_length()],
            hidden_output: vec![0; lmu.hidden_size],
            integrators: SiteMap::from_fn(|site| {
                if placement.quantizes(site) {
                    integrators(site, site.neurons(lmu))
                } else {
                    Vec::new()
                }
            }),
            pending_hidden_events: Vec::new(),
            counters,
            record: FixedRun {
                batch: 1,
                logit_exponent: self.model.sums.logits.exponent,
                ..FixedRun::default()
            },
            full,
        }
    }

    fn sums(&self) -> [(&'static str, &Sum); 4] {
        let sums = &self.model.sums;
        [
            ("memory_input", &sums.memory_input),
            ("memory", &sums.memory),
            ("preactivation", &sums.preactivation),
            ("logits", &sums.logits),
        ]
    }

    fn sum_bits(&self, sum: &str) -> u32 {
        self.sums()
            .iter()
            .find(|(name, _)| *name == sum)
            .map_or(0, |(_, sum)| sum.bound_bits)
    }

    fn event_target(&self, tensor: &str, sum: &str) -> EventTarget {
        EventTarget {
            tensor: tensor.into(),
            sum: sum.into(),
            sum_bits: self.sum_bits(sum),
            weight_bits: self.tensor(tensor).bits,
            ..EventTarget::default()
        }
    }

    fn operand_bits(&self, operand: &str) -> u32 {
        let formats = &self.model.formats;
        match operand {
            "input" => formats.input.bits,
            "memory" | "previous_memory" => formats.memory.bits,
            "memory_input" => formats.memory_input.bits,
            _ => formats.hidden.map_or(0, |format| format.bits),
        }
    }

    /// One step of the stream (clause H8): reads `x_t`, returns the events it sent.
    pub fn step(&self, state: &mut ChipState, inputs: &[f64]) -> Result<StepOutput> {
        let model = &self.model;
        let lmu = &model.config.lmu;
        if inputs.len() != lmu.input_size {
            return Err(HsnnError::ShapeMismatch {
                name: "chip step input".into(),
                expected: format!("{} values (lmu.input_size)", lmu.input_size),
                found: format!("{} values", inputs.len()),
            });
        }
        if let Some(index) = inputs.iter().position(|value| !value.is_finite()) {
            return Err(HsnnError::NonFinite {
                name: "chip step input".into(),
                index,
                value: inputs[index],
            });
        }
        let formats = &model.formats;
        let sums = &model.sums;
        let mut events = Vec::new();

        // 1. X = sat(nearest(x 2^F_x))
        let scale = 2f64.powi(formats.input.fraction_bits);
        let x: Vec<i64> = inputs
            .iter()
            .map(|&value| {
                let (value, clamped) = saturate(nearest(value * scale), formats.input.bits);
                state.counters.saturations.input += u64::from(clamped);
                value
            })
            .collect();
        state.counters.memory.state_words_written += lmu.input_size as u64;

        // The previous step's hidden events reach W_h and e_h now.
        let mut memory_input_acc = vec![0i64; lmu.memory_size];
        let mut preactivation_acc = vec![0i64; lmu.hidden_size];
        let pending = std::mem::take(&mut state.pending_hidden_events);
        if model.counts[QuantizedSite::Hidden].is_some() && state.step > 0 {
            let hidden = QuantizedSite::Hidden;
            self.deliver(
                hidden,
                state,
                &pending,
                &mut preactivation_acc,
                "kernel_hidden",
                0,
            );
            if model.tensors.encoder_hidden.is_some() {
                let acc = &mut memory_input_acc;
                self.deliver(hidden, state, &pending, acc, "encoder_hidden", 1);
            }
        }

        // 2. U: dense terms (x e_x, M_{t-1} e_m, H_{t-1} e_h) on top of the events.
        let previous_memory = state.memory.clone();
        let hidden_output = state.hidden_output.clone();
        self.dense_terms(
            state,
            &sums.memory_input,
            "memory_input",
            &mut memory_input_acc,
            |operand| match operand {
                "input" => &x,
                "hidden" => &hidden_output,
                _ => &previous_memory,
            },
        );
        let memory_input = self.round_sums(
            &memory_input_acc,
            sums.memory_input.target_shift,
            formats.memory_input.bits,
            &mut state.counters.saturations.memory_input,
        );
        state.counters.memory.state_words_written += lmu.memory_size as u64;

        // 3-4. M_t = Abar M_{t-1} + Bbar U, with the memory input's events when it spikes.
        let order = lmu.order;
        let mut memory_acc = vec![0i64; lmu.memory_length()];
        let a_bar = &model.tensors.a_bar;
        if let Some(a_term) = term(&sums.memory, "a_bar") {
            for dimension in 0..lmu.memory_size {
                let row_start = dimension * order;
                let memory = &previous_memory[row_start..row_start + order];
                for (i, acc) in memory_acc[row_start..row_start + order]
                    .iter_mut()
                    .enumerate()
                {
                    let row = &a_bar.data[i * order..(i + 1) * order];
                    let product = row.iter().zip(memory).fold(0i64, |total, (&a, &m)| {
                        total.wrapping_add(a.wrapping_mul(m))
                    });
                    *acc = acc.wrapping_add(product.wrapping_shl(a_term.shift));
                }
            }
            self.count_dense_in(
                state,
                "a_bar",
                "memory",
                (lmu.memory_size * order * order) as u64,
            );
            state.counters.memory.state_words_read += lmu.memory_length() as u64;
        }
        let b_bar = &model.tensors.b_bar;
        if let Some(rule) = &model.activations[QuantizedSite::MemoryInput] {
            let b_shift = term(&sums.memory, "b_bar").map(|term| term.shift);
            let sent = quantize_site(
                QuantizedSite::MemoryInput,
                rule,
                formats.integrator_fraction_bits,
                state,
                &memory_input,
            );
            let site = state.counters.site_mut(QuantizedSite::MemoryInput);
            site.neuron_updates += lmu.memory_size as u64;
            site.events += sent.len() as u64;
            let target = &mut site.targets[0];
            target.dense_equivalent_macs += (lmu.memory_size * order) as u64;
            for event in &sent {
                let fan_out = order as u64;
                target.synaptic_events += fan_out;
                target.additions += fan_out * popcount(event.count);
                target.bit_serial_steps += fan_out * bit_serial_steps(event.count);
                target.spike_synops += fan_out * event.count.unsigned_abs();
                if let Some(shift) = b_shift {
                    for i in 0..order {
                        let acc = &mut memory_acc[event.neuron * order + i];
                        *acc = acc.wrapping_add(
                            shift_and_add(event.count, b_bar.data[i]).wrapping_shl(shift),
                        );
                    }
                }
            }
            state.counters.memory.weight_words_read += sent.len() as u64 * order as u64;
            state.counters.nonlinear_neuron_updates += lmu.memory_size as u64;
            state.counters.memory.state_words_written += lmu.memory_size as u64;
            events.extend(sent);
        } else if let Some(b_term) = term(&sums.memory, "b_bar") {
            for dimension in 0..lmu.memory_size {
                for i in 0..order {
                    let acc = &mut memory_acc[dimension * order + i];
                    *acc = acc.wrapping_add(
                        b_bar.data[i]
                            .wrapping_mul(memory_input[dimension])
                            .wrapping_shl(b_term.shift),
                    );
                }
            }
            self.count_dense_in(state, "b_bar", "memory", (lmu.memory_size * order) as u64);
            state.counters.memory.state_words_read += lmu.memory_size as u64;
        }
        state.memory = self.round_sums(
            &memory_acc,
            sums.memory.target_shift,
            formats.memory.bits,
            &mut state.counters.saturations.memory,
        );
        state.counters.memory.state_words_written += lmu.memory_length() as u64;

        // 4b. The memory state's quantizer, when it spikes: its events reach their rows of W_m
        // now, and the dense terms below skip W_m (clause N2).
        if let Some(rule) = &model.activations[QuantizedSite::MemoryState] {
            let memory = state.memory.clone();
            let site = QuantizedSite::MemoryState;
            let sent = quantize_site(site, rule, formats.integrator_fraction_bits, state, &memory);
            let counters = state.counters.site_mut(site);
            counters.neuron_updates += lmu.memory_length() as u64;
            counters.events += sent.len() as u64;
            state.counters.nonlinear_neuron_updates += lmu.memory_length() as u64;
            // The integrators are written back.
            state.counters.memory.state_words_written += lmu.memory_length() as u64;
            self.deliver(
                site,
                state,
                &sent,
                &mut preactivation_acc,
                "kernel_memory",
                0,
            );
            events.extend(sent);
        }

        // 5. Z: dense terms (x W_x, M_t W_m, H_{t-1} W_h) on top of the events.
        let memory = state.memory.clone();
        self.dense_terms(
            state,
            &sums.preactivation,
            "preactivation",
            &mut preactivation_acc,
            |operand| match operand {
                "input" => &x,
                "hidden" => &hidden_output,
                _ => &memory,
            },
        );
        let preactivation = self.round_sums(
            &preactivation_acc,
            sums.preactivation.target_shift,
            formats.preactivation.bits,
            &mut state.counters.saturations.preactivation,
        );

        // 6-7. the hidden units; their events wait for the next step or the readout.
        let hidden_rule = model.activations[QuantizedSite::Hidden]
            .as_ref()
            .expect("a validated fixed model has a rule for the hidden units");
        if matches!(hidden_rule, FixedActivation::Table { .. }) {
            state.counters.table_reads += lmu.hidden_size as u64;
        }
        state.counters.nonlinear_neuron_updates += lmu.hidden_size as u64;
        if model.counts[QuantizedSite::Hidden].is_some() {
            let sent = quantize_site(
                QuantizedSite::Hidden,
                hidden_rule,
                formats.integrator_fraction_bits,
                state,
                &preactivation,
            );
            let site = state.counters.site_mut(QuantizedSite::Hidden);
            site.neuron_updates += lmu.hidden_size as u64;
            site.events += sent.len() as u64;
            state.pending_hidden_events = sent.clone();
            // Written as counts; the integrators too.
            state.counters.memory.state_words_written += 2 * lmu.hidden_size as u64;
            events.extend(sent);
        } else {
            state.hidden_output = preactivation
                .iter()
                .map(|&z| apply_rule(hidden_rule, z))
                .collect();
            state.counters.memory.state_words_written += lmu.hidden_size as u64;
            if state.full {
                state.record.hidden_output.extend(&state.hidden_output);
            }
        }
        if state.full {
            state.record.memory_input.extend(&memory_input);
            state.record.memory.extend(&state.memory);
            state.record.preactivation.extend(&preactivation);
        }
        state.step += 1;
        state.record.steps = state.step;
        state.counters.steps = state.step as u64;
        Ok(StepOutput { events })
    }

    /// Step 8: the readout of the current hidden output, `L = [Y W_o] + B_o` (clause H8); the
    /// last step's hidden events are delivered to the readout here. Ends the sequence: the
    /// state's record then holds the logits.
    pub fn finish(&self, state: &mut ChipState) -> Vec<i64> {
        let model = &self.model;
        let outputs = model.config.output_size;
        let mut logits = vec![0i64; outputs];
        if model.counts[QuantizedSite::Hidden].is_some() {
            let pending = std::mem::take(&mut state.pending_hidden_events);
            let target = state.counters.site_mut(QuantizedSite::Hidden).targets.len() - 1;
            let hidden = QuantizedSite::Hidden;
            self.deliver(
                hidden,
                state,
                &pending,
                &mut logits,
                "readout_kernel",
                target,
            );
        } else {
            let hidden_output = state.hidden_output.clone();
            self.dense_terms(state, &model.sums.logits, "logits", &mut logits, |_| {
                &hidden_output
            });
        }
        for (logit, &bias) in logits.iter_mut().zip(&model.tensors.readout_bias.data) {
            *logit = logit.wrapping_add(bias);
        }
        state.record.logits = logits.clone();
        logits
    }

    /// Delivers `site`'s events to `tensor`'s rows by shift-and-add, counting them against the
    /// site's target number `target` (clauses H8, H10). Every neuron update, event or not,
    /// counts one dense-equivalent MAC per target.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &self,
        site: QuantizedSite,
        state: &mut ChipState,
        events: &[Event],
        accumulators: &mut [i64],
        tensor: &str,
        target: usize,
    ) {
        let sum = match tensor {
            "kernel_hidden" | "kernel_memory" => &self.model.sums.preactivation,
            "encoder_hidden" => &self.model.sums.memory_input,
            _ => &self.model.sums.logits,
        };
        let weights = self.tensor(tensor);
        let fan_out = weights.cols as u64;
        let neurons = site.neurons(&self.model.config.lmu) as u64;
        let counters = &mut state.counters.site_mut(site).targets[target];
        counters.dense_equivalent_macs += neurons * fan_out;
        let shift = term(sum, tensor).map(|term| term.shift);
        for event in events {
            counters.synaptic_events += fan_out;
            counters.additions += fan_out * popcount(event.count);
            counters.bit_serial_steps += fan_out * bit_serial_steps(event.count);
            counters.spike_synops += fan_out * event.count.unsigned_abs();
            if let Some(shift) = shift {
                let row = &weights.data[event.neuron * weights.cols..][..weights.cols];
                for (acc, &w) in accumulators.iter_mut().zip(row) {
                    *acc = acc.wrapping_add(shift_and_add(event.count, w).wrapping_shl(shift));
                }
            }
        }
        state.counters.memory.weight_words_read += events.len() as u64 * fan_out;
    }

    /// Adds the dense terms of `sum` (operands that are not counts) into `accumulators`,
    /// multiply-accumulates counted (clause H10).
    fn dense_terms<'v>(
        &self,
        state: &mut ChipState,
        sum: &Sum,
        sum_name: &str,
        accumulators: &mut [i64],
        operand: impl Fn(&str) -> &'v Vec<i64>,
    ) {
        for term in &sum.terms {
            if term.operand.ends_with("_counts") || term.tensor == "a_bar" || term.tensor == "b_bar"
            {
                continue;
            }
            let weights = self.tensor(&term.tensor);
            let values = operand(&term.operand);
            let mut products = vec![0i64; weights.cols];
            for (i, &y) in values.iter().enumerate() {
                if y == 0 {
                    continue;
                }
                let row = &weights.data[i * weights.cols..][..weights.cols];
                for (product, &w) in products.iter_mut().zip(row) {
                    *product = product.wrapping_add(y.wrapping_mul(w));
                }
            }
            for (acc, product) in accumulators.iter_mut().zip(products) {
                *acc = acc.wrapping_add(product.wrapping_shl(term.shift));
            }
            let macs = (weights.rows * weights.cols) as u64;
            self.count_dense_in(state, &term.tensor, sum_name, macs);
            state.counters.memory.state_words_read += values.len() as u64;
        }
    }

    fn count_dense_in(&self, state: &mut ChipState, tensor: &str, sum: &str, macs: u64) {
        state.counters.count_dense(tensor, sum, macs);
    }

    fn round_sums(
        &self,
        sums: &[i64],
        target_shift: i32,
        bits: u32,
        saturated: &mut u64,
    ) -> Vec<i64> {
        sums.iter()
            .map(|&acc| {
                let (value, clamped) = saturate(rshr(acc, target_shift), bits);
                *saturated += u64::from(clamped);
                value
            })
            .collect()
    }
}

/// Runs `site`'s quantizer on `operands` (clause H7): each integrator fires, the counts (and
/// the integrators, when the run records everything) go into the state's record, and every
/// non-zero count is sent as an event.
fn quantize_site(
    site: QuantizedSite,
    rule: &FixedActivation,
    fraction_v: u32,
    state: &mut ChipState,
    operands: &[i64],
) -> Vec<Event> {
    let full = state.full;
    let counts = &mut state.record.counts[site];
    let recorded_integrators = &mut state.record.integrators[site];
    let mut sent = Vec::new();
    for (neuron, (integrator_state, &operand)) in
        state.integrators[site].iter_mut().zip(operands).enumerate()
    {
        let (count, integrator) = fire(integrator_state, apply_rule(rule, operand), fraction_v);
        counts.push(count);
        if full {
            recorded_integrators.push(integrator);
        }
        if count != 0 {
            sent.push(Event {
                site,
                neuron,
                count,
            });
        }
    }
    sent
}

/// A site's rule on a pre-activation (clause H6).
pub fn apply_rule(rule: &FixedActivation, z: i64) -> i64 {
    match rule {
        FixedActivation::Table {
            first_index,
            values,
        } => {
            let index = (z - first_index).clamp(0, values.len() as i64 - 1);
            values[index as usize]
        }
        FixedActivation::Multiply {
            multiplier,
            shift,
            relu,
            ..
        } => rshr(if *relu { z.max(0) } else { z } * multiplier, *shift),
        FixedActivation::Identity => z,
        FixedActivation::Relu => z.max(0),
    }
}
