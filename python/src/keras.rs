//! Keras models in and out from Python (SPEC.md section K): the native half of
//! `hsnn.keras`. The layout rules are hsnn-train's (`hsnn_train::keras`); this file only
//! converts.

use std::path::PathBuf;

use numpy::PyArrayMethods;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::errors::OrRaise;
use crate::model::PyModel;

/// Imports a Keras file into an hsnn model (SPEC.md K1, K2): the paper's Keras 2 HDF5, a
/// keras-lmu 0.9 ``.keras`` archive, or a ``.weights.h5`` with ``keras_config``.
///
/// Parameters
/// ----------
/// path : str or os.PathLike
///     The Keras file.
/// keras_config : str or None
///     For a ``.weights.h5``: the model's configuration, the text of ``model.to_json()``.
/// source_name : str or None
///     What the model's provenance records as the source file (default: the file's name).
///
/// Returns
/// -------
/// Model
///     Format 3, recording the source file, its SHA-256 and layout.
///
/// Raises
/// ------
/// KerasImportError
///     Naming the layer and the variable hsnn cannot express.
/// FileError
///     When the file cannot be read.
#[pyfunction]
#[pyo3(signature = (path, keras_config=None, source_name=None))]
pub fn import_keras_file(
    py: Python<'_>,
    path: PathBuf,
    keras_config: Option<String>,
    source_name: Option<String>,
) -> PyResult<PyModel> {
    let model = py
        .detach(|| -> hsnn_train::TrainResult<hsnn_spec::Model> {
            let origin = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|source| hsnn_spec::HsnnError::Io {
                action: "cannot read Keras file".into(),
                path: origin.clone(),
                source,
            })?;
            let name = source_name.unwrap_or_else(|| {
                path.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| origin.clone())
            });
            hsnn_train::keras::import_bytes(bytes, &origin, &name, keras_config.as_deref())
        })
        .or_raise(py)?;
    Ok(PyModel { model })
}

/// The keras-lmu 0.9 description of an hsnn model (SPEC.md K3): the ``LMUCell`` and hidden
/// ``SimpleRNNCell`` arguments, the readout's units, and the variables in
/// ``model.get_weights()`` order as float64 arrays.
///
/// Parameters
/// ----------
/// model : Model
///
/// Returns
/// -------
/// dict
///     ``{"cell": dict, "output_units": int, "variables": [(name, ndarray), ...]}``.
#[pyfunction]
pub fn keras_export<'py>(py: Python<'py>, model: &PyModel) -> PyResult<Bound<'py, PyDict>> {
    let export = hsnn_train::keras::export(&model.model);
    let dict = PyDict::new(py);
    dict.set_item(
        "cell",
        pythonize::pythonize(py, &serde_json::Value::Object(export.cell)).or_raise(py)?,
    )?;
    dict.set_item("output_units", export.output_units)?;
    let variables = PyList::empty(py);
    for (name, shape, values) in export.variables {
        let array = numpy::PyArray1::from_vec(py, values).reshape(shape)?;
        variables.append((name, array))?;
    }
    dict.set_item("variables", variables)?;
    Ok(dict)
}
