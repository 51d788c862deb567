//! Energy of the modeled chip's counters per device (SPEC.md clause H11).
//!
//! A device profile prices what the chip counted (clause H10). Profiles are data, not code:
//! the shipped ones live in `hardware/devices/*.json` (format `hsnn-devices` version 1) and
//! are embedded at build time, and a user adds or replaces devices with files of the same
//! format, without recompiling. Every profile names the source of its numbers.
//!
//! Two kinds of profile exist:
//! - `synop`: keras-spiking's `ModelEnergy` table, a price per synaptic operation and per
//!   neuron update, and whether the device is event-driven (`spiking`);
//! - `operations`: prices per integer addition and multiplication by width (Horowitz, 45 nm),
//!   and optionally per word read (each table read is charged). A profile may also list
//!   prices per word written; they are checked but charged nowhere, since the chip's only
//!   writes are its memory state words, which [`PricingOptions::memory_joules_per_bit`]
//!   prices as traffic.
//!
//! [`price`] turns a run's counters into joules per inference, for the hybrid network that
//! ran and for the non-spiking comparison counted alongside it ([`Network`]).

use std::collections::HashSet;
use std::path::Path;

use hsnn_spec::fixed::ConversionOptions;
use hsnn_spec::model::parse_versioned;
use hsnn_spec::{HsnnError, Result, SiteActivation, SiteMap};
use serde::{Deserialize, Serialize};

use crate::counters::{DenseCounter, EventTarget, HardwareCounters, SiteCounters};

/// The format tag of a device file.
pub const DEVICE_FORMAT: &str = "hsnn-devices";

/// The device-file version this build reads and writes.
pub const DEVICE_FORMAT_VERSION: u32 = 1;

/// The shipped device files, by the name a report shows for them.
const BUILTIN_FILES: [(&str, &str); 2] = [
    (
        "hardware/devices/keras-spiking.json",
        include_str!("../devices/keras-spiking.json"),
    ),
    (
        "hardware/devices/horowitz-45nm.json",
        include_str!("../devices/horowitz-45nm.json"),
    ),
];

/// A device file: a list of device profiles (format `hsnn-devices` version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFile {
    /// Always [`DEVICE_FORMAT`].
    pub format: String,
    /// Always [`DEVICE_FORMAT_VERSION`].
    pub format_version: u32,
    /// Who or what wrote the file (for a hand-written file: from which sources).
    pub generator: String,
    /// The profiles.
    pub devices: Vec<Device>,
}

/// One device profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DeviceEntry", into = "DeviceEntry")]
pub struct Device {
    /// The name a user selects the device by (unique among the loaded devices).
    pub name: String,
    /// What the device charges for, and how much.
    pub kind: DeviceKind,
    /// Where the numbers come from (paper, datasheet, or the library that tabulates them).
    pub source: String,
}

/// What a device charges for. All prices are in joules, all widths in bits.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceKind {
    /// A price per synaptic operation and per neuron update (keras-spiking's `ModelEnergy`).
    Synop {
        /// Joules per synaptic operation.
        energy_per_synop: f64,
        /// Joules per update of a nonlinear neuron.
        energy_per_neuron: f64,
        /// Event-driven: only events cost synaptic operations. Otherwise every connection
        /// costs one at every step.
        spiking: bool,
        /// Events carry a multi-bit payload, so a spiking device is charged one operation
        /// per synaptic event instead of one per unit spike.
        graded: bool,
    },
    /// Prices per integer operation by width (Horowitz's table).
    Operations {
        /// Integer additions by width.
        add: Vec<WidthPrice>,
        /// Integer multiplications by width (of the wider operand).
        multiply: Vec<WidthPrice>,
        /// Words read by width, if the profile prices them.
        read: Option<Vec<WidthPrice>>,
        /// Words written by width, if the profile prices them.
        write: Option<Vec<WidthPrice>>,
    },
}

/// The price of one operation at one width.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidthPrice {
    /// Width in bits.
    pub bits: u32,
    /// Joules per operation at that width.
    pub joules: f64,
}

/// The JSON shape of a device: the kind's fields sit next to `name` and `source`, tagged by
/// `kind`. (Serde cannot refuse unknown keys through `flatten`, so the file goes through this
/// enum instead.)
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum DeviceEntry {
    Synop {
        name: String,
        energy_per_synop: f64,
        energy_per_neuron: f64,
        spiking: bool,
        #[serde(default)]
        graded: bool,
        source: String,
    },
    Operations {
        name: String,
        add: Vec<WidthPrice>,
        multiply: Vec<WidthPrice>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<Vec<WidthPrice>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write: Option<Vec<WidthPrice>>,
        source: String,
    },
}

impl From<DeviceEntry> for Device {
    fn from(entry: DeviceEntry) -> Self {
        match entry {
            DeviceEntry::Synop {
                name,
                energy_per_synop,
                energy_per_neuron,
                spiking,
                graded,
                source,
            } => Device {
                name,
                kind: DeviceKind::Synop {
                    energy_per_synop,
                    energy_per_neuron,
                    spiking,
                    graded,
                },
                source,
            },
            DeviceEntry::Operations {
                name,
                add,
                multiply,
                read,
                write,
                source,
            } => Device {
                name,
                kind: DeviceKind::Operations {
                    add,
                    multiply,
                    read,
                    write,
                },
                source,
            },
        }
    }
}

impl From<Device> for DeviceEntry {
    fn from(device: Device) -> Self {
        let Device { name, kind, source } = device;
        match kind {
            DeviceKind::Synop {
                energy_per_synop,
                energy_per_neuron,
                spiking,
                graded,
            } => DeviceEntry::Synop {
                name,
                energy_per_synop,
                energy_per_neuron,
                spiking,
                graded,
                source,
            },
            DeviceKind::Operations {
                add,
                multiply,
                read,
                write,
            } => DeviceEntry::Operations {
                name,
                add,
                multiply,
                read,
                write,
                source,
            },
        }
    }
}

/// An operation an `operations` profile prices by width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// An integer addition.
    Add,
    /// An integer multiplication.
    Multiply,
    /// A word read from memory.
    Read,
    /// A word written to memory.
    Write,
}

impl Operation {
    /// The name used in files and messages.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Add => "add",
            Operation::Multiply => "multiply",
            Operation::Read => "read",
            Operation::Write => "write",
        }
    }
}

