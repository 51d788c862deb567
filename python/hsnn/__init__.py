"""hsnn: hybrid-spiking LMU networks with quantized activations, from Python.

A thin shell over the Rust crates of the hsnn workspace (the math is there, none here):

- backends (SPEC N5, T, H): :class:`Reference` (f64, exact), :class:`Optimized` (f32,
  threads), :class:`Hardware` (the modeled fixed-point chip);
- :class:`Model`: model files (E2), built from a config (N4), initial weights (T6);
- :func:`load_psmnist` (D); :func:`bit_metrics` from spike counts and :func:`site_metrics`
  from the site records of one or more forward passes (B, N3);
- :func:`import_keras` and :func:`to_keras`: Keras LMUs in and out (K);
- :func:`evaluate` (B, E2) and :func:`reproduce` (T), through the Rust training engine, on
  psMNIST or any task's sequences (:func:`save_sequences`, D7);
- :mod:`hsnn.conformance`: the conformance suite run on any Python implementation (C6);
- the exceptions of :mod:`hsnn._errors`, all derived from :class:`HsnnError` (E1).

Arrays are numpy arrays: float64 (int64 for labels, counts and ids), C-contiguous; a wrong
dtype or layout is an exception that names the argument, never a silent cast.
"""

from __future__ import annotations

from hsnn._errors import (
    DataError,
    DtypeError,
    FileError,
    FormatVersionError,
    HsnnError,
    InvalidConfigError,
    KerasImportError,
    LayoutError,
    NonFiniteError,
    NumericalError,
    ParseError,
    PortError,
    RunInterrupted,
    ShapeMismatchError,
    UnsupportedError,
    UsageError,
)
from hsnn._native import (
    FixedModel,
    Hardware,
    Model,
    Optimized,
    Reference,
    bit_metrics,
    load_psmnist,
    site_metrics,
)
from hsnn.keras import import_keras, to_keras
from hsnn.training import evaluate, reproduce, save_sequences

__version__ = "0.1.0"

__all__ = [
    "DataError",
    "DtypeError",
    "FileError",
    "FixedModel",
    "FormatVersionError",
    "Hardware",
    "HsnnError",
    "InvalidConfigError",
    "KerasImportError",
    "LayoutError",
    "Model",
    "NonFiniteError",
    "NumericalError",
    "Optimized",
    "ParseError",
    "PortError",
    "Reference",
    "RunInterrupted",
    "ShapeMismatchError",
    "UnsupportedError",
    "UsageError",
    "bit_metrics",
    "evaluate",
    "import_keras",
    "load_psmnist",
    "reproduce",
    "save_sequences",
    "site_metrics",
    "to_keras",
]
