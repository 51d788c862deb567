//! Keras models in and out (SPEC.md section K): the paper's own trained LMU (a Keras 2.2.4 HDF5
//! file written by the original `LMUCell`) and keras-lmu 0.9 models (`.keras` archives, or
//! `.weights.h5` files with the model's configuration) become hsnn model files; hsnn models
//! give the keras-lmu 0.9 variables they map to.
//!
//! HDF5 is read with `hdf5-pure` and `.keras` archives with `zip`: no hand-written parser of
//! either format. The layout rules (which Keras variable is which hsnn weight, clause K1) live
//! here once, for both directions; the Python package builds and saves Keras objects around
//! them and holds none of its own.

use std::collections::BTreeMap;
use std::path::Path;

use hsnn_spec::{
    Activation, Discretizer, FixedMatrixCheck, HsnnError, ImportProvenance, LmuConfig, Model,
    NetworkConfig, QuantizerConfig, RecurrentConnections, Tensor2, Weights,
};
use serde_json::Value;

use crate::{TrainError, TrainResult};

/// The program recorded in an imported model's provenance.
pub const GENERATOR: &str = concat!(
    "hsnn-train ",
    env!("CARGO_PKG_VERSION"),
    " (hsnn import keras)"
);

/// The layouts the importer reads (SPEC.md clause K1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KerasLayout {
    /// The paper's file: a whole Keras 2 model in HDF5 (`model_config` attribute, weights under
    /// `model_weights/<layer>/`), its recurrent layer an original `LMUCell`.
    Keras2LmuPaperHdf5,
    /// A keras-lmu 0.9 model saved by Keras 3 as a `.keras` archive (`config.json` and
    /// `model.weights.h5` in a zip file).
    KerasLmuArchive,
    /// A keras-lmu 0.9 model's `.weights.h5` (Keras 3), with its configuration given apart.
    KerasLmuWeightsH5,
}

impl KerasLayout {
    /// The name recorded in model files (`import.layout`).
    pub fn name(self) -> &'static str {
        match self {
            KerasLayout::Keras2LmuPaperHdf5 => "keras2_lmu_paper_hdf5",
            KerasLayout::KerasLmuArchive => "keras_lmu_0.9_keras_archive",
            KerasLayout::KerasLmuWeightsH5 => "keras_lmu_0.9_weights_h5",
        }
    }
}

/// Bound on `|file - f32(hsnn)|` for the fixed memory matrices a file stores, relative to the
/// largest entry of the matrix (SPEC.md clause K2): a few units in the last place of binary32,
/// so two computations of the same matrix in binary32 agree and a different `theta`, order or
/// discretizer does not.
pub const FIXED_MATRIX_TOLERANCE_ULPS: f64 = 16.0;

/// The error of an import: the file and what is wrong with it.
fn refuse(origin: &str, reason: impl Into<String>) -> TrainError {
    TrainError::Import {
        file: origin.to_string(),
        reason: reason.into(),
    }
}

const HDF5_MAGIC: &[u8] = b"\x89HDF\r\n\x1a\n";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Imports a Keras file into an hsnn model (format 3, SPEC.md clauses K1, K2, E2).
///
/// `path` is the paper's HDF5 file, a `.keras` archive, or a `.weights.h5` file; the latter
/// needs `keras_config`, the model's configuration as `model.to_json()` writes it (or a
/// `config.json` taken from a `.keras` archive). The kind of file is told by its first bytes,
/// not its name. Everything hsnn cannot express is refused with an error naming the layer and
/// the variable; nothing is written.
pub fn import_file(path: &Path, keras_config: Option<&Path>) -> TrainResult<Model> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| HsnnError::Io {
        action: "cannot read Keras file".into(),
        path: origin.clone(),
        source,
    })?;
    let config_text = match keras_config {
        None => None,
        Some(config_path) => {
            Some(
                std::fs::read_to_string(config_path).map_err(|source| HsnnError::Io {
                    action: "cannot read Keras model configuration".into(),
                    path: config_path.display().to_string(),
                    source,
                })?,
            )
        }
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| origin.clone());
    import_bytes(bytes, &origin, &name, config_text.as_deref())
}

/// [`import_file`] on bytes already read: `origin` names the file in errors, `source_file` is
/// what the model's provenance records.
pub fn import_bytes(
    bytes: Vec<u8>,
    origin: &str,
    source_file: &str,
    keras_config: Option<&str>,
) -> TrainResult<Model> {
    let source_sha256 = hsnn_spec::model::sha256_hex(&bytes);
    let imported = if bytes.starts_with(HDF5_MAGIC) {
        let file = open_hdf5(bytes, origin)?;
        let root_attributes = file
            .root()
            .attrs()
            .map_err(|error| refuse(origin, format!("unreadable HDF5 attributes: {error}")))?;
        match (root_attributes.get("model_config"), keras_config) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    origin,
                    "the file holds its own model configuration; give no separate one",
                ))
            }
            (Some(config), None) => {
                let config = attribute_text(config).ok_or_else(|| {
                    refuse(origin, "its `model_config` attribute is not a string")
                })?;
                let keras_version = root_attributes
                    .get("keras_version")
                    .and_then(attribute_text);
                read_keras2_paper(&file, origin, &config, keras_version)?
            }
            (None, Some(config)) => {
                read_keras3(&file, origin, config, KerasLayout::KerasLmuWeightsH5, None)?
            }
            (None, None) => {
                return Err(refuse(
                    origin,
                    "an HDF5 file without a model configuration (a Keras 3 `.weights.h5`?): \
                     give the model's configuration too (`--keras-config CONFIG.json`, the \
                     text of `model.to_json()`), or import the `.keras` file",
                ))
            }
        }
    } else if bytes.starts_with(ZIP_MAGIC) {
        if keras_config.is_some() {
            return Err(refuse(
                origin,
                "a .keras archive holds its own configuration; give no separate one",
            ));
        }
        let (config, weights, keras_version) = read_archive(bytes, origin)?;
        let file = open_hdf5(weights, &format!("{origin} (model.weights.h5)"))?;
        read_keras3(
            &file,
            origin,
            &config,
            KerasLayout::KerasLmuArchive,
            keras_version,
        )?
    } else {
        return Err(refuse(
            origin,
            "not a Keras file: neither HDF5 (the paper's file, .weights.h5) nor a zip archive \
             (.keras) by its first bytes",
        ));
    };
    let Imported {
        config,
        weights,
        layout,
        keras_version,
        layers,
        fixed_matrix_check,
    } = imported;
    let model = Model::new(config, weights)?;
    Ok(model.with_import(ImportProvenance {
        generator: GENERATOR.into(),
        source_file: source_file.into(),
        source_sha256,
        layout: layout.name().into(),
        keras_version,
        layers,
        fixed_matrix_check,
    }))
}

