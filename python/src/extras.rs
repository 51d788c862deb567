//! Data (SPEC.md D) and bit metrics (B) from Python.

use std::path::PathBuf;

use hsnn_data::{LabelledSequences, LoadOptions, PixelOrder, SplitRecipe};
use hsnn_spec::{Activation, CountTally, HsnnError, QuantizedSite, SiteTrace, TallyCell, Words};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::arrays::{f64_array, i64_array, integers, Dims};
use crate::errors::OrRaise;

fn split_arrays<'py>(
    py: Python<'py>,
    dataset: &LabelledSequences,
) -> PyResult<Bound<'py, PyTuple>> {
    let indices: Vec<usize> = (0..dataset.len()).collect();
    let batch = dataset.batch(&indices).or_raise(py)?;
    let labels = batch.labels.iter().map(|&label| i64::from(label)).collect();
    PyTuple::new(
        py,
        [
            f64_array(py, &batch.shape(), batch.inputs)?,
            i64_array(py, &[dataset.len()], labels)?,
        ],
    )
}

/// psMNIST's three splits (SPEC.md D1-D6): the embedded subset (D5) or the four MNIST IDX
/// files of a folder, plain or gzipped, permuted bit for bit as numpy's
/// ``RandomState(seed).permutation(784)`` (D4).
///
/// Parameters
/// ----------
/// directory : str or os.PathLike, optional
///     The folder with the MNIST files (``bash data/fetch.sh`` makes ``data/full``); without
///     it, the embedded subset (2,500 train, 500 validation, 1,000 test by default).
/// recipe : {"keras_lmu_example", "nru"}
///     The split and permutation recipe: keras-lmu's docs example (D3, D4) or NRU's (D6).
/// permutation_seed : int
///     The numpy seed (0 for keras-lmu's example, 50 for NRU's).
/// validation_size : int, optional
///     Validation samples (default: 10,000 on disk, 500 embedded).
/// limit : int, optional
///     Keep only the first ``limit`` samples of each split.
///
/// Returns
/// -------
/// dict
///     ``train``, ``validation``, ``test``: ``(inputs, labels)`` with inputs float64
///     ``[n, 784, 1]`` and labels int64 ``[n]``; ``permutation``: int64 ``[784]``, the source
///     pixel of each step.
#[pyfunction]
#[pyo3(signature = (directory=None, *, recipe="keras_lmu_example", permutation_seed=0, validation_size=None, limit=None))]
pub fn load_psmnist<'py>(
    py: Python<'py>,
    directory: Option<PathBuf>,
    recipe: &str,
    permutation_seed: u32,
    validation_size: Option<usize>,
    limit: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let recipe = match recipe {
        "keras_lmu_example" => SplitRecipe::KerasLmuExample,
        "nru" => SplitRecipe::Nru,
        other => {
            return Err(HsnnError::invalid(
                "data.recipe",
                format!("must be \"keras_lmu_example\" or \"nru\", got {other:?}"),
            ))
            .or_raise(py)
        }
    };
    let options = LoadOptions {
        validation_size,
        pixel_order: PixelOrder::Permuted {
            seed: permutation_seed,
        },
        limit,
        recipe,
    };
    let split = py
        .detach(|| match &directory {
            Some(directory) => hsnn_data::load_psmnist(directory, &options),
            None => hsnn_data::embedded::load_embedded(&options),
        })
        .or_raise(py)?;
    let dict = PyDict::new(py);
    dict.set_item("train", split_arrays(py, &split.train)?)?;
    dict.set_item("validation", split_arrays(py, &split.validation)?)?;
    dict.set_item("test", split_arrays(py, &split.test)?)?;
    let permutation = split
        .permutation
        .iter()
        .map(|&index| index as i64)
        .collect();
    dict.set_item(
        "permutation",
        i64_array(py, &[split.permutation.len()], permutation)?,
    )?;
    Ok(dict)
}

/// The largest fan-out `bit_metrics` takes per neuron (B6): 2^20 targets.
const MAX_FAN_OUT: u64 = 1 << 20;

