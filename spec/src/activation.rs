//! The base activations and what hsnn must know of each besides its arithmetic (SPEC.md clause
//! Q5): the activation descriptor.
//!
//! Adding a base activation is one variant here, its entry in [`Activation::ALL`] and in
//! [`Activation::properties`], and then each engine's kernels: `f` and `f'` in the reference
//! (f64) and in the optimized backend (f32), and the independent restatement in the
//! conformance suite. The fixed-point compiler picks the activation's integer rule from the
//! descriptor and fills a table from the reference's `f`, so the chip and the fast engine,
//! which run compiled rules, need nothing; nor do the bit metrics, the Keras reader and writer
//! or the command line, which read the descriptor. The Python stub's list of words and the
//! binding's docstrings are written by hand (a test compares the stub with the module). This
//! crate holds no mathematics, so the descriptor states properties of `f`, never `f` itself.
//!
//! Every base activation must be monotone (non-decreasing), and one whose integer rule is a
//! table must satisfy `|f| <= 1` (clause Q5); the reference's tests check both for every
//! activation.

use serde::{Deserialize, Serialize};

/// Base activation `f` of a neuron, with its derivative used by the backward rule
/// (SPEC.md clause Q5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `f(x) = x`, `f'(x) = 1`.
    Identity,
    /// `f(x) = max(x, 0)`, `f'(x) = 1` for `x > 0`, else 0.
    Relu,
    /// `f(x) = tanh(x)`, `f'(x) = 1 - tanh(x)^2`.
    Tanh,
}

/// The properties of a base activation that the engines, the files and the tools read
/// (SPEC.md clause Q5's table): one entry per [`Activation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivationProperties {
    /// The word in files, on the command line and in Python (clause Q5's "name (JSON)").
    pub word: &'static str,
    /// The name of the same function in Keras (`keras.activations`), which the Keras readers
    /// and writers use (clauses K1, K3).
    pub keras_name: &'static str,
    /// Whether `f` takes negative values, so that spike counts can be negative and the signed
    /// activity-bit metric adds a sign bit (clause B1) and a spike payload a sign bit (H7).
    pub signed: bool,
    /// The form of the activation's integer rule on the chip (clause H6).
    pub fixed_point: FixedPointForm,
}

/// The form of an activation's integer rule on the modeled chip (SPEC.md clause H6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedPointForm {
    /// `f` is `x`, or `max(x, 0)` when `rectified` (clause H6's multiply rule): a spiking site
    /// multiplies its operand by `D = nearest(dt 2^F_d)` and shifts (clamping below 0 first
    /// when rectified); a site that does not spike passes its operand through (clamped below 0
    /// when rectified), in its operand's format.
    Linear {
        /// Whether values below 0 become 0 (relu, clause Q5).
        rectified: bool,
    },
    /// `|f| <= 1` and `f` has no exact integer rule (clause H6's tables): a spiking site reads
    /// a table of `dt f(z)` over `[-R, R)`, and a site that does not spike a table of `f(z)`
    /// written with `hidden_bits - 1` fraction bits.
    Table,
}

impl Activation {
    /// Every base activation (clause Q5), in the order their words are listed.
    pub const ALL: &'static [Activation] =
        &[Activation::Identity, Activation::Relu, Activation::Tanh];

    /// This activation's descriptor (clause Q5): the one place that says what hsnn needs to
    /// know of it besides its arithmetic.
    pub fn properties(self) -> ActivationProperties {
        match self {
            Activation::Identity => ActivationProperties {
                word: "identity",
                keras_name: "linear",
                signed: true,
                fixed_point: FixedPointForm::Linear { rectified: false },
            },
            Activation::Relu => ActivationProperties {
                word: "relu",
                keras_name: "relu",
                signed: false,
                fixed_point: FixedPointForm::Linear { rectified: true },
            },
            Activation::Tanh => ActivationProperties {
                word: "tanh",
                keras_name: "tanh",
                signed: true,
                fixed_point: FixedPointForm::Table,
            },
        }
    }

    /// Whether `f` takes negative values, so that spike counts can be negative and the
    /// signed activity-bit metric adds a sign bit (SPEC.md clause B1).
    pub fn is_signed(self) -> bool {
        self.properties().signed
    }

    /// The name used in files and on the command line (clause Q5).
    pub fn name(self) -> &'static str {
        self.properties().word
    }

    /// The activation Keras calls `keras_name` (clauses K1, K3), if hsnn has it.
    pub fn from_keras_name(keras_name: &str) -> Option<Activation> {
        Activation::ALL
            .iter()
            .copied()
            .find(|activation| activation.properties().keras_name == keras_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q5: every activation is listed once, and its file word is the one serde writes, so
    /// the descriptor and the file format cannot disagree. The match below has no wildcard, so
    /// a new variant does not compile until it has a place in `ALL`.
    #[test]
    fn q5_each_activation_is_listed_once_with_its_file_word() {
        let place = |activation: Activation| match activation {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Tanh => 2,
        };
        assert_eq!(Activation::ALL.len(), 3);
        for &activation in Activation::ALL {
            assert_eq!(Activation::ALL[place(activation)], activation);
        }
        for (index, activation) in Activation::ALL.iter().enumerate() {
            assert!(
                !Activation::ALL[..index].contains(activation),
                "{activation:?} twice"
            );
            let written = serde_json::to_string(activation).expect("serializable");
            assert_eq!(written, format!("\"{}\"", activation.name()));
        }
        let words: Vec<&str> = Activation::ALL.iter().map(|a| a.name()).collect();
        let keras: Vec<&str> = Activation::ALL
            .iter()
            .map(|a| a.properties().keras_name)
            .collect();
        assert_eq!(words, ["identity", "relu", "tanh"]);
        assert_eq!(keras, ["linear", "relu", "tanh"]);
    }

    /// K1, K3: a Keras name reads back as its activation; an unknown one is None.
    #[test]
    fn k1_keras_names_read_back() {
        for &activation in Activation::ALL {
            let name = activation.properties().keras_name;
            assert_eq!(Activation::from_keras_name(name), Some(activation));
        }
        assert_eq!(Activation::from_keras_name("identity"), None);
        assert_eq!(Activation::from_keras_name("sigmoid"), None);
    }

    /// B1, H6: only relu is unsigned; tanh alone needs a table, relu alone is rectified.
    #[test]
    fn b1_h6_signs_and_fixed_point_forms() {
        let signed: Vec<bool> = Activation::ALL.iter().map(|a| a.is_signed()).collect();
        assert_eq!(signed, [true, false, true]);
        assert_eq!(
            Activation::Tanh.properties().fixed_point,
            FixedPointForm::Table
        );
        assert_eq!(
            Activation::Relu.properties().fixed_point,
            FixedPointForm::Linear { rectified: true }
        );
        assert_eq!(
            Activation::Identity.properties().fixed_point,
            FixedPointForm::Linear { rectified: false }
        );
    }
}
