//! C5: `docs/CONFORMANCE.md` is the matrix of every check against every backend, as the suite
//! computes it now. `HSNN_UPDATE_DOCS=1` rewrites it.

use hsnn_conformance::levels::{Level, F32_EXPLAINED, F32_GRADIENTS, FIXED_POINT, NOT_APPLICABLE};
use hsnn_conformance::matrix::{
    backend_checks, render, run_checks, trainer_checks, Column, Outcome,
};
use hsnn_hardware::HardwareBackend;
use hsnn_optimized::OptimizedBackend;
use hsnn_reference::ReferenceBackend;
use hsnn_spec::Backend;

fn column<B: hsnn_spec::Trainer>(
    backend: &B,
    forward: Level,
    training: Level,
    level: &str,
) -> Column {
    let mut outcomes: Vec<Outcome> = run_checks(backend, forward, &backend_checks::<B>());
    outcomes.extend(run_checks(backend, training, &trainer_checks::<B>()));
    assert!(outcomes.len() >= 30, "the matrix lists every check");
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|outcome| outcome.failure.is_some())
        .collect();
    assert!(
        failures.is_empty(),
        "{}: failing checks must be fixed, not documented: {failures:?}",
        backend.name()
    );
    Column {
        backend: backend.name().into(),
        level: level.into(),
        outcomes,
    }
}

/// The hardware backend's column: the forward checks at the fixed-point level, where a check
/// may end as not applicable with its reason; the training checks do not apply (inference
/// only).
fn hardware_column() -> Column {
    let backend = hsnn_hardware::HardwareBackend::new(
        std::sync::Arc::new(hsnn_reference::compiler::ReferenceConversion),
        hsnn_spec::fixed::ConversionOptions::default(),
        2,
    );
    let mut outcomes = run_checks(&backend, FIXED_POINT, &backend_checks::<HardwareBackend>());
    let failures: Vec<_> = outcomes
        .iter()
        .filter(|outcome| outcome.failure.is_some() && !outcome.is_not_applicable())
        .collect();
    assert!(
        failures.is_empty(),
        "hardware: failing checks must be fixed, not documented: {failures:?}"
    );
    outcomes.extend(
        trainer_checks::<ReferenceBackend>()
            .iter()
            .map(|check| Outcome {
                check: check.name,
                failure: Some(format!(
            "{NOT_APPLICABLE}inference only; training is f64 (T), fixed point is made from its \
             model (H9)"
        )),
            }),
    );
    Column {
        backend: backend.name().into(),
        level: "fixed point, H12; C1 to the reference's fixed point".into(),
        outcomes,
    }
}

#[test]
fn c5_conformance_matrix_is_up_to_date() {
    let matrix = render(&[
        column(&ReferenceBackend, Level::Exact, Level::Exact, "exact, C1"),
        column(
            &OptimizedBackend,
            F32_EXPLAINED,
            F32_GRADIENTS,
            "f32: forward C2, gradients C3",
        ),
        hardware_column(),
    ]);
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
