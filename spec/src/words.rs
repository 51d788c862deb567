//! The words that name a choice (SPEC.md clause E1): an activation, a placement, a loss, a trace
//! level... Each enum lists its values once, in [`Words::ALL`], with the word that files, the
//! command line and the Python package all use for it; the command line's parser, the Python
//! binding's argument check and every "must be one of" message derive from that list, so a
//! new value is one match arm, not one per caller.

use crate::config::{Activation, Discretizer};
use crate::error::{HsnnError, Result};
use crate::site::{QuantizedSite, QuantizerPlacement};
use crate::trace::TraceLevel;
use crate::training::LossFunction;

/// An enum whose values are named by one word each (clause E1).
pub trait Words: Sized + Copy + PartialEq + 'static {
    /// Every value, in the order messages list them.
    const ALL: &'static [Self];

    /// The word naming this value in files, on the command line and in Python.
    fn word(self) -> &'static str;

    /// Every accepted word, in the order of [`Words::ALL`].
    fn words() -> Vec<&'static str> {
        Self::ALL.iter().map(|value| value.word()).collect()
    }

    /// The value that `text` names; otherwise an [`HsnnError::InvalidConfig`] naming `field`,
    /// every accepted word and what was given.
    fn from_word(field: &str, text: &str) -> Result<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|value| value.word() == text)
            .ok_or_else(|| {
                HsnnError::invalid(
                    field,
                    format!("must be one of {}, got {text:?}", Self::words().join(", ")),
                )
            })
    }
}

impl Words for Activation {
    const ALL: &'static [Self] = Activation::ALL;
    fn word(self) -> &'static str {
        self.name()
    }
}

impl Words for Discretizer {
    const ALL: &'static [Self] = &[Discretizer::ZeroOrderHold, Discretizer::Euler];
    fn word(self) -> &'static str {
        match self {
            Discretizer::ZeroOrderHold => "zero_order_hold",
            Discretizer::Euler => "euler",
        }
    }
}

impl Words for QuantizerPlacement {
    const ALL: &'static [Self] = QuantizerPlacement::ALL;
    fn word(self) -> &'static str {
        self.name()
    }
    /// A placement is also read as site names joined by `+` in any order (clause N2).
    fn from_word(field: &str, text: &str) -> Result<Self> {
        QuantizerPlacement::parse(field, text)
    }
}

impl Words for TraceLevel {
    const ALL: &'static [Self] = &[
        TraceLevel::None,
        TraceLevel::Tally,
        TraceLevel::Counts,
        TraceLevel::Full,
    ];
    fn word(self) -> &'static str {
        match self {
            TraceLevel::None => "none",
            TraceLevel::Tally => "tally",
            TraceLevel::Counts => "counts",
            TraceLevel::Full => "full",
        }
    }
}

impl Words for LossFunction {
    const ALL: &'static [Self] = &[
        LossFunction::SoftmaxCrossEntropy,
        LossFunction::Keras2Probability,
    ];
    fn word(self) -> &'static str {
        self.name()
    }
}

impl Words for QuantizedSite {
    const ALL: &'static [Self] = &QuantizedSite::ALL;
    fn word(self) -> &'static str {
        self.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's word is the one its serde form writes into files, every word is distinct,
    /// and every word reads back as its value: the command line, Python and files agree.
    fn check_words<T>(expected: &[&str])
    where
        T: Words + std::fmt::Debug + serde::Serialize + serde::de::DeserializeOwned,
    {
        assert_eq!(T::words(), expected);
        for &value in T::ALL {
            let file_form = serde_json::to_string(&value).expect("serializes");
            assert_eq!(file_form, format!("\"{}\"", value.word()), "{value:?}");
            let read: T = serde_json::from_str(&file_form).expect("reads back");
            assert_eq!(read, value);
            assert_eq!(T::from_word("field", value.word()).expect("a word"), value);
        }
    }

    #[test]
    fn e1_every_choice_has_one_word_shared_with_its_file_form() {
        check_words::<Activation>(&["identity", "relu", "tanh"]);
        check_words::<Discretizer>(&["zero_order_hold", "euler"]);
        check_words::<QuantizerPlacement>(&[
            "none",
            "hidden",
            "memory_input",
            "both",
            "memory_state",
            "hidden+memory_state",
            "memory_input+memory_state",
            "hidden+memory_input+memory_state",
        ]);
        check_words::<TraceLevel>(&["none", "tally", "counts", "full"]);
        check_words::<LossFunction>(&["softmax_cross_entropy", "keras2_probability"]);
        check_words::<QuantizedSite>(&["hidden", "memory_input", "memory_state"]);
    }

    #[test]
    fn e1_an_unknown_word_is_refused_naming_the_field_and_every_word() {
        let error = TraceLevel::from_word("trace", "everything").expect_err("not a level");
        let message = error.to_string();
        assert!(message.contains("trace"), "{message}");
        assert!(message.contains("none, tally, counts, full"), "{message}");
        assert!(message.contains("\"everything\""), "{message}");
        // Words are matched exactly: no case folding, no trimming.
        assert!(Activation::from_word("activation", "Tanh").is_err());
        assert!(Activation::from_word("activation", " tanh").is_err());
    }
}
