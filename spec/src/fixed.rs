//! The fixed-point network a chip can run (SPEC.md section H): the conversion options, the
//! fixed model file (clause H9), the integer record of a run (clause H12) and the interface
//! through which a fixed-point backend obtains a fixed model from a model file.
//!
//! Only the vocabulary lives here: the conversion itself is the reference's (H2-H7), and the
//! integer arithmetic is written separately by each fixed-point implementation.

use serde::{Deserialize, Serialize};

use crate::backend::LmuMatrices;
use crate::config::{Activation, LmuConfig, NetworkConfig};
use crate::error::{HsnnError, Result};
use crate::model::{parse_versioned, sha256_hex, write_atomically, Model, Provenance};
use crate::site::{QuantizedSite, SiteActivation, SiteMap};

/// Format tag of a fixed model file (clause H9).
pub const FIXED_MODEL_FORMAT: &str = "hsnn-fixed-model";
/// Version of the fixed model file this build writes and reads (clause H9).
pub const FIXED_MODEL_FORMAT_VERSION: u32 = 1;

/// The options of the conversion of a model file into a fixed model (clause H9). Every field
/// may be left out of a file; the defaults are those of SPEC.md's table in section H.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConversionOptions {
    /// Width of the weight, encoder and readout tensors (H2).
    pub weight_bits: u32,
    /// Width of `Abar` and `Bbar` (H3).
    pub memory_matrix_bits: u32,
    /// Width of the input `X` (H4).
    pub input_bits: u32,
    /// Largest input magnitude the input format must hold (H4).
    pub input_range: f64,
    /// Width of the memory input `U` (H4).
    pub memory_input_bits: u32,
    /// Integer bits of `U`; its fraction bits are the rest (H4).
    pub memory_input_integer_bits: u32,
    /// Width of the memory `M` (H4).
    pub memory_bits: u32,
    /// Integer bits of `M` (H4).
    pub memory_integer_bits: u32,
    /// Width of the pre-activation `Z` (H4).
    pub preactivation_bits: u32,
    /// Fraction bits of `Z`, also the tanh table's input resolution (H4, H6).
    pub preactivation_fraction_bits: u32,
    /// Width of a non-spiking tanh hidden output `H` (H4, H6).
    pub hidden_bits: u32,
    /// Fraction bits of the integrator state `V` (H7).
    pub integrator_fraction_bits: u32,
    /// The tanh table covers `[-table_range, table_range)`; a power of two (H6).
    pub table_range: u32,
    /// Width of the dt multiplier `D` of identity and relu spiking sites (H6).
    pub dt_bits: u32,
    /// Largest complete sum a chip's accumulator holds, in bits (H5).
    pub accumulator_bits: u32,
    /// No term of a sum is finer than `2^-guard_bits` of its target's unit (H5).
    pub guard_bits: u32,
}

impl ConversionOptions {
    /// Width of the value `site` carries when it does not spike (H4): what a dense chip moves
    /// in its place, the operand of its MACs in H11's comparison.
    pub fn dense_bits(&self, site: QuantizedSite) -> u32 {
        match site {
            QuantizedSite::Hidden => self.hidden_bits,
            QuantizedSite::MemoryInput => self.memory_input_bits,
            QuantizedSite::MemoryState => self.memory_bits,
        }
    }
}

impl Default for ConversionOptions {
    fn default() -> Self {
        ConversionOptions {
            weight_bits: 8,
            memory_matrix_bits: 16,
            input_bits: 16,
            input_range: 1.0,
            memory_input_bits: 24,
            memory_input_integer_bits: 4,
            memory_bits: 24,
            memory_integer_bits: 3,
            preactivation_bits: 16,
            preactivation_fraction_bits: 8,
            hidden_bits: 8,
            integrator_fraction_bits: 16,
            table_range: 8,
            dt_bits: 16,
            accumulator_bits: 48,
            guard_bits: 32,
        }
    }
}

