//! Keras import (SPEC.md clauses K1, K2): files in the paper's Keras 2 layout, written here
//! with hdf5-pure's writer, read back into model files; and the paper's own file when it is
//! present (`HSNN_PAPER_LMU`, which `.ci/run` sets to the shared copy).

use hdf5_pure::{AttrValue, FileBuilder};
use hsnn_spec::{Discretizer, Model, Weights};
use hsnn_train::keras::import_bytes;
use hsnn_train::TrainError;

const HIDDEN: usize = 3;
const ORDER: usize = 4;
const OUTPUT: usize = 2;

/// A tiny network's tensors in the original LMUCell's names, each with values of its own so a
/// swapped pair shows; `AT`/`BT` from hsnn's L2/L3 at `theta`, rounded to binary32 as a Keras
/// file stores them.
struct PaperFile {
    config: String,
    cell: Vec<(String, Vec<usize>, Vec<f32>)>,
    dense: Vec<(String, Vec<usize>, Vec<f32>)>,
}

fn values(count: usize, offset: f32) -> Vec<f32> {
    (0..count)
        .map(|index| offset + 0.01 * index as f32)
        .collect()
}

fn paper_file(theta_a: f64, theta_b: f64, discretizer: Discretizer) -> PaperFile {
    let matrices_a =
        hsnn_reference::legendre::lmu_matrices(ORDER, theta_a, discretizer).expect("matrices");
    let matrices_b =
        hsnn_reference::legendre::lmu_matrices(ORDER, theta_b, discretizer).expect("matrices");
    let mut a_t = Vec::new();
    for i in 0..ORDER {
        for k in 0..ORDER {
            let identity = if i == k { 1.0 } else { 0.0 };
            a_t.push((matrices_a.a_bar.get(k, i) - identity) as f32);
        }
    }
    let b_t = (0..ORDER)
        .map(|i| matrices_b.b_bar.get(i, 0) as f32)
        .collect();
    let cell = vec![
        ("input_encoders".into(), vec![1, 1], values(1, 1.0)),
        (
            "hidden_encoders".into(),
            vec![HIDDEN, 1],
            values(HIDDEN, 2.0),
        ),
        ("memory_encoders".into(), vec![ORDER, 1], values(ORDER, 3.0)),
        ("input_kernel".into(), vec![1, HIDDEN], values(HIDDEN, 4.0)),
        (
            "hidden_kernel".into(),
            vec![HIDDEN, HIDDEN],
            values(HIDDEN * HIDDEN, 5.0),
        ),
        (
            "memory_kernel".into(),
            vec![ORDER, HIDDEN],
            values(ORDER * HIDDEN, 6.0),
        ),
        ("AT".into(), vec![ORDER, ORDER], a_t),
        ("BT".into(), vec![1, ORDER], b_t),
    ];
    let dense = vec![
        (
            "kernel".into(),
            vec![HIDDEN, OUTPUT],
            values(HIDDEN * OUTPUT, 7.0),
        ),
        ("bias".into(), vec![OUTPUT], values(OUTPUT, 8.0)),
    ];
    PaperFile {
        config: model_config("LMUCell", "softmax"),
        cell,
        dense,
    }
}

fn model_config(cell: &str, activation: &str) -> String {
    serde_json::json!({
        "class_name": "Sequential",
        "config": {"name": "sequential_1", "layers": [
            {"class_name": "RNN", "config": {"name": "rnn_1", "return_sequences": false,
                "return_state": false, "go_backwards": false, "stateful": false,
                "cell": {"class_name": cell, "config": {"name": "lmu_cell_1"}}}},
            {"class_name": "Dense", "config": {"name": "dense_1", "units": OUTPUT,
                "activation": activation, "use_bias": true}}
        ]}
    })
    .to_string()
}

