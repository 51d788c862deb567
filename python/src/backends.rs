//! `hsnn.Reference`, `hsnn.Optimized` and `hsnn.Hardware`: the three backends of SPEC.md N5
//! (and T for the two float ones), with numpy arrays in and out.

use hsnn_spec::{
    Activation, Backend, CountTally, ForwardOptions, LmuConfig, LossFunction, SequenceBatch,
    TallyCell, Tensor2, Trace, TraceLevel, Trainer, Words,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrays::{f64_array, floats, i64_array, labels, tensor_array, Dims};
use crate::errors::{raise, OrRaise};
use crate::model::{weights_dict, PyModel};

/// How a Python backend runs its Rust backend: directly, or inside its own thread pool.
pub trait Compute: Sync {
    /// The Rust backend.
    type Inner: Backend;
    /// The backend itself.
    fn inner(&self) -> &Self::Inner;
    /// Runs `call` on the backend (without the GIL, by the caller): directly, unless the
    /// backend has its own thread pool.
    fn compute<R: Send>(&self, call: impl FnOnce(&Self::Inner) -> R + Send) -> R {
        call(self.inner())
    }
}

/// A word argument (`"tanh"`, `"counts"`) read by the words its type lists (SPEC.md E1),
/// refusing other words with the list of the accepted ones.
fn word<T: Words>(py: Python<'_>, name: &str, value: &str) -> PyResult<T> {
    T::from_word(name, value).or_raise(py)
}

/// A batch of sequences `[batch, steps, features]` (SPEC.md N5) with its sample ids (Q3).
fn sequence_batch(
    inputs: &Bound<'_, PyAny>,
    sample_ids: Option<&Bound<'_, PyAny>>,
) -> PyResult<SequenceBatch> {
    let py = inputs.py();
    let (shape, data) = floats(inputs, "inputs", &Dims(&["batch", "steps", "features"]))?;
    let batch = match sample_ids {
        None => SequenceBatch::new(shape[0], shape[1], shape[2], data),
        Some(ids) => {
            let (_, ids) = crate::arrays::integers(ids, "sample_ids", &Dims(&["batch"]))?;
            let ids = ids
                .iter()
                .map(|&id| u64::try_from(id))
                .collect::<Result<Vec<u64>, _>>()
                .map_err(|_| {
                    raise(
                        py,
                        "InvalidConfigError",
                        "invalid configuration: `sample_ids` must not be negative",
                    )
                })?;
            SequenceBatch::with_ids(shape[0], shape[1], shape[2], data, ids)
        }
    };
    batch.or_raise(py)
}

/// A trace (SPEC.md N3) as a dict of arrays shaped `[batch, steps, neurons]`.
pub fn trace_dict(
    py: Python<'_>,
    trace: Trace,
    batch: usize,
    steps: usize,
    hidden_size: usize,
) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("dt", trace.dt)?;
    let sites = PyList::empty(py);
    for site in trace.sites {
        let record = PyDict::new(py);
        let shape = [site.batch, site.steps, site.neurons];
        record.set_item("site", site.site.name())?;
        record.set_item("batch", site.batch)?;
        record.set_item("steps", site.steps)?;
        record.set_item("neurons", site.neurons)?;
        record.set_item(
            "activation",
            pythonize::pythonize(py, &site.activation).or_raise(py)?,
        )?;
        // int64, as every integer array hsnn hands out and takes (bit_metrics reads these).
        let signed = |values: Vec<u64>| -> Vec<i64> {
            values
                .into_iter()
                .map(|value| i64::try_from(value).unwrap_or(i64::MAX))
                .collect()
        };
        record.set_item(
            "fan_out",
            i64_array(py, &[site.neurons], signed(site.fan_out))?,
        )?;
        record.set_item(
            "fan_out_last_step",
            i64_array(py, &[site.neurons], signed(site.fan_out_last_step))?,
        )?;
        match site.tally {
            // Level tally (N3): the tally instead of the counts.
            Some(tally) => {
                record.set_item("counts", py.None())?;
                record.set_item("tally", tally_dict(py, tally)?)?;
            }
            None => {
                record.set_item("counts", i64_array(py, &shape, site.counts.to_vec())?)?;
                record.set_item("tally", py.None())?;
            }
        }
        if site.integrator.is_empty() {
            record.set_item("integrator", py.None())?;
        } else {
            record.set_item("integrator", f64_array(py, &shape, site.integrator)?)?;
        }
        sites.append(record)?;
    }
    dict.set_item("sites", sites)?;
    if trace.hidden.is_empty() {
        dict.set_item("hidden", py.None())?;
    } else {
        dict.set_item(
            "hidden",
            f64_array(py, &[batch, steps, hidden_size], trace.hidden)?,
        )?;
    }
    Ok(dict)
}

