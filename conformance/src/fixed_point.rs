//! Conformance of the fixed-point network (SPEC.md section H): checks written once against a
//! *fixed runner* (a function from a fixed model and a batch to its integer record), run for
//! the reference's dense fixed-point mode and for the hardware backend's chip, plus the
//! random models on which the two are compared bit for bit (clause H12).

use hsnn_spec::fixed::{ConversionOptions, FixedModel, FixedRun};
use hsnn_spec::{
    Activation, Discretizer, InitialStateConfig, LmuConfig, Model, NetworkConfig, QuantizedSite,
    QuantizerConfig, QuantizerPlacement, RecurrentConnections, Result, SequenceBatch, Weights,
};

use crate::network::values;

/// Runs a fixed model over a batch; `full` records `U`, `M`, `Z` and `H` (clause H12).
pub type FixedRunner = fn(&FixedModel, &SequenceBatch, bool) -> Result<FixedRun>;

/// The tiny network of N1 with a spiking identity hidden unit at dt 1, `v_0 = 0`, `W_m = 0`.
pub fn tiny_spiking_model() -> Model {
    let quantizer = QuantizerConfig {
        placement: QuantizerPlacement::HIDDEN,
        dt: 1.0,
        amplitude: 1.0,
        initial_state: InitialStateConfig::Zero,
    };
    crate::network::tiny_model(Activation::Identity, quantizer, 0.0)
}

/// H8: the tiny network by hand (SPEC.md H8's worked example, default options): `W_x` has
/// exponent 5 and integer 64, `W_h` exponent 7 and integer 64, `W_o` exponent 5 and integer
/// 96, `B_o = 8`; `X = nearest(0.7 * 2^14) = 11469`; `E_z = 19`, so
///
/// ```text
/// t=1: Z = rshr(11469*64, 11) = 358,  P = rshr(358*16384, 6) = 91648,  n = 1, V = 26112
/// t=2: Z = rshr(734016 + (64 << 12), 11) = 486,  P = 124416,  U_v = 150528,  n = 2, V = 19456
/// L = 2*96 + 8 = 200, logit 200 * 2^-5 = 6.25
/// ```
pub fn h8_tiny_network_matches_hand_derivation(model: &FixedModel, run: FixedRunner) {
    assert_eq!(
        model
            .tensors
            .kernel_input
            .as_ref()
            .map(|t| (t.exponent, t.data[0])),
        Some((5, 64))
    );
    assert_eq!(
        (
            model.tensors.kernel_hidden.exponent,
            model.tensors.kernel_hidden.data[0]
        ),
        (7, 64)
    );
    assert_eq!(
        (
            model.tensors.readout_kernel.exponent,
            model.tensors.readout_kernel.data[0]
        ),
        (5, 96)
    );
    assert_eq!(model.tensors.readout_bias.data, vec![8]);
    assert_eq!(model.sums.preactivation.exponent, 19);
    let batch = SequenceBatch::new(1, 2, 1, vec![0.7, 0.7]).expect("valid batch");
    let record = run(model, &batch, true).expect("fixed run");
    assert_eq!(record.preactivation, vec![358, 486], "Z");
    assert_eq!(
        record.integrators[QuantizedSite::Hidden],
        vec![91648, 150528],
        "U_v"
    );
    assert_eq!(record.counts[QuantizedSite::Hidden], vec![1, 2], "counts");
    assert_eq!(
        (record.logits.clone(), record.logit_exponent),
        (vec![200], 5),
        "L"
    );
}

/// A random small model of every shape the fixed point must handle: `connections` as three
/// bits, every placement, the three activations; weights uniform in `[-scale, scale)` (large
/// scales drive the pre-activations past the tanh table and saturate states).
pub fn random_model(
    seed: u64,
    activation: Activation,
    placement: QuantizerPlacement,
    connections: u8,
    dt: f64,
    amplitude: f64,
    scale: f64,
) -> Model {
    let config = NetworkConfig {
        lmu: LmuConfig {
            input_size: 2,
            hidden_size: 4,
            memory_size: 2,
            order: 3,
            theta: 5.0,
            discretizer: if seed.is_multiple_of(2) {
                Discretizer::ZeroOrderHold
            } else {
                Discretizer::Euler
            },
            hidden_activation: activation,
            connections: RecurrentConnections {
                input_to_hidden: connections & 1 != 0,
                hidden_to_memory: connections & 2 != 0,
                memory_to_memory: connections & 4 != 0,
            },
        },
        output_size: 3,
        quantizer: QuantizerConfig {
            placement,
            dt,
            amplitude,
            initial_state: InitialStateConfig::Uniform { seed },
        },
    };
    let mut weights = Weights::zeros(&config);
    for (index, (_, tensor)) in weights.named_mut().into_iter().enumerate() {
        tensor.data = values(seed * 31 + index as u64, tensor.data.len(), scale);
    }
    Model::new(config, weights).expect("valid model")
}

/// Conversion options of a random case: the weight and memory widths under test, the rest
/// default.
pub fn options_with(weight_bits: u32, memory_bits: u32) -> ConversionOptions {
    ConversionOptions {
        weight_bits,
        memory_bits,
        memory_integer_bits: 3,
        ..ConversionOptions::default()
    }
}

/// The fixed point's inputs `X = sat(nearest(x 2^F_x))` of a batch (clause H4), for the shadow.
pub fn fixed_inputs(model: &FixedModel, batch: &SequenceBatch) -> Vec<i64> {
    let format = model.formats.input;
    let scale = 2f64.powi(format.fraction_bits);
    batch
        .data
        .iter()
        .map(|&x| {
            let (value, _) = hsnn_reference::fixed::saturate(
                i128::from(hsnn_reference::fixed::nearest(x * scale)),
                format.bits,
            );
            value
        })
        .collect()
}