/// The bit metrics of one quantized site from its spike counts (SPEC.md B1-B6): what a port or
/// a chip model that records counts can measure with hsnn's definitions.
///
/// Parameters
/// ----------
/// counts : numpy.ndarray
///     int64 ``[batch, steps, neurons]``, the counts ``n_t`` (Q1).
/// activation : {"tanh", "relu", "identity"}
///     The site's base activation; it decides B1's sign bit.
/// site : {"hidden", "memory_input", "memory_state"}
///     Which site (N2).
/// fan_out, fan_out_last_step : numpy.ndarray, optional
///     int64 ``[neurons]``, targets of one event at every step but the last and at the last
///     (B6); without them the synaptic counts are 0.
///
/// Returns
/// -------
/// dict
///     B1's ``activity_bits`` and ``activity_bits_signed``, B2-B4's means, the histogram and
///     B5-B6's ``events``, as ``SiteMetrics`` of the results file.
#[pyfunction]
#[pyo3(signature = (counts, activation="tanh", site="hidden", fan_out=None, fan_out_last_step=None))]
pub fn bit_metrics<'py>(
    counts: &Bound<'py, PyAny>,
    activation: &str,
    site: &str,
    fan_out: Option<&Bound<'py, PyAny>>,
    fan_out_last_step: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = counts.py();
    let (shape, values) = integers(counts, "counts", &Dims(&["batch", "steps", "neurons"]))?;
    let activation = Activation::from_word("activation", activation).or_raise(py)?;
    let site = QuantizedSite::from_word("site", site).or_raise(py)?;
    let neurons = shape[2];
    let fan = |value: Option<&Bound<'py, PyAny>>, name: &str| -> PyResult<Vec<u64>> {
        match value {
            None => Ok(vec![0; neurons]),
            Some(value) => {
                let (_, values) = integers(value, name, &Dims(&["neurons"]))?;
                if values.len() != neurons {
                    return Err(HsnnError::ShapeMismatch {
                        name: name.into(),
                        expected: format!("{neurons} values (one per neuron)"),
                        found: format!("{} values", values.len()),
                    })
                    .or_raise(py);
                }
                // B6's sums are u64: a fan-out beyond any network's (2^20 targets) could make
                // them overflow on a large batch.
                values
                    .iter()
                    .map(|&value| {
                        u64::try_from(value)
                            .ok()
                            .filter(|&value| value <= MAX_FAN_OUT)
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        HsnnError::invalid(
                            name,
                            format!("must lie in 0..={MAX_FAN_OUT} per neuron"),
                        )
                    })
                    .or_raise(py)
            }
        }
    };
    let trace = SiteTrace {
        site,
        activation,
        batch: shape[0],
        steps: shape[1],
        neurons,
        fan_out: fan(fan_out, "fan_out")?,
        fan_out_last_step: fan(fan_out_last_step, "fan_out_last_step")?,
        counts: values.into(),
        integrator: Vec::new(),
        tally: None,
    };
    let mut accumulator = hsnn_reference::metrics::SiteMetricsAccumulator::new(&trace);
    accumulator.add(&trace).or_raise(py)?;
    pythonize::pythonize(py, &accumulator.finish()).or_raise(py)
}

/// The bit metrics of one quantized site over one or more forward passes (SPEC.md B1-B6), from
/// the site records that ``forward`` returns at trace level ``"tally"`` or ``"counts"`` (N3):
/// the passes are joined as one run, so a test set can be measured batch by batch without
/// holding its counts.
///
/// Parameters
/// ----------
/// records : dict or list of dict
///     Site records of one site (``forward(...)["trace"]["sites"][i]``), each with ``site``,
///     ``activation``, ``batch``, ``steps``, ``neurons``, ``fan_out``, ``fan_out_last_step``
///     and either ``tally`` (level tally) or ``counts`` (levels counts and full).
///
/// Returns
/// -------
/// dict
///     ``SiteMetrics`` of the results file, as :func:`bit_metrics` returns.
#[pyfunction]
pub fn site_metrics<'py>(records: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = records.py();
    let records: Vec<Bound<'py, PyAny>> = match records.cast::<PyDict>() {
        Ok(record) => vec![record.clone().into_any()],
        Err(_) => records
            .try_iter()
            .map_err(|_| {
                HsnnError::invalid("records", "must be a site record (dict) or a list of them")
            })
            .or_raise(py)?
            .collect::<PyResult<_>>()?,
    };
    let mut accumulator: Option<hsnn_reference::metrics::SiteMetricsAccumulator> = None;
    for (index, record) in records.iter().enumerate() {
        let trace = site_record(record, index)?;
        let accumulator = accumulator
            .get_or_insert_with(|| hsnn_reference::metrics::SiteMetricsAccumulator::new(&trace));
        accumulator.add(&trace).or_raise(py)?;
    }
    let accumulator = accumulator
        .ok_or_else(|| HsnnError::invalid("records", "must hold at least one site record"))
        .or_raise(py)?;
    pythonize::pythonize(py, &accumulator.finish()).or_raise(py)
}

