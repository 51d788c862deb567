//! SPEC.md and the tests name each other (issue 2's "done when"): every test named in SPEC.md
//! exists, and every test and conformance check of the workspace is named in SPEC.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file of the workspace's crates.
fn sources() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending: Vec<PathBuf> = [
        "spec",
        "reference",
        "optimized",
        "conformance",
        "data",
        "train",
        "cli",
        "hardware",
    ]
    .iter()
    .map(|name| workspace().join(name))
    .collect();
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)
            .expect("readable folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The identifier that follows `marker` at every occurrence in `text`.
fn identifiers_after(text: &str, marker: &str) -> Vec<String> {
    text.match_indices(marker)
        .map(|(start, _)| {
            text[start + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Names in SPEC.md that look like test names: a clause id (`q1_`, `l2_`, ...) then more.
fn names_in_spec(spec: &str) -> BTreeSet<String> {
    spec.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            let bytes = word.as_bytes();
            bytes.len() > 3
                && b"qlnbcetdh".contains(&bytes[0])
                && bytes[1].is_ascii_digit()
                && bytes[2] == b'_'
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn c5_spec_and_tests_name_each_other() {
    let spec = std::fs::read_to_string(workspace().join("spec/SPEC.md")).expect("SPEC.md");
    let mut functions = BTreeSet::new();
    let mut tests = BTreeSet::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).expect("readable source");
        functions.extend(identifiers_after(&text, "fn "));
        // A #[test] attribute followed (after other attributes) by `fn name`.
        for (start, _) in text.match_indices("#[test]") {
            if let Some(name) = identifiers_after(&text[start..], "fn ").into_iter().next() {
                tests.insert(name);
            }
        }
    }
    let lists =
        std::fs::read_to_string(workspace().join("conformance/src/lib.rs")).expect("lib.rs");
    for module in ["quantizer", "lmu", "network", "errors", "golden", "trainer"] {
        tests.extend(identifiers_after(&lists, &format!("{module}::")));
    }
    let dangling: Vec<_> = names_in_spec(&spec)
        .into_iter()
        .filter(|name| !functions.contains(name))
        .collect();
    assert!(
        dangling.is_empty(),
        "SPEC.md names tests that do not exist: {dangling:?}"
    );
    let unnamed: Vec<_> = tests
        .iter()
        .filter(|name| !name.is_empty() && !spec.contains(name.as_str()))
        .collect();
    assert!(
        unnamed.is_empty(),
        "tests that SPEC.md does not name: {unnamed:?}"
    );
    assert!(
        tests.len() > 100,
        "found only {} tests: the scan is broken",
        tests.len()
    );
}
