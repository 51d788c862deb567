//! The fixed-point network of SPEC.md section H, written as dense loops straight from the
//! clauses: the conversion of a model file into a fixed model (H2-H7, H9) and the forward pass
//! on its integers (H8). Sums are accumulated in i128, so no partial sum can overflow, and
//! checked against the accumulator width the conversion derived.
//!
//! ```text
//! rshr(x, k)   = floor(x / 2^k + 1/2)          the one rounding rule           (H1)
//! nearest(y)   = floor(y + 1/2), exactly       reals to integers               (H1)
//! W            = nearest(w 2^s), s the finest exponent that fits in b bits     (H2)
//! sum          = sat( rshr( sum_terms (Y W) 2^shift, E - F_target ) )          (H5)
//! U_v = V + P;  n = floor(U_v / 2^F_v);  V' = U_v - n 2^F_v                    (H7)
//! ```

use hsnn_spec::fixed::{
    symmetric_limit, ConversionOptions, CountRange, FixedActivation, FixedActivations, FixedCounts,
    FixedFormats, FixedModel, FixedPointConversion, FixedRun, FixedSource, FixedSums, FixedTensor,
    FixedTensors, Format, Sum, SumTerm, FIXED_MODEL_FORMAT, FIXED_MODEL_FORMAT_VERSION,
};
use hsnn_spec::initial_state::initial_state;
use hsnn_spec::{
    Activation, HsnnError, LmuConfig, LmuMatrices, Model, QuantizedSite, Result, SequenceBatch,
};

use crate::legendre;

/// `rshr(x, k) = floor(x / 2^k + 1/2)`: round to nearest, ties toward +infinity; an exact left
/// shift for `k < 0` (clause H1).
pub fn rshr(x: i128, k: i32) -> i128 {
    if k <= 0 {
        x << (-k)
    } else {
        (x + (1i128 << (k - 1))) >> k
    }
}

/// `nearest(y) = floor(y + 1/2)` computed exactly (clause H1): `y + 0.5` would round
/// 0.49999999999999994 up to 1.
pub fn nearest(y: f64) -> i64 {
    let floor = y.floor();
    let up = if y - floor >= 0.5 { 1.0 } else { 0.0 };
    (floor + up) as i64
}

/// `sat_b(x)`: clamps to the symmetric `bits`-wide range, reporting whether it clamped
/// (clause H1).
pub fn saturate(x: i128, bits: u32) -> (i64, bool) {
    let limit = i128::from(symmetric_limit(bits));
    if x > limit {
        (limit as i64, true)
    } else if x < -limit {
        (-limit as i64, true)
    } else {
        (x as i64, false)
    }
}

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

/// The increment rule of a spiking site whose operand has `operand_fraction_bits` (H6):
/// a table with dt folded in for tanh, a multiply by `D = nearest(dt 2^F_d)` otherwise.
fn spiking_rule(
    activation: Activation,
    dt: f64,
    options: &ConversionOptions,
    operand_fraction_bits: i32,
) -> FixedActivation {
    let fraction_v = options.integrator_fraction_bits as i32;
    match activation {
        Activation::Tanh => table(options, |t| nearest((dt * t) * 2f64.powi(fraction_v))),
        Activation::Identity | Activation::Relu => {
            let multiplier_exponent = tensor_exponent(dt, options.dt_bits, i32::MAX);
            FixedActivation::Multiply {
                multiplier: nearest(dt * 2f64.powi(multiplier_exponent)),
                multiplier_exponent,
                shift: operand_fraction_bits + multiplier_exponent - fraction_v,
                relu: activation == Activation::Relu,
            }
        }
    }
}

/// The tanh table over `[-R, R)` at the pre-activation's resolution, entry `k` standing for
/// `z = k 2^-F_z` and holding `entry(tanh(z))` (H6).
fn table(options: &ConversionOptions, entry: impl Fn(f64) -> i64) -> FixedActivation {
    let fraction_z = options.preactivation_fraction_bits as i32;
    let half = i64::from(options.table_range) << fraction_z;
    FixedActivation::Table {
        first_index: -half,
        values: (-half..half)
            .map(|k| entry((k as f64 * 2f64.powi(-fraction_z)).tanh()))
            .collect(),
    }
}

