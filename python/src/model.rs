//! `hsnn.Model`: a model file's contents (SPEC.md clause E2) from Python.

use std::path::PathBuf;

use hsnn_spec::{HsnnError, Model, NetworkConfig, Weights};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{tensor, tensor_array};
use crate::errors::OrRaise;
use hsnn_spec::fixed::{ConversionOptions, FixedModel};
use hsnn_train::model_file::ModelFile;

/// A network configuration and its weights, as a model file holds them (SPEC.md E2, N4).
///
/// Load one with ``Model.load(path)``, build one with ``Model.from_config(config, weights)``
/// or ``Model.initial(config, seed)`` (T6).
#[pyclass(name = "Model", module = "hsnn", frozen)]
#[derive(Clone)]
pub struct PyModel {
    /// The model, validated.
    pub model: Model,
}

/// The configuration dict of the experiment and model files as a [`NetworkConfig`].
pub fn network_config(config: &Bound<'_, PyAny>) -> PyResult<NetworkConfig> {
    let py = config.py();
    let parsed: NetworkConfig = pythonize::depythonize(config)
        .map_err(|error| HsnnError::Parse {
            what: "config".into(),
            reason: error.to_string(),
        })
        .or_raise(py)?;
    parsed.validate().or_raise(py)?;
    Ok(parsed)
}