/// A site's tally (SPEC.md N3) as ``{"steps": cells, "last_step": cells}``, each ``cells`` a
/// dict of three int64 arrays of one value per cell: ``neuron``, ``count``, ``times``.
fn tally_dict(py: Python<'_>, tally: CountTally) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    for (name, cells) in [("steps", tally.steps), ("last_step", tally.last_step)] {
        let columns = PyDict::new(py);
        let length = [cells.len()];
        let column = |value: fn(&TallyCell) -> i64| cells.iter().map(value).collect();
        // Neurons and times fit i64: a site has far fewer than 2^63 neurons, and times are
        // bounded by a batch's updates.
        columns.set_item(
            "neuron",
            i64_array(py, &length, column(|cell| cell.neuron as i64))?,
        )?;
        columns.set_item("count", i64_array(py, &length, column(|cell| cell.count))?)?;
        columns.set_item(
            "times",
            i64_array(
                py,
                &length,
                column(|cell| i64::try_from(cell.times).unwrap_or(i64::MAX)),
            )?,
        )?;
        dict.set_item(name, columns)?;
    }
    Ok(dict)
}

fn lmu_matrices<'py, C: Compute>(
    backend: &C,
    config: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = config.py();
    let config: LmuConfig = pythonize::depythonize(config)
        .map_err(|error| hsnn_spec::HsnnError::Parse {
            what: "lmu config".into(),
            reason: error.to_string(),
        })
        .or_raise(py)?;
    let matrices = py
        .detach(|| backend.compute(|inner| inner.lmu_matrices(&config)))
        .or_raise(py)?;
    let dict = PyDict::new(py);
    dict.set_item("a", tensor_array(py, matrices.a)?)?;
    dict.set_item("b", tensor_array(py, matrices.b)?)?;
    dict.set_item("a_bar", tensor_array(py, matrices.a_bar)?)?;
    dict.set_item("b_bar", tensor_array(py, matrices.b_bar)?)?;
    Ok(dict)
}

fn quantize<'py, C: Compute>(
    backend: &C,
    activation: &str,
    dt: f64,
    amplitude: f64,
    inputs: &Bound<'py, PyAny>,
    initial_state: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = inputs.py();
    let activation: Activation = word(py, "activation", activation)?;
    let (shape, data) = floats(inputs, "inputs", &Dims(&["steps", "neurons"]))?;
    let inputs = Tensor2::from_row_major(shape[0], shape[1], data).or_raise(py)?;
    let (_, initial_state) = floats(initial_state, "initial_state", &Dims(&["neurons"]))?;
    let run = py
        .detach(|| {
            backend
                .compute(|inner| inner.quantize(activation, dt, amplitude, &inputs, &initial_state))
        })
        .or_raise(py)?;
    let dict = PyDict::new(py);
    dict.set_item("counts", i64_array(py, &shape, run.counts)?)?;
    dict.set_item("outputs", f64_array(py, &shape, run.outputs)?)?;
    dict.set_item("integrator", f64_array(py, &shape, run.integrator)?)?;
    dict.set_item("final_state", f64_array(py, &[shape[1]], run.final_state)?)?;
    Ok(dict)
}