/// What a reader of one layout gives back.
struct Imported {
    config: NetworkConfig,
    weights: Weights,
    layout: KerasLayout,
    keras_version: Option<String>,
    layers: Vec<String>,
    fixed_matrix_check: Option<FixedMatrixCheck>,
}

fn open_hdf5(bytes: Vec<u8>, origin: &str) -> TrainResult<hdf5_pure::File> {
    hdf5_pure::File::from_bytes(bytes).map_err(|error| {
        refuse(
            origin,
            format!("unreadable HDF5 (truncated or damaged?): {error}"),
        )
    })
}

fn attribute_text(value: &hdf5_pure::AttrValue) -> Option<String> {
    use hdf5_pure::AttrValue;
    match value {
        AttrValue::String(text)
        | AttrValue::AsciiString(text)
        | AttrValue::VarLenString(text)
        | AttrValue::VarLenAsciiString(text) => Some(text.clone()),
        AttrValue::StringSized { value, .. } | AttrValue::AsciiStringSized { value, .. } => {
            Some(value.clone())
        }
        _ => None,
    }
}

fn attribute_texts(value: &hdf5_pure::AttrValue) -> Option<Vec<String>> {
    use hdf5_pure::AttrValue;
    match value {
        AttrValue::StringArray(texts)
        | AttrValue::AsciiStringArray(texts)
        | AttrValue::VarLenAsciiCharArray(texts)
        | AttrValue::VarLenStringArray(texts)
        | AttrValue::VarLenAsciiStringArray(texts) => Some(texts.clone()),
        AttrValue::StringArraySized { values, .. }
        | AttrValue::AsciiStringArraySized { values, .. } => Some(values.clone()),
        other => attribute_text(other).map(|text| vec![text]),
    }
}

/// One stored array: its shape and its values widened to f64 (exact for binary32).
struct Array {
    shape: Vec<usize>,
    values: Vec<f64>,
}

impl Array {
    /// As an hsnn tensor of `rows x cols`: a 1-d array of `cols` values is one row; anything
    /// else must have exactly that shape. `what` names the layer and variable.
    fn tensor(&self, rows: usize, cols: usize, origin: &str, what: &str) -> TrainResult<Tensor2> {
        let fits = match self.shape.as_slice() {
            [length] => rows == 1 && *length == cols,
            [r, c] => *r == rows && *c == cols,
            _ => false,
        };
        if !fits {
            return Err(refuse(
                origin,
                format!(
                    "{what} has shape {:?} where {rows} x {cols} was expected",
                    self.shape
                ),
            ));
        }
        if let Some((index, value)) = self
            .values
            .iter()
            .enumerate()
            .find(|(_, value)| !value.is_finite())
        {
            return Err(refuse(
                origin,
                format!("{what} holds a non-finite value ({value}) at flat index {index}"),
            ));
        }
        Ok(Tensor2::from_row_major(rows, cols, self.values.clone())?)
    }

    fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    fn cols(&self) -> usize {
        match self.shape.as_slice() {
            [length] => *length,
            [_, cols] => *cols,
            _ => 0,
        }
    }
}

fn read_array(file: &hdf5_pure::File, path: &str, origin: &str, what: &str) -> TrainResult<Array> {
    let dataset = file
        .dataset(path)
        .map_err(|error| refuse(origin, format!("{what}: no dataset {path} ({error})")))?;
    let shape = dataset
        .shape()
        .map_err(|error| refuse(origin, format!("{what}: unreadable shape ({error})")))?
        .into_iter()
        .map(|extent| usize::try_from(extent).unwrap_or(usize::MAX))
        .collect::<Vec<_>>();
    let values = match dataset.dtype() {
        Ok(hdf5_pure::DType::F32) => dataset
            .read_f32()
            .map(|values| values.into_iter().map(f64::from).collect::<Vec<_>>()),
        Ok(hdf5_pure::DType::F64) => dataset.read_f64(),
        Ok(other) => {
            return Err(refuse(
                origin,
                format!("{what} is of type {other:?}, not a float32 or float64 array"),
            ))
        }
        Err(error) => return Err(refuse(origin, format!("{what}: unreadable type ({error})"))),
    }
    .map_err(|error| {
        refuse(
            origin,
            format!("{what}: unreadable data, truncated file? ({error})"),
        )
    })?;
    let expected: usize = shape.iter().product();
    if values.len() != expected || shape.len() > 2 {
        return Err(refuse(
            origin,
            format!(
                "{what} has shape {shape:?} but {} values (or more than 2 dimensions)",
                values.len()
            ),
        ));
    }
    Ok(Array { shape, values })
}

// ---------------------------------------------------------------------------------------------
// The paper's Keras 2 HDF5 (clause K1, first layout).

/// The variables of the original `LMUCell`, by the name Keras 2 gives them (`<name>:0`).
const PAPER_CELL_VARIABLES: [&str; 8] = [
    "input_encoders",
    "hidden_encoders",
    "memory_encoders",
    "input_kernel",
    "hidden_kernel",
    "memory_kernel",
    "AT",
    "BT",
];

fn parse_json(text: &str, origin: &str, what: &str) -> TrainResult<Value> {
    serde_json::from_str(text)
        .map_err(|error| refuse(origin, format!("{what} is not valid JSON: {error}")))
}