#[pymethods]
impl PyModel {
    /// Reads a model file, plain JSON or gzipped (SPEC.md E2; the checksum of version 2 is
    /// verified).
    ///
    /// Parameters
    /// ----------
    /// path : str or os.PathLike
    ///     The file, e.g. ``models/psmnist-paper/model-spiking.json.gz``.
    ///
    /// Raises
    /// ------
    /// FileError, ParseError, FormatVersionError, ShapeMismatchError
    ///     With the Rust message, naming the file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        match py
            .detach(|| hsnn_train::model_file::read_any_model(&path))
            .or_raise(py)?
        {
            ModelFile::Model(model) => Ok(PyModel { model: *model }),
            ModelFile::Fixed(_) => Err(hsnn_train::TrainError::Usage(format!(
                "{} is a fixed model file (SPEC.md H9): read it with hsnn.FixedModel.load",
                path.display()
            )))
            .or_raise(py),
        }
    }

    /// The model converted to the fixed-point network of SPEC.md H (H9): every integer,
    /// table and shift a chip needs, at the model's placement and dt.
    ///
    /// Parameters
    /// ----------
    /// options : dict, optional
    ///     ``ConversionOptions`` of H9 (``weight_bits``, ...); default: the CLI's defaults.
    #[pyo3(signature = (options=None))]
    fn convert(
        &self,
        py: Python<'_>,
        options: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyFixedModel> {
        let options = conversion_options(py, options)?;
        let fixed = py
            .detach(|| hsnn_reference::compiler::convert(&self.model, &options))
            .or_raise(py)?;
        Ok(PyFixedModel { fixed })
    }

    /// Writes the model file (SPEC.md E2), atomically: a failed write leaves any previous file
    /// intact.
    ///
    /// Parameters
    /// ----------
    /// path : str or os.PathLike
    ///     Where to write it (plain JSON).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.model.save(&path)).or_raise(py)
    }

    /// A model from a configuration and its weights (SPEC.md N4).
    ///
    /// Parameters
    /// ----------
    /// config : dict
    ///     The ``config`` object of a model file: ``{"lmu": {...}, "output_size": ...,
    ///     "quantizer": {...}}``.
    /// weights : dict of str to numpy.ndarray or None
    ///     Every weight of N4 by name, 2-d float64 C-contiguous; optional weights the
    ///     configuration disables are ``None`` or absent.
    ///
    /// Raises
    /// ------
    /// ParseError, InvalidConfigError, ShapeMismatchError, NonFiniteError, DtypeError
    #[staticmethod]
    fn from_config(config: &Bound<'_, PyAny>, weights: &Bound<'_, PyDict>) -> PyResult<Self> {
        let py = config.py();
        let config = network_config(config)?;
        let mut built = Weights::zeros(&config);
        let known: Vec<&'static str> = Weights::zeros(&config)
            .named()
            .iter()
            .map(|(name, _)| *name)
            .collect();
        for (key, value) in weights.iter() {
            let name: String = key.extract()?;
            let field = format!("weights.{name}");
            let slot: &mut Option<hsnn_spec::Tensor2> = match name.as_str() {
                "encoder_hidden" => &mut built.encoder_hidden,
                "encoder_memory" => &mut built.encoder_memory,
                "kernel_input" => &mut built.kernel_input,
                _ => {
                    let target = match name.as_str() {
                        "encoder_input" => &mut built.encoder_input,
                        "kernel_hidden" => &mut built.kernel_hidden,
                        "kernel_memory" => &mut built.kernel_memory,
                        "readout_kernel" => &mut built.readout_kernel,
                        "readout_bias" => &mut built.readout_bias,
                        _ => {
                            return Err(HsnnError::invalid(
                                field,
                                format!("is not a weight of the network (N4): {known:?}"),
                            ))
                            .or_raise(py)
                        }
                    };
                    *target = tensor(&value, &field)?;
                    continue;
                }
            };
            *slot = if value.is_none() {
                None
            } else {
                Some(tensor(&value, &field)?)
            };
        }
        for (name, _) in Weights::zeros(&config).named() {
            if !weights.contains(name)? {
                return Err(HsnnError::ShapeMismatch {
                    name: format!("weights.{name}"),
                    expected: "a tensor (the configuration needs it)".into(),
                    found: "no tensor".into(),
                })
                .or_raise(py);
            }
        }
        Ok(PyModel {
            model: Model::new(config, built).or_raise(py)?,
        })
    }

    /// The initial weights of SPEC.md T6 for `config`, drawn from `seed`: what training starts
    /// from.
    ///
    /// Parameters
    /// ----------
    /// config : dict
    ///     The network configuration.
    /// seed : int
    ///     The experiment's seed.
    #[staticmethod]
    fn initial(config: &Bound<'_, PyAny>, seed: u64) -> PyResult<Self> {
        let py = config.py();
        let config = network_config(config)?;
        let weights = hsnn_train::initialization::initial_weights(&config, seed);
        Ok(PyModel {
            model: Model::new(config, weights).or_raise(py)?,
        })
    }

    /// The same weights with the quantizer placed at `placement` and run at `dt` (SPEC.md N2,
    /// Q1); ``None`` keeps the current value.
    ///
    /// Parameters
    /// ----------
    /// placement : str, optional
    ///     A set of sites (N2): ``"none"``, a site (``"hidden"``, ``"memory_input"``,
    ///     ``"memory_state"``), ``"both"`` (hidden and memory input), or sites joined by
    ///     ``"+"``, e.g. ``"hidden+memory_state"``.
    /// dt : float, optional
    #[pyo3(signature = (placement=None, dt=None))]
    fn with_quantizer(
        &self,
        py: Python<'_>,
        placement: Option<&Bound<'_, PyAny>>,
        dt: Option<f64>,
    ) -> PyResult<Self> {
        let mut model = self.model.clone();
        if let Some(placement) = placement {
            model.config.quantizer.placement = pythonize::depythonize(placement)
                .map_err(|error| HsnnError::invalid("quantizer.placement", error.to_string()))
                .or_raise(py)?;
        }
        if let Some(dt) = dt {
            model.config.quantizer.dt = dt;
        }
        model.validate().or_raise(py)?;
        Ok(PyModel { model })
    }

    /// The model as plain Python values: ``{"format", "format_version", "config": dict,
    /// "weights": {name: ndarray or None}, "provenance": dict or None, "import": dict or
    /// None}`` (the fields of a model file, SPEC.md E2, K1).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("format", &self.model.format)?;
        dict.set_item("format_version", self.model.format_version)?;
        dict.set_item("config", self.config(py)?)?;
        dict.set_item("weights", weights_dict(py, &self.model.weights)?)?;
        let provenance = match &self.model.provenance {
            Some(provenance) => pythonize::pythonize(py, provenance).or_raise(py)?,
            None => py.None().into_bound(py),
        };
        dict.set_item("provenance", provenance)?;
        let import = match &self.model.import {
            Some(import) => pythonize::pythonize(py, import).or_raise(py)?,
            None => py.None().into_bound(py),
        };
        dict.set_item("import", import)?;
        Ok(dict)
    }

    /// The network configuration as a dict (SPEC.md N4).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.model.config).or_raise(py)
    }

    /// SHA-256 of the model's contents, as E2's checksum is computed.
    fn content_checksum(&self) -> String {
        self.model.content_checksum()
    }

    fn __repr__(&self) -> String {
        let config = &self.model.config;
        format!(
            "Model(hidden_size={}, order={}, theta={}, placement={:?}, dt={})",
            config.lmu.hidden_size,
            config.lmu.order,
            config.lmu.theta,
            config.quantizer.placement,
            config.quantizer.dt
        )
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.model == other.model
    }
}

