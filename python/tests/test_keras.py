"""Keras models in and out (SPEC K1-K3).

The paper's Keras 2 layout is written here with h5py, its fixed ``AT``/``BT`` computed with
scipy (independently of hsnn's L2). The keras-lmu 0.9 tests build real keras-lmu models and
compare their logits with hsnn's; they need keras and keras-lmu (``bash scripts/keras-env``)
and are skipped without them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hsnn

h5py = pytest.importorskip("h5py")
signal = pytest.importorskip("scipy.signal")

HIDDEN, ORDER, OUTPUT = 3, 4, 2


def legendre(order: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """The continuous Legendre system of SPEC L1, written from the clause."""
    q = np.arange(order, dtype=np.float64)
    r = (2 * q + 1)[:, None] / theta
    j, i = np.meshgrid(q, q)
    a = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    b = (-1.0) ** q[:, None] * r
    return a, b


def stored_matrices(order: int, theta: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``AT = (Abar - I)^T`` and ``BT = Bbar^T`` in float32, as the original LMUCell stores
    them, discretized by scipy."""
    a, b = legendre(order, theta)
    if method == "zoh":
        a_bar, b_bar, *_ = signal.cont2discrete((a, b, np.eye(order), 0), dt=1.0, method="zoh")
    else:
        a_bar, b_bar = np.eye(order) + a, b
    return (a_bar - np.eye(order)).T.astype(np.float32), b_bar.T.astype(np.float32)


def paper_tensors(theta: float = 10.0, method: str = "zoh") -> dict[str, np.ndarray]:
    """A tiny network in the original LMUCell's names, each tensor with its own values."""
    rng = np.random.default_rng(5)
    at, bt = stored_matrices(ORDER, theta, method)
    shapes = {
        "input_encoders": (1, 1),
        "hidden_encoders": (HIDDEN, 1),
        "memory_encoders": (ORDER, 1),
        "input_kernel": (1, HIDDEN),
        "hidden_kernel": (HIDDEN, HIDDEN),
        "memory_kernel": (ORDER, HIDDEN),
    }
    tensors = {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}
    tensors["AT"], tensors["BT"] = at, bt
    return tensors


def write_paper_file(
    path: Path,
    cell: dict[str, np.ndarray],
    *,
    cell_class: str = "LMUCell",
    activation: str = "softmax",
) -> Path:
    """The Keras 2.2.4 layout of the paper's file: ``model_config`` on the root, weights under
    ``model_weights/<layer>/<layer>/<name>:0`` with each group's ``weight_names``."""
    rng = np.random.default_rng(6)
    dense = {
        "kernel": rng.normal(size=(HIDDEN, OUTPUT)).astype(np.float32),
        "bias": rng.normal(size=(OUTPUT,)).astype(np.float32),
    }
    config = {
        "class_name": "Sequential",
        "config": {
            "name": "sequential_1",
            "layers": [
                {
                    "class_name": "RNN",
                    "config": {
                        "name": "rnn_1",
                        "return_sequences": False,
                        "cell": {"class_name": cell_class, "config": {"name": "lmu_cell_1"}},
                    },
                },
                {
                    "class_name": "Dense",
                    "config": {"name": "dense_1", "activation": activation, "use_bias": True},
                },
            ],
        },
    }
    with h5py.File(path, "w") as file:
        file.attrs["model_config"] = json.dumps(config)
        file.attrs["keras_version"] = "2.2.4"
        weights = file.create_group("model_weights")
        for layer, tensors in (("rnn_1", cell), ("dense_1", dense)):
            group = weights.create_group(layer)
            # Keras 2 writes names as fixed-length byte strings.
            names = [f"{layer}/{name}:0".encode() for name in tensors]
            group.attrs["weight_names"] = np.array(names, dtype="S")
            for name, values in tensors.items():
                group.create_dataset(f"{layer}/{name}:0", data=values)
    return path


def test_k1_paper_layout_written_by_h5py_maps_every_weight(tmp_path: Path) -> None:
    cell = paper_tensors()
    path = write_paper_file(tmp_path / "paper.hdf5", cell)
    model = hsnn.import_keras(path, out=tmp_path / "model.json")
    weights = model.to_dict()["weights"]
    names = {
        "input_encoders": "encoder_input",
        "hidden_encoders": "encoder_hidden",
        "memory_encoders": "encoder_memory",
        "input_kernel": "kernel_input",
        "hidden_kernel": "kernel_hidden",
        "memory_kernel": "kernel_memory",
    }
    for keras_name, hsnn_name in names.items():
        np.testing.assert_array_equal(weights[hsnn_name], cell[keras_name].astype(np.float64))
    lmu = model.config["lmu"]
    assert (lmu["theta"], lmu["order"], lmu["discretizer"]) == (10.0, ORDER, "zero_order_hold")
    assert model.to_dict()["provenance"] is None
    assert model.to_dict()["import"]["source_file"] == "paper.hdf5"
    saved = json.loads((tmp_path / "model.json").read_text())
    assert saved["format_version"] == 3
    assert saved["import"]["layout"] == "keras2_lmu_paper_hdf5"
    assert saved["import"]["source_file"] == "paper.hdf5"
    check = saved["import"]["fixed_matrix_check"]
    # scipy's zero-order hold and hsnn's L2 agree within binary32 rounding.
    assert check["a_bar_max_difference"] <= 6e-8
    reread = hsnn.Model.load(tmp_path / "model.json").to_dict()
    assert reread["import"] == saved["import"]
    for name, values in reread["weights"].items():
        np.testing.assert_array_equal(values, model.to_dict()["weights"][name])