impl ConversionOptions {
    /// Checks every field (clauses H9, E1), naming it as `options.<field>`.
    pub fn validate(&self) -> Result<()> {
        for (field, bits) in [
            ("weight_bits", self.weight_bits),
            ("memory_matrix_bits", self.memory_matrix_bits),
            ("input_bits", self.input_bits),
            ("memory_input_bits", self.memory_input_bits),
            ("memory_bits", self.memory_bits),
            ("preactivation_bits", self.preactivation_bits),
            ("hidden_bits", self.hidden_bits),
            ("dt_bits", self.dt_bits),
        ] {
            if !(2..=32).contains(&bits) {
                return Err(HsnnError::invalid(
                    format!("options.{field}"),
                    format!("must be a width from 2 to 32 bits, got {bits}"),
                ));
            }
        }
        for (field, integer_bits, bits) in [
            (
                "memory_input_integer_bits",
                self.memory_input_integer_bits,
                self.memory_input_bits,
            ),
            (
                "memory_integer_bits",
                self.memory_integer_bits,
                self.memory_bits,
            ),
            (
                "preactivation_fraction_bits",
                self.preactivation_fraction_bits,
                self.preactivation_bits,
            ),
        ] {
            if integer_bits + 1 > bits {
                return Err(HsnnError::invalid(
                    format!("options.{field}"),
                    format!("{integer_bits} leaves no room in a {bits}-bit value with its sign"),
                ));
            }
        }
        if !(1..=30).contains(&self.integrator_fraction_bits) {
            return Err(HsnnError::invalid(
                "options.integrator_fraction_bits",
                format!(
                    "must be from 1 to 30, got {}",
                    self.integrator_fraction_bits
                ),
            ));
        }
        if !(16..=63).contains(&self.accumulator_bits) {
            return Err(HsnnError::invalid(
                "options.accumulator_bits",
                format!(
                    "must be from 16 to 63 (sums are held in 64-bit integers), got {}",
                    self.accumulator_bits
                ),
            ));
        }
        if !(self.input_range.is_finite() && self.input_range > 0.0) {
            return Err(HsnnError::invalid(
                "options.input_range",
                format!(
                    "must be a finite number greater than 0, got {}",
                    self.input_range
                ),
            ));
        }
        if !self.table_range.is_power_of_two()
            || u64::from(self.table_range) << self.preactivation_fraction_bits > 1 << 20
        {
            return Err(HsnnError::invalid(
                "options.table_range",
                format!(
                    "must be a power of two with table_range * 2^preactivation_fraction_bits at \
                     most 2^20 (a table of at most 2^21 entries), got {} at {} fraction bits",
                    self.table_range, self.preactivation_fraction_bits
                ),
            ));
        }
        if !(1..=48).contains(&self.guard_bits) {
            return Err(HsnnError::invalid(
                "options.guard_bits",
                format!("must be from 1 to 48, got {}", self.guard_bits),
            ));
        }
        Ok(())
    }
}

/// A signed fixed-point format: `bits` wide with `fraction_bits` fraction bits, the value of
/// an integer `q` being `q * 2^-fraction_bits` and `|q| <= 2^(bits-1) - 1` (clause H1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Format {
    /// Width, sign included.
    pub bits: u32,
    /// Fraction bits.
    pub fraction_bits: i32,
}

impl Format {
    /// The largest magnitude of the symmetric range, `2^(bits-1) - 1` (clause H1).
    pub fn limit(self) -> i64 {
        symmetric_limit(self.bits)
    }
}

/// The largest shift, fraction-bit count or tensor exponent a fixed model may hold (clause
/// H1): 62, so that every shift of a 64-bit value and its rounding constant `2^(k-1)` exist.
pub const MAX_SHIFT: i32 = 62;

/// `2^(bits-1) - 1`, the largest magnitude of a symmetric `bits`-wide integer (clause H1).
pub fn symmetric_limit(bits: u32) -> i64 {
    if bits == 0 {
        0
    } else if bits >= 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    }
}

/// The formats of every state of the fixed network (clause H4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedFormats {
    /// The input `X`.
    pub input: Format,
    /// The memory input `U`.
    pub memory_input: Format,
    /// The memory `M`.
    pub memory: Format,
    /// The pre-activation `Z`.
    pub preactivation: Format,
    /// The non-spiking hidden output `H`; `None` when the hidden units spike.
    pub hidden: Option<Format>,
    /// Fraction bits of the integrator state `V` of every spiking site.
    pub integrator_fraction_bits: u32,
    /// The logits' integers `L` (their width is the bound of the logits sum, clause H5).
    pub logits: Format,
}

