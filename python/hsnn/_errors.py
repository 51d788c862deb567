"""The exception hierarchy of hsnn (SPEC E1): one class per Rust error kind.

Every class derives from :class:`HsnnError` and from the builtin exception a Python user
would catch for that kind (``ValueError`` for bad values, ``OSError`` for files,
``TypeError`` for a wrong dtype), so both ``except hsnn.HsnnError`` and
``except ValueError`` work. The message is the Rust message, unchanged.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "DtypeError",
    "FileError",
    "FormatVersionError",
    "HsnnError",
    "InvalidConfigError",
    "KerasImportError",
    "LayoutError",
    "NonFiniteError",
    "NumericalError",
    "ParseError",
    "PortError",
    "RunInterrupted",
    "ShapeMismatchError",
    "UnsupportedError",
    "UsageError",
]


class HsnnError(Exception):
    """Base of every error hsnn raises (SPEC E1): bad input, refused with its reason."""


class InvalidConfigError(HsnnError, ValueError):
    """A configuration value is outside its allowed range (E1, ``InvalidConfig``)."""


class ShapeMismatchError(HsnnError, ValueError):
    """An array does not have the shape the configuration implies (E1, ``ShapeMismatch``)."""


class NonFiniteError(HsnnError, ValueError):
    """A value that must be finite is NaN or infinite (E1, ``NonFinite``)."""


class FormatVersionError(HsnnError, ValueError):
    """A file names a format or version this build does not read (E2, ``FormatVersion``)."""


class ParseError(HsnnError, ValueError):
    """A file or a dict could not be read: corrupted, truncated, a missing field (E2)."""


class FileError(HsnnError, OSError):
    """An operation on a named path failed (E2, ``Io``); the message names the path."""


class UnsupportedError(HsnnError, NotImplementedError):
    """The backend does not implement this part of the specification (SPEC C5, ``Unsupported``)."""


class PortError(HsnnError):
    """A port under the conformance runner raised (C6, ``Port``)."""


class NumericalError(HsnnError, ArithmeticError):
    """A numerical procedure failed, e.g. training diverged (SPEC E1, T8; ``Numerical``)."""


class DataError(HsnnError, ValueError):
    """Missing or malformed MNIST files (SPEC D1, E3; ``DataError``)."""


class KerasImportError(HsnnError, ValueError):
    """A Keras file cannot be imported (SPEC K2): unreadable, of another architecture, or
    holding something hsnn cannot express; the message names the layer and the variable."""


class UsageError(HsnnError, ValueError):
    """An experiment, checkpoint or results file is unusable, or an argument is wrong (SPEC E2)."""


class RunInterrupted(HsnnError):
    """A training run stopped on request after saving its checkpoint (T8); resume it."""


class DtypeError(HsnnError, TypeError):
    """An argument is not a numpy array of the dtype hsnn reads (SPEC E1): no silent casts."""


class LayoutError(HsnnError, ValueError):
    """An array is not C-contiguous; pass ``numpy.ascontiguousarray(array)`` (SPEC E1)."""