impl DeviceFile {
    /// Parses a device file, checking its format and version first, then every profile
    /// ([`DeviceFile::validate`]). `origin` names the file in messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let what = format!("device file {origin}");
        let file: DeviceFile = parse_versioned(text, &what, DEVICE_FORMAT, DEVICE_FORMAT_VERSION)?;
        file.validate(origin)?;
        Ok(file)
    }

    /// The file as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A DeviceFile holds only strings, numbers, booleans and lists: it always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks every profile: a non-empty name unique within the file, a non-empty source,
    /// and finite, non-negative prices at distinct, positive widths. An error names the
    /// field as `devices[i].<field>`.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let mut seen: Vec<&str> = Vec::with_capacity(self.devices.len());
        for (index, device) in self.devices.iter().enumerate() {
            let field = |name: &str| format!("devices[{index}].{name}");
            let in_file = format!("(in device file {origin})");
            if device.name.trim().is_empty() {
                return Err(HsnnError::invalid(
                    field("name"),
                    format!("must not be empty {in_file}"),
                ));
            }
            if let Some(first) = seen.iter().position(|name| *name == device.name) {
                return Err(HsnnError::invalid(
                    field("name"),
                    format!(
                        "repeats `{}`, the name of devices[{first}] {in_file}",
                        device.name
                    ),
                ));
            }
            seen.push(&device.name);
            if device.source.trim().is_empty() {
                return Err(HsnnError::invalid(
                    field("source"),
                    format!("must name where the device's numbers come from {in_file}"),
                ));
            }
            match &device.kind {
                DeviceKind::Synop {
                    energy_per_synop,
                    energy_per_neuron,
                    ..
                } => {
                    check_price(&field("energy_per_synop"), *energy_per_synop, &in_file)?;
                    check_price(&field("energy_per_neuron"), *energy_per_neuron, &in_file)?;
                }
                DeviceKind::Operations {
                    add,
                    multiply,
                    read,
                    write,
                } => {
                    check_prices(&field("add"), add, &in_file)?;
                    check_prices(&field("multiply"), multiply, &in_file)?;
                    if let Some(read) = read {
                        check_prices(&field("read"), read, &in_file)?;
                    }
                    if let Some(write) = write {
                        check_prices(&field("write"), write, &in_file)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_price(field: &str, joules: f64, in_file: &str) -> Result<()> {
    if joules.is_finite() && joules >= 0.0 {
        Ok(())
    } else {
        Err(HsnnError::invalid(
            field,
            format!("must be a finite, non-negative price in joules, got {joules} {in_file}"),
        ))
    }
}

fn check_prices(field: &str, prices: &[WidthPrice], in_file: &str) -> Result<()> {
    let mut widths = HashSet::new();
    for (index, price) in prices.iter().enumerate() {
        if price.bits == 0 {
            return Err(HsnnError::invalid(
                format!("{field}[{index}].bits"),
                format!("must be a positive width {in_file}"),
            ));
        }
        if !widths.insert(price.bits) {
            return Err(HsnnError::invalid(
                format!("{field}[{index}].bits"),
                format!("repeats the width {} {in_file}", price.bits),
            ));
        }
        check_price(&format!("{field}[{index}].joules"), price.joules, in_file)?;
    }
    Ok(())
}

/// The shipped device profiles: keras-spiking's six `synop` devices and `horowitz_45nm`.
pub fn builtin_devices() -> Vec<Device> {
    BUILTIN_FILES
        .iter()
        .flat_map(|(origin, text)| match DeviceFile::from_json(text, origin) {
            Ok(file) => file.devices,
            // Embedded at build time and parsed by this module's tests: a failure here is a
            // broken build, not a user error.
            Err(error) => panic!("shipped device file {origin} is invalid: {error}"),
        })
        .collect()
}

/// Reads and checks a user's device file.
pub fn load_devices(path: &Path) -> Result<Vec<Device>> {
    let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
        action: "cannot read device file".into(),
        path: path.display().to_string(),
        source,
    })?;
    Ok(DeviceFile::from_json(&text, &path.display().to_string())?.devices)
}

/// The built-in devices extended by the user's files, read in order. A user device with the
/// name of a device already present (built in, or from an earlier file) replaces it in
/// place, so a user can correct a shipped price without renaming the device.
pub fn devices_with(user_files: &[&Path]) -> Result<Vec<Device>> {
    let mut devices = builtin_devices();
    for path in user_files {
        for device in load_devices(path)? {
            match devices.iter_mut().find(|known| known.name == device.name) {
                Some(known) => *known = device,
                None => devices.push(device),
            }
        }
    }
    Ok(devices)
}

/// The device named `name`, or an error listing the names there are.
pub fn find_device<'a>(devices: &'a [Device], name: &str) -> Result<&'a Device> {
    devices
        .iter()
        .find(|device| device.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = devices.iter().map(|device| device.name.as_str()).collect();
            HsnnError::invalid(
                "device",
                format!(
                    "`{name}` is not a known device; known: {}",
                    names.join(", ")
                ),
            )
        })
}

/// How an operation whose width a profile does not list is priced (clause H11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WidthRule {
    /// The entry of the smallest listed width at or above the operation's (a 24-bit add costs
    /// the 32-bit add): an upper bound, and the default.
    #[default]
    NextListed,
    /// Linear in the width between the two listed widths around it (a 24-bit add costs half
    /// way between the 16- and 32-bit adds); below the smallest listed width its entry,
    /// above the largest the same 32-bit pieces as [`WidthRule::NextListed`].
    Interpolated,
}

impl hsnn_spec::Words for WidthRule {
    const ALL: &'static [Self] = &[WidthRule::NextListed, WidthRule::Interpolated];
    fn word(self) -> &'static str {
        match self {
            WidthRule::NextListed => "next_listed",
            WidthRule::Interpolated => "interpolated",
        }
    }
}

impl Device {
    /// The price of one `operation` at `bits` on an `operations` profile: the entry of the
    /// smallest listed width `>= bits`; above the largest listed width, `ceil(bits / 32)`
    /// times the 32-bit entry (a wide operation done in 32-bit pieces), or, without a 32-bit
    /// entry, the largest entry times `ceil(bits / largest)`. No entry at all, or a `synop`
    /// profile, is [`HsnnError::Unsupported`] naming the operation and width.
    pub fn operation_price(&self, operation: Operation, bits: u32) -> Result<f64> {
        self.operation_price_by(operation, bits, WidthRule::NextListed)
    }