/// One tensor of integers with a power-of-two exponent: entry `i` stands for
/// `data[i] * 2^-exponent` (clause H2). Row-major, like [`crate::Tensor2`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedTensor {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Width of every entry, sign included.
    pub bits: u32,
    /// The exponent `s`: the value is `data * 2^-s`.
    pub exponent: i32,
    /// Whether `alpha / dt` was folded in because the tensor reads spike counts (H2, H3).
    pub folded: bool,
    /// `rows * cols` integers.
    pub data: Vec<i64>,
}

impl FixedTensor {
    /// Entry (row, col).
    pub fn at(&self, row: usize, col: usize) -> i64 {
        self.data[row * self.cols + col]
    }

    /// Whether every entry is zero, so the tensor takes no part in its sum's exponent (H2).
    pub fn is_zero(&self) -> bool {
        self.data.iter().all(|&value| value == 0)
    }

    /// Entry `index` as the real it stands for (exact in f64 for widths up to 53 bits).
    pub fn value(&self, index: usize) -> f64 {
        self.data[index] as f64 * 2f64.powi(-self.exponent)
    }
}

/// Every tensor of the fixed network (clauses H2, H3), named as in [`crate::Weights`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedTensors {
    /// `e_x`.
    pub encoder_input: FixedTensor,
    /// `e_h` (folded when the hidden units spike).
    pub encoder_hidden: Option<FixedTensor>,
    /// `e_m`.
    pub encoder_memory: Option<FixedTensor>,
    /// `W_x`.
    pub kernel_input: Option<FixedTensor>,
    /// `W_h` (folded when the hidden units spike).
    pub kernel_hidden: FixedTensor,
    /// `W_m`.
    pub kernel_memory: FixedTensor,
    /// `W_o` (folded when the hidden units spike).
    pub readout_kernel: FixedTensor,
    /// `b_o`, at the logits' exponent.
    pub readout_bias: FixedTensor,
    /// `Abar`, `order x order`.
    pub a_bar: FixedTensor,
    /// `Bbar`, `order x 1` (folded when the memory input spikes).
    pub b_bar: FixedTensor,
}

impl FixedTensors {
    /// The tensor named `name` (as in a [`SumTerm`]), if present.
    pub fn named(&self, name: &str) -> Option<&FixedTensor> {
        match name {
            "encoder_input" => Some(&self.encoder_input),
            "encoder_hidden" => self.encoder_hidden.as_ref(),
            "encoder_memory" => self.encoder_memory.as_ref(),
            "kernel_input" => self.kernel_input.as_ref(),
            "kernel_hidden" => Some(&self.kernel_hidden),
            "kernel_memory" => Some(&self.kernel_memory),
            "readout_kernel" => Some(&self.readout_kernel),
            "readout_bias" => Some(&self.readout_bias),
            "a_bar" => Some(&self.a_bar),
            "b_bar" => Some(&self.b_bar),
            _ => None,
        }
    }

    fn all(&self) -> Vec<(&'static str, &FixedTensor)> {
        let mut all = vec![("encoder_input", &self.encoder_input)];
        for (name, tensor) in [
            ("encoder_hidden", &self.encoder_hidden),
            ("encoder_memory", &self.encoder_memory),
            ("kernel_input", &self.kernel_input),
        ] {
            if let Some(tensor) = tensor {
                all.push((name, tensor));
            }
        }
        all.extend([
            ("kernel_hidden", &self.kernel_hidden),
            ("kernel_memory", &self.kernel_memory),
            ("readout_kernel", &self.readout_kernel),
            ("readout_bias", &self.readout_bias),
            ("a_bar", &self.a_bar),
            ("b_bar", &self.b_bar),
        ]);
        all
    }
}

/// How a site turns its pre-activation into the integrator's increment `P` (spiking) or into
/// the hidden output `H` (non-spiking) (clause H6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum FixedActivation {
    /// A lookup table: the result for pre-activation `Z` is `values[clamp(Z) - first_index]`,
    /// with `clamp` to `[first_index, first_index + values.len() - 1]`.
    Table {
        /// The pre-activation of the first entry, `-table_range * 2^F_z`.
        first_index: i64,
        /// The entries.
        values: Vec<i64>,
    },
    /// `P = rshr(max(Z, 0) if relu else Z, times multiplier, shift)` (spiking identity and
    /// relu sites).
    Multiply {
        /// `D = nearest(dt * 2^multiplier_exponent)`.
        multiplier: i64,
        /// The fraction bits of `D`.
        multiplier_exponent: i32,
        /// `F_operand + F_d - F_v`; negative means a left shift.
        shift: i32,
        /// Whether negative pre-activations count as zero.
        relu: bool,
    },
    /// `H = Z` (non-spiking identity).
    Identity,
    /// `H = max(Z, 0)` (non-spiking relu).
    Relu,
}