/// The file as Keras 2.2.4 lays it out: `model_config` and `keras_version` on the root,
/// `model_weights/<layer>` with `weight_names`, the datasets in `<layer>/<layer>/<name>:0`.
fn write(file: &PaperFile) -> Vec<u8> {
    let mut builder = FileBuilder::new();
    builder.set_attr("model_config", AttrValue::String(file.config.clone()));
    builder.set_attr("keras_version", AttrValue::String("2.2.4".into()));
    let mut weights = builder.create_group("model_weights");
    for (layer, tensors) in [("rnn_1", &file.cell), ("dense_1", &file.dense)] {
        let mut group = weights.create_group(layer);
        group.set_attr(
            "weight_names",
            AttrValue::StringArray(
                tensors
                    .iter()
                    .map(|(name, _, _)| format!("{layer}/{name}:0"))
                    .collect(),
            ),
        );
        let mut inner = group.create_group(layer);
        for (name, shape, data) in tensors {
            let shape: Vec<u64> = shape.iter().map(|&extent| extent as u64).collect();
            inner
                .create_dataset(&format!("{name}:0"))
                .with_f32_data(data)
                .with_shape(&shape);
        }
        group.add_group(inner.finish());
        weights.add_group(group.finish());
    }
    builder.add_group(weights.finish());
    builder.finish().expect("an HDF5 image")
}

fn import(bytes: Vec<u8>) -> Result<Model, TrainError> {
    import_bytes(bytes, "test.hdf5", "test.hdf5", None)
}

fn refusal(bytes: Vec<u8>) -> String {
    match import(bytes) {
        Ok(_) => panic!("the file was imported"),
        Err(error @ TrainError::Import { .. }) => error.to_string(),
        Err(other) => panic!("not an import error: {other}"),
    }
}

fn widened(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&value| f64::from(value)).collect()
}

#[test]
fn k1_paper_layout_maps_every_variable_to_its_weight() {
    let file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    let bytes = write(&file);
    let digest = hsnn_spec::model::sha256_hex(&bytes);
    let model = import(bytes).expect("imported");
    let lmu = &model.config.lmu;
    assert_eq!(
        (lmu.input_size, lmu.hidden_size, lmu.memory_size, lmu.order),
        (1, HIDDEN, 1, ORDER)
    );
    assert_eq!(lmu.theta, 10.0);
    assert_eq!(lmu.discretizer, Discretizer::ZeroOrderHold);
    assert!(
        lmu.connections.input_to_hidden
            && lmu.connections.hidden_to_memory
            && lmu.connections.memory_to_memory
    );
    assert_eq!(model.config.output_size, OUTPUT);
    let by_name = |name: &str| -> Vec<f64> {
        let (_, _, data) = file
            .cell
            .iter()
            .chain(&file.dense)
            .find(|(tensor, _, _)| tensor == name)
            .expect("tensor");
        widened(data)
    };
    let weights: &Weights = &model.weights;
    assert_eq!(weights.encoder_input.data, by_name("input_encoders"));
    assert_eq!(
        weights.encoder_hidden.as_ref().expect("e_h").data,
        by_name("hidden_encoders")
    );
    assert_eq!(
        weights.encoder_memory.as_ref().expect("e_m").data,
        by_name("memory_encoders")
    );
    assert_eq!(
        weights.kernel_input.as_ref().expect("W_x").data,
        by_name("input_kernel")
    );
    assert_eq!(weights.kernel_hidden.data, by_name("hidden_kernel"));
    assert_eq!(weights.kernel_memory.data, by_name("memory_kernel"));
    assert_eq!(weights.readout_kernel.data, by_name("kernel"));
    assert_eq!(weights.readout_bias.data, by_name("bias"));
    assert_eq!(model.format_version, 3);
    let record = model.import.as_ref().expect("an import record");
    assert_eq!(record.source_sha256, digest);
    assert_eq!(record.layout, "keras2_lmu_paper_hdf5");
    assert_eq!(record.keras_version.as_deref(), Some("2.2.4"));
    assert_eq!(record.layers, ["rnn_1", "dense_1"]);
    let check = record.fixed_matrix_check.as_ref().expect("a matrix check");
    assert!(check.a_bar_max_difference <= check.tolerance);
    // The model file round-trips with its record and checksum (E2 version 3).
    let reread = Model::from_json(&model.to_json(), "round trip").expect("reread");
    assert_eq!(reread.import, model.import);
    assert_eq!(reread.weights, model.weights);
}