fn forward<'py, C: Compute>(
    backend: &C,
    model: &PyModel,
    inputs: &Bound<'py, PyAny>,
    trace: &str,
    sample_ids: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = inputs.py();
    let level: TraceLevel = word(py, "trace", trace)?;
    let batch = sequence_batch(inputs, sample_ids)?;
    let output = py
        .detach(|| {
            backend.compute(|inner| {
                inner.forward(&model.model, &batch, &ForwardOptions { trace: level })
            })
        })
        .or_raise(py)?;
    let dict = PyDict::new(py);
    dict.set_item("logits", tensor_array(py, output.logits)?)?;
    dict.set_item(
        "trace",
        trace_dict(
            py,
            output.trace,
            batch.batch,
            batch.steps,
            model.model.config.lmu.hidden_size,
        )?,
    )?;
    Ok(dict)
}

fn gradients<'py, C: Compute<Inner: Trainer>>(
    trainer: &C,
    model: &PyModel,
    inputs: &Bound<'py, PyAny>,
    targets: &Bound<'py, PyAny>,
    loss: &str,
    sample_ids: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let py = inputs.py();
    let loss: LossFunction = word(py, "loss", loss)?;
    let batch = sequence_batch(inputs, sample_ids)?;
    let targets = labels(targets, "labels", model.model.config.output_size)?;
    if targets.len() != batch.batch {
        return Err(hsnn_spec::HsnnError::ShapeMismatch {
            name: "labels".into(),
            expected: format!("{} labels (one per sequence)", batch.batch),
            found: format!("{} labels", targets.len()),
        })
        .or_raise(py);
    }
    let output = py
        .detach(|| {
            trainer.compute(|inner| inner.gradients_with_loss(&model.model, &batch, &targets, loss))
        })
        .or_raise(py)?;
    let dict = PyDict::new(py);
    dict.set_item("loss", output.loss)?;
    dict.set_item("gradients", weights_dict(py, &output.gradients)?)?;
    dict.set_item("logits", tensor_array(py, output.logits)?)?;
    Ok(dict)
}