/// The layers of a Sequential model's configuration, input layers left out.
/// The recurrent layer and the Dense readout of a Sequential model's configuration (clause K2):
/// exactly two layers besides the input, or a refusal listing what the model has instead.
fn recurrent_and_readout<'a>(
    config: &'a Value,
    origin: &str,
    recurrent: &str,
) -> TrainResult<(&'a Value, &'a Value)> {
    let layers = sequential_layers(config, origin)?;
    match layers.as_slice() {
        [first, second] => Ok((first, second)),
        _ => Err(refuse(
            origin,
            format!(
                "the model has {} layers ({}); hsnn reads {recurrent} followed by a Dense \
                 readout",
                layers.len(),
                layers
                    .iter()
                    .map(|layer| class_name(layer))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn sequential_layers<'a>(config: &'a Value, origin: &str) -> TrainResult<Vec<&'a Value>> {
    let class = config.get("class_name").and_then(Value::as_str);
    if class != Some("Sequential") {
        return Err(refuse(
            origin,
            format!(
                "the model is a {}, not a Sequential model of a recurrent LMU layer and a \
                 Dense readout (rebuild it as keras.Sequential)",
                class.unwrap_or("<no class_name>")
            ),
        ));
    }
    let layers = config
        .get("config")
        .and_then(|inner| inner.get("layers").or(Some(inner)))
        .and_then(Value::as_array)
        .ok_or_else(|| refuse(origin, "the model configuration lists no layers"))?;
    Ok(layers
        .iter()
        .filter(|layer| layer.get("class_name").and_then(Value::as_str) != Some("InputLayer"))
        .collect())
}

fn layer_name(layer: &Value) -> String {
    layer
        .get("config")
        .and_then(|config| config.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>")
        .to_string()
}

fn class_name(layer: &Value) -> &str {
    layer
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("<no class_name>")
}

/// Refuses an RNN wrapper setting hsnn has no counterpart for.
fn check_rnn_wrapper(layer: &Value, origin: &str) -> TrainResult<()> {
    let name = layer_name(layer);
    let config = layer.get("config").unwrap_or(&Value::Null);
    for flag in [
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
    ] {
        if config.get(flag).and_then(Value::as_bool) == Some(true) {
            return Err(refuse(
                origin,
                format!(
                    "layer {name}: {flag} = true; hsnn classifies from the last step of a \
                     stateless forward pass only"
                ),
            ));
        }
    }
    Ok(())
}

/// The Dense readout: its name, and whether it has a bias. Softmax and linear are accepted
/// (the softmax is the loss's, clause T1); any other activation is refused.
fn check_readout(layer: &Value, origin: &str) -> TrainResult<(String, bool)> {
    let name = layer_name(layer);
    if class_name(layer) != "Dense" {
        return Err(refuse(
            origin,
            format!(
                "layer {name} is a {}, where hsnn's readout is a Dense layer",
                class_name(layer)
            ),
        ));
    }
    let config = layer.get("config").unwrap_or(&Value::Null);
    let activation = config
        .get("activation")
        .and_then(Value::as_str)
        .unwrap_or("linear");
    if !matches!(activation, "softmax" | "linear") {
        return Err(refuse(
            origin,
            format!(
                "layer {name}: activation {activation:?}; hsnn's readout is linear logits \
                 (a softmax is accepted: the loss applies it)"
            ),
        ));
    }
    let use_bias = config
        .get("use_bias")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok((name, use_bias))
}

/// The weights of a Keras 2 layer, by variable name without the `:0`, from the
/// `weight_names` attribute of `model_weights/<layer>`.
fn keras2_layer_weights(
    file: &hdf5_pure::File,
    layer: &str,
    origin: &str,
) -> TrainResult<BTreeMap<String, Array>> {
    let group_path = format!("model_weights/{layer}");
    let group = file.group(&group_path).map_err(|error| {
        refuse(
            origin,
            format!("layer {layer}: no weights group {group_path} ({error})"),
        )
    })?;
    let names = group
        .attrs()
        .ok()
        .and_then(|attributes| attributes.get("weight_names").and_then(attribute_texts))
        .ok_or_else(|| {
            refuse(
                origin,
                format!("layer {layer}: its weights group has no weight_names"),
            )
        })?;
    let mut weights = BTreeMap::new();
    for full_name in names {
        let short = full_name
            .rsplit('/')
            .next()
            .unwrap_or(&full_name)
            .trim_end_matches(":0")
            .to_string();
        let what = format!("layer {layer}, variable {short}");
        let array = read_array(file, &format!("{group_path}/{full_name}"), origin, &what)?;
        weights.insert(short, array);
    }
    Ok(weights)
}

fn take(
    weights: &mut BTreeMap<String, Array>,
    layer: &str,
    name: &str,
    origin: &str,
) -> TrainResult<Array> {
    weights.remove(name).ok_or_else(|| {
        refuse(
            origin,
            format!("layer {layer}: variable {name} is missing from the file"),
        )
    })
}

fn read_keras2_paper(
    file: &hdf5_pure::File,
    origin: &str,
    config_text: &str,
    keras_version: Option<String>,
) -> TrainResult<Imported> {
    let config = parse_json(config_text, origin, "the model_config attribute")?;
    let (recurrent, readout) = recurrent_and_readout(&config, origin, "a recurrent LMU layer")?;
    let rnn_name = layer_name(recurrent);
    if class_name(recurrent) != "RNN" {
        return Err(refuse(
            origin,
            format!(
                "layer {rnn_name} is a {}, not an RNN of an LMUCell",
                class_name(recurrent)
            ),
        ));
    }
    check_rnn_wrapper(recurrent, origin)?;
    let cell_class = recurrent
        .get("config")
        .and_then(|config| config.get("cell"))
        .map(class_name)
        .unwrap_or("<no cell>");
    if cell_class != "LMUCell" {
        return Err(refuse(
            origin,
            format!("layer {rnn_name}: its cell is a {cell_class}, not an LMUCell"),
        ));
    }
    let (dense_name, dense_bias) = check_readout(readout, origin)?;

    let mut cell = keras2_layer_weights(file, &rnn_name, origin)?;
    if let Some(extra) = cell
        .keys()
        .find(|name| !PAPER_CELL_VARIABLES.contains(&name.as_str()))
    {
        return Err(refuse(
            origin,
            format!(
                "layer {rnn_name}: variable {extra} is not one of the original LMUCell's \
                 ({}); hsnn cannot express it",
                PAPER_CELL_VARIABLES.join(", ")
            ),
        ));
    }
    let mut take_cell = |name: &str| take(&mut cell, &rnn_name, name, origin);
    let input_encoders = take_cell("input_encoders")?;
    let hidden_encoders = take_cell("hidden_encoders")?;
    let memory_encoders = take_cell("memory_encoders")?;
    let input_kernel = take_cell("input_kernel")?;
    let hidden_kernel = take_cell("hidden_kernel")?;
    let memory_kernel = take_cell("memory_kernel")?;
    let a_t = take_cell("AT")?;
    let b_t = take_cell("BT")?;

    let input_size = input_kernel.rows();
    let hidden_size = hidden_kernel.cols();
    let order = a_t.cols();
    if input_encoders.cols() != 1 {
        return Err(refuse(
            origin,
            format!(
                "layer {rnn_name}, variable input_encoders has {} columns; the original \
                 LMUCell's memory has one input dimension",
                input_encoders.cols()
            ),
        ));
    }
    let (theta, discretizer, check) = recover_theta(&a_t, &b_t, order, origin, &rnn_name)?;
    let lmu = LmuConfig {
        input_size,
        hidden_size,
        memory_size: 1,
        order,
        theta,
        discretizer,
        hidden_activation: Activation::Tanh,
        connections: RecurrentConnections {
            input_to_hidden: true,
            hidden_to_memory: true,
            memory_to_memory: true,
        },
    };
    let named = |layer: &str, name: &str| format!("layer {layer}, variable {name}");
    let mut dense = keras2_layer_weights(file, &dense_name, origin)?;
    let readout_kernel = take(&mut dense, &dense_name, "kernel", origin)?;
    let output_size = readout_kernel.cols();
    let readout_bias = if dense_bias {
        take(&mut dense, &dense_name, "bias", origin)?.tensor(
            1,
            output_size,
            origin,
            &named(&dense_name, "bias"),
        )?
    } else {
        Tensor2::zeros(1, output_size)
    };
    let weights = Weights {
        encoder_input: input_encoders.tensor(
            input_size,
            1,
            origin,
            &named(&rnn_name, "input_encoders"),
        )?,
        encoder_hidden: Some(hidden_encoders.tensor(
            hidden_size,
            1,
            origin,
            &named(&rnn_name, "hidden_encoders"),
        )?),
        encoder_memory: Some(memory_encoders.tensor(
            order,
            1,
            origin,
            &named(&rnn_name, "memory_encoders"),
        )?),
        kernel_input: Some(input_kernel.tensor(
            input_size,
            hidden_size,
            origin,
            &named(&rnn_name, "input_kernel"),
        )?),
        kernel_hidden: hidden_kernel.tensor(
            hidden_size,
            hidden_size,
            origin,
            &named(&rnn_name, "hidden_kernel"),
        )?,
        kernel_memory: memory_kernel.tensor(
            order,
            hidden_size,
            origin,
            &named(&rnn_name, "memory_kernel"),
        )?,
        readout_kernel: readout_kernel.tensor(
            hidden_size,
            output_size,
            origin,
            &named(&dense_name, "kernel"),
        )?,
        readout_bias,
    };
    Ok(Imported {
        config: network(lmu, output_size),
        weights,
        layout: KerasLayout::Keras2LmuPaperHdf5,
        keras_version,
        layers: vec![rnn_name, dense_name],
        fixed_matrix_check: Some(check),
    })
}

fn network(lmu: LmuConfig, output_size: usize) -> NetworkConfig {
    NetworkConfig {
        lmu,
        output_size,
        quantizer: QuantizerConfig::non_spiking(),
    }
}

/// Largest `|stored - f32(expected)|` of two same-sized value lists.
fn max_difference(stored: &[f64], expected: impl Iterator<Item = f64>) -> f64 {
    stored
        .iter()
        .zip(expected)
        .map(|(stored, expected)| (stored - f64::from(expected as f32)).abs())
        .fold(0.0, f64::max)
}

/// The stored `AT = (Abar - I)^T` and `BT = Bbar^T` against hsnn's L2 (or L3) matrices for
/// `theta`: the two largest differences.
fn compare_fixed(
    a_t: &Array,
    b_t: &Array,
    order: usize,
    theta: f64,
    discretizer: Discretizer,
) -> TrainResult<(f64, f64, f64)> {
    let matrices = hsnn_reference::legendre::lmu_matrices(order, theta, discretizer)?;
    // AT[i][k] = Abar[k][i] - (i == k).
    let a_expected = (0..order).flat_map(|i| {
        let matrices = &matrices;
        (0..order).map(move |k| matrices.a_bar.get(k, i) - if i == k { 1.0 } else { 0.0 })
    });
    let a_difference = max_difference(&a_t.values, a_expected);
    let b_difference = max_difference(&b_t.values, (0..order).map(|i| matrices.b_bar.get(i, 0)));
    let scale = a_t
        .values
        .iter()
        .chain(&b_t.values)
        .fold(0.0_f64, |largest, value| largest.max(value.abs()));
    let tolerance = FIXED_MATRIX_TOLERANCE_ULPS * f64::from(f32::EPSILON) * scale.max(1e-30);
    Ok((a_difference, b_difference, tolerance))
}

/// The original `LMUCell` stores no configuration: `theta` and the discretizer are recovered
/// from its fixed `AT`/`BT` (SPEC.md clause K2), and the stored matrices must then agree with
/// hsnn's within binary32 rounding, or the file is refused.
fn recover_theta(
    a_t: &Array,
    b_t: &Array,
    order: usize,
    origin: &str,
    layer: &str,
) -> TrainResult<(f64, Discretizer, FixedMatrixCheck)> {
    if a_t.shape != [order, order] || b_t.values.len() != order || order == 0 {
        return Err(refuse(
            origin,
            format!(
                "layer {layer}: AT has shape {:?} and BT {:?}; they must be order x order and \
                 1 x order",
                a_t.shape, b_t.shape
            ),
        ));
    }
    for (name, array) in [("AT", a_t), ("BT", b_t)] {
        if let Some(value) = array.values.iter().find(|value| !value.is_finite()) {
            return Err(refuse(
                origin,
                format!("layer {layer}, variable {name} holds a non-finite value ({value})"),
            ));
        }
    }
    let first = b_t.values[0];
    if first <= 0.0 {
        return Err(refuse(
            origin,
            format!(
                "layer {layer}, variable BT starts with {first}; a Legendre memory's Bbar[0] is \
                 positive"
            ),
        ));
    }
    // Published models take whole thetas, and zero-order hold's Bbar[0] lies just below
    // 1/theta (784: 1/Bbar[0] = 784.24), so the whole number nearest 1/Bbar[0] is tried first:
    // one matrix exponential in the common case. Euler stores Bbar = B/theta, so 1/Bbar[0] is
    // its theta exactly. Only when neither fits is zero-order hold's theta searched for.
    let nearest_whole = (1.0 / first).round().max(1.0);
    let candidates = [
        Candidate::Fixed(nearest_whole, Discretizer::ZeroOrderHold),
        Candidate::Fixed(1.0 / first, Discretizer::Euler),
        Candidate::Searched,
    ];
    let mut best: Option<(f64, Discretizer, FixedMatrixCheck)> = None;
    for candidate in candidates {
        let (theta, discretizer) = match candidate {
            Candidate::Fixed(theta, discretizer) => (theta, discretizer),
            Candidate::Searched => match zoh_theta_from_first_b(order, first) {
                Some(theta) => (theta, Discretizer::ZeroOrderHold),
                None => continue,
            },
        };
        // A theta within binary32 rounding of a whole number is that number.
        let rounded = theta.round();
        let theta = if rounded > 0.0 && ((theta - rounded) / rounded).abs() < 1e-5 {
            rounded
        } else {
            theta
        };
        let (a_difference, b_difference, tolerance) =
            compare_fixed(a_t, b_t, order, theta, discretizer)?;
        let check = FixedMatrixCheck {
            a_bar_max_difference: a_difference,
            b_bar_max_difference: b_difference,
            tolerance,
        };
        if a_difference <= tolerance && b_difference <= tolerance {
            return Ok((theta, discretizer, check));
        }
        let worse = best.as_ref().is_some_and(|(_, _, kept)| {
            kept.a_bar_max_difference.max(kept.b_bar_max_difference)
                <= a_difference.max(b_difference)
        });
        if !worse {
            best = Some((theta, discretizer, check));
        }
    }
    let detail = best
        .map(|(theta, discretizer, check)| {
            format!(
                "; closest: {discretizer:?} at theta {theta}, differences {:.3e} (AT) and \
                 {:.3e} (BT) against a tolerance of {:.3e}",
                check.a_bar_max_difference, check.b_bar_max_difference, check.tolerance
            )
        })
        .unwrap_or_default();
    Err(refuse(
        origin,
        format!(
            "layer {layer}: the fixed AT and BT are not a Legendre memory of order {order} \
             under zero-order hold or Euler for any theta (a trained or edited memory?){detail}"
        ),
    ))
}

/// A theta and discretizer to check, or the search of [`zoh_theta_from_first_b`].
enum Candidate {
    Fixed(f64, Discretizer),
    Searched,
}

/// The `theta` whose zero-order-hold `Bbar[0]` is `first`, by the secant method from
/// `1/first` (`Bbar[0]` is smooth and falls with theta); `None` when it does not converge.
fn zoh_theta_from_first_b(order: usize, first: f64) -> Option<f64> {
    let first_b = |theta: f64| -> f64 {
        let (a, b) = hsnn_reference::legendre::continuous(order, theta);
        let (_, b_bar) = hsnn_reference::legendre::zero_order_hold(&a, &b);
        b_bar[0] - first
    };
    let (mut previous, mut current) = (1.0 / first, 1.0 / first * 1.001);
    let (mut at_previous, mut at_current) = (first_b(previous), first_b(current));
    for _ in 0..12 {
        if at_current == at_previous {
            break;
        }
        let next = current - at_current * (current - previous) / (at_current - at_previous);
        if !(next.is_finite() && next > 0.0) {
            return None;
        }
        (previous, at_previous) = (current, at_current);
        current = next;
        at_current = first_b(current);
        if ((current - previous) / current).abs() < 1e-12 {
            break;
        }
    }
    Some(current).filter(|theta| theta.is_finite() && *theta > 0.0)
}

// ---------------------------------------------------------------------------------------------
// keras-lmu 0.9 under Keras 3 (clause K1, second layout).

/// A `.keras` archive's configuration text, weights file and Keras version.
fn read_archive(bytes: Vec<u8>, origin: &str) -> TrainResult<(String, Vec<u8>, Option<String>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|error| refuse(origin, format!("unreadable zip archive: {error}")))?;
    let mut member = |name: &str| -> TrainResult<Option<Vec<u8>>> {
        let mut entry = match archive.by_name(name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(error) => {
                return Err(refuse(
                    origin,
                    format!("unreadable archive member {name}: {error}"),
                ))
            }
        };
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).map_err(|error| {
            refuse(
                origin,
                format!("unreadable archive member {name} (truncated?): {error}"),
            )
        })?;
        Ok(Some(contents))
    };
    let config = member("config.json")?.ok_or_else(|| {
        refuse(
            origin,
            "a zip archive without config.json: not a Keras 3 .keras file",
        )
    })?;
    let weights = member("model.weights.h5")?.ok_or_else(|| {
        refuse(
            origin,
            "a .keras archive without model.weights.h5 (saved without weights?)",
        )
    })?;
    let keras_version = member("metadata.json")?
        .and_then(|metadata| serde_json::from_slice::<Value>(&metadata).ok())
        .and_then(|metadata| {
            metadata
                .get("keras_version")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    let config = String::from_utf8(config)
        .map_err(|_| refuse(origin, "config.json in the archive is not UTF-8 text"))?;
    Ok((config, weights, keras_version))
}

/// What a keras-lmu 0.9 `LMUCell` (or `LMU` layer) configuration says, after the checks of
/// clause K2.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasLmuCell {
    /// `memory_d`: hsnn's `memory_size`.
    pub memory_d: usize,
    /// `order`.
    pub order: usize,
    /// `theta`.
    pub theta: f64,
    /// `discretizer`.
    pub discretizer: Discretizer,
    /// `hidden_to_memory`.
    pub hidden_to_memory: bool,
    /// `memory_to_memory`.
    pub memory_to_memory: bool,
    /// `input_to_hidden`.
    pub input_to_hidden: bool,
    /// Whether the cell has an input kernel (`kernel_initializer` not `None`); without one the
    /// memory input is the (concatenated) input itself.
    pub has_kernel: bool,
    /// `trainable_theta`: then the file stores `theta_inv`, which must still be `1/theta`.
    pub trainable_theta: bool,
    /// The hidden `SimpleRNNCell`'s units.
    pub hidden_units: usize,
    /// Its activation.
    pub hidden_activation: Activation,
}

fn bool_field(config: &Value, field: &str, default: bool) -> bool {
    config
        .get(field)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// Reads and checks a keras-lmu 0.9 `LMUCell`/`LMU` configuration (SPEC.md clause K2).
pub fn keras_lmu_cell(config: &Value, layer: &str, origin: &str) -> TrainResult<KerasLmuCell> {
    let field_usize = |field: &str| -> TrainResult<usize> {
        config
            .get(field)
            .and_then(Value::as_u64)
            .and_then(|value| usize::try_from(value).ok())
            .ok_or_else(|| {
                refuse(
                    origin,
                    format!("layer {layer}: {field} is missing or not a whole number"),
                )
            })
    };
    let memory_d = field_usize("memory_d")?;
    let order = field_usize("order")?;
    let theta = config
        .get("theta")
        .and_then(Value::as_f64)
        .ok_or_else(|| refuse(origin, format!("layer {layer}: theta is missing")))?;
    let discretizer = match config
        .get("discretizer")
        .and_then(Value::as_str)
        .unwrap_or("zoh")
    {
        "zoh" => Discretizer::ZeroOrderHold,
        "euler" => Discretizer::Euler,
        other => {
            return Err(refuse(
                origin,
                format!("layer {layer}: discretizer {other:?} (hsnn has zoh and euler)"),
            ))
        }
    };
    if bool_field(config, "use_bias", false) {
        return Err(refuse(
            origin,
            format!(
                "layer {layer}: use_bias = true, a bias on the memory input, which hsnn's LMU \
                 has no counterpart for (SPEC.md L4)"
            ),
        ));
    }
    let hidden = config
        .get("hidden_cell")
        .filter(|cell| !cell.is_null())
        .ok_or_else(|| {
            refuse(
                origin,
                format!(
                    "layer {layer}: hidden_cell is None; hsnn's LMU has a hidden SimpleRNNCell \
                 (without bias)"
                ),
            )
        })?;
    let hidden_class = class_name(hidden);
    let hidden_config = hidden.get("config").unwrap_or(&Value::Null);
    let hidden_name = layer_name(hidden);
    if hidden_class != "SimpleRNNCell" {
        return Err(refuse(
            origin,
            format!(
                "layer {layer}: its hidden cell {hidden_name} is a {hidden_class}, not a \
                 SimpleRNNCell"
            ),
        ));
    }
    if bool_field(hidden_config, "use_bias", true) {
        return Err(refuse(
            origin,
            format!(
                "layer {layer}: its hidden cell {hidden_name} has a bias (use_bias = true), \
                 which hsnn's hidden layer has no counterpart for (SPEC.md L4); build it with \
                 SimpleRNNCell(..., use_bias=False)"
            ),
        ));
    }
    let hidden_units = hidden_config
        .get("units")
        .and_then(Value::as_u64)
        .and_then(|units| usize::try_from(units).ok())
        .ok_or_else(|| {
            refuse(
                origin,
                format!("layer {layer}: hidden cell {hidden_name} has no units"),
            )
        })?;
    let activation = hidden_config
        .get("activation")
        .and_then(Value::as_str)
        .unwrap_or("tanh");
    let hidden_activation = Activation::from_keras_name(activation).ok_or_else(|| {
        let known: Vec<&str> = Activation::ALL
            .iter()
            .map(|known| known.properties().keras_name)
            .collect();
        refuse(
            origin,
            format!(
                "layer {layer}: hidden cell {hidden_name} has activation {activation:?} (hsnn \
                 has {})",
                known.join(", ")
            ),
        )
    })?;
    Ok(KerasLmuCell {
        memory_d,
        order,
        theta,
        discretizer,
        hidden_to_memory: bool_field(config, "hidden_to_memory", false),
        memory_to_memory: bool_field(config, "memory_to_memory", false),
        input_to_hidden: bool_field(config, "input_to_hidden", false),
        has_kernel: !config.get("kernel_initializer").is_some_and(Value::is_null),
        trainable_theta: bool_field(config, "trainable_theta", false),
        hidden_units,
        hidden_activation,
    })
}

fn read_keras3(
    file: &hdf5_pure::File,
    origin: &str,
    config_text: &str,
    layout: KerasLayout,
    keras_version: Option<String>,
) -> TrainResult<Imported> {
    let config = parse_json(config_text, origin, "the model configuration")?;
    let (recurrent, readout) =
        recurrent_and_readout(&config, origin, "an LMU layer (or RNN of an LMUCell)")?;
    let rnn_name = layer_name(recurrent);
    let recurrent_config = recurrent.get("config").unwrap_or(&Value::Null);
    // Dropout acts in training only and changes no inference, so it is no refusal.
    let cell_config = match class_name(recurrent) {
        "RNN" => {
            check_rnn_wrapper(recurrent, origin)?;
            let cell = recurrent_config.get("cell").unwrap_or(&Value::Null);
            if class_name(cell) != "LMUCell" {
                return Err(refuse(
                    origin,
                    format!(
                        "layer {rnn_name}: its cell is a {}, not a keras-lmu LMUCell",
                        class_name(cell)
                    ),
                ));
            }
            cell.get("config").unwrap_or(&Value::Null)
        }
        "LMU" => {
            check_rnn_wrapper(recurrent, origin)?;
            recurrent_config
        }
        other => {
            return Err(refuse(
                origin,
                format!(
                    "layer {rnn_name} is a {other}, not a keras-lmu LMU layer or an RNN of an \
                     LMUCell"
                ),
            ))
        }
    };
    let cell = keras_lmu_cell(cell_config, &rnn_name, origin)?;
    let (dense_name, dense_bias) = check_readout(readout, origin)?;
    let variables = keras3_variables(file, origin)?;
    let (rnn_group, dense_group) = keras3_groups(&variables, &rnn_name, &dense_name, origin)?;
    keras3_weights(
        &cell,
        &variables,
        (&rnn_name, &rnn_group),
        (&dense_name, &dense_group),
        dense_bias,
        origin,
    )
    .map(|(config, weights)| Imported {
        config,
        weights,
        layout,
        keras_version,
        layers: vec![rnn_name, dense_name],
        fixed_matrix_check: None,
    })
}

/// Every dataset of a Keras 3 weights file by its path (`layers/<layer>/.../vars/<i>`).
fn keras3_variables(file: &hdf5_pure::File, origin: &str) -> TrainResult<BTreeMap<String, Array>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![String::new()];
    while let Some(path) = pending.pop() {
        let group = if path.is_empty() {
            file.root()
        } else {
            file.group(&path)
                .map_err(|error| refuse(origin, format!("unreadable group {path}: {error}")))?
        };
        let join = |name: &str| {
            if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}/{name}")
            }
        };
        for name in group
            .datasets()
            .map_err(|error| refuse(origin, format!("unreadable group {path}: {error}")))?
        {
            let full = join(&name);
            let array = read_array(file, &full, origin, &full)?;
            found.insert(full, array);
        }
        for name in group
            .groups()
            .map_err(|error| refuse(origin, format!("unreadable group {path}: {error}")))?
        {
            pending.push(join(&name));
        }
    }
    Ok(found)
}

/// The groups under `layers/` that hold the recurrent layer's and the readout's variables.
/// Keras 3 names them after the layer's class (`rnn`, `lmu`, `dense`, with `_1`... for
/// repeats), not after the layer's name, so they are told apart by content: the recurrent
/// layer's holds its hidden cell (`.../hidden_cell/vars/...`).
fn keras3_groups(
    variables: &BTreeMap<String, Array>,
    rnn_name: &str,
    dense_name: &str,
    origin: &str,
) -> TrainResult<(String, String)> {
    let mut groups: Vec<(String, bool)> = Vec::new();
    for path in variables.keys() {
        let Some(rest) = path.strip_prefix("layers/") else {
            continue;
        };
        let group = rest.split('/').next().unwrap_or(rest).to_string();
        let hidden = rest.contains("/hidden_cell/");
        match groups.iter_mut().find(|(name, _)| *name == group) {
            Some((_, has_hidden)) => *has_hidden |= hidden,
            None => groups.push((group, hidden)),
        }
    }
    let recurrent: Vec<&String> = groups.iter().filter(|(_, h)| *h).map(|(g, _)| g).collect();
    let others: Vec<&String> = groups.iter().filter(|(_, h)| !*h).map(|(g, _)| g).collect();
    match (recurrent.as_slice(), others.as_slice()) {
        ([recurrent], [dense]) => Ok(((*recurrent).clone(), (*dense).clone())),
        _ => Err(refuse(
            origin,
            format!(
                "the weights file's layer groups ({}) are not one recurrent LMU layer with a \
                 hidden cell ({rnn_name}) and one readout ({dense_name}); configuration and \
                 weights disagree",
                groups
                    .iter()
                    .map(|(group, _)| group.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The Keras 3 variables of a keras-lmu 0.9 model and the hsnn weights they are (clause K1),
/// in the order Keras creates them: `(path, hsnn role)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// `LMUCell.kernel`: `[e_x; e_h]` stacked, input rows first.
    MemoryKernel,
    /// `LMUCell.theta_inv` (trainable theta only): must stay `1/theta`.
    ThetaInverse,
    /// `LMUCell.recurrent_kernel`: e_m.
    MemoryRecurrentKernel,
    /// `SimpleRNNCell.kernel`: `[W_m; W_x]` stacked, memory rows first.
    HiddenKernel,
    /// `SimpleRNNCell.recurrent_kernel`: W_h.
    HiddenRecurrentKernel,
    /// `Dense.kernel`: W_o.
    ReadoutKernel,
    /// `Dense.bias`: b_o.
    ReadoutBias,
}

/// Finds the variables of one Keras 3 layer: the datasets under `layers/<layer>` whose path
/// (below it) passes `inside`, in path order.
fn layer_variables<'a>(
    variables: &'a BTreeMap<String, Array>,
    group: &str,
    inside: impl Fn(&str) -> bool,
) -> Vec<(&'a String, &'a Array)> {
    let prefix = format!("layers/{group}/");
    let mut chosen: Vec<(&String, &Array)> = variables
        .iter()
        .filter(|(path, _)| path.strip_prefix(&prefix).is_some_and(&inside))
        .collect();
    chosen.sort_by_key(|(path, _)| variable_order_key(path));
    chosen
}

/// Orders `.../vars/10` after `.../vars/9`.
fn variable_order_key(path: &str) -> (String, usize) {
    match path.rsplit_once('/') {
        Some((head, last)) => (head.to_string(), last.parse().unwrap_or(usize::MAX)),
        None => (path.to_string(), 0),
    }
}

fn keras3_weights(
    cell: &KerasLmuCell,
    variables: &BTreeMap<String, Array>,
    (rnn_name, rnn_group): (&str, &str),
    (dense_name, dense_group): (&str, &str),
    dense_bias: bool,
    origin: &str,
) -> TrainResult<(NetworkConfig, Weights)> {
    // The cell's own variables: `rnn/cell/vars/i` (RNN of an LMUCell), `lmu/layer/cell/vars/i`
    // or `lmu/layer/vars/i` (the LMU layer, recurrent or feed-forward); the hidden cell's:
    // `.../hidden_cell/vars/i`. Within each, `i` is the order of creation.
    let is_hidden = |rest: &str| rest.starts_with("hidden_cell/") || rest.contains("/hidden_cell/");
    let cell_variables = layer_variables(variables, rnn_group, |rest| {
        rest.contains("vars/") && !is_hidden(rest)
    });
    let hidden_variables = layer_variables(variables, rnn_group, |rest| {
        rest.contains("vars/") && is_hidden(rest)
    });
    let dense_variables = layer_variables(variables, dense_group, |rest| rest.contains("vars/"));

    let mut cell_roles = Vec::new();
    if cell.has_kernel {
        cell_roles.push(Role::MemoryKernel);
    }
    if cell.trainable_theta {
        cell_roles.push(Role::ThetaInverse);
    }
    if cell.memory_to_memory {
        cell_roles.push(Role::MemoryRecurrentKernel);
    }
    let hidden_roles = [Role::HiddenKernel, Role::HiddenRecurrentKernel];
    let mut dense_roles = vec![Role::ReadoutKernel];
    if dense_bias {
        dense_roles.push(Role::ReadoutBias);
    }
    let mut by_role: BTreeMap<u8, (&String, &Array)> = BTreeMap::new();
    for (found, roles, layer) in [
        (&cell_variables, cell_roles.as_slice(), rnn_name),
        (&hidden_variables, hidden_roles.as_slice(), rnn_name),
        (&dense_variables, dense_roles.as_slice(), dense_name),
    ] {
        if found.len() != roles.len() {
            return Err(refuse(
                origin,
                format!(
                    "layer {layer}: the weights file holds {} variables ({}) where the \
                     configuration implies {} ({:?}); configuration and weights disagree",
                    found.len(),
                    found
                        .iter()
                        .map(|(path, _)| path.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    roles.len(),
                    roles
                ),
            ));
        }
        for (role, variable) in roles.iter().zip(found.iter()) {
            by_role.insert(*role as u8, *variable);
        }
    }
    let get = |role: Role| by_role.get(&(role as u8)).copied();

    let memory_d = cell.memory_d;
    let hidden_size = cell.hidden_units;
    let memory_length = memory_d * cell.order;
    // The input size is what the memory kernel's rows leave after the hidden rows, or what the
    // hidden kernel's rows leave after the memory rows.
    let hidden_kernel = get(Role::HiddenKernel).map(|(_, array)| array);
    let hidden_in_memory_input = if cell.hidden_to_memory {
        hidden_size
    } else {
        0
    };
    let input_size = match get(Role::MemoryKernel) {
        Some((_, kernel)) => kernel.rows().checked_sub(hidden_in_memory_input),
        None if cell.input_to_hidden => {
            hidden_kernel.and_then(|kernel| kernel.rows().checked_sub(memory_length))
        }
        // Without a kernel the memory input is the input (and hidden state) itself.
        None => memory_d.checked_sub(hidden_in_memory_input),
    }
    .filter(|size| *size > 0)
    .ok_or_else(|| {
        refuse(
            origin,
            format!("layer {rnn_name}: the kernels' shapes leave no input dimension"),
        )
    })?;
    let lmu = LmuConfig {
        input_size,
        hidden_size,
        memory_size: memory_d,
        order: cell.order,
        theta: cell.theta,
        discretizer: cell.discretizer,
        hidden_activation: cell.hidden_activation,
        connections: RecurrentConnections {
            input_to_hidden: cell.input_to_hidden,
            hidden_to_memory: cell.hidden_to_memory,
            memory_to_memory: cell.memory_to_memory,
        },
    };
    let what = |path: &str, role: &str| format!("layer {rnn_name}, variable {path} ({role})");

    // e_x, e_h from the memory kernel [e_x; e_h], or the identity when the cell has none.
    let encoder_rows = input_size
        + if cell.hidden_to_memory {
            hidden_size
        } else {
            0
        };
    let encoder = match get(Role::MemoryKernel) {
        Some((path, array)) => array.tensor(
            encoder_rows,
            memory_d,
            origin,
            &what(path, "kernel: e_x over e_h"),
        )?,
        None => {
            if encoder_rows != memory_d {
                return Err(refuse(
                    origin,
                    format!(
                        "layer {rnn_name}: no input kernel, so memory_d ({memory_d}) must equal \
                         the memory input's width ({encoder_rows})"
                    ),
                ));
            }
            let mut identity = Tensor2::zeros(memory_d, memory_d);
            for index in 0..memory_d {
                identity.set(index, index, 1.0);
            }
            identity
        }
    };
    let rows = |tensor: &Tensor2, start: usize, count: usize| {
        Tensor2::from_row_major(
            count,
            tensor.cols,
            tensor.data[start * tensor.cols..(start + count) * tensor.cols].to_vec(),
        )
    };
    let encoder_input = rows(&encoder, 0, input_size)?;
    let encoder_hidden = if cell.hidden_to_memory {
        Some(rows(&encoder, input_size, hidden_size)?)
    } else {
        None
    };
    if let Some((path, array)) = get(Role::ThetaInverse) {
        let stored = array.values.first().copied().unwrap_or(f64::NAN);
        let expected = f64::from((1.0 / cell.theta) as f32);
        if (stored - expected).abs() > 4.0 * f64::from(f32::EPSILON) * expected.abs() {
            return Err(refuse(
                origin,
                format!(
                    "layer {rnn_name}, variable {path} (theta_inv) is {stored}, so theta was \
                     trained to {} away from its configured {}; hsnn's memory has a fixed \
                     theta",
                    1.0 / stored,
                    cell.theta
                ),
            ));
        }
    }
    let encoder_memory = match get(Role::MemoryRecurrentKernel) {
        Some((path, array)) => Some(array.tensor(
            memory_length,
            memory_d,
            origin,
            &what(path, "recurrent_kernel: e_m"),
        )?),
        None => None,
    };
    let (hidden_path, hidden_array) = get(Role::HiddenKernel).ok_or_else(|| {
        refuse(
            origin,
            format!("layer {rnn_name}: the hidden cell's kernel is missing"),
        )
    })?;
    let hidden_rows = memory_length + if cell.input_to_hidden { input_size } else { 0 };
    let stacked = hidden_array.tensor(
        hidden_rows,
        hidden_size,
        origin,
        &what(hidden_path, "hidden kernel: W_m over W_x"),
    )?;
    let kernel_memory = rows(&stacked, 0, memory_length)?;
    let kernel_input = if cell.input_to_hidden {
        Some(rows(&stacked, memory_length, input_size)?)
    } else {
        None
    };
    let (recurrent_path, recurrent_array) = get(Role::HiddenRecurrentKernel).ok_or_else(|| {
        refuse(
            origin,
            format!("layer {rnn_name}: the hidden cell's recurrent kernel is missing"),
        )
    })?;
    let kernel_hidden = recurrent_array.tensor(
        hidden_size,
        hidden_size,
        origin,
        &what(recurrent_path, "hidden recurrent kernel: W_h"),
    )?;
    let (readout_path, readout_array) = get(Role::ReadoutKernel)
        .ok_or_else(|| refuse(origin, format!("layer {dense_name}: the kernel is missing")))?;
    let output_size = readout_array.cols();
    let readout_kernel = readout_array.tensor(
        hidden_size,
        output_size,
        origin,
        &format!("layer {dense_name}, variable {readout_path} (kernel)"),
    )?;
    let readout_bias = match get(Role::ReadoutBias) {
        Some((path, array)) => array.tensor(
            1,
            output_size,
            origin,
            &format!("layer {dense_name}, variable {path} (bias)"),
        )?,
        None => Tensor2::zeros(1, output_size),
    };
    Ok((
        network(lmu, output_size),
        Weights {
            encoder_input,
            encoder_hidden,
            encoder_memory,
            kernel_input,
            kernel_hidden,
            kernel_memory,
            readout_kernel,
            readout_bias,
        },
    ))
}

// ---------------------------------------------------------------------------------------------
// Export (clause K3).

/// The keras-lmu 0.9 configuration and variables of an hsnn model (SPEC.md clause K3): what
/// `RNN(LMUCell(...))` plus `Dense` must be built with and given, variable by variable, in the
/// order of `get_weights()`, each as `(name, shape, row-major values)`.
#[derive(Debug, Clone, PartialEq)]
pub struct KerasExport {
    /// `LMUCell` arguments: memory_d, order, theta, discretizer (`zoh` or `euler`), the three
    /// connection flags; the hidden `SimpleRNNCell`'s units and activation.
    pub cell: serde_json::Map<String, Value>,
    /// The Dense readout's units.
    pub output_units: usize,
    /// The variables in `model.get_weights()` order: LMUCell's kernel and recurrent kernel
    /// (when present), the hidden cell's kernel and recurrent kernel, Dense kernel and bias.
    pub variables: Vec<(String, Vec<usize>, Vec<f64>)>,
}

/// The model as keras-lmu 0.9 builds it (SPEC.md clause K3). The quantizer is not exported:
/// keras-lmu runs the network without spikes.
pub fn export(model: &Model) -> KerasExport {
    let lmu = &model.config.lmu;
    let weights = &model.weights;
    let mut cell = serde_json::Map::new();
    cell.insert("memory_d".into(), lmu.memory_size.into());
    cell.insert("order".into(), lmu.order.into());
    cell.insert("theta".into(), lmu.theta.into());
    cell.insert(
        "discretizer".into(),
        match lmu.discretizer {
            Discretizer::ZeroOrderHold => "zoh",
            Discretizer::Euler => "euler",
        }
        .into(),
    );
    cell.insert(
        "hidden_to_memory".into(),
        lmu.connections.hidden_to_memory.into(),
    );
    cell.insert(
        "memory_to_memory".into(),
        lmu.connections.memory_to_memory.into(),
    );
    cell.insert(
        "input_to_hidden".into(),
        lmu.connections.input_to_hidden.into(),
    );
    cell.insert("hidden_units".into(), lmu.hidden_size.into());
    cell.insert(
        "hidden_activation".into(),
        lmu.hidden_activation.properties().keras_name.into(),
    );
    let stack = |top: &Tensor2, bottom: Option<&Tensor2>| {
        let mut values = top.data.clone();
        let mut rows = top.rows;
        if let Some(bottom) = bottom {
            values.extend_from_slice(&bottom.data);
            rows += bottom.rows;
        }
        (vec![rows, top.cols], values)
    };
    let mut variables = Vec::new();
    let (shape, values) = stack(&weights.encoder_input, weights.encoder_hidden.as_ref());
    variables.push(("lmu_cell/kernel".to_string(), shape, values));
    if let Some(encoder_memory) = &weights.encoder_memory {
        let (shape, values) = stack(encoder_memory, None);
        variables.push(("lmu_cell/recurrent_kernel".to_string(), shape, values));
    }
    let (shape, values) = stack(&weights.kernel_memory, weights.kernel_input.as_ref());
    variables.push(("simple_rnn_cell/kernel".to_string(), shape, values));
    let (shape, values) = stack(&weights.kernel_hidden, None);
    variables.push((
        "simple_rnn_cell/recurrent_kernel".to_string(),
        shape,
        values,
    ));
    let (shape, values) = stack(&weights.readout_kernel, None);
    variables.push(("dense/kernel".to_string(), shape, values));
    variables.push((
        "dense/bias".to_string(),
        vec![weights.readout_bias.cols],
        weights.readout_bias.data.clone(),
    ));
    KerasExport {
        cell,
        output_units: model.config.output_size,
        variables,
    }
}