    /// [`Device::operation_price`] with the width rule `rule` (clause H11).
    pub fn operation_price_by(
        &self,
        operation: Operation,
        bits: u32,
        rule: WidthRule,
    ) -> Result<f64> {
        let unsupported = |why: &str| HsnnError::Unsupported {
            backend: format!("device `{}`", self.name),
            feature: format!("pricing a {}-bit {} ({why})", bits, operation.name()),
        };
        let DeviceKind::Operations {
            add,
            multiply,
            read,
            write,
        } = &self.kind
        else {
            return Err(unsupported("a synop profile has no per-operation prices"));
        };
        let prices: &[WidthPrice] = match operation {
            Operation::Add => add,
            Operation::Multiply => multiply,
            Operation::Read => read.as_deref().unwrap_or_default(),
            Operation::Write => write.as_deref().unwrap_or_default(),
        };
        let fitting = prices
            .iter()
            .filter(|price| price.bits >= bits)
            .min_by_key(|price| price.bits);
        if let Some(price) = fitting {
            let below = prices
                .iter()
                .filter(|price| price.bits < bits)
                .max_by_key(|price| price.bits);
            return Ok(match (rule, below) {
                (WidthRule::Interpolated, Some(below)) if price.bits > bits => {
                    let fraction =
                        f64::from(bits - below.bits) / f64::from(price.bits - below.bits);
                    below.joules + fraction * (price.joules - below.joules)
                }
                _ => price.joules,
            });
        }
        let piece = prices
            .iter()
            .find(|price| price.bits == 32)
            .or_else(|| prices.iter().max_by_key(|price| price.bits))
            .filter(|price| price.bits > 0)
            .ok_or_else(|| unsupported("the profile lists no price for this operation"))?;
        Ok(f64::from(bits.div_ceil(piece.bits)) * piece.joules)
    }

    /// The price of one multiply-accumulate: a multiplication at the wider operand's width
    /// plus an addition at the sum's width.
    pub fn mac_price(&self, operand_bits: u32, weight_bits: u32, sum_bits: u32) -> Result<f64> {
        self.mac_price_by(operand_bits, weight_bits, sum_bits, WidthRule::NextListed)
    }

    /// [`Device::mac_price`] with the width rule `rule`.
    pub fn mac_price_by(
        &self,
        operand_bits: u32,
        weight_bits: u32,
        sum_bits: u32,
        rule: WidthRule,
    ) -> Result<f64> {
        let multiply =
            self.operation_price_by(Operation::Multiply, operand_bits.max(weight_bits), rule)?;
        Ok(multiply + self.operation_price_by(Operation::Add, sum_bits, rule)?)
    }
}

/// Which network to price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The network that ran: events at the spiking sites, dense products elsewhere.
    Hybrid,
    /// The same network with every spiking site non-spiking (clause H10): each neuron
    /// update is one MAC per target, zeros included.
    NonSpikingComparison,
}

/// What the pricing needs besides the counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingOptions {
    /// The spike amplitude `alpha` of the run. keras-spiking reads the activity
    /// `a = alpha n / dt` as a rate and multiplies by dt, so a spiking device is charged
    /// `alpha * spike_synops` synaptic operations.
    pub amplitude: f64,
    /// Each site's width when it does not spike ([`ConversionOptions::dense_bits`]: `H` of
    /// `hidden_bits`, `U` of `memory_input_bits`): the operand of the site's MACs in the
    /// comparison, on an `operations` profile.
    pub comparison_operand_bits: SiteMap<u32>,
    /// Width of a lookup-table entry, needed only by a profile that prices reads. The
    /// counters do not record it, because it depends on the site (clause H6).
    pub table_word_bits: Option<u32>,
    /// How widths a profile does not list are priced (default: the next listed width).
    #[serde(default)]
    pub width_rule: WidthRule,
    /// Joules per bit of memory traffic (H10's weight and state words), added to every
    /// device's energy when given; `None` (the default) leaves the traffic counted but not
    /// priced.
    #[serde(default)]
    pub memory_joules_per_bit: Option<f64>,
    /// Width of a state word, for the traffic's price: the conversion's `memory_bits`, the
    /// widest state, so the price is an upper bound.
    #[serde(default = "default_state_word_bits")]
    pub state_word_bits: u32,
}

fn default_state_word_bits() -> u32 {
    ConversionOptions::default().memory_bits
}

impl Default for PricingOptions {
    fn default() -> Self {
        PricingOptions::for_conversion(&ConversionOptions::default(), 1.0)
    }
}

impl PricingOptions {
    /// The options of a run converted with `conversion` at spike amplitude `amplitude`.
    pub fn for_conversion(conversion: &ConversionOptions, amplitude: f64) -> Self {
        PricingOptions {
            amplitude,
            comparison_operand_bits: SiteMap::from_fn(|site| conversion.dense_bits(site)),
            table_word_bits: None,
            width_rule: WidthRule::NextListed,
            memory_joules_per_bit: None,
            state_word_bits: conversion.memory_bits,
        }
    }
}

/// One term of an energy estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyPart {
    /// What is priced: `<site> events`, `<site> as dense` (a site's targets run as MACs),
    /// `dense <tensor> x <operand>`, `neuron updates`, or `table reads`.
    pub what: String,
    /// Joules per inference.
    pub joules: f64,
}

/// The energy of one network on one device, per inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Energy {
    /// The device's name.
    pub device: String,
    /// Which network was priced.
    pub network: Network,
    /// Joules per inference: the sum of the parts.
    pub total_joules: f64,
    /// The terms, sites first, then the dense products, then the neurons or tables.
    pub parts: Vec<EnergyPart>,
}

/// [`price`] for both networks of clause H11 on one device: the hybrid network as it ran, and
/// the same network with nothing spiking.
pub fn price_both(
    device: &Device,
    counters: &HardwareCounters,
    options: &PricingOptions,
) -> Result<(Energy, Energy)> {
    Ok((
        price(device, counters, Network::Hybrid, options)?,
        price(device, counters, Network::NonSpikingComparison, options)?,
    ))
}

