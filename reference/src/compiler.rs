//! The fixed-point compiler of SPEC.md section H: a model file becomes a fixed model (clauses
//! H2-H7, H9), written as plainly as the rest of the reference. The CLI, the Python package and
//! the hardware backend (through [`ReferenceConversion`], the `FixedPointConversion` it is
//! handed) all compile through here; the integer forward pass on the result is
//! [`crate::fixed`]'s.
//!
//! ```text
//! W            = nearest(w 2^s), s the finest exponent that fits in b bits     (H2)
//! F_target     = the format each state is rounded to                           (H4)
//! sum          = sat( rshr( sum_terms (Y W) 2^shift, E - F_target ) )          (H5)
//! ```

use hsnn_spec::fixed::{
    symmetric_limit, ConversionOptions, CountRange, FixedActivation, FixedActivations, FixedCounts,
    FixedFormats, FixedModel, FixedPointConversion, FixedSource, FixedSums, FixedTensor,
    FixedTensors, Format, Sum, SumTerm, FIXED_MODEL_FORMAT, FIXED_MODEL_FORMAT_VERSION,
};
use hsnn_spec::QuantizedSite;
use hsnn_spec::{Activation, FixedPointForm, HsnnError, LmuConfig, LmuMatrices, Model, Result};

use crate::fixed::{apply_rule, nearest};
use crate::legendre;