def test_k2_euler_memory_is_recognised_and_its_theta_recovered(tmp_path: Path) -> None:
    path = write_paper_file(tmp_path / "euler.hdf5", paper_tensors(7.5, "euler"))
    lmu = hsnn.import_keras(path).config["lmu"]
    assert lmu["discretizer"] == "euler"
    assert lmu["theta"] == pytest.approx(7.5, rel=1e-6)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        ("nan", "hidden_kernel"),
        ("extra", "hidden_bias"),
        ("shape", "memory_kernel"),
        ("moved_theta", "AT and BT"),
    ],
)
def test_k2_refusals_name_the_layer_and_variable(tmp_path: Path, edit: str, named: str) -> None:
    cell = paper_tensors()
    if edit == "nan":
        cell["hidden_kernel"][1, 1] = np.nan
    elif edit == "extra":
        cell["hidden_bias"] = np.zeros(HIDDEN, dtype=np.float32)
    elif edit == "shape":
        cell["memory_kernel"] = np.zeros((ORDER + 1, HIDDEN), dtype=np.float32)
    else:
        cell["BT"] = stored_matrices(ORDER, 11.0, "zoh")[1]
    path = write_paper_file(tmp_path / "bad.hdf5", cell)
    out = tmp_path / "never.json"
    with pytest.raises(hsnn.KerasImportError, match=named) as raised:
        hsnn.import_keras(path, out=out)
    assert "rnn_1" in str(raised.value)
    assert not out.exists()


def test_k2_another_architecture_and_non_keras_files_are_refused(tmp_path: Path) -> None:
    path = write_paper_file(tmp_path / "lstm.hdf5", paper_tensors(), cell_class="LSTMCell")
    with pytest.raises(hsnn.KerasImportError, match="LSTMCell"):
        hsnn.import_keras(path)
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(hsnn.KerasImportError, match="not a Keras file"):
        hsnn.import_keras(text)
    whole = write_paper_file(tmp_path / "whole.hdf5", paper_tensors()).read_bytes()
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(hsnn.KerasImportError):
        hsnn.import_keras(truncated)
    with pytest.raises(hsnn.FileError):
        hsnn.import_keras(tmp_path / "missing.hdf5")
    with pytest.raises(TypeError):
        hsnn.import_keras(42)


# ------------------------------------------------------------------------------------------
# keras-lmu 0.9 (Keras 3): real models, built and saved by the library.