/// The energy per inference of `network` on `device`, from a run's counters (clause H11).
/// The counters are totals over `counters.sequences` sequences, so every term is divided by
/// that number.
///
/// `synop` profiles (`N` the nonlinear neuron updates, `M` the dense MACs):
/// - non-spiking device, either network: `e_synop * (M + dense_equivalent_macs) + e_neuron * N`
///   (the device runs everything dense, at every step);
/// - spiking device, hybrid: `e_synop * (alpha * spike_synops + M) + e_neuron * N`, or
///   `synaptic_events` instead of `alpha * spike_synops` when the profile is `graded`;
/// - spiking device, comparison: as a non-spiking device.
///
/// In the comparison the memory input does not spike, so its neurons are linear and leave
/// `N` (keras-spiking counts no neurons for a linear layer).
///
/// `operations` profiles: every event target's `additions` at `add(sum_bits)`, every dense
/// MAC at `multiply(max(operand_bits, weight_bits)) + add(sum_bits)`, and, if the profile
/// prices reads, every table read at `read(table_word_bits)`. In the comparison a site's
/// `dense_equivalent_macs` are MACs whose operand is the site's non-spiking width
/// ([`PricingOptions::comparison_operand_bits`]).
///
/// Memory traffic, for either kind, only when [`PricingOptions::memory_joules_per_bit`] is
/// given: every weight word an event or MAC reads at its tensor's width, and the memory state
/// words read and written (H10) at [`PricingOptions::state_word_bits`].
pub fn price(
    device: &Device,
    counters: &HardwareCounters,
    network: Network,
    options: &PricingOptions,
) -> Result<Energy> {
    if counters.sequences == 0 {
        return Err(HsnnError::invalid(
            "counters.sequences",
            "must be at least 1 to give an energy per inference",
        ));
    }
    if !(options.amplitude.is_finite() && options.amplitude > 0.0) {
        return Err(HsnnError::invalid(
            "options.amplitude",
            format!("must be finite and positive, got {}", options.amplitude),
        ));
    }
    if let Some(per_bit) = options.memory_joules_per_bit {
        if !(per_bit.is_finite() && per_bit >= 0.0) {
            return Err(HsnnError::invalid(
                "options.memory_joules_per_bit",
                format!("must be finite and not negative, got {per_bit}"),
            ));
        }
    }
    let mut totals = match &device.kind {
        DeviceKind::Synop {
            energy_per_synop,
            energy_per_neuron,
            spiking,
            graded,
        } => synop_parts(
            counters,
            network,
            options,
            SynopPrices {
                synop: *energy_per_synop,
                neuron: *energy_per_neuron,
                event_driven: *spiking && network == Network::Hybrid,
                graded: *graded,
            },
        ),
        DeviceKind::Operations { read, .. } => {
            operations_parts(device, read.is_some(), counters, network, options)?
        }
    };
    if let Some(per_bit) = options.memory_joules_per_bit {
        totals.push((
            "memory traffic".into(),
            per_bit * memory_traffic_bits(counters, network, options),
        ));
    }
    let sequences = counters.sequences as f64;
    let parts: Vec<EnergyPart> = totals
        .into_iter()
        .map(|(what, joules)| EnergyPart {
            what,
            joules: joules / sequences,
        })
        .collect();
    Ok(Energy {
        device: device.name.clone(),
        network,
        total_joules: parts.iter().map(|part| part.joules).sum(),
        parts,
    })
}

/// A synop profile's prices, with `event_driven` already settled for the network priced.
struct SynopPrices {
    synop: f64,
    neuron: f64,
    event_driven: bool,
    graded: bool,
}

/// Terms in joules over all sequences.
type Parts = Vec<(String, f64)>;

fn synop_parts(
    counters: &HardwareCounters,
    network: Network,
    options: &PricingOptions,
    prices: SynopPrices,
) -> Parts {
    let mut parts = Parts::new();
    for site in &counters.sites {
        let (label, synops) = if prices.event_driven {
            let synops = if prices.graded {
                site.total(|target| target.synaptic_events) as f64
            } else {
                options.amplitude * site.total(|target| target.spike_synops) as f64
            };
            ("events", synops)
        } else {
            (
                "as dense",
                site.total(|target| target.dense_equivalent_macs) as f64,
            )
        };
        parts.push((
            format!("{} {label}", site.site.name()),
            prices.synop * synops,
        ));
    }
    for dense in &counters.dense {
        parts.push((dense_label(dense), prices.synop * dense.macs as f64));
    }
    let neurons = nonlinear_neuron_updates(counters, network) as f64;
    parts.push(("neuron updates".into(), prices.neuron * neurons));
    parts
}

/// Bits moved between memory and the arithmetic (H10's words at the widths of `options`). The
/// comparison network reads a weight per dense-equivalent MAC where the hybrid one read a weight
/// per event target; its state traffic is the same.
fn memory_traffic_bits(
    counters: &HardwareCounters,
    network: Network,
    options: &PricingOptions,
) -> f64 {
    let memory = &counters.memory;
    // H10's weight words, each at its tensor's width (Abar and Bbar are wider than the
    // weights): one per event target (per dense-equivalent MAC without spikes), one per dense
    // MAC.
    let site_bits: f64 = counters
        .sites
        .iter()
        .flat_map(|site| &site.targets)
        .map(|target| {
            let words = match network {
                Network::Hybrid => target.synaptic_events,
                Network::NonSpikingComparison => target.dense_equivalent_macs,
            };
            words as f64 * f64::from(target.weight_bits)
        })
        .sum();
    let dense_bits: f64 = counters
        .dense
        .iter()
        .map(|dense| dense.macs as f64 * f64::from(dense.weight_bits))
        .sum();
    site_bits
        + dense_bits
        + (memory.state_words_read + memory.state_words_written) as f64
            * f64::from(options.state_word_bits)
}

/// The neurons of an identity site (the memory input, the memory state) are nonlinear only
/// while they spike: the comparison, where no site spikes, leaves them out.
fn nonlinear_neuron_updates(counters: &HardwareCounters, network: Network) -> u64 {
    match network {
        Network::Hybrid => counters.nonlinear_neuron_updates,
        Network::NonSpikingComparison => {
            let identity_sites: u64 = counters
                .sites
                .iter()
                .filter(|site| site.site.base() == SiteActivation::Identity)
                .map(|site| site.neuron_updates)
                .sum();
            counters
                .nonlinear_neuron_updates
                .saturating_sub(identity_sites)
        }
    }
}