/// Applies a site's rule to a pre-activation (H6).
pub fn apply_rule(rule: &FixedActivation, z: i64) -> i64 {
    match rule {
        FixedActivation::Table {
            first_index,
            values,
        } => {
            let last = first_index + values.len() as i64 - 1;
            values[(z.clamp(*first_index, last) - first_index) as usize]
        }
        FixedActivation::Multiply {
            multiplier,
            shift,
            relu,
            ..
        } => {
            let operand = if *relu { z.max(0) } else { z };
            rshr(i128::from(operand) * i128::from(*multiplier), *shift) as i64
        }
        FixedActivation::Identity => z,
        FixedActivation::Relu => z.max(0),
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
    let hidden_rule = if placement.quantizes_hidden() {
        spiking_rule(
            lmu.hidden_activation,
            dt,
            options,
            formats.preactivation.fraction_bits,
        )
    } else {
        match lmu.hidden_activation {
            Activation::Tanh => {
                let fraction_h = options.hidden_bits as i32 - 1;
                let limit = symmetric_limit(options.hidden_bits);
                formats.hidden = Some(Format {
                    bits: options.hidden_bits,
                    fraction_bits: fraction_h,
                });
                table(options, |t| {
                    nearest(t * 2f64.powi(fraction_h)).clamp(-limit, limit)
                })
            }
            Activation::Identity => {
                formats.hidden = Some(formats.preactivation);
                FixedActivation::Identity
            }
            Activation::Relu => {
                formats.hidden = Some(formats.preactivation);
                FixedActivation::Relu
            }
        }
    };
    let hidden_counts = placement.quantizes_hidden().then(|| {
        count_range(
            &hidden_rule,
            lmu.hidden_activation,
            formats.preactivation,
            options,
        )
    });
    let memory_input_rule = placement.quantizes_memory_input().then(|| {
        spiking_rule(
            Activation::Identity,
            dt,
            options,
            formats.memory_input.fraction_bits,
        )
    });
    let memory_input_counts = memory_input_rule
        .as_ref()
        .map(|rule| count_range(rule, Activation::Identity, formats.memory_input, options));

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

    // H2: alpha / dt folded into the tensors that read counts; H3: the Legendre matrices.
    let weights = &model.weights;
    let fold = |values: &[f64], folded: bool| -> Vec<f64> {
        if folded {
            values.iter().map(|&w| (alpha * w) / dt).collect()
        } else {
            values.to_vec()
        }
    };
    let hidden_folded = placement.quantizes_hidden();
    let memory_input_folded = placement.quantizes_memory_input();
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
        false,
        cap(fraction_z, memory_operand("memory")),
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
                memory_operand("memory"),
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
        activations: FixedActivations {
            hidden: hidden_rule,
            memory_input: memory_input_rule,
        },
        sums: FixedSums {
            memory_input: memory_input_sum,
            memory: memory_sum,
            preactivation: preactivation_sum,
            logits: logits_sum,
        },
        counts: FixedCounts {
            hidden: hidden_counts,
            memory_input: memory_input_counts,
        },
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

/// The state of one sequence of the fixed network (clause H8).
struct SequenceState {
    memory: Vec<i64>,
    hidden: Vec<i64>,
    hidden_state: Vec<i64>,
    memory_input_state: Vec<i64>,
}

/// `V_0 = floor(v_0 2^F_v)` for every neuron of a site (clause H7): for Q3's uniform states
/// the top `F_v` bits of the key, exactly.
pub fn initial_integrators(
    model: &FixedModel,
    sample_id: u64,
    site: QuantizedSite,
    neurons: usize,
) -> Vec<i64> {
    let scale = 2f64.powi(model.formats.integrator_fraction_bits as i32);
    (0..neurons)
        .map(|neuron| {
            let v0 = initial_state(
                &model.config.quantizer.initial_state,
                sample_id,
                site,
                neuron,
            );
            (v0 * scale).floor() as i64
        })
        .collect()
}

/// The dense sum `sum_terms (sum_i Y_i W_ij) 2^shift` for every output `j` (clause H5),
/// looking operands up by name.
fn dense_sum(model: &FixedModel, sum: &Sum, operand: impl Fn(&str) -> Vec<i64>) -> Vec<i128> {
    let mut outputs: Vec<i128> = Vec::new();
    for term in &sum.terms {
        let tensor = model
            .tensors
            .named(&term.tensor)
            .expect("validated fixed model names present tensors");
        let values = operand(&term.operand);
        if outputs.is_empty() {
            outputs = vec![0; tensor.cols];
        }
        for (j, output) in outputs.iter_mut().enumerate() {
            let mut total: i128 = 0;
            for (i, &y) in values.iter().enumerate() {
                total += i128::from(y) * i128::from(tensor.at(i, j));
            }
            *output += total << term.shift;
        }
    }
    outputs
}

/// Rounds complete sums to the target format (clause H5) and saturates them (H1).
fn round_to(sums: &[i128], target_shift: i32, bits: u32, saturations: &mut u64) -> Vec<i64> {
    sums.iter()
        .map(|&acc| {
            let (value, clamped) = saturate(rshr(acc, target_shift), bits);
            *saturations += u64::from(clamped);
            value
        })
        .collect()
}

/// One spiking site's quantizer step on integers (clause H7), in place; returns the counts and
/// the integrators `U_v`.
fn quantize_step(
    rule: &FixedActivation,
    fraction_v: u32,
    states: &mut [i64],
    operands: &[i64],
) -> (Vec<i64>, Vec<i64>) {
    let mut counts = Vec::with_capacity(states.len());
    let mut integrators = Vec::with_capacity(states.len());
    for (state, &operand) in states.iter_mut().zip(operands) {
        let integrator = *state + apply_rule(rule, operand);
        let count = integrator >> fraction_v;
        *state = integrator - (count << fraction_v);
        counts.push(count);
        integrators.push(integrator);
    }
    (counts, integrators)
}

/// Runs the fixed network over a batch (clause H8), dense loops; `full` records `U`, `M`, `Z`
/// and `H` of every step.
pub fn run(model: &FixedModel, batch: &SequenceBatch, full: bool) -> Result<FixedRun> {
    batch.validate()?;
    let lmu = &model.config.lmu;
    if batch.features != lmu.input_size {
        return Err(HsnnError::ShapeMismatch {
            name: "input batch features".into(),
            expected: format!("{} (the model's lmu.input_size)", lmu.input_size),
            found: batch.features.to_string(),
        });
    }
    let mut record = FixedRun {
        batch: batch.batch,
        steps: batch.steps,
        logit_exponent: model.sums.logits.exponent,
        ..FixedRun::default()
    };
    let sequence_length = batch.steps * batch.features;
    for sample in 0..batch.batch {
        let inputs = &batch.data[sample * sequence_length..(sample + 1) * sequence_length];
        run_sequence(
            model,
            inputs,
            batch.steps,
            batch.sample_ids[sample],
            full,
            &mut record,
        );
    }
    Ok(record)
}

fn run_sequence(
    model: &FixedModel,
    inputs: &[f64],
    steps: usize,
    sample_id: u64,
    full: bool,
    record: &mut FixedRun,
) {
    let lmu = &model.config.lmu;
    let formats = &model.formats;
    let placement = model.config.quantizer.placement;
    let fraction_v = formats.integrator_fraction_bits;
    let order = lmu.order;
    let mut state = SequenceState {
        memory: vec![0; lmu.memory_length()],
        hidden: vec![0; lmu.hidden_size],
        hidden_state: initial_integrators(model, sample_id, QuantizedSite::Hidden, lmu.hidden_size),
        memory_input_state: initial_integrators(
            model,
            sample_id,
            QuantizedSite::MemoryInput,
            lmu.memory_size,
        ),
    };
    let input_scale = 2f64.powi(formats.input.fraction_bits);
    let a_bar = &model.tensors.a_bar;
    let b_bar = &model.tensors.b_bar;
    for step in 0..steps {
        // 1. X = sat(nearest(x 2^F_x))
        let x: Vec<i64> = inputs[step * lmu.input_size..(step + 1) * lmu.input_size]
            .iter()
            .map(|&value| {
                let (value, clamped) =
                    saturate(i128::from(nearest(value * input_scale)), formats.input.bits);
                record.saturations.input += u64::from(clamped);
                value
            })
            .collect();

        // 2. U = sat(rshr([X e_x] + [Y_prev e_h] + [M_prev e_m], E_u - F_u))
        let operands = |name: &str, memory: &[i64], hidden: &[i64]| -> Vec<i64> {
            match name {
                "input" => x.clone(),
                "hidden" | "hidden_counts" => hidden.to_vec(),
                _ => memory.to_vec(),
            }
        };
        let memory_input_sums = dense_sum(model, &model.sums.memory_input, |name| {
            operands(name, &state.memory, &state.hidden)
        });
        let memory_input = round_to(
            &pad(memory_input_sums, lmu.memory_size),
            model.sums.memory_input.target_shift,
            formats.memory_input.bits,
            &mut record.saturations.memory_input,
        );

        // 3. the memory input's quantizer, when it spikes
        let memory_operand = match &model.activations.memory_input {
            Some(rule) => {
                let (counts, integrators) = quantize_step(
                    rule,
                    fraction_v,
                    &mut state.memory_input_state,
                    &memory_input,
                );
                record.memory_input_counts.extend(&counts);
                if full {
                    record.memory_input_integrator.extend(&integrators);
                }
                counts
            }
            None => memory_input.clone(),
        };

        // 4. M_t = sat(rshr([Abar M_{t-1}] + [Bbar U], E_m - F_m)), each memory dimension
        let shift_of = |tensor: &str| {
            model
                .sums
                .memory
                .terms
                .iter()
                .find(|term| term.tensor == tensor)
                .map(|term| term.shift)
        };
        let (a_shift, b_shift) = (shift_of("a_bar"), shift_of("b_bar"));
        let mut memory_sums = vec![0i128; lmu.memory_length()];
        for dimension in 0..lmu.memory_size {
            for i in 0..order {
                let mut total: i128 = 0;
                if let Some(shift) = a_shift {
                    let mut product: i128 = 0;
                    for l in 0..order {
                        product += i128::from(a_bar.at(i, l))
                            * i128::from(state.memory[dimension * order + l]);
                    }
                    total += product << shift;
                }
                if let Some(shift) = b_shift {
                    total += (i128::from(b_bar.at(i, 0)) * i128::from(memory_operand[dimension]))
                        << shift;
                }
                memory_sums[dimension * order + i] = total;
            }
        }
        state.memory = round_to(
            &memory_sums,
            model.sums.memory.target_shift,
            formats.memory.bits,
            &mut record.saturations.memory,
        );

        // 5. Z = sat(rshr([Y_prev W_h] + [X W_x] + [M_t W_m], E_z - F_z)): the new memory
        let preactivation_sums = dense_sum(model, &model.sums.preactivation, |name| {
            operands(name, &state.memory, &state.hidden)
        });
        let preactivation = round_to(
            &pad(preactivation_sums, lmu.hidden_size),
            model.sums.preactivation.target_shift,
            formats.preactivation.bits,
            &mut record.saturations.preactivation,
        );

        // 6-7. the hidden output, written after 2 and 5 have read the previous one
        if placement.quantizes_hidden() {
            let (counts, integrators) = quantize_step(
                &model.activations.hidden,
                fraction_v,
                &mut state.hidden_state,
                &preactivation,
            );
            record.hidden_counts.extend(&counts);
            if full {
                record.hidden_integrator.extend(&integrators);
            }
            state.hidden = counts;
        } else {
            state.hidden = preactivation
                .iter()
                .map(|&z| apply_rule(&model.activations.hidden, z))
                .collect();
            if full {
                record.hidden_output.extend(&state.hidden);
            }
        }
        if full {
            record.memory_input.extend(&memory_input);
            record.memory.extend(&state.memory);
            record.preactivation.extend(&preactivation);
        }
    }

    // 8. L = [Y_T W_o] + B_o, not rounded
    let logit_sums = dense_sum(model, &model.sums.logits, |_| state.hidden.clone());
    let logit_sums = pad(logit_sums, model.config.output_size);
    for (output, total) in logit_sums.iter().enumerate() {
        let logit = total + i128::from(model.tensors.readout_bias.data[output]);
        record.logits.push(logit as i64);
    }
}

/// A sum with no terms (every tensor zero) is zero for every output.
fn pad(sums: Vec<i128>, outputs: usize) -> Vec<i128> {
    if sums.is_empty() {
        vec![0; outputs]
    } else {
        sums
    }
}

/// The logits of a run as reals, `L 2^-E_L` (clause H5), `batch x output_size`.
pub fn logits(run: &FixedRun, output_size: usize) -> hsnn_spec::Tensor2 {
    let scale = 2f64.powi(-run.logit_exponent);
    hsnn_spec::Tensor2 {
        rows: run.batch,
        cols: output_size,
        data: run.logits.iter().map(|&l| l as f64 * scale).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngSeed};

    /// A fixed seed and no files written: a failure seen once in CI is seen again.
    fn deterministic() -> Config {
        Config {
            cases: 512,
            rng_seed: RngSeed::Fixed(7),
            failure_persistence: None,
            ..Config::default()
        }
    }

    /// H1: the rounding shift's examples, and the rule against exact floor division in i128
    /// for either sign (`floor((x + 2^(k-1)) / 2^k)` written with `div_euclid`).
    #[test]
    fn h1_rshr_rounds_half_toward_positive_infinity() {
        assert_eq!(rshr(5, 1), 3);
        assert_eq!(rshr(-5, 1), -2);
        assert_eq!(rshr(-7, 2), -2);
        assert_eq!(rshr(-6, 2), -1);
        assert_eq!(rshr(6, 2), 2);
        assert_eq!(rshr(3, 0), 3);
        assert_eq!(rshr(3, -2), 12);
        proptest!(deterministic(), |(x in -(1i64 << 62)..(1i64 << 62), k in 1i32..62)| {
            let x = i128::from(x);
            let divisor = 1i128 << k;
            prop_assert_eq!(rshr(x, k), (x + divisor / 2).div_euclid(divisor));
        });
    }

    /// H1: `nearest` is exact next to half-integers, where `floor(y + 0.5)` is not, and agrees
    /// with the rule on exact rationals `p / 2^q`.
    #[test]
    fn h1_nearest_is_exact_near_half_integers() {
        assert_eq!(nearest(0.49999999999999994), 0);
        assert_eq!(
            (0.49999999999999994f64 + 0.5).floor(),
            1.0,
            "the shortcut fails"
        );
        assert_eq!(nearest(-0.49999999999999994), 0);
        assert_eq!(nearest(2.5), 3);
        assert_eq!(nearest(-2.5), -2);
        assert_eq!(nearest(-2.75), -3);
        assert_eq!(nearest(-0.5), 0);
        proptest!(deterministic(), |(p in -(1i64 << 40)..(1i64 << 40), q in 0u32..12)| {
            // p / 2^q is exact in f64; floor(p / 2^q + 1/2) = floor((p + 2^(q-1)) / 2^q).
            let y = p as f64 / f64::from(1u32 << q);
            let exact = if q == 0 { p } else { (p + (1 << (q - 1))).div_euclid(1 << q) };
            prop_assert_eq!(nearest(y), exact);
        });
    }

    /// H1: saturation clamps to the symmetric range and says so.
    #[test]
    fn h1_saturation_is_symmetric_and_counted() {
        assert_eq!(saturate(200, 8), (127, true));
        assert_eq!(saturate(-200, 8), (-127, true));
        assert_eq!(saturate(-127, 8), (-127, false));
        assert_eq!(saturate(-128, 8), (-127, true));
    }

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
