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
        "fuzz/harness",
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
                && b"qlnbcetdhk".contains(&bytes[0])
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

/// The clause ids SPEC.md defines: `Q1` for a heading `### Q1. ...`.
fn clauses_in_spec(spec: &str) -> BTreeSet<String> {
    spec.lines()
        .filter_map(|line| line.strip_prefix("### "))
        .filter_map(|heading| heading.split('.').next())
        .filter(|id| id.len() >= 2 && id.len() <= 4)
        .map(str::to_string)
        .collect()
}

/// Clause ids cited in `text` after "SPEC.md ", "SPEC ", "clause " or "clauses " (also a list:
/// "clauses H10, H11"), as `Q1`, `T1b` or `H12`.
fn clauses_cited(text: &str) -> BTreeSet<String> {
    let mut cited = BTreeSet::new();
    for marker in ["SPEC.md ", "SPEC ", "clause ", "clauses "] {
        for (start, _) in text.match_indices(marker) {
            let rest = &text[start + marker.len()..];
            // A list of ids separated by ", " / " and " / "-" right after the marker.
            for candidate in rest.split([',', ' ', '-', ')', ';']).take(6) {
                let id: String = candidate
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                let bytes = id.as_bytes();
                let looks_like_clause = bytes.len() >= 2
                    && b"QLNBCETDH".contains(&bytes[0])
                    && bytes[1].is_ascii_digit();
                if looks_like_clause {
                    cited.insert(id);
                } else if !matches!(candidate, "" | "and" | "or") {
                    break;
                }
            }
        }
    }
    cited
}

/// The documents a reader is sent to: README.md and docs/*.md (not the superseded drafts nor
/// the mutation reports, which record a past state).
fn reader_docs() -> Vec<PathBuf> {
    let mut docs = vec![workspace().join("README.md")];
    for entry in std::fs::read_dir(workspace().join("docs"))
        .expect("docs folder")
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "md") {
            docs.push(path);
        }
    }
    docs
}

/// C5: a renamed clause or check cannot leave a dangling name in the docs: every test-like name
/// in README.md and docs/*.md is a function of the workspace, and every clause they cite is a
/// clause of SPEC.md. Nothing in the repository points outside it.
#[test]
fn c5_docs_name_only_existing_clauses_and_checks() {
    let spec = std::fs::read_to_string(workspace().join("spec/SPEC.md")).expect("SPEC.md");
    let clauses = clauses_in_spec(&spec);
    assert!(clauses.contains("Q1") && clauses.contains("H12") && clauses.contains("D6"));
    let mut functions = BTreeSet::new();
    for path in sources() {
        let text = std::fs::read_to_string(&path).expect("readable source");
        functions.extend(identifiers_after(&text, "fn "));
    }
    // Golden-vector case names look like test names too; they must exist in a vector file.
    let mut vectors = String::new();
    for entry in std::fs::read_dir(workspace().join("spec/vectors"))
        .expect("vectors folder")
        .flatten()
    {
        if entry
            .path()
            .extension()
            .is_some_and(|extension| extension == "json")
        {
            vectors.push_str(&std::fs::read_to_string(entry.path()).expect("readable vectors"));
        }
    }
    let mut problems = Vec::new();
    let mut citations = 0;
    for doc in reader_docs()
        .iter()
        .chain([workspace().join("spec/SPEC.md")].iter())
    {
        let text = std::fs::read_to_string(doc).expect("readable doc");
        let name = doc
            .strip_prefix(workspace())
            .unwrap_or(doc)
            .display()
            .to_string();
        for test in names_in_spec(&text) {
            if !functions.contains(&test) && !vectors.contains(&format!("\"{test}\"")) {
                problems.push(format!("{name} names `{test}`, which does not exist"));
            }
        }
        let cited = clauses_cited(&text);
        citations += cited.len();
        for clause in cited {
            // "T1b" is the second loss of clause T1.
            let base: String = clause
                .chars()
                .take_while(|c| !c.is_ascii_lowercase())
                .collect();
            if !clauses.contains(&base) {
                problems.push(format!(
                    "{name} cites clause {clause}, which SPEC.md does not define"
                ));
            }
        }
        for outside in ["shared/", "ARCHITECTURE.md"] {
            if text.contains(outside) {
                problems.push(format!("{name} points outside the repository ({outside})"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        citations > 25,
        "found only {citations} clause citations in the docs: the scan is broken"
    );
}
