//! Configurations: what a network is, independent of its weights (SPEC.md sections Q, L, N).

use serde::{Deserialize, Serialize};

pub use crate::activation::Activation;
use crate::error::{HsnnError, Result};
use crate::site::QuantizerPlacement;

/// How the continuous Legendre system is turned into a discrete one at unit time step
/// (SPEC.md clauses L2, L3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Discretizer {
    /// Zero-order hold: `[[Abar, Bbar], [0, I]] = expm([[A, B], [0, 0]])` (clause L2).
    ZeroOrderHold,
    /// Forward Euler: `Abar = I + A`, `Bbar = B` (clause L3).
    Euler,
}

/// Which optional connections of the LMU cell exist (SPEC.md clause L4). Each flag matches the
/// keras-lmu `LMUCell` flag of the same name; an absent connection has no weights and is
/// treated as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentConnections {
    /// `W_x`: the input drives the hidden units directly (keras-lmu `input_to_hidden`).
    pub input_to_hidden: bool,
    /// `e_h`: the hidden state drives the memory input (keras-lmu `hidden_to_memory`).
    pub hidden_to_memory: bool,
    /// `e_m`: the memory drives its own input (keras-lmu `memory_to_memory`).
    pub memory_to_memory: bool,
}

impl RecurrentConnections {
    /// All connections present: the original LMU of Voelker et al. 2019 (docs/PAPER.md
    /// section 3).
    pub fn all() -> Self {
        RecurrentConnections {
            input_to_hidden: true,
            hidden_to_memory: true,
            memory_to_memory: true,
        }
    }

    /// Only the input drives the memory (`e_h`, `e_m` absent), so the memory can be computed
    /// for all steps before the hidden recurrence.
    pub fn feedforward_memory() -> Self {
        RecurrentConnections {
            input_to_hidden: true,
            hidden_to_memory: false,
            memory_to_memory: false,
        }
    }
}

/// The LMU layer (SPEC.md clauses L1-L4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmuConfig {
    /// Features of the input `x_t` per step.
    pub input_size: usize,
    /// Hidden units `h_t`.
    pub hidden_size: usize,
    /// Dimensions of the memory input `u_t` (keras-lmu `memory_d`); each gets its own
    /// `order`-dimensional Legendre memory.
    pub memory_size: usize,
    /// Legendre order `d` of each memory.
    pub order: usize,
    /// Window length `theta`, in time steps.
    pub theta: f64,
    /// How the memory is discretized.
    pub discretizer: Discretizer,
    /// Activation `f` of the hidden units.
    pub hidden_activation: Activation,
    /// Which optional connections exist.
    pub connections: RecurrentConnections,
}

impl LmuConfig {
    /// Length of the flattened memory `m_t`: `memory_size * order`, memory-dimension-major
    /// (element `j * order + i` is Legendre coefficient `i` of memory dimension `j`).
    pub fn memory_length(&self) -> usize {
        self.memory_size * self.order
    }

    /// Checks every field (SPEC.md clause E1).
    pub fn validate(&self) -> Result<()> {
        positive_size("lmu.input_size", self.input_size)?;
        positive_size("lmu.hidden_size", self.hidden_size)?;
        positive_size("lmu.memory_size", self.memory_size)?;
        validate_order(self.order)?;
        if !(self.theta.is_finite() && self.theta > 0.0) {
            return Err(HsnnError::invalid(
                "lmu.theta",
                format!(
                    "must be a finite number of time steps greater than 0, got {}",
                    self.theta
                ),
            ));
        }
        Ok(())
    }
}

/// Initial integrator state `v_0` of every quantized neuron (SPEC.md clause Q3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum InitialState {
    /// `v_0 = 0` for every neuron.
    Zero,
    /// The same constant `v_0 = value` for every neuron; `value` in `[0, 1)`.
    Constant {
        /// The constant.
        value: f64,
    },
    /// `v_0` drawn from Uniform[0, 1) by the counter-based generator of clause Q3, keyed by
    /// seed, sample id, site and neuron, so it does not depend on batching or threads.
    Uniform {
        /// The seed.
        seed: u64,
    },
}

