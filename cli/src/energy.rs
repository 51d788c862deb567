//! `hsnn energy`: what a model costs on spiking hardware (SPEC.md clauses H10, H11), per
//! inference, for the hybrid network that ran on the modeled chip and for the same network
//! without spikes, on each device profile.

use hsnn_hardware::counters::HardwareCounters;
use hsnn_hardware::energy::{price_both, Device, Energy, PricingOptions, WidthRule};
use hsnn_spec::fixed::ConversionOptions;
use hsnn_spec::{Model, Result};
use hsnn_train::evaluation::Evaluation;
use serde::Serialize;

/// One site's counts per inference (clause H10).
#[derive(Debug, Clone, Serialize)]
pub struct SitePerInference {
    /// The site's name.
    pub site: String,
    /// Neuron updates.
    pub neuron_updates: f64,
    /// Events (updates with a non-zero count).
    pub events: f64,
    /// Events times targets (B6).
    pub synaptic_events: f64,
    /// Shift-and-add additions (popcount per target).
    pub additions: f64,
    /// Bit-serial steps (B6's synaptic additions).
    pub bit_serial_steps: f64,
    /// Unit spikes times targets (keras-spiking's synaptic operations).
    pub spike_synops: f64,
    /// The MACs these targets would take without spikes.
    pub dense_equivalent_macs: f64,
}

/// The pricing choices a user makes on the command line (SPEC.md H11): the width rule and
/// the price of memory traffic, if any.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PricingChoices {
    /// How unlisted widths are priced.
    pub width_rule: WidthRule,
    /// Joules per bit of memory traffic; `None` leaves it unpriced.
    pub memory_joules_per_bit: Option<f64>,
}

/// One device's price of both networks.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceEnergy {
    /// The device.
    pub device: String,
    /// Where its numbers come from.
    pub source: String,
    /// The hybrid network, as it ran.
    pub hybrid: Energy,
    /// The same network without spikes.
    pub non_spiking: Energy,
}

/// The report of `hsnn energy` (format `hsnn-energy` version 1).
#[derive(Debug, Clone, Serialize)]
pub struct EnergyReport {
    /// `hsnn-energy`.
    pub format: String,
    /// 1.
    pub format_version: u32,
    /// The program that wrote it.
    pub generator: String,
    /// The data it ran on.
    pub data: String,
    /// Sequences run.
    pub samples: usize,
    /// Accuracy of the fixed-point network on them.
    pub accuracy: f64,
    /// Where the quantizer sits.
    pub placement: String,
    /// The time step.
    pub dt: f64,
    /// The fixed-point conversion's options (clause H9).
    pub conversion: ConversionOptions,
    /// Steps per inference.
    pub steps: u64,
    /// Counts per inference of each spiking site.
    pub sites: Vec<SitePerInference>,
    /// MACs per inference of each dense product: (tensor x operand, MACs).
    pub dense_macs: Vec<(String, f64)>,
    /// How the devices priced what they did not list, and memory traffic.
    pub pricing: PricingChoices,
    /// Energy per inference on each device.
    pub devices: Vec<DeviceEnergy>,
    /// The chip's totals over every sequence.
    pub counters: HardwareCounters,
}

