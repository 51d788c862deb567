//! The conformance checks of hsnn-conformance, run one at a time on a Python object through
//! [`PyPort`] (SPEC.md clause C6). `hsnn.conformance` drives these two functions: it lists the
//! checks, runs each under a time limit and prints the matrix.

use std::cell::Cell;
use std::sync::Once;

use hsnn_conformance::levels::{
    Level, F32_EXPLAINED, F32_GRADIENTS, F64_EXPLAINED, F64_GRADIENTS, FIXED_POINT, NOT_APPLICABLE,
    NOT_IMPLEMENTED, NOT_SUPPORTED,
};
use hsnn_conformance::matrix::{backend_checks, clause_of, run_check, trainer_checks, Check};
use pyo3::prelude::*;

use crate::errors::raise;
use crate::port::PyPort;

thread_local! {
    static IN_CHECK: Cell<bool> = const { Cell::new(false) };
}

/// Keeps a failing check's panic off stderr: its message is the check's result.
fn quiet_panics_in_checks() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CHECK.with(Cell::get) {
                default(info);
            }
        }));
    });
}

/// Every check of the suite: `(name, clause, suite)` with suite `"backend"` (the forward
/// checks, `with_backend_checks!`) or `"trainer"` (`with_trainer_checks!`), in the order of
/// docs/CONFORMANCE.md.
#[pyfunction]
pub fn conformance_checks() -> Vec<(String, String, String)> {
    let backend = backend_checks::<PyPort>()
        .into_iter()
        .map(|check| (check.name, "backend"));
    let trainer = trainer_checks::<PyPort>()
        .into_iter()
        .map(|check| (check.name, "trainer"));
    backend
        .chain(trainer)
        .map(|(name, suite)| (name.to_string(), clause_of(name), suite.to_string()))
        .collect()
}

/// Runs the check named `check` on `port` at `level` (``"exact"``, ``"f64"``, ``"f32"`` or
/// ``"fixed"``, SPEC.md C1-C3, Q2 and H12) and returns ``(status, message)``: status
/// ``"pass"``, ``"fail"``, ``"n/a"`` (the check does not apply at this level, or never calls
/// the port), ``"not implemented"`` (the port lacks a method it needs) or ``"not
/// supported"`` (the port declined an input with ``hsnn.conformance.NotSupported``); message
/// is ``None`` on a pass, else the check's own message (C6).
#[pyfunction]
pub fn run_conformance_check(
    py: Python<'_>,
    port: &Bound<'_, PyAny>,
    level: &str,
    check: &str,
) -> PyResult<(String, Option<String>)> {
    let (forward, training) = match level {
        "exact" => (Level::Exact, Some(Level::Exact)),
        "f64" => (F64_EXPLAINED, Some(F64_GRADIENTS)),
        "f32" => (F32_EXPLAINED, Some(F32_GRADIENTS)),
        "fixed" => (FIXED_POINT, None),
        other => {
            return Err(raise(
                py,
                "UsageError",
                format!("--level must be exact, f64, f32 or fixed, got {other:?}"),
            ))
        }
    };
    let port = PyPort::new(port)?;
    let find =
        |checks: Vec<Check<PyPort>>| checks.into_iter().find(|candidate| candidate.name == check);
    let (found, level) = if let Some(found) = find(backend_checks()) {
        (found, forward)
    } else if let Some(found) = find(trainer_checks()) {
        match training {
            Some(level) => (found, level),
            None => {
                return Ok((
                    "n/a".into(),
                    Some("fixed point is inference only; training is f64 (T), fixed point is made from its model (H9)".into()),
                ))
            }
        }
    } else {
        return Err(raise(
            py,
            "UsageError",
            format!("no conformance check is named {check:?}"),
        ));
    };
    quiet_panics_in_checks();
    // Each shrink step would call the port again: report the first failing input (C6).
    hsnn_conformance::set_shrinking(false);
    let failure = py.detach(|| {
        IN_CHECK.with(|flag| flag.set(true));
        let failure = run_check(&port, level, &found);
        IN_CHECK.with(|flag| flag.set(false));
        failure
    });
    Ok(match failure {
        None if port.calls() == 0 => (
            "n/a".into(),
            Some(
                "the check never calls the implementation: it checks hsnn's own definitions".into(),
            ),
        ),
        None => ("pass".into(), None),
        Some(message) => {
            // A property check reports a panic as `Test failed: <message>`; the marker counts
            // only at the start of either, so that a port's own message cannot fake it.
            let first = message.lines().next().unwrap_or_default();
            let unwrapped = first.strip_prefix("Test failed: ").unwrap_or(first);
            if let Some(rest) = unwrapped.strip_prefix(NOT_IMPLEMENTED) {
                (
                    "not implemented".into(),
                    Some(rest.trim_end_matches('.').to_string()),
                )
            } else if let Some(rest) = unwrapped.strip_prefix(NOT_SUPPORTED) {
                (
                    "not supported".into(),
                    Some(rest.trim_end_matches('.').to_string()),
                )
            } else if let Some(rest) = message.strip_prefix(NOT_APPLICABLE) {
                ("n/a".into(), Some(rest.to_string()))
            } else {
                ("fail".into(), Some(message))
            }
        }
    })
}