/// The quantized activation's parameters (SPEC.md clauses Q1-Q4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizerConfig {
    /// Where the quantizer sits; `None` is the non-spiking network.
    pub placement: QuantizerPlacement,
    /// Time step `dt > 0`: large is nearly non-spiking, small is spiking.
    pub dt: f64,
    /// Amplitude `alpha > 0` of an output spike (default 1).
    pub amplitude: f64,
    /// How `v_0` is chosen.
    pub initial_state: InitialState,
}

impl QuantizerConfig {
    /// A non-spiking quantizer configuration (placement `None`, dt 1, amplitude 1, `v_0`
    /// uniform with seed 0 once spiking is switched on).
    pub fn non_spiking() -> Self {
        QuantizerConfig {
            placement: QuantizerPlacement::NONE,
            dt: 1.0,
            amplitude: 1.0,
            initial_state: InitialState::Uniform { seed: 0 },
        }
    }

    /// Checks every field (SPEC.md clause E1).
    pub fn validate(&self) -> Result<()> {
        validate_dt(self.dt)?;
        if !(self.amplitude.is_finite() && self.amplitude > 0.0) {
            return Err(HsnnError::invalid(
                "quantizer.amplitude",
                format!(
                    "must be a finite number greater than 0, got {}",
                    self.amplitude
                ),
            ));
        }
        if let InitialState::Constant { value } = self.initial_state {
            if !(0.0..1.0).contains(&value) {
                return Err(HsnnError::invalid(
                    "quantizer.initial_state.value",
                    format!("must lie in [0, 1), got {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// Checks a quantizer time step: finite and greater than zero (SPEC.md clause E1).
pub fn validate_dt(dt: f64) -> Result<()> {
    validate_dt_as("quantizer.dt", dt)
}

/// [`validate_dt`] for a time step the user wrote as `field` (`evaluation_dts[0]`, `--dt`).
pub fn validate_dt_as(field: &str, dt: f64) -> Result<()> {
    if dt.is_finite() && dt > 0.0 {
        Ok(())
    } else {
        Err(HsnnError::invalid(
            field,
            format!("must be a finite number greater than 0, got {dt}"),
        ))
    }
}

/// The hybrid network: one LMU layer, a quantizer placement, and a dense readout of the last
/// step's hidden state (SPEC.md clauses N1-N3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The LMU layer.
    pub lmu: LmuConfig,
    /// Outputs of the readout (classes).
    pub output_size: usize,
    /// The quantizer.
    pub quantizer: QuantizerConfig,
}

impl NetworkConfig {
    /// The psMNIST network of docs/PAPER.md section 3: 212 tanh hidden units, order 256,
    /// theta 784, all connections, 10 classes, zero-order hold; non-spiking.
    pub fn psmnist() -> Self {
        NetworkConfig {
            lmu: LmuConfig {
                input_size: 1,
                hidden_size: 212,
                memory_size: 1,
                order: 256,
                theta: 784.0,
                discretizer: Discretizer::ZeroOrderHold,
                hidden_activation: Activation::Tanh,
                connections: RecurrentConnections::all(),
            },
            output_size: 10,
            quantizer: QuantizerConfig::non_spiking(),
        }
    }

    /// Checks every field (SPEC.md clause E1).
    pub fn validate(&self) -> Result<()> {
        self.lmu.validate()?;
        positive_size("output_size", self.output_size)?;
        self.quantizer.validate()?;
        // Sizes from a file can be anything; make sure every product below fits.
        let lmu = &self.lmu;
        let mut total: usize = 0;
        for (rows, cols) in [
            (lmu.order.saturating_add(1), lmu.order.saturating_add(1)),
            (lmu.memory_size, lmu.order),
            (lmu.memory_size.saturating_mul(lmu.order), lmu.hidden_size),
            (lmu.memory_size.saturating_mul(lmu.order), lmu.memory_size),
            (lmu.hidden_size, lmu.hidden_size),
            (lmu.input_size, lmu.hidden_size),
            (lmu.input_size, lmu.memory_size),
            (lmu.hidden_size, self.output_size),
        ] {
            total = rows
                .checked_mul(cols)
                .and_then(|cells| total.checked_add(cells))
                .filter(|&total| total <= MAX_PARAMETERS)
                .ok_or_else(|| {
                    HsnnError::invalid(
                        "lmu",
                        format!(
                            "sizes imply more than {MAX_PARAMETERS} values (weights and Legendre \
                             matrices); check the configuration"
                        ),
                    )
                })?;
        }
        Ok(())
    }

    /// Shapes `(name, rows, cols)` of every weight tensor the configuration implies, absent
    /// connections omitted (SPEC.md clause N4).
    pub fn weight_shapes(&self) -> Vec<(&'static str, usize, usize)> {
        let lmu = &self.lmu;
        let mut shapes = vec![("encoder_input", lmu.input_size, lmu.memory_size)];
        if lmu.connections.hidden_to_memory {
            shapes.push(("encoder_hidden", lmu.hidden_size, lmu.memory_size));
        }
        if lmu.connections.memory_to_memory {
            shapes.push(("encoder_memory", lmu.memory_length(), lmu.memory_size));
        }
        if lmu.connections.input_to_hidden {
            shapes.push(("kernel_input", lmu.input_size, lmu.hidden_size));
        }
        shapes.push(("kernel_hidden", lmu.hidden_size, lmu.hidden_size));
        shapes.push(("kernel_memory", lmu.memory_length(), lmu.hidden_size));
        shapes.push(("readout_kernel", lmu.hidden_size, self.output_size));
        shapes.push(("readout_bias", 1, self.output_size));
        shapes
    }

    /// Number of trainable parameters: every weight tensor of [`Self::weight_shapes`]
    /// (the Legendre matrices are fixed). 102,027 for [`Self::psmnist`] (clause N4).
    pub fn trainable_parameter_count(&self) -> usize {
        self.weight_shapes()
            .iter()
            .map(|(_, rows, cols)| rows * cols)
            .sum()
    }
}

/// Largest Legendre memory order a configuration may ask for (SPEC.md clause E1). The
/// discretization (clause L2) is a matrix exponential of an (order + 1)-square matrix, whose
/// cost grows as order^3: measured 1.8 s at 256, 15 s at 512, 124 s at 1024 (`cargo run
/// --release -p hsnn-reference --example discretization_timing`, 2 busy cores), so about 2.2
/// hours at 4096. A larger order in a file is far more likely a typo than a wish to wait days.
pub const MAX_ORDER: usize = 4096;

/// Checks a Legendre memory order (SPEC.md clauses L1, E1): at least 1 and at most
/// [`MAX_ORDER`], before anything of its size is allocated. Every backend's `lmu_matrices`
/// calls it, as `LmuConfig::validate` does.
pub fn validate_order(order: usize) -> Result<()> {
    positive_size("lmu.order", order)?;
    if order > MAX_ORDER {
        return Err(HsnnError::invalid(
            "lmu.order",
            format!(
                "{order} is above the largest order hsnn discretizes, {MAX_ORDER}: the matrix \
                 exponential costs order^3 (about 2 minutes at 1024 on 2 cores, so hours \
                 at 4096 and days at 10,000)"
            ),
        ));
    }
    Ok(())
}

/// Largest number of values (weights plus the order x order Legendre matrices) a configuration
/// may imply: 2^28, 2 GiB of f64, over 2,500 times the psMNIST network. Beyond it a size in a
/// file is almost surely a mistake, and allocating it would abort the process.
pub const MAX_PARAMETERS: usize = 1 << 28;

fn positive_size(field: &str, value: usize) -> Result<()> {
    if value == 0 {
        Err(HsnnError::invalid(field, "must be at least 1, got 0"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// E1: sizes whose products overflow are rejected with the field named.
    #[test]
    fn e1_absurd_sizes_are_rejected() {
        let mut config = NetworkConfig::psmnist();
        config.lmu.order = usize::MAX / 2;
        config.lmu.memory_size = 4;
        let error = config.validate().expect_err("overflowing sizes");
        assert!(error.to_string().contains("lmu"), "{error}");
        assert!(NetworkConfig::psmnist().validate().is_ok());
    }

    /// E1: an order above [`MAX_ORDER`] (10,000 used to allocate for minutes and then abort or
    /// discretize for a day) is refused up front naming `lmu.order`; the cap itself is accepted.
    #[test]
    fn e1_order_above_the_cap_is_refused() {
        let mut config = NetworkConfig::psmnist();
        config.lmu.order = 10_000;
        let error = config.validate().expect_err("order 10,000");
        let message = error.to_string();
        assert!(
            message.contains("lmu.order") && message.contains("4096"),
            "{message}"
        );
        config.lmu.order = MAX_ORDER;
        assert!(config.validate().is_ok());
    }
}