#[test]
fn k2_euler_and_a_fractional_zoh_theta_are_recovered_from_the_stored_matrices() {
    for (theta, discretizer) in [
        (7.5, Discretizer::Euler),
        (12.25, Discretizer::ZeroOrderHold),
        (33.0, Discretizer::Euler),
    ] {
        let model = import(write(&paper_file(theta, theta, discretizer))).expect("imported");
        assert_eq!(model.config.lmu.discretizer, discretizer, "theta {theta}");
        let recovered = model.config.lmu.theta;
        assert!(
            ((recovered - theta) / theta).abs() < 1e-6,
            "{discretizer:?}: theta {theta} read as {recovered}"
        );
    }
}

#[test]
fn k2_refuses_a_memory_that_is_not_a_legendre_memory_of_one_theta() {
    // Abar from theta 10, Bbar from theta 11: a trained or edited memory.
    let message = refusal(write(&paper_file(10.0, 11.0, Discretizer::ZeroOrderHold)));
    assert!(
        message.contains("rnn_1") && message.contains("AT and BT"),
        "{message}"
    );
}

#[test]
fn k2_refuses_non_finite_weights_naming_layer_and_variable() {
    let mut file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    file.cell[4].2[2] = f32::NAN;
    let message = refusal(write(&file));
    assert!(
        message.contains("layer rnn_1, variable hidden_kernel") && message.contains("non-finite"),
        "{message}"
    );
}

#[test]
fn k2_refuses_a_variable_the_original_cell_does_not_have() {
    let mut file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    file.cell
        .push(("hidden_bias".into(), vec![HIDDEN], values(HIDDEN, 9.0)));
    let message = refusal(write(&file));
    assert!(
        message.contains("rnn_1") && message.contains("hidden_bias"),
        "{message}"
    );
}

#[test]
fn k2_refuses_disagreeing_shapes() {
    let mut file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    file.cell[5] = (
        "memory_kernel".into(),
        vec![ORDER + 1, HIDDEN],
        values((ORDER + 1) * HIDDEN, 6.0),
    );
    let message = refusal(write(&file));
    assert!(message.contains("memory_kernel"), "{message}");
    let mut file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    file.dense[0] = ("kernel".into(), vec![HIDDEN + 1, OUTPUT], values(8, 7.0));
    let message = refusal(write(&file));
    assert!(
        message.contains("layer dense_1, variable kernel"),
        "{message}"
    );
}

#[test]
fn k2_refuses_another_architecture_naming_the_layer() {
    let mut file = paper_file(10.0, 10.0, Discretizer::ZeroOrderHold);
    file.config = model_config("LSTMCell", "softmax");
    let message = refusal(write(&file));
    assert!(
        message.contains("rnn_1") && message.contains("LSTMCell"),
        "{message}"
    );
    file.config = model_config("LMUCell", "relu");
    let message = refusal(write(&file));
    assert!(
        message.contains("dense_1") && message.contains("relu"),
        "{message}"
    );
}