/// The binary exponent `e` of a finite `m > 0`: `m = f 2^e` with `1 <= f < 2`, from the bits.
fn binary_exponent(m: f64) -> i32 {
    let biased = ((m.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first (exact).
        binary_exponent(m * 2f64.powi(64)) - 64
    } else {
        biased - 1023
    }
}

/// H2's exponent rule: the finest power-of-two exponent `s` at which `max_abs` still fits in
/// `bits - 1` magnitude bits, capped at `cap`; 0 for an all-zero tensor.
pub fn tensor_exponent(max_abs: f64, bits: u32, cap: i32) -> i32 {
    if max_abs == 0.0 {
        return 0;
    }
    let mut exponent = (bits as i32 - 2) - binary_exponent(max_abs);
    if nearest(max_abs * 2f64.powi(exponent)) == 1i64 << (bits - 1) {
        exponent -= 1;
    }
    exponent.min(cap)
}

/// A tensor of reals rounded by H2's rule to `bits` bits.
pub fn fixed_tensor(
    rows: usize,
    cols: usize,
    values: &[f64],
    bits: u32,
    cap: i32,
    folded: bool,
) -> FixedTensor {
    let max_abs = values
        .iter()
        .fold(0.0f64, |max, value| max.max(value.abs()));
    let exponent = tensor_exponent(max_abs, bits, cap);
    let scale = 2f64.powi(exponent);
    FixedTensor {
        rows,
        cols,
        bits,
        exponent,
        folded,
        data: if max_abs == 0.0 {
            vec![0; values.len()]
        } else {
            values.iter().map(|&value| nearest(value * scale)).collect()
        },
    }
}

/// Bits of `|x|` plus a sign bit: the width a signed integer of magnitude up to `x` needs.
fn signed_bits(magnitude: i128) -> u32 {
    128 - magnitude.unsigned_abs().leading_zeros() + 1
}

/// The reference's implementation of the conversion (clauses H2-H9).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceConversion;

impl FixedPointConversion for ReferenceConversion {
    fn convert(&self, model: &Model, options: &ConversionOptions) -> Result<FixedModel> {
        convert(model, options)
    }

    fn legendre(&self, config: &LmuConfig) -> Result<LmuMatrices> {
        legendre::lmu_matrices(config.order, config.theta, config.discretizer)
    }

    fn site_activation(
        &self,
        activation: Activation,
        dt: f64,
        options: &ConversionOptions,
    ) -> Result<(FixedActivation, CountRange)> {
        hsnn_spec::config::validate_dt(dt)?;
        options.validate()?;
        let formats = formats(options);
        let rule = spiking_rule(activation, dt, options, formats.preactivation.fraction_bits);
        let range = count_range(&rule, activation, formats.preactivation, options);
        Ok((rule, range))
    }
}

/// The formats of the states, from the options (clause H4).
fn formats(options: &ConversionOptions) -> FixedFormats {
    let signed = |bits: u32, integer_bits: u32| Format {
        bits,
        fraction_bits: (bits - 1 - integer_bits) as i32,
    };
    FixedFormats {
        input: Format {
            bits: options.input_bits,
            fraction_bits: tensor_exponent(options.input_range, options.input_bits, i32::MAX),
        },
        memory_input: signed(options.memory_input_bits, options.memory_input_integer_bits),
        memory: signed(options.memory_bits, options.memory_integer_bits),
        preactivation: Format {
            bits: options.preactivation_bits,
            fraction_bits: options.preactivation_fraction_bits as i32,
        },
        hidden: None,
        integrator_fraction_bits: options.integrator_fraction_bits,
        logits: Format {
            bits: options.accumulator_bits,
            fraction_bits: 0,
        },
    }
}

/// The increment rule of a spiking site whose operand has `operand_fraction_bits` (H6), in
/// the form the activation's descriptor names: a table with dt folded in, or a multiply by
/// `D = nearest(dt 2^F_d)`.
fn spiking_rule(
    activation: Activation,
    dt: f64,
    options: &ConversionOptions,
    operand_fraction_bits: i32,
) -> FixedActivation {
    let fraction_v = options.integrator_fraction_bits as i32;
    match activation.properties().fixed_point {
        FixedPointForm::Table => table(activation, options, |t| {
            nearest((dt * t) * 2f64.powi(fraction_v))
        }),
        FixedPointForm::Linear { rectified } => {
            let multiplier_exponent = tensor_exponent(dt, options.dt_bits, i32::MAX);
            FixedActivation::Multiply {
                multiplier: nearest(dt * 2f64.powi(multiplier_exponent)),
                multiplier_exponent,
                shift: operand_fraction_bits + multiplier_exponent - fraction_v,
                relu: rectified,
            }
        }
    }
}

/// The table of `activation` over `[-R, R)` at the pre-activation's resolution, entry `k`
/// standing for `z = k 2^-F_z` and holding `entry(f(z))`, `f(z)` from the reference's f64
/// kernel (H6).
fn table(
    activation: Activation,
    options: &ConversionOptions,
    entry: impl Fn(f64) -> i64,
) -> FixedActivation {
    let fraction_z = options.preactivation_fraction_bits as i32;
    let half = i64::from(options.table_range) << fraction_z;
    FixedActivation::Table {
        first_index: -half,
        values: (-half..half)
            .map(|k| {
                entry(crate::activation::apply(
                    activation,
                    k as f64 * 2f64.powi(-fraction_z),
                ))
            })
            .collect(),
    }
}

/// The counts a spiking site can emit, with the bits of its integrator and its payload (H7),
/// for an operand whose format is `operand`.
fn count_range(
    rule: &FixedActivation,
    activation: Activation,
    operand: Format,
    options: &ConversionOptions,
) -> CountRange {
    let (lowest, highest) = match rule {
        FixedActivation::Table { values, .. } => (
            values.iter().copied().min().unwrap_or(0),
            values.iter().copied().max().unwrap_or(0),
        ),
        _ => {
            let limit = operand.limit();
            (apply_rule(rule, -limit), apply_rule(rule, limit))
        }
    };
    let fraction_v = options.integrator_fraction_bits;
    let top_state = (1i64 << fraction_v) - 1;
    let integrator_low = lowest;
    let integrator_high = top_state + highest;
    let min = integrator_low >> fraction_v;
    let max = integrator_high >> fraction_v;
    let magnitude = min.abs().max(max.abs());
    let magnitude_bits = 64 - magnitude.leading_zeros();
    CountRange {
        min,
        max,
        integrator_bits: signed_bits(i128::from(integrator_low.abs().max(integrator_high))),
        payload_bits: magnitude_bits + u32::from(activation.is_signed()),
    }
}

/// One operand of a sum during the conversion: its name, fraction bits and largest magnitude.
#[derive(Debug, Clone, Copy)]
struct Operand {
    name: &'static str,
    fraction_bits: i32,
    largest: i64,
}

/// Converts a model file into a fixed model (clause H9): deterministic, from the model and
/// the options alone.
pub fn convert(model: &Model, options: &ConversionOptions) -> Result<FixedModel> {
    model.validate()?;
    options.validate()?;
    let config = &model.config;
    let lmu = &config.lmu;
    let quantizer = &config.quantizer;
    let placement = quantizer.placement;
    let (dt, alpha) = (quantizer.dt, quantizer.amplitude);
    let mut formats = formats(options);
    let guard = options.guard_bits as i32;

    // H6: the rules of the sites, then H7: their count ranges.
    let hidden_rule = if placement.quantizes(QuantizedSite::Hidden) {
        spiking_rule(
            lmu.hidden_activation,
            dt,
            options,
            formats.preactivation.fraction_bits,
        )
    } else {
        match lmu.hidden_activation.properties().fixed_point {
            FixedPointForm::Table => {
                let fraction_h = options.hidden_bits as i32 - 1;
                let limit = symmetric_limit(options.hidden_bits);
                formats.hidden = Some(Format {
                    bits: options.hidden_bits,
                    fraction_bits: fraction_h,
                });
                table(lmu.hidden_activation, options, |t| {
                    nearest(t * 2f64.powi(fraction_h)).clamp(-limit, limit)
                })
            }
            FixedPointForm::Linear { rectified } => {
                formats.hidden = Some(formats.preactivation);
                if rectified {
                    FixedActivation::Relu
                } else {
                    FixedActivation::Identity
                }
            }
        }
    };
    let hidden_counts = placement.quantizes(QuantizedSite::Hidden).then(|| {
        count_range(
            &hidden_rule,
            lmu.hidden_activation,
            formats.preactivation,
            options,
        )
    });
    // An identity site's rule and count range, where it spikes, on its value's format: U for
    // the memory input, M for the memory state (clauses H6, H7).
    let identity_site = |site: QuantizedSite, format: Format| {
        placement.quantizes(site).then(|| {
            let rule = spiking_rule(Activation::Identity, dt, options, format.fraction_bits);
            let range = count_range(&rule, Activation::Identity, format, options);
            (rule, range)
        })
    };
    let (memory_input_rule, memory_input_counts) =
        identity_site(QuantizedSite::MemoryInput, formats.memory_input).unzip();
    let (memory_state_rule, memory_state_counts) =
        identity_site(QuantizedSite::MemoryState, formats.memory).unzip();

    let hidden_operand = match (&hidden_counts, formats.hidden) {
        (Some(range), _) => Operand {
            name: "hidden_counts",
            fraction_bits: 0,
            largest: range.min.abs().max(range.max),
        },
        (None, Some(format)) => Operand {
            name: "hidden",
            fraction_bits: format.fraction_bits,
            largest: format.limit(),
        },
        (None, None) => unreachable!("a non-spiking hidden site always has a format"),
    };
    let memory_input_operand = match &memory_input_counts {
        Some(range) => Operand {
            name: "memory_input_counts",
            fraction_bits: 0,
            largest: range.min.abs().max(range.max),
        },
        None => Operand {
            name: "memory_input",
            fraction_bits: formats.memory_input.fraction_bits,
            largest: formats.memory_input.limit(),
        },
    };
    let input_operand = Operand {
        name: "input",
        fraction_bits: formats.input.fraction_bits,
        largest: formats.input.limit(),
    };
    let memory_operand = |name| Operand {
        name,
        fraction_bits: formats.memory.fraction_bits,
        largest: formats.memory.limit(),
    };
    // What W_m reads: the memory state's counts where it spikes, M otherwise.
    let kernel_memory_operand = match &memory_state_counts {
        Some(range) => Operand {
            name: "memory_state_counts",
            fraction_bits: 0,
            largest: range.min.abs().max(range.max),
        },
        None => memory_operand("memory"),
    };

    // H2: alpha / dt folded into the tensors that read counts; H3: the Legendre matrices.
    let weights = &model.weights;
    let fold = |values: &[f64], folded: bool| -> Vec<f64> {
        if folded {
            values.iter().map(|&w| (alpha * w) / dt).collect()
        } else {
            values.to_vec()
        }
    };
    let hidden_folded = placement.quantizes(QuantizedSite::Hidden);
    let memory_input_folded = placement.quantizes(QuantizedSite::MemoryInput);
    let memory_state_folded = placement.quantizes(QuantizedSite::MemoryState);
    let matrices = legendre::lmu_matrices(lmu.order, lmu.theta, lmu.discretizer)?;

    let weight = |tensor: &hsnn_spec::Tensor2, folded: bool, cap: i32| {
        fixed_tensor(
            tensor.rows,
            tensor.cols,
            &fold(&tensor.data, folded),
            options.weight_bits,
            cap,
            folded,
        )
    };
    let cap = |target: i32, operand: Operand| target + guard - operand.fraction_bits;
    let fraction_u = formats.memory_input.fraction_bits;
    let fraction_m = formats.memory.fraction_bits;
    let fraction_z = formats.preactivation.fraction_bits;

    let encoder_input = weight(
        &weights.encoder_input,
        false,
        cap(fraction_u, input_operand),
    );
    let encoder_hidden = weights
        .encoder_hidden
        .as_ref()
        .map(|w| weight(w, hidden_folded, cap(fraction_u, hidden_operand)));
    let encoder_memory = weights
        .encoder_memory
        .as_ref()
        .map(|w| weight(w, false, cap(fraction_u, memory_operand("previous_memory"))));
    let kernel_input = weights
        .kernel_input
        .as_ref()
        .map(|w| weight(w, false, cap(fraction_z, input_operand)));
    let kernel_hidden = weight(
        &weights.kernel_hidden,
        hidden_folded,
        cap(fraction_z, hidden_operand),
    );
    let kernel_memory = weight(
        &weights.kernel_memory,
        memory_state_folded,
        cap(fraction_z, kernel_memory_operand),
    );
    let readout_kernel = weight(
        &weights.readout_kernel,
        hidden_folded,
        cap(0, hidden_operand),
    );
    let a_bar = fixed_tensor(
        lmu.order,
        lmu.order,
        &matrices.a_bar.data,
        options.memory_matrix_bits,
        guard,
        false,
    );
    let b_bar = fixed_tensor(
        lmu.order,
        1,
        &fold(&matrices.b_bar.data, memory_input_folded),
        options.memory_matrix_bits,
        cap(fraction_m, memory_input_operand),
        memory_input_folded,
    );
    check_memory_is_stable(&a_bar, &matrices.a_bar.data, options)?;

    // H5: the sums' exponents, shifts and bounds.
    let memory_input_sum = plan_sum(
        "memory_input",
        Some(fraction_u),
        &[
            (Some(&encoder_input), "encoder_input", input_operand, false),
            (
                encoder_hidden.as_ref(),
                "encoder_hidden",
                hidden_operand,
                false,
            ),
            (
                encoder_memory.as_ref(),
                "encoder_memory",
                memory_operand("previous_memory"),
                false,
            ),
        ],
        None,
        options,
    )?;
    let memory_sum = plan_sum(
        "memory",
        Some(fraction_m),
        &[
            (
                Some(&a_bar),
                "a_bar",
                memory_operand("previous_memory"),
                true,
            ),
            (Some(&b_bar), "b_bar", memory_input_operand, true),
        ],
        None,
        options,
    )?;
    let preactivation_sum = plan_sum(
        "preactivation",
        Some(fraction_z),
        &[
            (Some(&kernel_hidden), "kernel_hidden", hidden_operand, false),
            (kernel_input.as_ref(), "kernel_input", input_operand, false),
            (
                Some(&kernel_memory),
                "kernel_memory",
                kernel_memory_operand,
                false,
            ),
        ],
        None,
        options,
    )?;
    // The logits are not rounded: their exponent is the finest term's, and the bias is stored
    // there (H2, H5). Without any term the bias alone sets it, by H2's rule.
    let readout_terms = [(
        Some(&readout_kernel),
        "readout_kernel",
        hidden_operand,
        false,
    )];
    let logits_exponent = if readout_kernel.is_zero() {
        let max_abs = weights
            .readout_bias
            .data
            .iter()
            .fold(0.0f64, |max, value| max.max(value.abs()));
        tensor_exponent(max_abs, options.weight_bits, guard)
    } else {
        hidden_operand.fraction_bits + readout_kernel.exponent
    };
    let bias_scale = 2f64.powi(logits_exponent);
    let bias_limit = symmetric_limit(options.accumulator_bits);
    let bias_data: Vec<i64> = weights
        .readout_bias
        .data
        .iter()
        .map(|&b| nearest(b * bias_scale))
        .collect();
    if let Some(index) = bias_data.iter().position(|value| value.abs() > bias_limit) {
        return Err(HsnnError::invalid(
            format!("readout_bias[{index}]"),
            format!(
                "does not fit in options.accumulator_bits {} at the logits' exponent \
                 {logits_exponent}",
                options.accumulator_bits
            ),
        ));
    }
    let readout_bias = FixedTensor {
        rows: 1,
        cols: config.output_size,
        bits: options.accumulator_bits,
        exponent: logits_exponent,
        folded: false,
        data: bias_data,
    };
    let logits_sum = plan_sum("logits", None, &readout_terms, Some(&readout_bias), options)?;
    formats.logits = Format {
        bits: logits_sum.bound_bits,
        fraction_bits: logits_exponent,
    };

    let mut activations = FixedActivations::default();
    activations[QuantizedSite::Hidden] = Some(hidden_rule);
    activations[QuantizedSite::MemoryInput] = memory_input_rule;
    activations[QuantizedSite::MemoryState] = memory_state_rule;
    let mut counts = FixedCounts::default();
    counts[QuantizedSite::Hidden] = hidden_counts;
    counts[QuantizedSite::MemoryInput] = memory_input_counts;
    counts[QuantizedSite::MemoryState] = memory_state_counts;
    let mut fixed = FixedModel {
        format: FIXED_MODEL_FORMAT.into(),
        format_version: FIXED_MODEL_FORMAT_VERSION,
        generator: format!("hsnn-reference {}", env!("CARGO_PKG_VERSION")),
        source: FixedSource {
            format: model.format.clone(),
            format_version: model.format_version,
            content_sha256: model.content_checksum(),
        },
        config: config.clone(),
        provenance: model.provenance.clone(),
        options: options.clone(),
        formats,
        tensors: FixedTensors {
            encoder_input,
            encoder_hidden,
            encoder_memory,
            kernel_input,
            kernel_hidden,
            kernel_memory,
            readout_kernel,
            readout_bias,
            a_bar,
            b_bar,
        },
        activations,
        sums: FixedSums {
            memory_input: memory_input_sum,
            memory: memory_sum,
            preactivation: preactivation_sum,
            logits: logits_sum,
        },
        counts,
        content_sha256: String::new(),
    };
    fixed.seal();
    fixed.validate()?;
    Ok(fixed)
}

/// H3: the rounded memory must stay stable where the exact one is: 20 squarings of
/// `Abar_q` (its 2^20-th power) must have an infinity-norm below 1.
fn check_memory_is_stable(
    a_bar: &FixedTensor,
    exact: &[f64],
    options: &ConversionOptions,
) -> Result<()> {
    let order = a_bar.rows;
    let power_norm = |start: Vec<f64>| -> f64 {
        let mut power = start;
        for _ in 0..20 {
            let mut next = vec![0.0; order * order];
            for i in 0..order {
                for k in 0..order {
                    let left = power[i * order + k];
                    if left != 0.0 {
                        for j in 0..order {
                            next[i * order + j] += left * power[k * order + j];
                        }
                    }
                }
            }
            power = next;
            if power.iter().any(|value| !value.is_finite()) {
                return f64::INFINITY;
            }
        }
        (0..order)
            .map(|i| {
                power[i * order..(i + 1) * order]
                    .iter()
                    .map(|v| v.abs())
                    .sum()
            })
            .fold(0.0, f64::max)
    };
    let quantized = power_norm((0..order * order).map(|i| a_bar.value(i)).collect());
    if quantized >= 1.0 && power_norm(exact.to_vec()) < 1.0 {
        return Err(HsnnError::Numerical {
            operation: "fixed-point conversion of Abar".into(),
            reason: format!(
                "at options.memory_matrix_bits {} the rounded memory is unstable (the \
                 infinity-norm of Abar_q^(2^20) is {quantized:e}, the exact Abar's is below \
                 1); use more bits",
                options.memory_matrix_bits
            ),
        });
    }
    Ok(())
}

/// H5: one sum's exponent (the finest present, non-zero term), the terms' shifts, the
/// rounding shift to its target and the bound on its magnitude. `by_rows` marks a tensor that
/// acts as `W y` (Abar, Bbar: output `i` reads row `i`), not `y W`.
fn plan_sum(
    name: &str,
    target_fraction_bits: Option<i32>,
    candidates: &[(Option<&FixedTensor>, &str, Operand, bool)],
    bias: Option<&FixedTensor>,
    options: &ConversionOptions,
) -> Result<Sum> {
    let present: Vec<_> = candidates
        .iter()
        .filter_map(|(tensor, tensor_name, operand, by_rows)| {
            tensor
                .filter(|tensor| !tensor.is_zero())
                .map(|tensor| (tensor, *tensor_name, *operand, *by_rows))
        })
        .collect();
    let exponent = match (bias, target_fraction_bits) {
        (Some(bias), _) => bias.exponent,
        (None, target) => present
            .iter()
            .map(|(tensor, _, operand, _)| operand.fraction_bits + tensor.exponent)
            .max()
            .or(target)
            .unwrap_or(0),
    };
    let mut terms = Vec::new();
    let outputs = present
        .first()
        .map(|(tensor, _, _, by_rows)| if *by_rows { tensor.rows } else { tensor.cols })
        .or(bias.map(|bias| bias.cols))
        .unwrap_or(0);
    let mut bound = vec![0i128; outputs];
    for (tensor, tensor_name, operand, by_rows) in &present {
        let shift = exponent - (operand.fraction_bits + tensor.exponent);
        let shift = u32::try_from(shift).map_err(|_| HsnnError::Numerical {
            operation: format!("fixed-point conversion of the {name} sum"),
            reason: format!("term {tensor_name} is finer than the sum's exponent {exponent}"),
        })?;
        terms.push(SumTerm {
            tensor: tensor_name.to_string(),
            operand: operand.name.into(),
            shift,
        });
        for (output, bound) in bound.iter_mut().enumerate() {
            let column: i128 = if *by_rows {
                (0..tensor.cols)
                    .map(|col| i128::from(tensor.at(output, col).abs()))
                    .sum()
            } else {
                (0..tensor.rows)
                    .map(|row| i128::from(tensor.at(row, output).abs()))
                    .sum()
            };
            *bound += (column * i128::from(operand.largest)) << shift;
        }
    }
    if let Some(bias) = bias {
        for (output, bound) in bound.iter_mut().enumerate() {
            *bound += i128::from(bias.data[output].abs());
        }
    }
    let bound_bits = signed_bits(bound.iter().copied().max().unwrap_or(0));
    if bound_bits > options.accumulator_bits {
        return Err(HsnnError::Unsupported {
            backend: "fixed point".into(),
            feature: format!(
                "this model at these options: the {name} sum may need {bound_bits} bits, above \
                 options.accumulator_bits {} (raise it, or lower the weight or state widths)",
                options.accumulator_bits
            ),
        });
    }
    Ok(Sum {
        exponent,
        target_shift: target_fraction_bits.map_or(0, |target| exponent - target),
        bound_bits,
        terms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// H2: the exponent rule's worked examples: the paper's W_m maximum at 8 bits, a maximum
    /// that rounds up to 2^(b-1) and so takes one step coarser, a 16-bit case, a tensor whose
    /// largest entry is negative, and the guard cap.
    #[test]
    fn h2_exponent_rule_hand_computed() {
        assert_eq!(tensor_exponent(0.7232062226737767, 8, 99), 7);
        assert_eq!(nearest(0.7232062226737767 * 128.0), 93);
        assert_eq!(tensor_exponent(0.998046875, 8, 99), 6);
        // 3.0 at 16 bits: e = 1, s = 13, 3 * 2^13 = 24576 <= 32767.
        assert_eq!(tensor_exponent(3.0, 16, 99), 13);
        let tensor = fixed_tensor(1, 3, &[0.25, -0.75, 0.5], 8, 99, false);
        assert_eq!(tensor.exponent, 7);
        assert_eq!(tensor.data, vec![32, -96, 64]);
        assert_eq!(tensor_exponent(1e-9, 8, 20), 20, "capped");
    }

    /// H2: an all-zero tensor has exponent 0 and all-zero data.
    #[test]
    fn h2_all_zero_tensor_has_exponent_zero_and_takes_no_part() {
        let tensor = fixed_tensor(2, 2, &[0.0; 4], 8, 40, false);
        assert_eq!((tensor.exponent, tensor.data.clone()), (0, vec![0; 4]));
        assert!(tensor.is_zero());
    }
}