/// Methods shared by the three backends, with the same docstrings.
macro_rules! backend_methods {
    ($class:ident { $($extra:tt)* }) => {
        #[pymethods]
        impl $class {
            $($extra)*

            /// Seconds of each of `repetitions` calls of the Rust `forward` on the same batch,
            /// timed inside Rust (SPEC.md N5): what `benches/python/forward_overhead.py`
            /// compares the Python call with.
            #[pyo3(signature = (model, inputs, trace="none", repetitions=10))]
            fn _time_forward(
                &self,
                py: Python<'_>,
                model: &PyModel,
                inputs: &Bound<'_, PyAny>,
                trace: &str,
                repetitions: usize,
            ) -> PyResult<Vec<f64>> {
                let level: TraceLevel =
                    word(py, "trace", trace)?;
                let batch = sequence_batch(inputs, None)?;
                let options = ForwardOptions { trace: level };
                py.detach(|| {
                    (0..repetitions)
                        .map(|_| {
                            let start = std::time::Instant::now();
                            // The result is dropped inside the timing, as the Python call's is.
                            let output = self.compute(|inner| inner.forward(&model.model, &batch, &options));
                            output.map(|output| {
                                drop(output);
                                start.elapsed().as_secs_f64()
                            })
                        })
                        .collect::<hsnn_spec::Result<Vec<f64>>>()
                })
                .or_raise(py)
            }

            /// The backend's short name (SPEC.md C5).
            fn name(&self) -> String {
                self.inner().name().to_string()
            }

            /// The continuous and discretized Legendre matrices of a memory (SPEC.md L1-L3).
            ///
            /// Parameters
            /// ----------
            /// config : dict
            ///     An ``lmu`` configuration (``order``, ``theta``, ``discretizer``, ...).
            ///
            /// Returns
            /// -------
            /// dict
            ///     ``a``, ``b``, ``a_bar``, ``b_bar``: float64 arrays ``[order, order]`` and
            ///     ``[order, 1]``.
            fn lmu_matrices<'py>(&self, config: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
                lmu_matrices(self, config)
            }

            /// The quantized activation alone over a sequence (SPEC.md Q1-Q4).
            ///
            /// Parameters
            /// ----------
            /// activation : {"tanh", "relu", "identity"}
            ///     The base activation.
            /// dt : float
            ///     The time step, finite and positive.
            /// amplitude : float
            ///     alpha of Q1, finite and positive.
            /// inputs : numpy.ndarray
            ///     float64 ``[steps, neurons]``, C-contiguous, finite.
            /// initial_state : numpy.ndarray
            ///     float64 ``[neurons]``, each in ``[0, 1)`` (Q3).
            ///
            /// Returns
            /// -------
            /// dict
            ///     ``counts`` (int64), ``outputs``, ``integrator`` ``[steps, neurons]`` and
            ///     ``final_state`` ``[neurons]``.
            fn quantize<'py>(
                &self,
                activation: &str,
                dt: f64,
                amplitude: f64,
                inputs: &Bound<'py, PyAny>,
                initial_state: &Bound<'py, PyAny>,
            ) -> PyResult<Bound<'py, PyDict>> {
                quantize(self, activation, dt, amplitude, inputs, initial_state)
            }

            /// The hybrid network's forward pass over a batch (SPEC.md N1-N3).
            ///
            /// Parameters
            /// ----------
            /// model : Model
            ///     The network and its weights.
            /// inputs : numpy.ndarray
            ///     float64 ``[batch, steps, features]``, C-contiguous, finite.
            /// trace : {"none", "tally", "counts", "full"}
            ///     What to record (N3); ``"tally"`` gives each site's counts tallied by neuron
            ///     and value instead of the counts, what :func:`site_metrics` needs.
            /// sample_ids : numpy.ndarray, optional
            ///     int64 ``[batch]``, the ids that seed the initial states (Q3); default
            ///     ``0..batch``.
            ///
            /// Returns
            /// -------
            /// dict
            ///     ``logits`` ``[batch, output_size]`` and ``trace``: ``dt``, ``sites`` (one dict
            ///     per quantized site with ``counts`` int64 ``[batch, steps, neurons]``, or at
            ///     level tally ``counts`` None and ``tally`` (``steps`` and ``last_step``, each
            ///     int64 arrays ``neuron``, ``count``, ``times``), ``integrator`` at level full,
            ///     ``fan_out``) and ``hidden`` (level full).
            #[pyo3(signature = (model, inputs, trace="counts", sample_ids=None))]
            fn forward<'py>(
                &self,
                model: &PyModel,
                inputs: &Bound<'py, PyAny>,
                trace: &str,
                sample_ids: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyDict>> {
                forward(self, model, inputs, trace, sample_ids)
            }
        }
    };
}

/// [`backend_methods!`] with the gradient method of the two float backends.
macro_rules! trainer_methods {
    ($class:ident { $($extra:tt)* }) => {
        backend_methods!($class {
            /// Mean loss over a batch and its gradient for every weight (SPEC.md T1-T3): spikes
            /// on the forward pass, the rate derivative on the backward pass.
            ///
            /// Parameters
            /// ----------
            /// model : Model
            /// inputs : numpy.ndarray
            ///     float64 ``[batch, steps, features]``.
            /// labels : numpy.ndarray
            ///     int64 ``[batch]``, classes in ``0..output_size``.
            /// loss : {"softmax_cross_entropy", "keras2_probability"}
            ///     T1's exact log-softmax (default) or T1b's Keras 2 loss.
            /// sample_ids : numpy.ndarray, optional
            ///     int64 ``[batch]`` (Q3).
            ///
            /// Returns
            /// -------
            /// dict
            ///     ``loss`` (float), ``gradients`` (weight name to array, ``None`` for an absent
            ///     weight) and ``logits``.
            #[pyo3(signature = (model, inputs, labels, loss="softmax_cross_entropy", sample_ids=None))]
            fn gradients<'py>(
                &self,
                model: &PyModel,
                inputs: &Bound<'py, PyAny>,
                labels: &Bound<'py, PyAny>,
                loss: &str,
                sample_ids: Option<&Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyDict>> {
                gradients(self, model, inputs, labels, loss, sample_ids)
            }

            $($extra)*
        });
    };
}