/// The rule of each site (clause H6): every spiking site's quantizer, and the hidden units'
/// activation whether they spike or not (a site whose base is the hidden activation always has
/// a rule; an identity site has one only when it spikes).
pub type FixedActivations = SiteMap<Option<FixedActivation>>;

/// One term `Y W` of a sum (clause H5): operand `Y` times tensor `W`, shifted left by `shift`
/// to the sum's exponent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SumTerm {
    /// The tensor's name in [`FixedTensors`].
    pub tensor: String,
    /// The operand: `input`, `memory`, `previous_memory`, `memory_input`,
    /// `memory_input_counts`, `hidden` or `hidden_counts`.
    pub operand: String,
    /// Left shift of the term to the sum's exponent.
    pub shift: u32,
}

/// One of the four sums of a step (clause H5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sum {
    /// The exponent `E` of the exact sum: the finest of its terms.
    pub exponent: i32,
    /// `E - F_target`: the rounding shift to the target's format.
    pub target_shift: i32,
    /// Bits a complete sum may need, sign included (at most the accumulator's width).
    pub bound_bits: u32,
    /// The terms whose tensor is present and not all zero.
    pub terms: Vec<SumTerm>,
}

/// The four sums (clause H5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedSums {
    /// `U`.
    pub memory_input: Sum,
    /// `M`.
    pub memory: Sum,
    /// `Z`.
    pub preactivation: Sum,
    /// `L`.
    pub logits: Sum,
}

/// The range of a spiking site's counts and the bits its events carry (clause H7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountRange {
    /// Smallest count the format allows.
    pub min: i64,
    /// Largest count the format allows.
    pub max: i64,
    /// Bits of `U_v = V + P`, sign included.
    pub integrator_bits: u32,
    /// Bits of an event's payload (`|n|`, plus the sign when the activation is signed).
    pub payload_bits: u32,
}

/// The count ranges of the spiking sites (clause H7): present exactly at the placed sites.
pub type FixedCounts = SiteMap<Option<CountRange>>;

/// Which model file a fixed model was made from (clause H9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedSource {
    /// The model file's format tag.
    pub format: String,
    /// The model file's version.
    pub format_version: u32,
    /// SHA-256 of the model's content (config, weights, provenance; clause E2).
    pub content_sha256: String,
}

/// A fixed model: a model file converted to integers (clause H9), the file a chip, an RTL
/// simulation or a port runs with integer arithmetic alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedModel {
    /// [`FIXED_MODEL_FORMAT`].
    pub format: String,
    /// [`FIXED_MODEL_FORMAT_VERSION`].
    pub format_version: u32,
    /// What it was made by: `hsnn-reference <version>`.
    pub generator: String,
    /// The model it was made from.
    pub source: FixedSource,
    /// The source model's configuration, unchanged.
    pub config: NetworkConfig,
    /// The source model's provenance, when it has one (clause E2).
    pub provenance: Option<Provenance>,
    /// The options of the conversion, every field written out.
    pub options: ConversionOptions,
    /// The formats of the states.
    pub formats: FixedFormats,
    /// The integer tensors.
    pub tensors: FixedTensors,
    /// The rule of each site.
    pub activations: FixedActivations,
    /// The four sums.
    pub sums: FixedSums,
    /// The count ranges of the spiking sites.
    pub counts: FixedCounts,
    /// SHA-256 of the compact JSON with this field set to the empty string.
    pub content_sha256: String,
}

impl FixedModel {
    /// SHA-256 of the compact JSON with `content_sha256` empty (clause H9).
    pub fn content_checksum(&self) -> String {
        let mut blank = self.clone();
        blank.content_sha256 = String::new();
        sha256_hex(serde_json::to_string(&blank).unwrap_or_default().as_bytes())
    }

    /// Sets `content_sha256` to the checksum of the rest.
    pub fn seal(&mut self) {
        self.content_sha256 = self.content_checksum();
    }