impl EnergyReport {
    /// Prices `counters` (the chip's totals over the evaluation) on every device.
    pub fn new(
        model: &Model,
        conversion: &ConversionOptions,
        data: &str,
        evaluation: &Evaluation,
        counters: HardwareCounters,
        devices: &[Device],
        pricing: PricingChoices,
    ) -> Result<Self> {
        let per = |total: u64| total as f64 / counters.sequences.max(1) as f64;
        let sites = counters
            .sites
            .iter()
            .map(|site| SitePerInference {
                site: site.site.name().into(),
                neuron_updates: per(site.neuron_updates),
                events: per(site.events),
                synaptic_events: per(site.total(|t| t.synaptic_events)),
                additions: per(site.total(|t| t.additions)),
                bit_serial_steps: per(site.total(|t| t.bit_serial_steps)),
                spike_synops: per(site.total(|t| t.spike_synops)),
                dense_equivalent_macs: per(site.total(|t| t.dense_equivalent_macs)),
            })
            .collect();
        let dense_macs = counters
            .dense
            .iter()
            .map(|dense| {
                (
                    format!("{} x {}", dense.tensor, dense.operand),
                    per(dense.macs),
                )
            })
            .collect();
        let options = PricingOptions {
            width_rule: pricing.width_rule,
            memory_joules_per_bit: pricing.memory_joules_per_bit,
            ..PricingOptions::for_conversion(conversion, model.config.quantizer.amplitude)
        };
        let devices = devices
            .iter()
            .map(|device| -> Result<DeviceEnergy> {
                let (hybrid, non_spiking) = price_both(device, &counters, &options)?;
                Ok(DeviceEnergy {
                    device: device.name.clone(),
                    source: device.source.clone(),
                    hybrid,
                    non_spiking,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(EnergyReport {
            format: "hsnn-energy".into(),
            format_version: 1,
            generator: format!("hsnn {} (hsnn energy)", env!("CARGO_PKG_VERSION")),
            data: data.into(),
            samples: evaluation.samples,
            accuracy: evaluation.accuracy,
            placement: model.config.quantizer.placement.name().into(),
            dt: model.config.quantizer.dt,
            conversion: conversion.clone(),
            steps: counters.steps,
            sites,
            dense_macs,
            pricing,
            devices,
            counters,
        })
    }

    /// The one-line summary.
    pub fn summary(&self) -> String {
        format!(
            "data: {}\n{} sequences on the modeled chip (weights {} bits): accuracy {:.2}%, \
             placement {}, dt {}",
            self.data,
            self.samples,
            self.conversion.weight_bits,
            100.0 * self.accuracy,
            self.placement,
            self.dt
        )
    }

    /// The report as text: counts, then energy per device.
    pub fn render(&self) -> String {
        let mut text = self.summary();
        text.push_str(&format!(
            "\n\nper inference ({} steps), counted by the chip (SPEC.md H10):\n",
            self.steps
        ));
        text.push_str("| site | neuron updates | events | synaptic events | additions | bit-serial steps | unit spikes x targets | MACs without spikes |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for site in &self.sites {
            text.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                site.site,
                count(site.neuron_updates),
                count(site.events),
                count(site.synaptic_events),
                count(site.additions),
                count(site.bit_serial_steps),
                count(site.spike_synops),
                count(site.dense_equivalent_macs)
            ));
        }
        text.push_str("\n| dense product | MACs |\n|---|---:|\n");
        for (product, macs) in &self.dense_macs {
            text.push_str(&format!("| {product} | {} |\n", count(*macs)));
        }
        let per = |total: u64| total as f64 / self.counters.sequences.max(1) as f64;
        let memory = &self.counters.memory;
        let priced = match self.pricing.memory_joules_per_bit {
            Some(per_bit) => format!("priced at {} pJ per bit", per_bit * 1e12),
            None => "counted, not priced: --memory-pj-per-bit prices them".into(),
        };
        text.push_str(&format!(
            "\nmemory words per inference ({priced}; SPEC.md H10): {} weight words read, {} \
             state words read, {} state words written; {} table reads\n",
            count(per(memory.weight_words_read)),
            count(per(memory.state_words_read)),
            count(per(memory.state_words_written)),
            count(per(self.counters.table_reads))
        ));
        text.push_str(&format!(
            "\nenergy per inference (SPEC.md H11; unlisted widths priced by {}):\n",
            match self.pricing.width_rule {
                WidthRule::NextListed => "the next listed width",
                WidthRule::Interpolated => "interpolation",
            }
        ));
        text.push_str(
            "| device | hybrid | without spikes | hybrid / without |\n|---|---:|---:|---:|\n",
        );
        for device in &self.devices {
            let ratio = if device.non_spiking.total_joules > 0.0 {
                format!(
                    "{:.3}",
                    device.hybrid.total_joules / device.non_spiking.total_joules
                )
            } else {
                "-".into()
            };
            text.push_str(&format!(
                "| {} | {} | {} | {ratio} |\n",
                device.device,
                joules(device.hybrid.total_joules),
                joules(device.non_spiking.total_joules)
            ));
        }
        text.push_str("\nsources:\n");
        for device in &self.devices {
            text.push_str(&format!("- {}: {}\n", device.device, device.source));
        }
        text
    }
}

/// A count with thousands separators (a mean, so rounded to an integer).
fn count(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) && digit != '-' {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// Joules in the unit that keeps three significant figures readable.
fn joules(value: f64) -> String {
    let (scale, unit) = if value >= 1.0 {
        (1.0, "J")
    } else if value >= 1e-3 {
        (1e3, "mJ")
    } else if value >= 1e-6 {
        (1e6, "µJ")
    } else if value >= 1e-9 {
        (1e9, "nJ")
    } else {
        (1e12, "pJ")
    };
    format!("{:.3} {unit}", value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H11: counts and energies print with their units as a reader checks them.
    #[test]
    fn h11_report_numbers_are_readable() {
        assert_eq!(count(1234567.4), "1,234,567");
        assert_eq!(count(12.0), "12");
        assert_eq!(joules(8.64e-4), "864.000 µJ");
        assert_eq!(joules(0.156), "156.000 mJ");
        assert_eq!(joules(3.3e-12), "3.300 pJ");
    }
}