/// The reference backend: readable f64, the specification's meaning (SPEC.md C1, exact).
#[pyclass(name = "Reference", module = "hsnn", frozen)]
pub struct PyReference {
    backend: hsnn_reference::ReferenceBackend,
}

impl Compute for PyReference {
    type Inner = hsnn_reference::ReferenceBackend;
    fn inner(&self) -> &Self::Inner {
        &self.backend
    }
}

trainer_methods!(PyReference {
    /// The reference backend (SPEC.md C1).
    #[new]
    fn new() -> Self {
        PyReference {
            backend: hsnn_reference::ReferenceBackend,
        }
    }
});

/// The optimized backend: f32, SIMD and threads (SPEC.md C2, explained); results do not
/// depend on the thread count (T8).
///
/// Parameters
/// ----------
/// threads : int, optional
///     Worker threads, at least 1 and at most the machine's cores (default: every core).
#[pyclass(name = "Optimized", module = "hsnn", frozen)]
pub struct PyOptimized {
    backend: hsnn_optimized::OptimizedBackend,
    pool: rayon::ThreadPool,
}

impl Compute for PyOptimized {
    type Inner = hsnn_optimized::OptimizedBackend;
    fn compute<R: Send>(&self, call: impl FnOnce(&Self::Inner) -> R + Send) -> R {
        self.pool.install(|| call(&self.backend))
    }
    fn inner(&self) -> &Self::Inner {
        &self.backend
    }
}

trainer_methods!(PyOptimized {
    /// The optimized backend on `threads` worker threads (default: every core).
    ///
    /// Parameters
    /// ----------
    /// threads : int, optional
    ///     At least 1 and at most the machine's cores; results do not depend on it (T8).
    #[new]
    #[pyo3(signature = (threads=None))]
    fn new(py: Python<'_>, threads: Option<i64>) -> PyResult<Self> {
        PyOptimized::with_threads(py, threads)
    }

    /// The number of worker threads.
    #[getter]
    fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
});

impl PyOptimized {
    /// The backend on `threads` threads (default: every core), refusing a count outside
    /// `1..=cores`.
    pub fn with_threads(py: Python<'_>, threads: Option<i64>) -> PyResult<Self> {
        let threads = match threads {
            None => std::thread::available_parallelism().map_or(1, |cores| cores.get()),
            Some(threads) => {
                hsnn_train::data::check_threads("threads", u64::try_from(threads).unwrap_or(0))
                    .or_raise(py)?
            }
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|error| {
                raise(
                    py,
                    "UsageError",
                    format!("cannot start {threads} threads: {error}"),
                )
            })?;
        Ok(PyOptimized {
            backend: hsnn_optimized::OptimizedBackend,
            pool,
        })
    }
}

/// The modeled event-driven fixed-point chip (SPEC.md H8-H13): a model is converted to fixed
/// point (H9) at the given widths and run as integers; inference only.
///
/// Parameters
/// ----------
/// options : dict, optional
///     ``ConversionOptions`` of H9 (``weight_bits``, ...); default: the CLI's defaults.
/// threads : int
///     Threads the chip runs sequences on.
/// fixed : FixedModel, optional
///     Run this fixed model for every model of its configuration (its weights ignored), as
///     ``hsnn eval --model FIXED.json`` does; it carries its own options.
/// engine : str
///     ``"fast"`` (default): dense integer products over the batch, counters derived from
///     the counts (H13); ``"chip"``: the event-driven chip, one event at a time. Both give
///     the same integers and counters.
#[pyclass(name = "Hardware", module = "hsnn", frozen)]
pub struct PyHardware {
    backend: hsnn_hardware::HardwareBackend,
}

