"""keras-lmu as an hsnn port: its ``LMUCell`` runs SPEC L1-L4 and N1's non-spiking network.

A thin adapter for ``python -m hsnn.conformance`` (SPEC C6, docs/PORTS.md): the library does
the math, in float64 on Keras 3. The adapter builds keras-lmu's cell with hsnn's weights in
keras-lmu's layout (SPEC L4's table), calls it, and reads the results back. What the library
does not give, the adapter computes, and every such field is marked ``ADAPTER`` below:

- ``lmu_matrices``: ``a`` and ``b`` are the library's undiscretized matrices (``_base_A``,
  ``_base_B``, kept only for zero-order hold) divided by theta; ``a_bar``, ``b_bar`` are the
  library's ``A``, ``B`` transposed back (keras-lmu stores Abar^T and Bbar^T).
- ``forward``: ``trace.dt`` is echoed from the model; ``sites`` is empty (no quantizer).
- ``gradients_with_loss``: the gradients of the cell's stacked kernels are split into hsnn's
  tensors (e_x above e_h; W_m above W_x).
- The model file's header (format and version, SPEC E2) and which optional tensors it holds
  (N4) are read by the adapter, since keras-lmu has no file of its own.

keras-lmu has no spiking quantizer: ``quantize`` does not exist, and a model that spikes is
declined with ``hsnn.conformance.NotSupported``. Everything else, bad values included, goes to
the library unchecked (SPEC E1).
"""

from __future__ import annotations

import json
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

import keras
import keras_lmu
import numpy as np
import tensorflow as tf

from hsnn.conformance import NotSupported

__all__ = ["KerasLmuPort"]

keras.config.set_floatx("float64")
tf.get_logger().setLevel("ERROR")  # tf.function's retracing notices

#: hsnn's names (SPEC L3, Q5) to keras-lmu's and Keras's.
DISCRETIZERS = {"zero_order_hold": "zoh", "euler": "euler"}
ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "identity": "linear"}
#: hsnn's optional tensors and the connection flag that adds each (SPEC N4, L4).
OPTIONAL_WEIGHTS = {
    "encoder_hidden": "hidden_to_memory",
    "encoder_memory": "memory_to_memory",
    "kernel_input": "input_to_hidden",
}


def _tensor(value: Any) -> np.ndarray:
    return np.asarray(value["data"], dtype=np.float64).reshape(
        int(value["rows"]), int(value["cols"])
    )


def _read_header(model: dict[str, Any]) -> dict[str, Any]:
    """The model's configuration, after its header (E2) and its quantizer (none) are checked."""
    if model.get("format") != "hsnn-model" or model.get("format_version") != 1:
        # ADAPTER: the header of hsnn's model file (E2); keras-lmu has no file format.
        raise ValueError(
            f"not an hsnn-model version 1: {model.get('format')!r} "
            f"version {model.get('format_version')!r}"
        )
    config = model["config"]
    flags = config["lmu"]["connections"]
    for name, flag in OPTIONAL_WEIGHTS.items():
        # ADAPTER: which tensors an hsnn model file holds (N4); keras-lmu never sees a
        # tensor its flags leave out, so a file with one would otherwise pass unread.
        if (model["weights"].get(name) is not None) != bool(flags[flag]):
            raise ValueError(f"weights.{name} does not match connections.{flag}")
    placement = config["quantizer"]["placement"]
    if placement != "none":
        raise NotSupported(f"keras-lmu has no spiking quantizer (quantizer placement {placement})")
    return config