/// Record `index` of [`site_metrics`]'s list as the [`SiteTrace`] it stands for.
fn site_record(record: &Bound<'_, PyAny>, index: usize) -> PyResult<SiteTrace> {
    let py = record.py();
    let invalid =
        |key: &str, reason: &str| invalid_item(py, format!("records[{index}].{key}"), reason);
    let record = record.cast::<PyDict>().map_err(|_| {
        invalid_item(
            py,
            format!("records[{index}]"),
            "must be a site record (dict)",
        )
    })?;
    let item = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        record
            .get_item(key)?
            .ok_or_else(|| invalid(key, "is missing"))
    };
    let size = |key: &str| -> PyResult<usize> {
        item(key)?
            .extract::<usize>()
            .map_err(|_| invalid(key, "must be a non-negative integer"))
    };
    // The words each choice lists (SPEC E1), named in the message as this record's field.
    let word = |key: &str| -> PyResult<String> {
        item(key)?
            .extract::<String>()
            .map_err(|_| invalid(key, "must be a word (str)"))
    };
    let site =
        QuantizedSite::from_word(&format!("records[{index}].site"), &word("site")?).or_raise(py)?;
    let activation = Activation::from_word(
        &format!("records[{index}].activation"),
        &word("activation")?,
    )
    .or_raise(py)?;
    let (batch, steps, neurons) = (size("batch")?, size("steps")?, size("neurons")?);
    let fan = |key: &str| -> PyResult<Vec<u64>> {
        let (_, values) = integers(&item(key)?, key, &Dims(&["neurons"]))?;
        values
            .iter()
            .map(|&value| u64::try_from(value).ok().filter(|&v| v <= MAX_FAN_OUT))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid(key, &format!("must lie in 0..={MAX_FAN_OUT} per neuron")))
    };
    let (fan_out, fan_out_last_step) = (fan("fan_out")?, fan("fan_out_last_step")?);
    let tally = record.get_item("tally")?.filter(|value| !value.is_none());
    let (counts, tally) = match tally {
        Some(tally) => (Vec::new(), Some(tally_of(&tally, index)?)),
        None => {
            let counts = item("counts")?;
            if counts.is_none() {
                return Err(invalid("counts", "is None and the record has no tally"));
            }
            let (shape, values) =
                integers(&counts, "counts", &Dims(&["batch", "steps", "neurons"]))?;
            if shape != [batch, steps, neurons] {
                return Err(invalid(
                    "counts",
                    "must be shaped [batch, steps, neurons] of the record",
                ));
            }
            (values, None)
        }
    };
    Ok(SiteTrace {
        site,
        activation,
        batch,
        steps,
        neurons,
        fan_out,
        fan_out_last_step,
        counts: counts.into(),
        integrator: Vec::new(),
        tally,
    })
}

/// A ``tally`` dict of a site record (``steps`` and ``last_step``, each with int64 arrays
/// ``neuron``, ``count``, ``times`` of equal length) as a [`CountTally`]; its agreement with
/// the record's shape is checked where it is added (B5).
fn tally_of(tally: &Bound<'_, PyAny>, index: usize) -> PyResult<CountTally> {
    let py = tally.py();
    let invalid =
        |key: &str, reason: &str| invalid_item(py, format!("records[{index}].tally.{key}"), reason);
    let cells = |kind: &str| -> PyResult<Vec<TallyCell>> {
        let columns = tally
            .get_item(kind)
            .map_err(|_| invalid(kind, "is missing"))?;
        let column = |name: &str| -> PyResult<Vec<i64>> {
            let value = columns
                .get_item(name)
                .map_err(|_| invalid(&format!("{kind}.{name}"), "is missing"))?;
            Ok(integers(&value, name, &Dims(&["cells"]))?.1)
        };
        let (neurons, counts, times) = (column("neuron")?, column("count")?, column("times")?);
        if neurons.len() != counts.len() || neurons.len() != times.len() {
            return Err(invalid(
                kind,
                "must hold neuron, count and times of equal length",
            ));
        }
        neurons
            .iter()
            .zip(&counts)
            .zip(&times)
            .map(|((&neuron, &count), &times)| {
                match (usize::try_from(neuron), u64::try_from(times)) {
                    (Ok(neuron), Ok(times)) if times > 0 => Ok(TallyCell {
                        neuron,
                        count,
                        times,
                    }),
                    _ => Err(invalid(kind, "must hold neurons >= 0 and times >= 1")),
                }
            })
            .collect()
    };
    Ok(CountTally {
        steps: cells("steps")?,
        last_step: cells("last_step")?,
    })
}

/// An `InvalidConfigError` for the item `name` of an argument.
fn invalid_item(py: Python<'_>, name: String, reason: &str) -> PyErr {
    let error = HsnnError::invalid(name, reason.to_string());
    crate::errors::raise(py, crate::errors::class_of(&error), error.to_string())
}

/// The names of the built-in device profiles (SPEC.md H11, `hardware/devices/`), in file
/// order: what ``Hardware.energy`` accepts.
///
/// Returns
/// -------
/// list of str
///     Every built-in device's name.
#[pyfunction]
pub fn device_names() -> Vec<String> {
    hsnn_hardware::energy::builtin_devices()
        .into_iter()
        .map(|device| device.name)
        .collect()
}