    /// The fixed model as compact JSON (its integers make pretty JSON needlessly long).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses and validates a fixed model file (clause H9); `origin` names it in messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let what = format!("fixed model file {origin}");
        let model: FixedModel =
            parse_versioned(text, &what, FIXED_MODEL_FORMAT, FIXED_MODEL_FORMAT_VERSION)?;
        if model.content_sha256 != model.content_checksum() {
            return Err(HsnnError::Parse {
                what,
                reason: format!(
                    "the contents do not match their content_sha256 {} (changed after hsnn \
                     wrote the file?); a fixed model is a contract: convert the model again \
                     instead of editing it",
                    model.content_sha256
                ),
            });
        }
        model.validate()?;
        Ok(model)
    }

    /// Reads a fixed model file.
    pub fn load(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| HsnnError::Io {
            action: "cannot read fixed model file".into(),
            path: path.display().to_string(),
            source,
        })?;
        FixedModel::from_json(&text, &path.display().to_string())
    }

    /// Writes the file atomically (clause E2).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        write_atomically(path, self.to_json().as_bytes())
    }

    /// Checks the structure: configuration, shapes, every integer within its width, the
    /// table's length, and every sum against the tensors' exponents (clause H9).
    pub fn validate(&self) -> Result<()> {
        self.config.validate()?;
        self.options.validate()?;
        self.check_formats()?;
        let lmu = &self.config.lmu;
        let mut expected: Vec<(&str, usize, usize)> = self.config.weight_shapes();
        expected.push(("a_bar", lmu.order, lmu.order));
        expected.push(("b_bar", lmu.order, 1));
        let present = self.tensors.all();
        for (name, rows, cols) in &expected {
            let tensor = present
                .iter()
                .find(|(present_name, _)| present_name == name)
                .map(|(_, tensor)| *tensor)
                .ok_or_else(|| HsnnError::ShapeMismatch {
                    name: format!("tensors.{name}"),
                    expected: format!("{rows} x {cols} (the configuration has it)"),
                    found: "nothing".into(),
                })?;
            if tensor.rows != *rows || tensor.cols != *cols || tensor.data.len() != rows * cols {
                return Err(HsnnError::ShapeMismatch {
                    name: format!("tensors.{name}"),
                    expected: format!("{rows} x {cols}"),
                    found: format!(
                        "{} x {} with {} values",
                        tensor.rows,
                        tensor.cols,
                        tensor.data.len()
                    ),
                });
            }
            check_width(&format!("tensors.{name}"), tensor.bits, &tensor.data)?;
        }
        if present.len() != expected.len() {
            return Err(HsnnError::invalid(
                "tensors",
                "holds a tensor the configuration does not have",
            ));
        }
        let placement = self.config.quantizer.placement;
        let rules_agree = QuantizedSite::ALL.into_iter().all(|site| {
            let spikes = placement.quantizes(site);
            let needs_rule = spikes || site.base() == SiteActivation::HiddenActivation;
            spikes == self.counts[site].is_some() && needs_rule == self.activations[site].is_some()
        });
        if placement.quantizes(QuantizedSite::Hidden) == self.formats.hidden.is_some()
            || !rules_agree
        {
            return Err(HsnnError::invalid(
                "counts",
                format!(
                    "spiking sites, count ranges and hidden format disagree with the placement \
                     `{}`",
                    placement.name()
                ),
            ));
        }
        let table_length =
            2 * (u64::from(self.options.table_range) << self.options.preactivation_fraction_bits);
        for (site, activation) in self.activations.iter() {
            if let Some(FixedActivation::Table {
                first_index,
                values,
            }) = activation
            {
                if values.len() as u64 != table_length
                    || *first_index != -((table_length / 2) as i64)
                {
                    return Err(HsnnError::invalid(
                        format!("activations.{site}"),
                        format!(
                            "a table must have {table_length} entries from {}, has {} from \
                             {first_index}",
                            -((table_length / 2) as i64),
                            values.len()
                        ),
                    ));
                }
            }
        }
        for (name, sum, target) in [
            (
                "memory_input",
                &self.sums.memory_input,
                Some(self.formats.memory_input),
            ),
            ("memory", &self.sums.memory, Some(self.formats.memory)),
            (
                "preactivation",
                &self.sums.preactivation,
                Some(self.formats.preactivation),
            ),
            ("logits", &self.sums.logits, None),
        ] {
            self.check_sum(name, sum, target)?;
        }
        Ok(())
    }

    /// Every format a width from 1 to 63 bits with at most [`MAX_SHIFT`] fraction bits either
    /// way, every tensor exponent within [`MAX_SHIFT`], and the integrator's fraction bits those
    /// of the options (clauses H1, H4, H7): what the 64-bit arithmetic of a chip can shift by.
    fn check_formats(&self) -> Result<()> {
        let formats = &self.formats;
        let mut named = vec![
            ("input", formats.input),
            ("memory_input", formats.memory_input),
            ("memory", formats.memory),
            ("preactivation", formats.preactivation),
            ("logits", formats.logits),
        ];
        if let Some(hidden) = formats.hidden {
            named.push(("hidden", hidden));
        }
        for (name, format) in named {
            // 1 bit holds only 0: the logits of an all-zero readout are that wide (H5).
            if !(1..=63).contains(&format.bits) || format.fraction_bits.abs() > MAX_SHIFT {
                return Err(HsnnError::invalid(
                    format!("formats.{name}"),
                    format!(
                        "{} bits with {} fraction bits: a format is 1 to 63 bits wide with at \
                         most {MAX_SHIFT} fraction bits either way",
                        format.bits, format.fraction_bits
                    ),
                ));
            }
        }
        if formats.integrator_fraction_bits != self.options.integrator_fraction_bits {
            return Err(HsnnError::invalid(
                "formats.integrator_fraction_bits",
                format!(
                    "{} differs from options.integrator_fraction_bits {}",
                    formats.integrator_fraction_bits, self.options.integrator_fraction_bits
                ),
            ));
        }
        for (name, tensor) in self.tensors.all() {
            if tensor.exponent.abs() > MAX_SHIFT {
                return Err(HsnnError::invalid(
                    format!("tensors.{name}.exponent"),
                    format!(
                        "{} is beyond ±{MAX_SHIFT}, more than a 64-bit shift can carry",
                        tensor.exponent
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The fraction bits of an operand of a sum (clause H5); counts have none.
    pub fn operand_fraction_bits(&self, operand: &str) -> Option<i32> {
        match operand {
            "input" => Some(self.formats.input.fraction_bits),
            "memory" | "previous_memory" => Some(self.formats.memory.fraction_bits),
            "memory_input" => Some(self.formats.memory_input.fraction_bits),
            "hidden" => self.formats.hidden.map(|format| format.fraction_bits),
            _ => QuantizedSite::ALL
                .into_iter()
                .any(|site| operand == counts_operand(site))
                .then_some(0),
        }
    }

    fn check_sum(&self, name: &str, sum: &Sum, target: Option<Format>) -> Result<()> {
        let field = format!("sums.{name}");
        if sum.bound_bits > self.options.accumulator_bits {
            return Err(HsnnError::invalid(
                &field,
                format!(
                    "needs {} bits, above options.accumulator_bits {}",
                    sum.bound_bits, self.options.accumulator_bits
                ),
            ));
        }
        for term in &sum.terms {
            let tensor = self.tensors.named(&term.tensor).ok_or_else(|| {
                HsnnError::invalid(&field, format!("names an absent tensor `{}`", term.tensor))
            })?;
            let fraction = self.operand_fraction_bits(&term.operand).ok_or_else(|| {
                HsnnError::invalid(
                    &field,
                    format!("names an unknown operand `{}`", term.operand),
                )
            })?;
            let term_exponent = i64::from(fraction) + i64::from(tensor.exponent);
            if term.shift > MAX_SHIFT.unsigned_abs()
                || i64::from(sum.exponent) - term_exponent != i64::from(term.shift)
            {
                return Err(HsnnError::invalid(
                    &field,
                    format!(
                        "term {} x {}: shift {} disagrees with the exponents ({} - {} - {})",
                        term.operand,
                        term.tensor,
                        term.shift,
                        sum.exponent,
                        fraction,
                        tensor.exponent
                    ),
                ));
            }
        }
        if sum.target_shift.abs() > MAX_SHIFT {
            return Err(HsnnError::invalid(
                &field,
                format!(
                    "target_shift {} is beyond ±{MAX_SHIFT}, more than a 64-bit shift can carry",
                    sum.target_shift
                ),
            ));
        }
        if let Some(target) = target {
            if i64::from(sum.exponent) - i64::from(target.fraction_bits)
                != i64::from(sum.target_shift)
            {
                return Err(HsnnError::invalid(
                    &field,
                    format!(
                        "target_shift {} disagrees with the exponent {} and the target's {} \
                         fraction bits",
                        sum.target_shift, sum.exponent, target.fraction_bits
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_width(name: &str, bits: u32, data: &[i64]) -> Result<()> {
    if !(2..=63).contains(&bits) {
        return Err(HsnnError::invalid(
            name,
            format!("width {bits} is not from 2 to 63 bits"),
        ));
    }
    let limit = symmetric_limit(bits);
    if let Some(index) = data.iter().position(|value| value.abs() > limit) {
        return Err(HsnnError::invalid(
            name,
            format!(
                "entry {index} is {}, outside the symmetric {bits}-bit range ±{limit}",
                data[index]
            ),
        ));
    }
    Ok(())
}

/// How many values of each quantity were saturated to their format (clause H1), summed over
/// the sequences of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saturations {
    /// Inputs `X`.
    pub input: u64,
    /// Memory inputs `U`.
    pub memory_input: u64,
    /// Memory words `M`.
    pub memory: u64,
    /// Pre-activations `Z`.
    pub preactivation: u64,
}

impl Saturations {
    /// The total over every quantity.
    pub fn total(&self) -> u64 {
        self.input + self.memory_input + self.memory + self.preactivation
    }

    /// Adds another run's counters.
    pub fn add(&mut self, other: &Saturations) {
        self.input += other.input;
        self.memory_input += other.memory_input;
        self.memory += other.memory;
        self.preactivation += other.preactivation;
    }
}

/// The integer record of a fixed-point run over a batch (clause H12): what both fixed-point
/// implementations must agree on bit for bit. Per-step vectors are batch-major, element
/// (sample b, step t, index k) at `(b * steps + t) * width + k`; they are empty unless
/// `full` was asked for, except the counts of spiking sites.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "FixedRunFile", from = "FixedRunFile")]
pub struct FixedRun {
    /// Sequences.
    pub batch: usize,
    /// Steps per sequence.
    pub steps: usize,
    /// The logits' integers `L`, `batch x output_size`; the logit is `L * 2^-logit_exponent`.
    pub logits: Vec<i64>,
    /// `E_L`.
    pub logit_exponent: i32,
    /// Each site's spike counts (empty unless the site spikes).
    pub counts: SiteMap<Vec<i64>>,
    /// Each site's integrators `U_v` before the split into count and state (full only).
    pub integrators: SiteMap<Vec<i64>>,
    /// `U` per step (full only).
    pub memory_input: Vec<i64>,
    /// `M` per step, after the update (full only).
    pub memory: Vec<i64>,
    /// `Z` per step (full only).
    pub preactivation: Vec<i64>,
    /// Non-spiking `H` per step (full only, empty when the hidden units spike).
    pub hidden_output: Vec<i64>,
    /// Saturation counters.
    pub saturations: Saturations,
}

/// The operand name of a site's counts in a sum term (clause H5): `<site>_counts`.
pub fn counts_operand(site: QuantizedSite) -> String {
    format!("{}_counts", site.name())
}

/// [`FixedRun`] as files hold it (golden vectors, clause H12): each site's records as the
/// fields `<site>_counts` and `<site>_integrator`, between the logits and `memory_input`, so a
/// file lists them by name and files written before a site existed keep reading.
#[derive(Serialize, Deserialize)]
struct FixedRunFile {
    batch: usize,
    steps: usize,
    logits: Vec<i64>,
    logit_exponent: i32,
    #[serde(flatten)]
    sites: SiteRecordFields,
    memory_input: Vec<i64>,
    memory: Vec<i64>,
    preactivation: Vec<i64>,
    hidden_output: Vec<i64>,
    saturations: Saturations,
}

/// Each site's counts and integrators, as the fields of [`FixedRunFile`].
#[derive(Default)]
struct SiteRecordFields {
    counts: SiteMap<Vec<i64>>,
    integrators: SiteMap<Vec<i64>>,
}

impl SiteRecordFields {
    /// The field of `site`'s counts (`false`) or integrators (`true`).
    fn field(site: QuantizedSite, integrators: bool) -> String {
        if integrators {
            format!("{}_integrator", site.name())
        } else {
            counts_operand(site)
        }
    }
}

impl Serialize for SiteRecordFields {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for site in QuantizedSite::ALL {
            // A site added later is written only where it spiked (as SiteMap's own rule).
            let listed = site.listed_when_absent() || !self.counts[site].is_empty();
            if listed {
                map.serialize_entry(&Self::field(site, false), &self.counts[site])?;
            }
            if listed || !self.integrators[site].is_empty() {
                map.serialize_entry(&Self::field(site, true), &self.integrators[site])?;
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SiteRecordFields {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let fields = std::collections::BTreeMap::<String, Vec<i64>>::deserialize(deserializer)?;
        let mut records = SiteRecordFields::default();
        for (name, values) in fields {
            let slot = QuantizedSite::ALL.into_iter().find_map(|site| {
                if name == Self::field(site, false) {
                    Some((site, false))
                } else if name == Self::field(site, true) {
                    Some((site, true))
                } else {
                    None
                }
            });
            match slot {
                Some((site, false)) => records.counts[site] = values,
                Some((site, true)) => records.integrators[site] = values,
                None => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown field `{name}` in a fixed-point run record"
                    )))
                }
            }
        }
        Ok(records)
    }
}

impl From<FixedRun> for FixedRunFile {
    fn from(run: FixedRun) -> Self {
        FixedRunFile {
            batch: run.batch,
            steps: run.steps,
            logits: run.logits,
            logit_exponent: run.logit_exponent,
            sites: SiteRecordFields {
                counts: run.counts,
                integrators: run.integrators,
            },
            memory_input: run.memory_input,
            memory: run.memory,
            preactivation: run.preactivation,
            hidden_output: run.hidden_output,
            saturations: run.saturations,
        }
    }
}

impl From<FixedRunFile> for FixedRun {
    fn from(file: FixedRunFile) -> Self {
        FixedRun {
            batch: file.batch,
            steps: file.steps,
            logits: file.logits,
            logit_exponent: file.logit_exponent,
            counts: file.sites.counts,
            integrators: file.sites.integrators,
            memory_input: file.memory_input,
            memory: file.memory,
            preactivation: file.preactivation,
            hidden_output: file.hidden_output,
            saturations: file.saturations,
        }
    }
}

/// What a fixed-point backend that depends on hsnn-spec only needs from the reference: the
/// conversion of a model file (clauses H2-H9) and the f64 Legendre matrices (L1-L3). The CLI
/// and the conformance suite pass the reference's implementation in.
pub trait FixedPointConversion: Send + Sync {
    /// Converts `model` with `options` (clause H9).
    fn convert(&self, model: &Model, options: &ConversionOptions) -> Result<FixedModel>;

    /// The f64 Legendre matrices of `config` (clauses L1-L3).
    fn legendre(&self, config: &LmuConfig) -> Result<LmuMatrices>;

    /// The rule of a standalone spiking site with base activation `activation` at `dt`
    /// (clause H7's `quantize` operation), with its count range.
    fn site_activation(
        &self,
        activation: Activation,
        dt: f64,
        options: &ConversionOptions,
    ) -> Result<(FixedActivation, CountRange)>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H9: every option is checked with its field named.
    #[test]
    fn h9_options_are_validated_with_their_field() {
        assert!(ConversionOptions::default().validate().is_ok());
        type Change = fn(&mut ConversionOptions);
        let cases: [(Change, &str); 5] = [
            (|o| o.weight_bits = 1, "options.weight_bits"),
            (|o| o.accumulator_bits = 64, "options.accumulator_bits"),
            (|o| o.table_range = 6, "options.table_range"),
            (
                |o| o.memory_integer_bits = 24,
                "options.memory_integer_bits",
            ),
            (|o| o.input_range = f64::NAN, "options.input_range"),
        ];
        for (change, field) in cases {
            let mut options = ConversionOptions::default();
            change(&mut options);
            let message = options.validate().expect_err(field).to_string();
            assert!(message.contains(field), "{message}");
        }
    }

    /// H1: the symmetric range leaves out `-2^(b-1)`.
    #[test]
    fn h1_symmetric_limit_leaves_out_the_most_negative_code() {
        assert_eq!(symmetric_limit(8), 127);
        assert_eq!(symmetric_limit(2), 1);
        assert_eq!(symmetric_limit(63), (1i64 << 62) - 1);
        assert!(check_width("t", 8, &[127, -127]).is_ok());
        assert!(check_width("t", 8, &[-128]).is_err());
    }
}
