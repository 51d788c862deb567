//! C5: `docs/CONFORMANCE.md` is the matrix of every check against every backend, as the suite
//! computes it now. `HSNN_UPDATE_DOCS=1` rewrites it.

use hsnn_conformance::levels::Level;
use hsnn_conformance::matrix::{backend_checks, render, run_checks, trainer_checks, Column};
use hsnn_reference::ReferenceBackend;

#[test]
fn c5_conformance_matrix_is_up_to_date() {
    let backend = ReferenceBackend;
    let mut outcomes = run_checks(
        &backend,
        Level::Exact,
        &backend_checks::<ReferenceBackend>(),
    );
    outcomes.extend(run_checks(
        &backend,
        Level::Exact,
        &trainer_checks::<ReferenceBackend>(),
    ));
    assert!(outcomes.len() >= 30, "the matrix lists every check");
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|outcome| outcome.failure.is_some())
        .collect();
    assert!(
        failures.is_empty(),
        "failing checks must be fixed, not documented: {failures:?}"
    );
    let matrix = render(&[Column {
        backend: "reference".into(),
        level: "exact, C1".into(),
        outcomes,
    }]);
    let path = format!("{}/../docs/CONFORMANCE.md", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("HSNN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &matrix).expect("write docs/CONFORMANCE.md");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        committed, matrix,
        "docs/CONFORMANCE.md is stale: rerun with HSNN_UPDATE_DOCS=1 and commit it"
    );
}