impl Compute for PyHardware {
    type Inner = hsnn_hardware::HardwareBackend;
    fn inner(&self) -> &Self::Inner {
        &self.backend
    }
}

backend_methods!(PyHardware {
    /// The chip (SPEC.md H8-H13); the class docstring gives the parameters.
    #[new]
    #[pyo3(signature = (options=None, threads=1, fixed=None, engine="fast"))]
    fn new(
        py: Python<'_>,
        options: Option<&Bound<'_, PyAny>>,
        threads: usize,
        fixed: Option<&crate::model::PyFixedModel>,
        engine: &str,
    ) -> PyResult<Self> {
        let engine: hsnn_hardware::Engine = word(py, "engine", engine)?;
        if fixed.is_some() && options.is_some() {
            return Err(raise(
                py,
                "UsageError",
                "a fixed model carries its conversion options (H9): give options or fixed, not both",
            ));
        }
        // A fixed model's own options replace these in hardware_backend.
        let options = crate::model::conversion_options(py, options)?;
        let backend = hsnn_train::pretrained::hardware_backend(
            options,
            fixed.map(|fixed| &fixed.fixed),
            threads,
            engine,
        )
        .or_raise(py)?;
        Ok(PyHardware { backend })
    }

    /// The chip's counters since the last call, and resets them (H10, B6): what the energy
    /// model prices.
    fn take_counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.backend.take_counters()).or_raise(py)
    }

    /// The energy per inference of what the chip ran since the last call (and resets the
    /// counters), priced on built-in device profiles (SPEC.md H11, from H10's counters): the
    /// hybrid network as it ran, and the same network with nothing spiking.
    ///
    /// Parameters
    /// ----------
    /// model : Model
    ///     The model that ran (its amplitude enters the pricing).
    /// device : str or list of str
    ///     A device of ``hardware/devices/`` (``hsnn energy --help`` lists them), e.g.
    ///     ``"loihi"``; or several, priced on the same counters.
    ///
    /// Returns
    /// -------
    /// dict
    ///     For one device: ``hybrid`` and ``non_spiking`` (``Energy`` with ``total_joules``
    ///     and its ``parts``) and ``sequences``, how many sequences the counters cover. For a
    ///     list: that dict for each device, by device name.
    fn energy<'py>(
        &self,
        py: Python<'py>,
        model: &PyModel,
        device: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        use hsnn_hardware::energy::{builtin_devices, find_device, price_both, PricingOptions};
        let devices = builtin_devices();
        let (names, one): (Vec<String>, bool) = match device.extract::<String>() {
            Ok(name) => (vec![name], true),
            Err(_) => (device.extract::<Vec<String>>().map_err(|_| {
                raise(py, "DtypeError", "`device` must be a device name or a list of them")
            })?, false),
        };
        if names.is_empty() {
            return Err(raise(py, "InvalidConfigError", "invalid configuration: `device` must name at least one device"));
        }
        // The devices first: a mistyped name must not cost the run's counters.
        let found = names
            .iter()
            .map(|name| find_device(&devices, name))
            .collect::<hsnn_spec::Result<Vec<_>>>()
            .or_raise(py)?;
        let counters = self.backend.take_counters();
        let options = PricingOptions::for_conversion(
            self.backend.options(),
            model.model.config.quantizer.amplitude,
        );
        let priced = PyDict::new(py);
        for (name, device) in names.iter().zip(found) {
            let (hybrid, non_spiking) = price_both(device, &counters, &options).or_raise(py)?;
            let dict = PyDict::new(py);
            dict.set_item("hybrid", pythonize::pythonize(py, &hybrid).or_raise(py)?)?;
            dict.set_item("non_spiking", pythonize::pythonize(py, &non_spiking).or_raise(py)?)?;
            dict.set_item("sequences", counters.sequences)?;
            if one {
                return Ok(dict);
            }
            priced.set_item(name, dict)?;
        }
        Ok(priced)
    }
});