#[test]
fn k2_refuses_files_that_are_not_keras_or_are_damaged() {
    let valid = write(&paper_file(10.0, 10.0, Discretizer::ZeroOrderHold));
    for (what, bytes) in [
        ("empty", Vec::new()),
        ("JSON", br#"{"format": "hsnn-model"}"#.to_vec()),
        ("truncated HDF5", valid[..valid.len() / 2].to_vec()),
        ("zip without config.json", b"PK\x03\x04 not really".to_vec()),
    ] {
        let message = refusal(bytes);
        assert!(
            message.starts_with("cannot import test.hdf5: "),
            "{what}: {message}"
        );
    }
}

/// The paper's own trained network (keras-lmu, branch `paper`, `models/psMNIST-standard.hdf5`)
/// when `HSNN_PAPER_LMU` names it; a named file that is missing is a failure, so CI cannot
/// pass by skipping.
#[test]
fn k1_the_papers_own_file_imports_with_its_published_digest() {
    let Some(path) = std::env::var_os("HSNN_PAPER_LMU") else {
        eprintln!("HSNN_PAPER_LMU is not set: the paper's file is not checked here");
        return;
    };
    let path = std::path::PathBuf::from(path);
    let model = hsnn_train::keras::import_file(&path, None).expect("the paper's file imports");
    let record = model.import.as_ref().expect("an import record");
    assert_eq!(
        record.source_sha256,
        "cf4abb0bacbeccd07827c8a21e91a45251d971bef3aa445d54c5eae07406811c"
    );
    assert_eq!(record.keras_version.as_deref(), Some("2.2.4"));
    let lmu = &model.config.lmu;
    assert_eq!(
        (lmu.hidden_size, lmu.order, lmu.theta, lmu.memory_size),
        (212, 256, 784.0, 1)
    );
    assert_eq!(lmu.discretizer, Discretizer::ZeroOrderHold);
    let parameters: usize = model
        .weights
        .named()
        .iter()
        .map(|(_, tensor)| tensor.data.len())
        .sum();
    assert_eq!(parameters, 102_027);
    // Its AT and BT are hsnn's L2 rounded to binary32 (measured: equal to the last bit).
    let check = record.fixed_matrix_check.as_ref().expect("a matrix check");
    assert!(
        check.a_bar_max_difference <= 6e-8 && check.b_bar_max_difference <= 6e-8,
        "{check:?}"
    );
}

/// K1: the imported model file (format 3) is read wherever a model file is: as a model by
/// `read_any_model` (eval, energy), as an experiment's `start_model`, and by the fixed-point
/// compiler (convert, the hardware backend).
#[test]
fn k1_an_imported_model_file_is_accepted_wherever_a_model_is() {
    let model =
        import(write(&paper_file(10.0, 10.0, Discretizer::ZeroOrderHold))).expect("imported");
    let folder = std::env::temp_dir().join(format!("hsnn-keras-import-{}", std::process::id()));
    let path = folder.join("imported.json");
    model.save(&path).expect("saved");
    match hsnn_train::model_file::read_any_model(&path).expect("read") {
        hsnn_train::model_file::ModelFile::Model(read) => {
            // The file is sealed with its checksum (E2); everything else is as imported.
            assert!(read.content_sha256.is_some());
            assert_eq!(
                (
                    &read.config,
                    &read.weights,
                    &read.import,
                    read.format_version
                ),
                (&model.config, &model.weights, &model.import, 3)
            );
        }
        hsnn_train::model_file::ModelFile::Fixed(_) => panic!("read as a fixed model"),
    }
    let mut experiment = hsnn_train::experiment::Experiment::load(None).expect("the default");
    experiment.network = model.config.clone();
    experiment.start_model = Some(path.clone());
    let start = hsnn_train::experiment::start_model(&experiment).expect("a start model");
    assert_eq!(start.weights, model.weights);
    let spiking = {
        let mut spiking = model.clone();
        spiking.config.quantizer.placement = hsnn_spec::QuantizerPlacement::HIDDEN;
        spiking
    };
    hsnn_reference::compiler::convert(&spiking, &Default::default()).expect("converted");
    let _ = std::fs::remove_dir_all(&folder);
}

/// K2, Q5: a keras-lmu cell's hidden activation is read by its Keras name from the activation
/// descriptor (`linear` is identity), and a name hsnn lacks is refused listing the names it has.
#[test]
fn k2_hidden_activations_are_read_by_their_keras_names() {
    let cell = |activation: &str| {
        serde_json::json!({
            "memory_d": 1, "order": 4, "theta": 10.0,
            "hidden_cell": {"class_name": "SimpleRNNCell",
                            "config": {"units": 3, "activation": activation, "use_bias": false}}
        })
    };
    for (keras_name, activation) in [
        ("linear", hsnn_spec::Activation::Identity),
        ("relu", hsnn_spec::Activation::Relu),
        ("tanh", hsnn_spec::Activation::Tanh),
    ] {
        let read = hsnn_train::keras::keras_lmu_cell(&cell(keras_name), "lmu", "model.keras")
            .expect("a known activation");
        assert_eq!(read.hidden_activation, activation);
    }
    let message = hsnn_train::keras::keras_lmu_cell(&cell("sigmoid"), "lmu", "model.keras")
        .expect_err("hsnn has no sigmoid")
        .to_string();
    assert!(
        message.contains("\"sigmoid\"") && message.contains("linear, relu, tanh"),
        "{message}"
    );
}
