"""keras-spiking as an hsnn port: its ``SpikingActivation`` layer runs SPEC Q1-Q4's quantizer.

A thin adapter for ``python -m hsnn.conformance`` (SPEC C6, docs/PORTS.md): the library does
the math, in float64 on Keras 2 (``tf_keras``, which keras-spiking 0.3.0 needs). The adapter
only converts arrays and carries the layer's own voltage from one step to the next. What the
layer does not report, the adapter computes, and every such field is marked ``ADAPTER`` below:

- ``counts``: ``round(spikes * dt)``; the layer outputs ``n / dt``, not ``n``.
- ``outputs``: ``amplitude * spikes`` when the amplitude is not 1; keras-spiking has no
  amplitude (SPEC Q4's alpha). With amplitude 1 they are the layer's output unchanged.
- ``integrator``: ``n + v'``, the count plus the layer's new voltage; the layer keeps ``w``
  (SPEC Q1's integrator) to itself. It equals ``w`` wherever ``w - n`` was exact.

keras-spiking has no network of its own (no Legendre memory), so only ``quantize`` exists;
the other checks report ``not implemented``. Nothing is validated: bad input goes to the
layer as it is, and what the layer does with it is what the matrix shows (SPEC E1).
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# keras-spiking 0.3.0 builds Keras 2 layers: TensorFlow 2.16 and later give them through
# tf_keras only when this is set before TensorFlow is imported.
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import keras_spiking
import numpy as np
import tensorflow as tf

__all__ = ["KerasSpikingPort"]

# The layer builds its cell and RNN at Keras's default float type: float64 throughout.
tf.keras.backend.set_floatx("float64")

#: hsnn's activation names (SPEC Q5) to Keras's.
ACTIVATIONS = {"tanh": "tanh", "relu": "relu", "identity": "linear"}


class KerasSpikingPort:
    """keras-spiking 0.3.0's ``SpikingActivation`` behind hsnn's port contract (SPEC C6)."""

    def name(self) -> str:
        """The name the matrix shows."""
        return "keras-spiking"

    def quantize(
        self,
        activation: str,
        dt: float,
        amplitude: float,
        inputs: dict[str, Any],
        initial_state: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """SPEC Q1-Q4 on ``inputs`` (``steps x neurons``), one layer call per step.

        Parameters
        ----------
        activation : {"tanh", "relu", "identity"}
            The base activation (SPEC Q5), Keras's ``tanh``, ``relu`` or ``linear``.
        dt : float
            The layer's ``dt``.
        amplitude : float
            SPEC Q4's alpha, which keras-spiking lacks (see the module docstring).
        inputs : dict
            ``Tensor2`` ``{rows, cols, data}``: steps x neurons.
        initial_state : numpy.ndarray
            The layer's initial voltage, one per neuron (SPEC Q3).

        Returns
        -------
        dict
            ``counts``, ``outputs``, ``integrator`` (steps x neurons) and ``final_state``.
        """
        steps, neurons = int(inputs["rows"]), int(inputs["cols"])
        x = np.asarray(inputs["data"], dtype=np.float64).reshape(steps, neurons)
        layer = keras_spiking.SpikingActivation(
            ACTIVATIONS[activation],
            dt=dt,
            return_sequences=True,
            return_state=True,
        )
        voltage = tf.constant(np.asarray(initial_state, dtype=np.float64).reshape(1, -1))
        spikes = np.zeros((steps, neurons))
        voltages = np.zeros((steps, neurons))
        for step in range(steps):
            # The library's step: voltage += activation(x) * dt; n = floor; voltage -= n.
            out, state = layer(x[None, step : step + 1, :], initial_state=[voltage])
            voltage = state
            spikes[step] = out.numpy()[0, 0]
            voltages[step] = state.numpy()[0]
        with np.errstate(invalid="ignore"):  # a NaN spike (dt 0) becomes some integer
            counts = np.rint(spikes * dt).astype(np.int64)  # ADAPTER: n from n / dt
        outputs = spikes if amplitude == 1.0 else amplitude * spikes  # ADAPTER: alpha
        integrator = counts + voltages  # ADAPTER: w = n + v'
        return {
            "counts": counts,
            "outputs": outputs,
            "integrator": integrator,
            "final_state": voltage.numpy()[0] if steps else np.asarray(initial_state),
        }
