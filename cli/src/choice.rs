//! Arguments that name a choice (`--placement hidden`, `--split test`, `--engine chip`...):
//! parsed from the words the choice's type lists once ([`hsnn_spec::Words`], SPEC.md E1), the
//! same words model files and the Python package use, so the command line cannot drift from
//! them.

use std::marker::PhantomData;

use clap::builder::{PossibleValue, TypedValueParser};
use hsnn_spec::Words;

/// A clap parser for a choice of type `T` ([`words`]).
#[derive(Debug, Clone, Copy)]
pub struct WordsParser<T>(PhantomData<T>);

/// A clap parser for a choice of type `T` (SPEC.md E1): its words are the possible values (so
/// `--help` and clap's errors list them), each read back into its value. A `-` in place of a
/// word's `_` is accepted too (`memory-input`, `next-listed`), as command lines often spell
/// them.
pub fn words<T: Words + Send + Sync>() -> WordsParser<T> {
    WordsParser(PhantomData)
}

impl<T: Words + Send + Sync + Clone> TypedValueParser for WordsParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        command: &clap::Command,
        argument: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let text = value.to_string_lossy().replace('-', "_");
        T::from_word("value", &text).map_err(|_| {
            let mut error =
                clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(command);
            if let Some(argument) = argument {
                error.insert(
                    clap::error::ContextKind::InvalidArg,
                    clap::error::ContextValue::String(argument.to_string()),
                );
            }
            error.insert(
                clap::error::ContextKind::InvalidValue,
                clap::error::ContextValue::String(value.to_string_lossy().into_owned()),
            );
            error.insert(
                clap::error::ContextKind::ValidValue,
                clap::error::ContextValue::Strings(
                    T::words().into_iter().map(str::to_owned).collect(),
                ),
            );
            error
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::words().into_iter().map(PossibleValue::new)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use hsnn_spec::QuantizerPlacement;

    #[derive(Debug, Parser)]
    struct Arguments {
        #[arg(long, value_parser = words::<QuantizerPlacement>())]
        placement: QuantizerPlacement,
    }

    #[test]
    fn e1_a_choice_reads_its_file_words_and_refuses_others_listing_them() {
        let parsed = Arguments::try_parse_from(["hsnn", "--placement", "memory_input"])
            .expect("a placement word");
        assert_eq!(parsed.placement, QuantizerPlacement::MEMORY_INPUT);
        let kebab = Arguments::try_parse_from(["hsnn", "--placement", "memory-input"])
            .expect("the word with '-' for '_'");
        assert_eq!(kebab.placement, QuantizerPlacement::MEMORY_INPUT);
        let error = Arguments::try_parse_from(["hsnn", "--placement", "memory"])
            .expect_err("not a placement")
            .to_string();
        assert!(
            error.contains("none") && error.contains("memory_input") && error.contains("both"),
            "{error}"
        );
    }
}
