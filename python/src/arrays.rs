//! numpy arrays in and out. Arguments are checked here, naming the Python argument: a wrong
//! dtype, a wrong number of dimensions, a non-contiguous array or a non-finite value is an
//! exception, never a silent cast (SPEC.md clause E1). Results move into numpy without a copy.

use hsnn_spec::{HsnnError, Tensor2};
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{
    dtype, IntoPyArray, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::{raise, OrRaise};

/// The dimensions each argument must have, in words, for messages: `[batch, steps, features]`.
pub struct Dims<'a>(pub &'a [&'a str]);

fn untyped<'py>(
    value: &Bound<'py, PyAny>,
    name: &str,
    dims: &Dims,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = value.py();
    let array = value.cast::<PyUntypedArray>().map_err(|_| {
        let type_name = value
            .get_type()
            .name()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "?".into());
        raise(
            py,
            "DtypeError",
            format!(
                "`{name}` must be a numpy array [{}], got a {type_name}; make one with \
                 numpy.asarray({name}, dtype=...)",
                dims.0.join(", ")
            ),
        )
    })?;
    if array.ndim() != dims.0.len() {
        return Err(HsnnError::ShapeMismatch {
            name: name.into(),
            expected: format!("a {}-d array [{}]", dims.0.len(), dims.0.join(", ")),
            found: format!("a {}-d array of shape {:?}", array.ndim(), array.shape()),
        })
        .or_raise(py);
    }
    if !array.is_c_contiguous() {
        return Err(raise(
            py,
            "LayoutError",
            format!(
                "`{name}` is not C-contiguous (a view with strides); pass \
                 numpy.ascontiguousarray({name})"
            ),
        ));
    }
    Ok(array.clone())
}

fn wrong_dtype(
    py: Python<'_>,
    name: &str,
    array: &Bound<'_, PyUntypedArray>,
    wanted: &str,
) -> PyErr {
    let found = array
        .dtype()
        .str()
        .map(|text| text.to_string())
        .unwrap_or_else(|_| "?".into());
    raise(
        py,
        "DtypeError",
        format!(
            "`{name}` must have dtype {wanted}, got {found}; hsnn does not cast silently: \
             convert with {name}.astype(numpy.{wanted})"
        ),
    )
}

/// A C-contiguous float64 array of `dims.len()` dimensions with finite values: its shape and
/// a copy of its values (row-major).
pub fn floats(
    value: &Bound<'_, PyAny>,
    name: &str,
    dims: &Dims,
) -> PyResult<(Vec<usize>, Vec<f64>)> {
    let py = value.py();
    let array = untyped(value, name, dims)?;
    if !array.dtype().is_equiv_to(&dtype::<f64>(py)) {
        return Err(wrong_dtype(py, name, &array, "float64"));
    }
    let typed = array.cast::<PyArrayDyn<f64>>()?.readonly();
    let values = typed
        .as_slice()
        .map_err(|_| raise(py, "LayoutError", format!("`{name}` is not contiguous")))?;
    hsnn_spec::tensor::check_finite(name, values).or_raise(py)?;
    Ok((array.shape().to_vec(), values.to_vec()))
}

/// A C-contiguous int64 array of `dims.len()` dimensions: its shape and values.
pub fn integers(
    value: &Bound<'_, PyAny>,
    name: &str,
    dims: &Dims,
) -> PyResult<(Vec<usize>, Vec<i64>)> {
    let py = value.py();
    let array = untyped(value, name, dims)?;
    if !array.dtype().is_equiv_to(&dtype::<i64>(py)) {
        return Err(wrong_dtype(py, name, &array, "int64"));
    }
    let typed = array.cast::<PyArrayDyn<i64>>()?.readonly();
    let values = typed
        .as_slice()
        .map_err(|_| raise(py, "LayoutError", format!("`{name}` is not contiguous")))?;
    Ok((array.shape().to_vec(), values.to_vec()))
}

/// A 2-d float64 array as a [`Tensor2`].
pub fn tensor(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Tensor2> {
    let (shape, data) = floats(value, name, &Dims(&["rows", "cols"]))?;
    Tensor2::from_row_major(shape[0], shape[1], data).or_raise(value.py())
}

/// Class labels: a 1-d int64 array of values in `0..classes`.
pub fn labels(value: &Bound<'_, PyAny>, name: &str, classes: usize) -> PyResult<Vec<usize>> {
    let py = value.py();
    let (_, values) = integers(value, name, &Dims(&["batch"]))?;
    values
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            usize::try_from(label)
                .ok()
                .filter(|&label| label < classes)
                .ok_or_else(|| {
                    HsnnError::invalid(
                        format!("{name}[{index}]"),
                        format!("must be a class in 0..{classes}, got {label}"),
                    )
                })
        })
        .collect::<Result<_, _>>()
        .or_raise(py)
}

/// `values` as a numpy array of `shape` (no copy: the vector becomes the array's buffer).
pub fn f64_array<'py>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    shaped(py, shape, values)
}

/// `values` as a numpy int64 array of `shape` (no copy).
pub fn i64_array<'py>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<i64>,
) -> PyResult<Bound<'py, PyAny>> {
    shaped(py, shape, values)
}

fn shaped<'py, T: numpy::Element>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    // A backend's result that does not fill its declared shape is hsnn's bug, not the
    // caller's: say so rather than hand back a wrong array.
    let count = values.len();
    let wrong = |_| {
        raise(
            py,
            "NumericalError",
            format!("internal error: {count} values do not fill shape {shape:?}; please report"),
        )
    };
    Ok(match *shape {
        [n] => Array1::from_shape_vec(n, values)
            .map_err(wrong)?
            .into_pyarray(py)
            .into_any(),
        [r, c] => Array2::from_shape_vec((r, c), values)
            .map_err(wrong)?
            .into_pyarray(py)
            .into_any(),
        [a, b, c] => Array3::from_shape_vec((a, b, c), values)
            .map_err(wrong)?
            .into_pyarray(py)
            .into_any(),
        _ => {
            return Err(raise(
                py,
                "ShapeMismatchError",
                format!("unsupported shape {shape:?}"),
            ))
        }
    })
}

/// A [`Tensor2`] as a 2-d float64 array (no copy).
pub fn tensor_array(py: Python<'_>, tensor: Tensor2) -> PyResult<Bound<'_, PyAny>> {
    f64_array(py, &[tensor.rows, tensor.cols], tensor.data)
}
