//! Evaluation and training from Python, through the engine of hsnn-train (SPEC.md B, T): the
//! same code paths as `hsnn eval` and `hsnn reproduce`, with progress reported to a Python
//! callable and Ctrl-C stopping a run after its checkpoint.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hsnn_train::experiment::Experiment;
use hsnn_train::reproduce::{reproduce as run_reproduce, ReproduceOptions};
use hsnn_train::training_loop::{EpochSummary, MinibatchProgress, Observer, RunControl};
use hsnn_train::TrainError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::backends::{Compute, PyHardware, PyOptimized, PyReference};
use crate::errors::{raise, OrRaise};
use crate::model::PyModel;

fn evaluate_on<C: Compute>(
    py: Python<'_>,
    backend: &C,
    model: &hsnn_spec::Model,
    dataset: &hsnn_data::LabelledSequences,
) -> PyResult<hsnn_train::evaluation::Evaluation> {
    py.detach(|| backend.compute(|inner| hsnn_train::evaluation::evaluate(inner, model, dataset)))
        .or_raise(py)
}

/// Accuracy, loss and bit metrics of a model on a split (SPEC.md B1-B6), built from the
/// model's record of its training data as ``hsnn eval`` does (E2); ``hsnn.evaluate`` wraps it
/// to take arrays as well.
///
/// Parameters
/// ----------
/// backend : Reference, Optimized or Hardware
///     What runs the model (Hardware: converted to fixed point, H9).
/// model : Model
/// split : {"train", "validation", "test"}
/// data : str or os.PathLike, optional
///     Folder of the MNIST IDX files, or a sequence file (``.npz`` with ``x_train``,
///     ``y_train``, ``x_test``, ``y_test``; SPEC D7); default: the file a model trained on a
///     sequence file recorded, else the embedded subset.
/// limit : int, optional
///     Only the first ``limit`` sequences of the split.
/// config : str or os.PathLike, optional
///     An experiment file whose data settings to use instead of the model's record; one that
///     contradicts the record is refused unless ``override_provenance``.
/// override_provenance : bool
///
/// Returns
/// -------
/// dict
///     ``samples``, ``accuracy``, ``loss``, ``metrics`` (B), ``data`` (a description) and
///     ``note`` (set when the data source differs from the training data's).
#[pyfunction]
#[pyo3(signature = (backend, model, split="test", data=None, limit=None, config=None, override_provenance=false))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate<'py>(
    py: Python<'py>,
    backend: &Bound<'py, PyAny>,
    model: &PyModel,
    split: &str,
    data: Option<PathBuf>,
    limit: Option<usize>,
    config: Option<PathBuf>,
    override_provenance: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let model = &model.model;
    let split = <hsnn_train::data::SplitName as hsnn_spec::Words>::from_word("split", split)
        .or_raise(py)?;
    let request = hsnn_train::data::EvaluationData {
        directory: data.as_deref(),
        config: config.as_deref(),
        override_provenance,
        limit,
    };
    let (loaded, note) = py
        .detach(|| hsnn_train::data::load_for_evaluation(model, request))
        .or_raise(py)?;
    let dataset = loaded.split_named(split);
    let evaluation = if let Ok(reference) = backend.cast::<PyReference>() {
        evaluate_on(py, reference.get(), model, dataset)?
    } else if let Ok(optimized) = backend.cast::<PyOptimized>() {
        evaluate_on(py, optimized.get(), model, dataset)?
    } else if let Ok(hardware) = backend.cast::<PyHardware>() {
        evaluate_on(py, hardware.get(), model, dataset)?
    } else {
        return Err(raise(
            py,
            "DtypeError",
            "`backend` must be hsnn.Reference(), hsnn.Optimized() or hsnn.Hardware()",
        ));
    };
    let dict = PyDict::new(py);
    dict.set_item("samples", evaluation.samples)?;
    dict.set_item("accuracy", evaluation.accuracy)?;
    dict.set_item("loss", evaluation.loss)?;
    dict.set_item(
        "metrics",
        pythonize::pythonize(py, &evaluation.metrics).or_raise(py)?,
    )?;
    dict.set_item("data", loaded.description)?;
    dict.set_item("note", note)?;
    Ok(dict)
}

