"""Keras models in and out (SPEC K): :func:`import_keras` reads the paper's trained LMU (a
Keras 2.2.4 HDF5 file of the original ``LMUCell``) and keras-lmu 0.9 models (``.keras``
archives, ``.weights.h5`` files with their configuration, live Keras objects) into an
:class:`hsnn.Model`; :func:`to_keras` builds the keras-lmu 0.9 model of an hsnn model.

The layout rules (which Keras variable is which hsnn weight) live in the Rust crate
``hsnn-train`` (``hsnn_train::keras``), shared with ``hsnn import keras``; this module only
saves, builds and assigns Keras objects around them. Keras and keras-lmu are needed only by
:func:`to_keras` and by importing a live object (``bash scripts/keras-env`` makes a
virtualenv with the pinned versions).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Union

from hsnn import _native
from hsnn._native import Model

__all__ = ["import_keras", "to_keras"]

PathLike = Union[str, "os.PathLike[str]"]


def _config_text(keras_config: str | dict[str, Any] | PathLike | None) -> str | None:
    """The model configuration as JSON text: given as text, a dict, or a file's path."""
    if keras_config is None:
        return None
    if isinstance(keras_config, dict):
        return json.dumps(keras_config)
    if isinstance(keras_config, str) and keras_config.lstrip().startswith("{"):
        return keras_config
    return Path(keras_config).read_text(encoding="utf-8")


def import_keras(
    source: PathLike | Any,
    *,
    keras_config: str | dict[str, Any] | PathLike | None = None,
    out: PathLike | None = None,
) -> Model:
    """An hsnn model from a Keras LMU (SPEC K1, K2), as ``hsnn import keras`` makes it.

    Parameters
    ----------
    source : str, os.PathLike or keras.Model
        The paper's Keras 2 HDF5 file, a keras-lmu 0.9 ``.keras`` archive or ``.weights.h5``
        file, or a live Keras 3 model (saved to a temporary ``.keras`` file and read from
        there, so a live object and its saved file import alike).
    keras_config : str, dict or os.PathLike, optional
        For a ``.weights.h5`` file only: the model's configuration (``model.to_json()``'s
        text, its dict, or a file holding it).
    out : str or os.PathLike, optional
        Also write the model file there (format 3, atomically).

    Returns
    -------
    Model
        With the quantizer off (placement ``"none"``); its provenance names the source file,
        its SHA-256 and its layout.

    Raises
    ------
    KerasImportError
        The file is not Keras, is of another architecture, or holds something hsnn cannot
        express (a trained theta, a hidden bias, another cell, disagreeing shapes, NaN
        weights); the message names the layer and the variable.
    FileError
        The file cannot be read.
    """
    config_text = _config_text(keras_config)
    if isinstance(source, (str, os.PathLike)):
        model = _native.import_keras_file(os.fspath(source), config_text)
    elif hasattr(source, "save") and hasattr(source, "get_config"):
        if config_text is not None:
            raise TypeError("keras_config is for .weights.h5 files; a live model has its own")
        with tempfile.TemporaryDirectory(prefix="hsnn-keras-") as folder:
            path = Path(folder) / "model.keras"
            source.save(path)
            name = f"<live Keras model {getattr(source, 'name', '?')}>"
            model = _native.import_keras_file(str(path), None, name)
    else:
        raise TypeError(f"source must be a path or a Keras model, got {type(source).__name__}")
    if out is not None:
        model.save(out)
    return model


def to_keras(model: Model) -> Any:
    """The keras-lmu 0.9 model of an hsnn model (SPEC K3): ``RNN(LMUCell)`` of a hidden
    ``SimpleRNNCell`` without bias, then a linear ``Dense`` readout (logits).

    Its variables are the model's weights rounded to binary32, so importing it again gives
    the same weights bit for bit in binary32. keras-lmu has no spiking activation inside an
    RNN cell (nor has keras-spiking), so a model with a spiking placement is exported with its
    weights and runs without spikes in Keras; a ``UserWarning`` says so.

    Parameters
    ----------
    model : Model

    Returns
    -------
    keras.Sequential
        Built for sequences of any length, ``[batch, steps, input_size]`` float32; save it
        with ``.save("name.keras")``.

    Raises
    ------
    ImportError
        When keras or keras-lmu is not installed.
    """
    try:
        import keras
        import keras_lmu
    except ImportError as error:
        raise ImportError(
            "to_keras needs keras and keras-lmu 0.9 (bash scripts/keras-env makes a "
            f"virtualenv with them): {error}"
        ) from error
    placement = model.config["quantizer"]["placement"]
    if placement != "none":
        warnings.warn(
            f"the model's quantizer (placement {placement!r}) is not exported: keras-lmu runs "
            "the network without spikes (SPEC K3)",
            UserWarning,
            stacklevel=2,
        )
    described = _native.keras_export(model)
    cell = described["cell"]
    lmu = model.config["lmu"]
    keras_model = keras.Sequential(
        [
            keras.Input((None, lmu["input_size"])),
            keras.layers.RNN(
                keras_lmu.LMUCell(
                    memory_d=cell["memory_d"],
                    order=cell["order"],
                    theta=cell["theta"],
                    hidden_cell=keras.layers.SimpleRNNCell(
                        cell["hidden_units"],
                        activation=cell["hidden_activation"],
                        use_bias=False,
                    ),
                    hidden_to_memory=cell["hidden_to_memory"],
                    memory_to_memory=cell["memory_to_memory"],
                    input_to_hidden=cell["input_to_hidden"],
                    discretizer=cell["discretizer"],
                )
            ),
            keras.layers.Dense(described["output_units"]),
        ]
    )
    variables = described["variables"]
    if len(keras_model.weights) != len(variables):
        raise RuntimeError(
            f"keras-lmu built {len(keras_model.weights)} variables where hsnn describes "
            f"{len(variables)} ({[name for name, _ in variables]}): another keras-lmu version?"
        )
    for weight, (name, values) in zip(keras_model.weights, variables):
        if tuple(weight.shape) != values.shape:
            raise RuntimeError(
                f"keras-lmu's {weight.path} has shape {tuple(weight.shape)} where hsnn's "
                f"{name} has {values.shape}: another keras-lmu version?"
            )
        weight.assign(values.astype("float32"))
    return keras_model
