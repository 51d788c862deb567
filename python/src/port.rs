//! The conformance bridge (SPEC.md clause C6): a Rust [`Backend`] and [`Trainer`] that calls
//! into a Python object, so that the existing checks of hsnn-conformance run on it unchanged.
//! Arguments go to `hsnn.conformance._bridge.call` as the serde shapes of the Rust types (with
//! numeric lists as numpy arrays); the bridge converts the port's answer back to those shapes.

use std::sync::atomic::{AtomicUsize, Ordering};

use hsnn_conformance::levels::{NOT_IMPLEMENTED, NOT_SUPPORTED};
use hsnn_spec::{
    Activation, Backend, ForwardOptions, ForwardOutput, GradientOutput, HsnnError, LmuConfig,
    LmuMatrices, LossFunction, Model, QuantizerRun, Result, SequenceBatch, Tensor2, TraceLevel,
    Trainer,
};
use pyo3::prelude::*;
use serde::Serialize;

/// A Python object that implements some of the methods of the `Backend` and `Trainer` traits
/// (docs/PORTING.md).
pub struct PyPort {
    object: Py<PyAny>,
    name: String,
    /// Calls made into the port, so that a check that never calls it reports `n/a` (C6).
    calls: AtomicUsize,
}

impl PyPort {
    /// Wraps `object`; its name is `object.name()` when it has one, else its class name.
    pub fn new(object: &Bound<'_, PyAny>) -> PyResult<Self> {
        let name = match object.call_method0("name") {
            Ok(name) => name.extract::<String>()?,
            Err(_) => object.get_type().name()?.to_string(),
        };
        Ok(PyPort {
            object: object.clone().unbind(),
            name,
            calls: AtomicUsize::new(0),
        })
    }

    /// How many times a check called into the port.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    /// Calls `method` of the port through the bridge with `arguments`, and reads its answer
    /// as `T`. A method the port lacks ends the check as `not implemented`; an input it
    /// declines with `hsnn.conformance.NotSupported` ends it as `not supported`; an answer of
    /// the wrong shape fails the check, with the bridge's message; any other exception is the
    /// port's refusal, [`HsnnError::Port`].
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        arguments: &impl Serialize,
    ) -> Result<T> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let outcome = Python::attach(|py| -> std::result::Result<PyResult<T>, String> {
            let bridge = py
                .import("hsnn.conformance._bridge")
                .map_err(|error| format!("cannot import the bridge: {error}"))?;
            let arguments = pythonize::pythonize(py, arguments)
                .map_err(|error| format!("cannot pass the arguments of {method}: {error}"))?;
            let answer = bridge.call_method1("call", (self.object.bind(py), method, arguments));
            let answer = match answer {
                Ok(answer) => answer,
                Err(error) => {
                    let missing = bridge
                        .getattr("NotImplementedByPort")
                        .is_ok_and(|class| error.is_instance(py, &class));
                    let bad_answer = bridge
                        .getattr("BadAnswer")
                        .is_ok_and(|class| error.is_instance(py, &class));
                    let declined = bridge
                        .getattr("NotSupported")
                        .is_ok_and(|class| error.is_instance(py, &class));
                    let stopped = bridge
                        .getattr("CheckTimeout")
                        .is_ok_and(|class| error.is_instance(py, &class));
                    if missing {
                        return Err(format!("{NOT_IMPLEMENTED}{}", error.value(py)));
                    }
                    if declined {
                        return Err(format!("{NOT_SUPPORTED}{}", error.value(py)));
                    }
                    if bad_answer || stopped {
                        return Err(error.value(py).to_string());
                    }
                    return Ok(Err(error));
                }
            };
            pythonize::depythonize::<T>(&answer)
                .map(Ok)
                .map_err(|error| {
                    format!(
                        "{}.{method} answered in a shape hsnn cannot read: {error}",
                        self.name
                    )
                })
        });
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(exception)) => Err(Python::attach(|py| {
                let type_name = exception
                    .get_type(py)
                    .name()
                    .map(|name| name.to_string())
                    .unwrap_or_else(|_| "Exception".into());
                HsnnError::Port {
                    implementation: self.name.clone(),
                    message: format!("{type_name}: {}", exception.value(py)),
                }
            })),
            // A missing method, a declined input, an unreadable answer or the time limit end
            // the check here.
            Err(message) => panic!("{message}"),
        }
    }
}

#[derive(Serialize)]
struct QuantizeArguments<'a> {
    activation: Activation,
    dt: f64,
    amplitude: f64,
    inputs: &'a Tensor2,
    initial_state: &'a [f64],
}

#[derive(Serialize)]
struct ForwardArguments<'a> {
    model: &'a Model,
    batch: &'a SequenceBatch,
    trace: hsnn_spec::TraceLevel,
}

#[derive(Serialize)]
struct GradientArguments<'a> {
    model: &'a Model,
    batch: &'a SequenceBatch,
    labels: &'a [usize],
    loss: LossFunction,
}

#[derive(Serialize)]
struct ConfigArguments<'a> {
    config: &'a LmuConfig,
}

impl Backend for PyPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_port(&self) -> bool {
        true
    }

    fn lmu_matrices(&self, config: &LmuConfig) -> Result<LmuMatrices> {
        self.call("lmu_matrices", &ConfigArguments { config })
    }

    fn quantize(
        &self,
        activation: Activation,
        dt: f64,
        amplitude: f64,
        inputs: &Tensor2,
        initial_state: &[f64],
    ) -> Result<QuantizerRun> {
        self.call(
            "quantize",
            &QuantizeArguments {
                activation,
                dt,
                amplitude,
                inputs,
                initial_state,
            },
        )
    }

    fn forward(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        options: &ForwardOptions,
    ) -> Result<ForwardOutput> {
        // The bridge's ports record counts; the tally level is answered from them (N3).
        let mut output: ForwardOutput = self.call(
            "forward",
            &ForwardArguments {
                model,
                batch,
                trace: options.trace.recorded(),
            },
        )?;
        if options.trace == TraceLevel::Tally {
            output.trace = output.trace.into_tallied();
        }
        Ok(output)
    }
}

impl Trainer for PyPort {
    fn gradients_with_loss(
        &self,
        model: &Model,
        batch: &SequenceBatch,
        labels: &[usize],
        loss: LossFunction,
    ) -> Result<GradientOutput> {
        self.call(
            "gradients_with_loss",
            &GradientArguments {
                model,
                batch,
                labels,
                loss,
            },
        )
    }
}