/// Tells a Python callable what the run does, as ``(event, details)``, and turns an exception
/// in the callable into a stop after the current minibatch, with a checkpoint. (Ctrl-C is
/// watched on the calling thread: the observer may run on a worker thread, where Python
/// delivers no signals.)
struct PythonObserver {
    callback: Option<Py<PyAny>>,
    stop: Arc<AtomicBool>,
    failure: Mutex<Option<PyErr>>,
}

impl PythonObserver {
    fn send(&self, event: &str, details: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>) {
        Python::attach(|py| {
            let outcome = (|| -> PyResult<()> {
                if let Some(callback) = &self.callback {
                    let dict = PyDict::new(py);
                    details(&dict)?;
                    callback.call1(py, (event, dict))?;
                }
                Ok(())
            })();
            if let Err(error) = outcome {
                self.stop.store(true, Ordering::SeqCst);
                let mut failure = self
                    .failure
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                failure.get_or_insert(error);
            }
        });
    }
}

fn summary_dict(dict: &Bound<'_, PyDict>, summary: &EpochSummary) -> PyResult<()> {
    dict.set_item("epoch", summary.epoch)?;
    dict.set_item("dt", summary.dt)?;
    dict.set_item("train_loss", summary.train_loss)?;
    dict.set_item("train_accuracy", summary.train_accuracy)?;
    dict.set_item("validation_loss", summary.validation_loss)?;
    dict.set_item("validation_accuracy", summary.validation_accuracy)
}

impl Observer for PythonObserver {
    fn run_started(&self, stage_minibatches: &[u64]) {
        self.send("run_started", |dict| {
            dict.set_item("stage_minibatches", stage_minibatches.to_vec())
        });
    }
    fn stage_started(&self, stage: &str, completed: u64, total: u64) {
        self.send("stage_started", |dict| {
            dict.set_item("stage", stage)?;
            dict.set_item("completed", completed)?;
            dict.set_item("total", total)
        });
    }
    fn minibatch_finished(&self, progress: &MinibatchProgress<'_>) {
        self.send("minibatch", |dict| {
            dict.set_item("stage", progress.stage)?;
            dict.set_item("epoch", progress.epoch)?;
            dict.set_item("epochs", progress.epochs)?;
            dict.set_item("completed", progress.completed)?;
            dict.set_item("total", progress.total)?;
            dict.set_item("loss", progress.loss)?;
            dict.set_item("accuracy", progress.accuracy)?;
            dict.set_item("dt", progress.dt)
        });
    }
    fn epoch_finished(&self, stage: &str, epochs: usize, summary: &EpochSummary) {
        self.send("epoch", |dict| {
            dict.set_item("stage", stage)?;
            dict.set_item("epochs", epochs)?;
            summary_dict(dict, summary)
        });
    }
    fn stage_stopped(&self, stage: &str) {
        self.send("stage_stopped", |dict| dict.set_item("stage", stage));
    }
    fn message(&self, text: &str) {
        self.send("message", |dict| dict.set_item("text", text));
    }
}