fn operations_parts(
    device: &Device,
    prices_reads: bool,
    counters: &HardwareCounters,
    network: Network,
    options: &PricingOptions,
) -> Result<Parts> {
    let mut parts = Parts::new();
    for site in &counters.sites {
        parts.push(match network {
            Network::Hybrid => (
                format!("{} events", site.site.name()),
                sum_targets(site, |target| {
                    Ok(target.additions as f64
                        * device.operation_price_by(
                            Operation::Add,
                            target.sum_bits,
                            options.width_rule,
                        )?)
                })?,
            ),
            Network::NonSpikingComparison => {
                let operand_bits = options.comparison_operand_bits[site.site];
                (
                    format!("{} as dense", site.site.name()),
                    sum_targets(site, |target| {
                        Ok(target.dense_equivalent_macs as f64
                            * device.mac_price_by(
                                operand_bits,
                                target.weight_bits,
                                target.sum_bits,
                                options.width_rule,
                            )?)
                    })?,
                )
            }
        });
    }
    for dense in &counters.dense {
        let mac = device.mac_price_by(
            dense.operand_bits,
            dense.weight_bits,
            dense.sum_bits,
            options.width_rule,
        )?;
        parts.push((dense_label(dense), dense.macs as f64 * mac));
    }
    if prices_reads && counters.table_reads > 0 {
        let bits = options.table_word_bits.ok_or_else(|| {
            HsnnError::invalid(
                "options.table_word_bits",
                format!(
                    "must be given: device `{}` prices reads, and the run read a table",
                    device.name
                ),
            )
        })?;
        let read = device.operation_price_by(Operation::Read, bits, options.width_rule)?;
        parts.push(("table reads".into(), counters.table_reads as f64 * read));
    }
    Ok(parts)
}

fn sum_targets(site: &SiteCounters, joules: impl Fn(&EventTarget) -> Result<f64>) -> Result<f64> {
    site.targets.iter().map(joules).sum()
}