@pytest.fixture(scope="module")
def keras_libraries() -> tuple[Any, Any]:
    """keras and keras_lmu, or a skip when they are not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    keras_lmu = pytest.importorskip("keras_lmu")
    return keras, keras_lmu


def keras_lmu_model(
    keras: Any,
    keras_lmu: Any,
    *,
    layer: str = "rnn",
    memory_d: int = 2,
    flags: tuple[bool, bool, bool] = (True, True, True),
    discretizer: str = "zoh",
    input_size: int = 2,
    hidden_bias: bool = False,
    trainable_theta: bool = False,
) -> Any:
    """A small keras-lmu model with random weights: an LMU (RNN of an LMUCell, or the LMU
    layer) of 5 tanh units and a Dense readout of 4."""
    hidden_to_memory, memory_to_memory, input_to_hidden = flags
    arguments = {
        "memory_d": memory_d,
        "order": 6,
        "theta": 9,
        "hidden_cell": keras.layers.SimpleRNNCell(5, use_bias=hidden_bias),
        "hidden_to_memory": hidden_to_memory,
        "memory_to_memory": memory_to_memory,
        "input_to_hidden": input_to_hidden,
        "discretizer": discretizer,
        "trainable_theta": trainable_theta,
    }
    recurrent = (
        keras.layers.RNN(keras_lmu.LMUCell(**arguments))
        if layer == "rnn"
        else keras_lmu.LMU(**arguments)
    )
    model = keras.Sequential([keras.Input((None, input_size)), recurrent, keras.layers.Dense(4)])
    rng = np.random.default_rng(7)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.4, size=weight.shape).astype("float32"))
    return model


def hsnn_logits(model: hsnn.Model, inputs: np.ndarray) -> np.ndarray:
    """hsnn's reference backend's logits (f64)."""
    return hsnn.Reference().forward(model, inputs.astype(np.float64))["logits"]


@pytest.mark.parametrize(
    ("layer", "memory_d", "flags", "discretizer"),
    [
        ("rnn", 1, (True, True, True), "zoh"),
        ("rnn", 2, (True, False, True), "euler"),
        ("rnn", 3, (False, True, False), "zoh"),
        ("lmu", 2, (False, False, True), "zoh"),
        ("lmu", 2, (True, True, False), "euler"),
    ],
)
def test_k1_keras_lmu_models_import_with_keras_logits(
    keras_libraries: tuple[Any, Any],
    tmp_path: Path,
    layer: str,
    memory_d: int,
    flags: tuple[bool, bool, bool],
    discretizer: str,
) -> None:
    keras, keras_lmu = keras_libraries
    model = keras_lmu_model(
        keras, keras_lmu, layer=layer, memory_d=memory_d, flags=flags, discretizer=discretizer
    )
    inputs = np.random.default_rng(8).normal(size=(6, 12, 2)).astype(np.float32)
    expected = np.asarray(model(inputs))
    archive = tmp_path / "model.keras"
    model.save(archive)
    model.save_weights(tmp_path / "model.weights.h5")
    imported = [
        hsnn.import_keras(archive),
        hsnn.import_keras(tmp_path / "model.weights.h5", keras_config=model.to_json()),
        hsnn.import_keras(model),
    ]
    first = imported[0].to_dict()
    for each in imported:
        assert each.config == imported[0].config
        for name, values in each.to_dict()["weights"].items():
            np.testing.assert_array_equal(values, first["weights"][name], err_msg=name)
        np.testing.assert_allclose(hsnn_logits(each, inputs), expected, rtol=1e-4, atol=1e-5)


def test_k2_keras_lmu_features_hsnn_lacks_are_refused(
    keras_libraries: tuple[Any, Any], tmp_path: Path
) -> None:
    keras, keras_lmu = keras_libraries
    with pytest.raises(hsnn.KerasImportError, match="use_bias"):
        hsnn.import_keras(keras_lmu_model(keras, keras_lmu, hidden_bias=True))
    moved = keras_lmu_model(keras, keras_lmu, trainable_theta=True)
    for weight in moved.weights:
        if "theta_inv" in weight.path:
            weight.assign(np.float32(1 / 12.0))
    with pytest.raises(hsnn.KerasImportError, match="theta_inv"):
        hsnn.import_keras(moved)
    kept = keras_lmu_model(keras, keras_lmu, trainable_theta=True)
    for weight in kept.weights:
        if "theta_inv" in weight.path:
            weight.assign(np.float32(1 / 9))
    assert hsnn.import_keras(kept).config["lmu"]["theta"] == 9.0
    gru = keras.Sequential([keras.Input((None, 2)), keras.layers.GRU(3), keras.layers.Dense(4)])
    with pytest.raises(hsnn.KerasImportError, match="GRU"):
        hsnn.import_keras(gru)
    model = keras_lmu_model(keras, keras_lmu)
    model.save_weights(tmp_path / "model.weights.h5")
    other = keras_lmu_model(keras, keras_lmu, flags=(False, False, True))
    with pytest.raises(hsnn.KerasImportError, match="disagree"):
        hsnn.import_keras(tmp_path / "model.weights.h5", keras_config=other.to_json())


def test_k3_export_matches_hsnn_and_round_trips_bit_for_bit(
    keras_libraries: tuple[Any, Any], tmp_path: Path, root: Path
) -> None:
    keras, _ = keras_libraries
    model = hsnn.Model.load(root / "models" / "psmnist-paper" / "model-spiking.json.gz")
    with pytest.warns(UserWarning, match="without spikes"):
        exported = hsnn.to_keras(model)
    images, _ = hsnn.load_psmnist()["test"]
    images = images[:64]
    keras_logits = np.asarray(exported(images.astype(np.float32)))
    non_spiking = model.with_quantizer(placement="none")
    expected_logits = hsnn.Optimized().forward(non_spiking, images)["logits"]
    # keras-lmu discretizes the memory in binary32 (tf.linalg.expm at the layer's dtype), so
    # over 784 steps its logits leave hsnn's by more than a binary32 recurrence would: 4.2e-4
    # of the largest logit measured (hsnn's f32 backend: 5e-6); a weight out of place would
    # move them by its own size (SPEC K3).
    scale = np.abs(expected_logits).max()
    assert np.abs(keras_logits - expected_logits).max() <= 1e-3 * scale
    np.testing.assert_array_equal(keras_logits.argmax(axis=1), expected_logits.argmax(axis=1))
    path = tmp_path / "exported.keras"
    exported.save(path)
    back = hsnn.import_keras(path).to_dict()["weights"]
    for name, values in non_spiking.to_dict()["weights"].items():
        if values is None:
            assert back[name] is None
            continue
        np.testing.assert_array_equal(
            back[name].astype(np.float32), values.astype(np.float32), err_msg=name
        )
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        np.asarray(reloaded(images[:4].astype(np.float32))), keras_logits[:4]
    )