/// Runs the experiment on a worker thread while this (the calling, usually the main) thread
/// watches for Ctrl-C every 100 ms: a signal sets `stop`, so the run ends after its current
/// minibatch with a checkpoint, as `TrainError::Interrupted`.
fn reproduce_on<C: Compute<Inner: hsnn_spec::Trainer>>(
    py: Python<'_>,
    backend: &C,
    experiment: &Experiment,
    options: &ReproduceOptions,
    stop: &AtomicBool,
) -> Result<hsnn_train::report::Results, TrainError> {
    py.detach(|| {
        std::thread::scope(|scope| {
            let worker =
                scope.spawn(|| backend.compute(|inner| run_reproduce(inner, experiment, options)));
            while !worker.is_finished() {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if Python::attach(|py| py.check_signals().is_err()) {
                    stop.store(true, Ordering::SeqCst);
                }
            }
            worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    })
}

/// Runs an experiment through the training engine, as ``hsnn reproduce`` does (SPEC.md T):
/// every stage with its checkpoints (T8), the kept models, the evaluation at every dt and the
/// results file in ``out``.
///
/// Parameters
/// ----------
/// config : str or os.PathLike, optional
///     The experiment file; default: the built-in embedded-quick experiment.
/// backend : Reference or Optimized, optional
///     Default: ``Optimized()`` on every core (results do not depend on the thread count).
/// data : str or os.PathLike, optional
///     Folder of the MNIST IDX files, or a sequence file (``.npz`` with ``x_train``,
///     ``y_train``, ``x_test``, ``y_test``; SPEC D7); default: the embedded subset.
/// out : str or os.PathLike, optional
///     The run's folder; default ``runs/<experiment name>``.
/// resume, force : bool
///     Continue the run in ``out`` from its checkpoints, or delete it and start over; a folder
///     that holds a run is refused without one of them.
/// progress : callable, optional
///     Called as ``progress(event, details)`` for ``run_started``, ``stage_started``,
///     ``minibatch``, ``epoch``, ``stage_stopped`` and ``message``; ``hsnn.reproduce`` passes
///     a tqdm display.
/// stop_after_epochs : int, optional
///     Stop after this many epochs of the current stage, after their checkpoint.
///
/// Returns
/// -------
/// dict
///     The results file's contents (format ``hsnn-results``).
///
/// Raises
/// ------
/// RunInterrupted
///     Ctrl-C or ``stop_after_epochs`` stopped the run after a checkpoint; run again with
///     ``resume=True``.
/// Exception
///     The exception ``progress`` raised, after the run stopped with a checkpoint.
#[pyfunction]
#[pyo3(signature = (config=None, *, backend=None, data=None, out=None, resume=false, force=false, progress=None, stop_after_epochs=None))]
#[allow(clippy::too_many_arguments)]
pub fn reproduce<'py>(
    py: Python<'py>,
    config: Option<PathBuf>,
    backend: Option<&Bound<'py, PyAny>>,
    data: Option<PathBuf>,
    out: Option<PathBuf>,
    resume: bool,
    force: bool,
    progress: Option<Py<PyAny>>,
    stop_after_epochs: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    if resume && force {
        return Err(raise(
            py,
            "UsageError",
            "resume and force exclude each other: choose one",
        ));
    }
    let experiment = Experiment::load(config.as_deref()).or_raise(py)?;
    let stop = Arc::new(AtomicBool::new(false));
    let watched = stop.clone();
    let observer = Arc::new(PythonObserver {
        callback: progress,
        stop: stop.clone(),
        failure: Mutex::new(None),
    });
    let options = ReproduceOptions {
        data_directory: data,
        out_directory: out.unwrap_or_else(|| PathBuf::from("runs").join(&experiment.name)),
        resume,
        force,
        control: RunControl {
            observer: observer.clone(),
            stop,
            stop_after_epochs,
            ..RunControl::default()
        },
    };
    let results = match backend {
        None => {
            let default = PyOptimized::with_threads(py, None)?;
            reproduce_on(py, &default, &experiment, &options, &watched)
        }
        Some(backend) => {
            if let Ok(reference) = backend.cast::<PyReference>() {
                reproduce_on(py, reference.get(), &experiment, &options, &watched)
            } else if let Ok(optimized) = backend.cast::<PyOptimized>() {
                reproduce_on(py, optimized.get(), &experiment, &options, &watched)
            } else {
                return Err(raise(
                    py,
                    "DtypeError",
                    "`backend` must be hsnn.Reference() or hsnn.Optimized(): the chip does not train",
                ));
            }
        }
    };
    if let Some(failure) = observer
        .failure
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take()
    {
        // The run stopped because of the callable (or Ctrl-C): its checkpoint is written.
        return Err(failure);
    }
    let results = results.or_raise(py)?;
    pythonize::pythonize(py, &results).or_raise(py)
}