fn dense_label(dense: &DenseCounter) -> String {
    format!("dense {} x {}", dense.tensor, dense.operand)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsnn_spec::QuantizedSite;

    /// E1: the width rule's words are the ones its file form (serde) writes, and read back;
    /// the engine's words, command-line and Python only, are distinct and read back too.
    #[test]
    fn e1_width_rule_and_engine_words_are_their_file_words() {
        use hsnn_spec::Words;
        for &rule in WidthRule::ALL {
            let file_form = serde_json::to_string(&rule).expect("serializes");
            assert_eq!(file_form, format!("\"{}\"", rule.word()));
            assert_eq!(
                WidthRule::from_word("rule", rule.word()).expect("a word"),
                rule
            );
        }
        assert_eq!(WidthRule::words(), ["next_listed", "interpolated"]);
        assert_eq!(crate::Engine::words(), ["fast", "chip"]);
        for &engine in crate::Engine::ALL {
            assert_eq!(
                crate::Engine::from_word("engine", engine.word()).expect("a word"),
                engine
            );
        }
    }

    const PJ: f64 = 1e-12;

    fn horowitz() -> Device {
        let devices = builtin_devices();
        find_device(&devices, "horowitz_45nm")
            .expect("horowitz_45nm is built in")
            .clone()
    }

    fn synop_device(name: &str, spiking: bool, graded: bool) -> Device {
        Device {
            name: name.into(),
            kind: DeviceKind::Synop {
                energy_per_synop: 2.0,
                energy_per_neuron: 5.0,
                spiking,
                graded,
            },
            source: "test prices".into(),
        }
    }

    /// `macs` MACs of the memory's `Abar M` product at the default widths (16-bit Abar, 24-bit
    /// memory, 45-bit sum).
    fn a_bar_product(macs: u64) -> DenseCounter {
        DenseCounter {
            tensor: "a_bar".into(),
            operand: "memory".into(),
            sum: "memory".into(),
            operand_bits: 24,
            weight_bits: 16,
            sum_bits: 45,
            macs,
        }
    }

    fn close(found: f64, expected: f64) -> bool {
        (found - expected).abs() <= 1e-12 * expected.abs().max(f64::MIN_POSITIVE)
    }

    fn assert_close(found: f64, expected: f64, what: &str) {
        assert!(close(found, expected), "{what}: {found} != {expected}");
    }

    /// A fresh, unique directory under the system's temporary directory.
    fn temp_dir(test: &str) -> std::path::PathBuf {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "hsnn-energy-{test}-{}-{unique}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        dir
    }

    /// keras-spiking's documented `ModelEnergy` example (Dense 784 -> 128, relu, on `cpu`:
    /// 100,352 connections and 128 neurons, "Total energy per inference [Joules/inf] (cpu):
    /// 8.64e-04") is reproduced: with one step and one layer the rule is keras-spiking's.
    #[test]
    fn h11_keras_spiking_dense_example_is_reproduced() {
        let counters = HardwareCounters {
            sequences: 1,
            steps: 1,
            dense: vec![DenseCounter {
                tensor: "kernel".into(),
                operand: "input".into(),
                sum: "preactivation".into(),
                operand_bits: 8,
                weight_bits: 8,
                sum_bits: 32,
                macs: 784 * 128,
            }],
            nonlinear_neuron_updates: 128,
            ..HardwareCounters::default()
        };
        let devices = builtin_devices();
        let cpu = find_device(&devices, "cpu").expect("cpu is built in");
        let options = PricingOptions::default();
        for network in [Network::Hybrid, Network::NonSpikingComparison] {
            let energy = price(cpu, &counters, network, &options).expect("priced");
            // 8.6e-9 J * (100,352 + 128) = 8.64128e-4 J.
            assert_close(
                energy.total_joules,
                8.6e-9 * (100_352.0 + 128.0),
                "cpu total",
            );
            assert_eq!(format!("{:.2e}", energy.total_joules), "8.64e-4");
        }
    }

    /// The width rule of H11, on Horowitz's table: the smallest listed width at or above the
    /// operation's, 32-bit pieces above the largest, and an error where nothing is listed.
    #[test]
    fn h11_operation_prices_follow_the_width_rule() {
        let device = horowitz();
        // 8x8 MAC into a 36-bit sum: mul(8) 0.2 pJ + add(36) = ceil(36/32) = 2 x 0.1 pJ.
        assert_close(
            device.mac_price(8, 8, 36).expect("priced"),
            0.4 * PJ,
            "8x8 -> 36",
        );
        // 16x24 MAC into 45 bits: mul(24) takes the 32-bit entry, 3.1 pJ, + 2 x 0.1 pJ.
        assert_close(
            device.mac_price(16, 24, 45).expect("priced"),
            3.3 * PJ,
            "16x24 -> 45",
        );
        assert_close(
            device.operation_price(Operation::Add, 8).expect("priced"),
            0.03 * PJ,
            "8-bit add",
        );
        // 12 bits is not listed: the 16-bit entry.
        assert_close(
            device.operation_price(Operation::Add, 12).expect("priced"),
            0.05 * PJ,
            "12-bit add",
        );
        // 70 bits: ceil(70/32) = 3 pieces of 32 bits.
        assert_close(
            device.operation_price(Operation::Add, 70).expect("priced"),
            3.0 * 0.1 * PJ,
            "70-bit add",
        );
        // Without a 32-bit entry, the largest entry in pieces: ceil(40/16) = 3 x 1 pJ.
        let narrow = Device {
            name: "narrow".into(),
            kind: DeviceKind::Operations {
                add: vec![
                    WidthPrice {
                        bits: 8,
                        joules: 0.5 * PJ,
                    },
                    WidthPrice {
                        bits: 16,
                        joules: PJ,
                    },
                ],
                multiply: Vec::new(),
                read: None,
                write: None,
            },
            source: "test prices".into(),
        };
        assert_close(
            narrow.operation_price(Operation::Add, 40).expect("priced"),
            3.0 * PJ,
            "40-bit add on a 16-bit table",
        );
        let error = narrow.mac_price(8, 8, 16).expect_err("no multiply listed");
        let message = error.to_string();
        assert!(
            matches!(error, HsnnError::Unsupported { .. })
                && message.contains("multiply")
                && message.contains("8-bit"),
            "{message}"
        );
        // Reads are unpriced on Horowitz's profile.
        let error = device
            .operation_price(Operation::Read, 16)
            .expect_err("no read listed");
        assert!(matches!(error, HsnnError::Unsupported { .. }), "{error}");
    }

    /// Every pricing rule against a hand computation, on a tiny network: one hidden site
    /// with one target and one dense product, over 2 sequences.
    #[test]
    fn h11_energy_of_a_tiny_network_hand_computed() {
        // Totals over 2 sequences: 10 neuron updates, 6 events reaching 4 targets each
        // (24 synaptic events), 30 popcount additions, 50 unit spikes (spike_synops), 40
        // dense-equivalent MACs; one dense product of 100 MACs (16x24 into 45 bits); 10
        // nonlinear (hidden) neuron updates.
        let counters = HardwareCounters {
            sequences: 2,
            steps: 5,
            sites: vec![SiteCounters {
                site: QuantizedSite::Hidden,
                neurons: 1,
                payload_bits: 4,
                neuron_updates: 10,
                events: 6,
                targets: vec![EventTarget {
                    tensor: "kernel_hidden".into(),
                    sum: "preactivation".into(),
                    sum_bits: 36,
                    weight_bits: 8,
                    synaptic_events: 24,
                    bit_serial_steps: 35,
                    additions: 30,
                    spike_synops: 50,
                    dense_equivalent_macs: 40,
                }],
            }],
            dense: vec![a_bar_product(100)],
            table_reads: 10,
            nonlinear_neuron_updates: 10,
            ..HardwareCounters::default()
        };
        let options = PricingOptions {
            amplitude: 0.5,
            ..PricingOptions::default()
        };
        let priced = |device: &Device, network| {
            price(device, &counters, network, &options)
                .expect("priced")
                .total_joules
        };

        // Test prices: e_synop 2 J, e_neuron 5 J.
        // Spiking, hybrid: 2 * (0.5 * 50 + 100) + 5 * 10 = 2 * 125 + 50 = 300 J over 2
        // sequences, 150 J per inference.
        let spiking = synop_device("spiking", true, false);
        assert_close(priced(&spiking, Network::Hybrid), 150.0, "spiking hybrid");
        // Graded: 2 * (24 + 100) + 50 = 298 J, 149 J per inference.
        let graded = synop_device("graded", true, true);
        assert_close(priced(&graded, Network::Hybrid), 149.0, "graded hybrid");
        // Comparison on a spiking device (no spikes): 2 * (100 + 40) + 50 = 330 J, 165 J.
        assert_close(
            priced(&spiking, Network::NonSpikingComparison),
            165.0,
            "spiking comparison",
        );
        // Non-spiking device, both networks: 2 * (100 + 40) + 50 = 330 J, 165 J.
        let dense = synop_device("dense", false, false);
        assert_close(priced(&dense, Network::Hybrid), 165.0, "dense hybrid");
        assert_close(
            priced(&dense, Network::NonSpikingComparison),
            165.0,
            "dense comparison",
        );

        // Horowitz, hybrid: 30 additions at add(36) = 2 x 0.1 pJ: 6 pJ; 100 MACs at
        // mul(24) 3.1 pJ + add(45) 0.2 pJ: 330 pJ; total 336 pJ, 168 pJ per inference.
        // (Table reads are not priced: the profile has no read prices.)
        let horowitz = horowitz();
        assert_close(
            priced(&horowitz, Network::Hybrid),
            168.0 * PJ,
            "horowitz hybrid",
        );
        // Comparison: 40 MACs with the 8-bit hidden operand and 8-bit weights into 36 bits,
        // 0.2 + 0.2 = 0.4 pJ each: 16 pJ; the dense 330 pJ; 346 pJ, 173 pJ per inference.
        assert_close(
            priced(&horowitz, Network::NonSpikingComparison),
            173.0 * PJ,
            "horowitz comparison",
        );

        // The parts add up to the total and name the site and the dense product.
        let energy = price(&horowitz, &counters, Network::Hybrid, &options).expect("priced");
        let names: Vec<&str> = energy.parts.iter().map(|part| part.what.as_str()).collect();
        assert_eq!(names, ["hidden events", "dense a_bar x memory"]);
        assert_close(energy.parts[0].joules, 3.0 * PJ, "hidden events part");

        // Zero sequences and a non-positive amplitude are refused.
        let empty = HardwareCounters::default();
        let error = price(&dense, &empty, Network::Hybrid, &options).expect_err("no sequences");
        assert!(error.to_string().contains("counters.sequences"), "{error}");
        let bad = PricingOptions {
            amplitude: 0.0,
            ..PricingOptions::default()
        };
        let error = price(&spiking, &counters, Network::Hybrid, &bad).expect_err("amplitude 0");
        assert!(error.to_string().contains("options.amplitude"), "{error}");
    }

    /// A user's file adds a device and replaces a built-in one by name; files of another
    /// format or version, with an unknown key, a negative price or no source are refused,
    /// naming what is wrong.
    #[test]
    fn h11_device_files_are_read_and_extensible() {
        let dir = temp_dir("files");
        let user = dir.join("user.json");
        std::fs::write(
            &user,
            r#"{
              "format": "hsnn-devices",
              "format_version": 1,
              "generator": "test",
              "devices": [
                {"name": "my-chip", "kind": "synop", "energy_per_synop": 1e-12,
                 "energy_per_neuron": 2e-12, "spiking": true, "graded": true,
                 "source": "a test"},
                {"name": "cpu", "kind": "synop", "energy_per_synop": 1e-9,
                 "energy_per_neuron": 1e-9, "spiking": false, "source": "a corrected cpu"},
                {"name": "my-alu", "kind": "operations",
                 "add": [{"bits": 32, "joules": 1e-13}],
                 "multiply": [{"bits": 32, "joules": 1e-12}],
                 "read": [{"bits": 32, "joules": 5e-12}],
                 "source": "a test"}
              ]
            }"#,
        )
        .expect("write user file");
        let builtin = builtin_devices();
        let devices = devices_with(&[user.as_path()]).expect("merged");
        assert_eq!(devices.len(), builtin.len() + 2);
        let cpu = find_device(&devices, "cpu").expect("cpu");
        assert_eq!(cpu.source, "a corrected cpu");
        assert!(matches!(
            cpu.kind,
            DeviceKind::Synop { energy_per_synop, graded: false, .. } if energy_per_synop == 1e-9
        ));
        let chip = find_device(&devices, "my-chip").expect("my-chip");
        assert!(matches!(chip.kind, DeviceKind::Synop { graded: true, .. }));
        let alu = find_device(&devices, "my-alu").expect("my-alu");
        assert_close(
            alu.operation_price(Operation::Read, 16).expect("priced"),
            5e-12,
            "user read price",
        );
        assert!(find_device(&devices, "nope")
            .expect_err("unknown")
            .to_string()
            .contains("my-chip"));

        // A file round-trips through its JSON.
        let file = DeviceFile {
            format: DEVICE_FORMAT.into(),
            format_version: DEVICE_FORMAT_VERSION,
            generator: "test".into(),
            devices: devices.clone(),
        };
        let again = DeviceFile::from_json(&file.to_json(), "round trip").expect("round trip");
        assert_eq!(again, file);

        let refused = |name: &str, text: &str| -> String {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write bad file");
            load_devices(&path)
                .expect_err("a bad file is refused")
                .to_string()
        };
        let device = r#"{"name": "x", "kind": "synop", "energy_per_synop": 1e-12,
            "energy_per_neuron": 1e-12, "spiking": true, "source": "s"}"#;
        let wrap = |format: &str, version: u32, devices: &str| {
            format!(
                r#"{{"format": "{format}", "format_version": {version}, "generator": "t",
                "devices": [{devices}]}}"#
            )
        };
        let message = refused("format.json", &wrap("hsnn-model", 1, device));
        assert!(
            message.contains("hsnn-devices") && message.contains("hsnn-model"),
            "{message}"
        );
        let message = refused("version.json", &wrap("hsnn-devices", 2, device));
        assert!(message.contains("version 2"), "{message}");
        let message = refused(
            "unknown.json",
            &wrap(
                "hsnn-devices",
                1,
                &device.replace("\"source\"", "\"colour\": 1, \"source\""),
            ),
        );
        assert!(message.contains("colour"), "{message}");
        let message = refused(
            "negative.json",
            &wrap(
                "hsnn-devices",
                1,
                &format!(
                    "{device}, {}",
                    device.replace("\"x\"", "\"y\"").replace(
                        "\"energy_per_synop\": 1e-12",
                        "\"energy_per_synop\": -1e-12"
                    )
                ),
            ),
        );
        assert!(message.contains("devices[1].energy_per_synop"), "{message}");
        let message = refused(
            "missing-source.json",
            &wrap(
                "hsnn-devices",
                1,
                &device.replace(", \"source\": \"s\"", ""),
            ),
        );
        assert!(message.contains("source"), "{message}");
        let message = refused(
            "empty-source.json",
            &wrap("hsnn-devices", 1, &device.replace("\"s\"", "\"  \"")),
        );
        assert!(message.contains("devices[0].source"), "{message}");
        let message = refused(
            "repeated.json",
            &wrap("hsnn-devices", 1, &format!("{device}, {device}")),
        );
        assert!(message.contains("devices[1].name"), "{message}");
        let message = refused(
            "width.json",
            &wrap(
                "hsnn-devices",
                1,
                r#"{"name": "w", "kind": "operations", "add": [{"bits": 8, "joules": 1e-13},
                {"bits": 8, "joules": 2e-13}], "multiply": [], "source": "s"}"#,
            ),
        );
        assert!(message.contains("devices[0].add[1].bits"), "{message}");
        let missing = dir.join("absent.json");
        assert!(load_devices(&missing)
            .expect_err("no file")
            .to_string()
            .contains("absent.json"));

        std::fs::remove_dir_all(&dir).expect("remove temporary directory");
    }

    /// Every shipped profile names its source; the keras-spiking file holds exactly its six
    /// devices with keras-spiking's numbers, and Horowitz's file its table.
    #[test]
    fn h11_every_profile_names_its_source() {
        let devices = builtin_devices();
        for device in &devices {
            assert!(
                !device.source.trim().is_empty(),
                "{} has no source",
                device.name
            );
        }
        let mut names: Vec<&str> = devices.iter().map(|device| device.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), devices.len(), "built-in names are unique");

        let (origin, text) = BUILTIN_FILES[0];
        let keras = DeviceFile::from_json(text, origin).expect("keras-spiking file");
        // (name, energy_per_synop, energy_per_neuron, spiking), from keras_spiking's
        // ModelEnergy.devices.
        let expected = [
            ("cpu", 8.6e-9, 8.6e-9, false),
            ("gpu", 0.3e-9, 0.3e-9, false),
            ("arm", 0.9e-9, 0.9e-9, false),
            ("loihi", (23.6 + 3.5) * 1e-12, 81e-12, true),
            ("spinnaker", 13.3e-9, 26e-9, true),
            ("spinnaker2", 450e-12, 2.19e-9, true),
        ];
        assert_eq!(keras.devices.len(), expected.len());
        for (device, (name, synop, neuron, is_spiking)) in keras.devices.iter().zip(expected) {
            assert_eq!(device.name, name);
            let DeviceKind::Synop {
                energy_per_synop,
                energy_per_neuron,
                spiking,
                graded,
            } = device.kind
            else {
                panic!("{name} is not a synop device");
            };
            assert_close(energy_per_synop, synop, name);
            assert_close(energy_per_neuron, neuron, name);
            assert_eq!(spiking, is_spiking, "{name}");
            // Loihi's numbers are Loihi 1's: binary spikes.
            assert!(!graded, "{name}");
        }

        let device = horowitz();
        for (operation, bits, joules) in [
            (Operation::Add, 8, 0.03),
            (Operation::Add, 16, 0.05),
            (Operation::Add, 32, 0.1),
            (Operation::Multiply, 8, 0.2),
            (Operation::Multiply, 32, 3.1),
        ] {
            let found = device.operation_price(operation, bits).expect("priced");
            assert_close(found, joules * PJ, operation.name());
        }
        assert!(device.source.contains("Horowitz") && device.source.contains("ISSCC"));
    }

    /// H11's width rules on Horowitz's table, derived by hand: a 24-bit add costs the 32-bit
    /// add (0.1 pJ) by the next listed width, and 0.05 + (24 - 16) / (32 - 16) * (0.1 - 0.05)
    /// = 0.075 pJ interpolated; a 16-bit multiply (the table lists 8 and 32 bits) 3.1 pJ, or
    /// 0.2 + (16 - 8) / (32 - 8) * (3.1 - 0.2) = 1.1667 pJ; a listed width is its entry under
    /// both rules, and above 32 bits both take 32-bit pieces.
    #[test]
    fn h11_width_rules_price_unlisted_widths() {
        let device = horowitz();
        let next = WidthRule::NextListed;
        let interpolated = WidthRule::Interpolated;
        let add = |bits, rule| {
            device
                .operation_price_by(Operation::Add, bits, rule)
                .expect("add")
        };
        let multiply = |bits, rule| {
            device
                .operation_price_by(Operation::Multiply, bits, rule)
                .expect("mul")
        };
        assert_close(add(24, next), 0.1 * PJ, "24-bit add, next listed");
        assert_close(
            add(24, interpolated),
            0.075 * PJ,
            "24-bit add, interpolated",
        );
        assert_close(multiply(16, next), 3.1 * PJ, "16-bit multiply, next listed");
        assert_close(
            multiply(16, interpolated),
            (0.2 + 8.0 / 24.0 * 2.9) * PJ,
            "16-bit multiply, interpolated",
        );
        for rule in [next, interpolated] {
            assert_close(add(16, rule), 0.05 * PJ, "listed width");
            assert_close(add(4, rule), 0.03 * PJ, "below the smallest listed width");
            assert_close(add(64, rule), 0.2 * PJ, "two 32-bit pieces");
        }
        assert_eq!(
            device.operation_price(Operation::Add, 24).ok(),
            Some(add(24, next)),
            "the default rule is the next listed width"
        );
    }

    /// H11's memory traffic, when priced: the words of H10 at their tensors' widths times the
    /// price per bit, per inference; the comparison network reads a weight per dense-equivalent
    /// MAC instead of per event target. By hand: 2 sequences; 30 event targets of an 8-bit
    /// tensor whose dense equivalent is 70 MACs; a dense product of 35 MACs on a 16-bit tensor;
    /// 40 + 60 state words of 24 bits; 1 pJ per bit: hybrid (30 * 8 + 35 * 16 + 100 * 24) / 2 =
    /// 1,600 pJ, comparison (70 * 8 + 35 * 16 + 100 * 24) / 2 = 1,760 pJ. Not priced by
    /// default.
    #[test]
    fn h11_memory_traffic_is_priced_per_bit_when_asked() {
        let counters = HardwareCounters {
            sequences: 2,
            steps: 1,
            sites: vec![SiteCounters {
                site: QuantizedSite::Hidden,
                neurons: 1,
                payload_bits: 2,
                neuron_updates: 70,
                events: 30,
                targets: vec![EventTarget {
                    synaptic_events: 30,
                    dense_equivalent_macs: 70,
                    sum_bits: 16,
                    weight_bits: 8,
                    ..EventTarget::default()
                }],
            }],
            dense: vec![a_bar_product(35)],
            memory: crate::counters::MemoryTraffic {
                weight_words_read: 65,
                state_words_read: 40,
                state_words_written: 60,
            },
            ..HardwareCounters::default()
        };
        let devices = builtin_devices();
        let loihi = find_device(&devices, "loihi").expect("loihi is built in");
        let traffic = |network, per_bit| {
            let options = PricingOptions {
                memory_joules_per_bit: per_bit,
                state_word_bits: 24,
                ..PricingOptions::default()
            };
            price(loihi, &counters, network, &options)
                .expect("priced")
                .parts
                .iter()
                .find(|part| part.what == "memory traffic")
                .map(|part| part.joules)
        };
        assert_eq!(traffic(Network::Hybrid, None), None);
        assert_close(
            traffic(Network::Hybrid, Some(PJ)).expect("a traffic part"),
            1_600.0 * PJ,
            "hybrid traffic",
        );
        assert_close(
            traffic(Network::NonSpikingComparison, Some(PJ)).expect("a traffic part"),
            1_760.0 * PJ,
            "comparison traffic",
        );
        let options = PricingOptions {
            memory_joules_per_bit: Some(-1.0),
            ..PricingOptions::default()
        };
        let error = price(loihi, &counters, Network::Hybrid, &options).expect_err("negative");
        assert!(
            error.to_string().contains("memory_joules_per_bit"),
            "{error}"
        );
    }
}