/// Every weight by its N4 name: a 2-d array, or `None` for an absent optional weight.
pub fn weights_dict<'py>(py: Python<'py>, weights: &Weights) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    let optional = [
        ("encoder_hidden", &weights.encoder_hidden),
        ("encoder_memory", &weights.encoder_memory),
        ("kernel_input", &weights.kernel_input),
    ];
    for (name, tensor) in weights.named() {
        dict.set_item(name, tensor_array(py, tensor.clone())?)?;
    }
    for (name, tensor) in optional {
        if tensor.is_none() {
            dict.set_item(name, py.None())?;
        }
    }
    Ok(dict)
}

/// Conversion options of H9 from a dict (absent fields take their defaults), validated.
pub fn conversion_options(
    py: Python<'_>,
    options: Option<&Bound<'_, PyAny>>,
) -> PyResult<ConversionOptions> {
    let options: ConversionOptions = match options {
        None => Default::default(),
        Some(options) => pythonize::depythonize(options)
            .map_err(|error| HsnnError::Parse {
                what: "conversion options".into(),
                reason: error.to_string(),
            })
            .or_raise(py)?,
    };
    options.validate().or_raise(py)?;
    Ok(options)
}

/// A fixed model (SPEC.md H9): the integer network a chip runs, made by ``Model.convert`` or
/// read from a fixed model file; ``Hardware(fixed=...)`` runs it as it is.
#[pyclass(name = "FixedModel", module = "hsnn", frozen)]
#[derive(Clone)]
pub struct PyFixedModel {
    /// The fixed model, validated.
    pub fixed: FixedModel,
}

#[pymethods]
impl PyFixedModel {
    /// Reads a fixed model file, plain or gzipped (SPEC.md H9, E2).
    ///
    /// Parameters
    /// ----------
    /// path : str or os.PathLike
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        match py
            .detach(|| hsnn_train::model_file::read_any_model(&path))
            .or_raise(py)?
        {
            ModelFile::Fixed(fixed) => Ok(PyFixedModel { fixed: *fixed }),
            ModelFile::Model(_) => Err(hsnn_train::TrainError::Usage(format!(
                "{} is a model file (SPEC.md E2), not a fixed model: read it with \
                 hsnn.Model.load and convert it with Model.convert",
                path.display()
            )))
            .or_raise(py),
        }
    }

    /// Writes the fixed model file (SPEC.md H9), atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.fixed.save(&path)).or_raise(py)
    }

    /// The fixed model file's contents as plain Python values (H9's fields).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.fixed).or_raise(py)
    }

    /// The network configuration it was made from (N4).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.fixed.config).or_raise(py)
    }

    /// The conversion options it was made with (H9).
    #[getter]
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize::pythonize(py, &self.fixed.options).or_raise(py)
    }

    fn __repr__(&self) -> String {
        format!(
            "FixedModel(weight_bits={}, placement={:?}, dt={})",
            self.fixed.options.weight_bits,
            self.fixed.config.quantizer.placement,
            self.fixed.config.quantizer.dt
        )
    }
}