class _Network:
    """hsnn's network (SPEC L4, N1 without spiking) as keras-lmu's cell, built once per
    configuration; :meth:`load` sets a model's weights."""

    def __init__(self, config: dict[str, Any]) -> None:
        lmu = config["lmu"]
        flags = lmu["connections"]
        self.flags = flags
        self.cell = keras_lmu.LMUCell(
            memory_d=int(lmu["memory_size"]),
            order=int(lmu["order"]),
            theta=float(lmu["theta"]),
            hidden_cell=keras.layers.SimpleRNNCell(
                int(lmu["hidden_size"]),
                activation=ACTIVATIONS[lmu["hidden_activation"]],
                use_bias=False,
            ),
            hidden_to_memory=bool(flags["hidden_to_memory"]),
            memory_to_memory=bool(flags["memory_to_memory"]),
            input_to_hidden=bool(flags["input_to_hidden"]),
            discretizer=DISCRETIZERS[lmu["discretizer"]],
        )
        self.rnn = keras.layers.RNN(self.cell, return_sequences=True)
        self.rnn.build((None, None, int(lmu["input_size"])))
        self.readout = keras.layers.Dense(int(config["output_size"]))
        self.readout.build((None, int(lmu["hidden_size"])))
        self.inputs = int(lmu["input_size"])
        self.variables = [
            v
            for v in (
                self.cell.kernel,
                self.cell.recurrent_kernel,
                self.cell.hidden_cell.kernel,
                self.cell.hidden_cell.recurrent_kernel,
                self.readout.kernel,
                self.readout.bias,
            )
            if v is not None
        ]
        # Keras's own layers, compiled into one TensorFlow graph per input shape and loss.
        self.forward = tf.function(self._forward, reduce_retracing=True)
        self.gradients = tf.function(self._gradients, reduce_retracing=True)

    def load(self, weights: dict[str, Any]) -> None:
        """Sets ``weights`` (hsnn's tensors, SPEC N4) into the cell's variables."""
        flags = self.flags
        # keras-lmu's layout (SPEC L4): one memory kernel, e_x above e_h; one hidden kernel,
        # W_m above W_x; the hidden cell's recurrent kernel is W_h; e_m is the memory's.
        memory_kernel = [_tensor(weights["encoder_input"])]
        if flags["hidden_to_memory"]:
            memory_kernel.append(_tensor(weights["encoder_hidden"]))
        self.cell.kernel.assign(np.vstack(memory_kernel))
        if flags["memory_to_memory"]:
            self.cell.recurrent_kernel.assign(_tensor(weights["encoder_memory"]))
        hidden_kernel = [_tensor(weights["kernel_memory"])]
        if flags["input_to_hidden"]:
            hidden_kernel.append(_tensor(weights["kernel_input"]))
        self.cell.hidden_cell.kernel.assign(np.vstack(hidden_kernel))
        self.cell.hidden_cell.recurrent_kernel.assign(_tensor(weights["kernel_hidden"]))
        self.readout.kernel.assign(_tensor(weights["readout_kernel"]))
        self.readout.bias.assign(_tensor(weights["readout_bias"]).reshape(-1))

    def _forward(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        hidden = self.rnn(x)
        return self.readout(hidden[:, -1, :]), hidden

    def _gradients(
        self, x: tf.Tensor, targets: tf.Tensor, loss: str
    ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        with tf.GradientTape() as tape:
            logits, _ = self._forward(x)
            if loss == "softmax_cross_entropy":
                value = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
                    targets, logits
                )
            else:
                # keras2_probability: the loss of Keras's softmax, as a Keras model with a
                # softmax output computes it (SPEC T1b).
                probabilities = keras.activations.softmax(logits)
                value = keras.losses.SparseCategoricalCrossentropy(from_logits=False)(
                    targets, probabilities
                )
        found = tape.gradient(value, [v.value for v in self.variables])
        return value, logits, found

    def split(self, found: list[Any]) -> dict[str, np.ndarray | None]:
        """hsnn's gradient tensors from the variables' (ADAPTER: the stacked kernels split)."""
        gradient = {id(v): g for v, g in zip(self.variables, found, strict=True)}

        def value(variable: Any) -> np.ndarray:
            got = gradient.get(id(variable))
            return np.zeros(variable.shape) if got is None else np.asarray(got)

        memory = value(self.cell.kernel)
        hidden = value(self.cell.hidden_cell.kernel)
        order_rows = hidden.shape[0] - (self.inputs if self.flags["input_to_hidden"] else 0)
        return {
            "encoder_input": memory[: self.inputs],
            "encoder_hidden": memory[self.inputs :] if self.flags["hidden_to_memory"] else None,
            "encoder_memory": (
                value(self.cell.recurrent_kernel) if self.flags["memory_to_memory"] else None
            ),
            "kernel_input": hidden[order_rows:] if self.flags["input_to_hidden"] else None,
            "kernel_hidden": value(self.cell.hidden_cell.recurrent_kernel),
            "kernel_memory": hidden[:order_rows],
            "readout_kernel": value(self.readout.kernel),
            "readout_bias": value(self.readout.bias).reshape(1, -1),
        }


def _inputs(batch: dict[str, Any]) -> tf.Tensor:
    return tf.constant(
        np.asarray(batch["data"], dtype=np.float64).reshape(
            int(batch["batch"]), int(batch["steps"]), int(batch["features"])
        )
    )


class KerasLmuPort:
    """keras-lmu 0.9.0's ``LMUCell`` behind hsnn's port contract (SPEC C6)."""

    def __init__(self) -> None:
        self._networks: dict[str, _Network] = {}

    def _network(self, model: dict[str, Any]) -> _Network:
        """The cell built for ``model``'s configuration (kept for the next call), its weights
        set to the model's."""
        config = _read_header(model)
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in self._networks:
            if len(self._networks) >= 16:
                self._networks.pop(next(iter(self._networks)))
            self._networks[key] = _Network(config)
        network = self._networks[key]
        network.load(model["weights"])
        return network

    def name(self) -> str:
        """The name the matrix shows."""
        return "keras-lmu"

    def lmu_matrices(self, config: dict[str, Any]) -> dict[str, np.ndarray]:
        """SPEC L1-L3: keras-lmu's matrices for ``config``'s order, theta and discretizer.

        Parameters
        ----------
        config : dict
            An ``LmuConfig``.

        Returns
        -------
        dict
            ``a``, ``b`` (continuous, L1), ``a_bar``, ``b_bar`` (discrete, L2 or L3).
        """
        order, theta = int(config["order"]), float(config["theta"])

        def cell(discretizer: str) -> Any:
            built = keras_lmu.LMUCell(
                memory_d=1,
                order=order,
                theta=theta,
                hidden_cell=None,
                discretizer=discretizer,
                kernel_initializer=None,
            )
            built.build((None, 1))
            return built

        discrete = cell(DISCRETIZERS[config["discretizer"]])
        # The library keeps the undiscretized matrices for zero-order hold only.
        continuous = cell("zoh")
        return {
            "a": np.asarray(continuous._base_A).T / theta,  # ADAPTER: / theta
            "b": np.asarray(continuous._base_B).T / theta,  # ADAPTER: / theta
            "a_bar": np.asarray(discrete.A).T,
            "b_bar": np.asarray(discrete.B).T,
        }

    def forward(self, model: dict[str, Any], batch: dict[str, Any], trace: str) -> dict[str, Any]:
        """SPEC N1 without spiking: logits of the last step, and the hidden values at ``full``.

        Parameters
        ----------
        model : dict
            An hsnn model (SPEC E2) whose quantizer placement is ``none``.
        batch : dict
            A ``SequenceBatch``.
        trace : {"none", "counts", "full"}
            SPEC N3's level.
        """
        network = self._network(model)
        logits, hidden = network.forward(_inputs(batch))
        return {
            "logits": np.asarray(logits),
            "trace": {
                "dt": model["config"]["quantizer"]["dt"],  # ADAPTER: echoed
                "sites": [],  # ADAPTER: no quantizer, no site
                "hidden": np.asarray(hidden).reshape(-1) if trace == "full" else None,
            },
        }

    def gradients_with_loss(
        self,
        model: dict[str, Any],
        batch: dict[str, Any],
        labels: np.ndarray,
        loss: str,
    ) -> dict[str, Any]:
        """SPEC T1, T3: Keras's loss and TensorFlow's gradients of every weight.

        ``softmax_cross_entropy`` is Keras's sparse categorical cross-entropy of the logits;
        ``keras2_probability`` is the same loss of Keras's softmax, as a Keras 2 model with a
        softmax output computes it (SPEC T1b says what Keras computes there today).
        """
        if loss not in ("softmax_cross_entropy", "keras2_probability"):
            raise NotSupported(f"loss {loss}")
        network = self._network(model)
        targets = tf.constant(np.asarray(labels, dtype=np.int64))
        value, logits, found = network.gradients(_inputs(batch), targets, loss)
        return {
            "loss": float(value),
            "gradients": network.split(found),
            "logits": np.asarray(logits),
        }
