//! Arguments that name a choice (`--placement hidden`, `--split test`, `--engine chip`...):
//! parsed from the words the choice's type lists once ([`hsnn_spec::Words`], SPEC.md E1), the
//! same words model files and the Python package use, so the command line cannot drift from
//! them.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use hsnn_spec::Words;

/// A clap parser for a choice of type `T`: its words as the possible values (so `--help` and
/// clap's error list them), each read back into its value.
pub fn words<T: Words + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::words()).try_map(|text| T::from_word("value", &text))
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
        assert_eq!(parsed.placement, QuantizerPlacement::MemoryInput);
        let error = Arguments::try_parse_from(["hsnn", "--placement", "memory"])
            .expect_err("not a placement")
            .to_string();
        assert!(
            error.contains("none") && error.contains("memory_input") && error.contains("both"),
            "{error}"
        );
    }
}
