"""Type stubs of ``hsnn._native``, the Rust extension module (python/src).

The docstrings are the module's own (``help(hsnn.Model)``); this file gives the types. It is
checked against the built module by ``mypy.stubtest`` (python/tests/test_stubs.py): a
function, argument or default that differs fails the test suite.
"""

from collections.abc import Callable, Mapping
from os import PathLike
from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt
from typing_extensions import TypeAlias

__all__ = [
    "FixedModel",
    "Hardware",
    "Model",
    "Optimized",
    "Reference",
    "bit_metrics",
    "conformance_checks",
    "device_names",
    "evaluate",
    "import_keras_file",
    "keras_export",
    "load_psmnist",
    "reproduce",
    "run_conformance_check",
    "site_metrics",
]

_Path: TypeAlias = str | PathLike[str]
_Floats: TypeAlias = npt.NDArray[np.float64]
_Integers: TypeAlias = npt.NDArray[np.int64]
_Activation: TypeAlias = Literal["identity", "relu", "tanh"]
_Trace: TypeAlias = Literal["none", "tally", "counts", "full"]
_Loss: TypeAlias = Literal["softmax_cross_entropy", "keras2_probability"]
_Site: TypeAlias = Literal["hidden", "memory_input", "memory_state"]
# A placement is a set of sites (SPEC N2): "none", a site word, "both" (hidden and memory
# input), or site words joined by "+" in any order; too many spellings for a Literal.
_Placement: TypeAlias = str
_Split: TypeAlias = Literal["train", "validation", "test"]
_Engine: TypeAlias = Literal["fast", "chip"]

@final
class Model:
    """A network configuration with its weights (SPEC E2, N4)."""

    @staticmethod
    def load(path: _Path) -> Model: ...
    @staticmethod
    def from_config(config: Mapping[str, Any], weights: Mapping[str, Any]) -> Model: ...
    @staticmethod
    def initial(config: Mapping[str, Any], seed: int) -> Model: ...
    def save(self, path: _Path) -> None: ...
    def convert(self, options: Mapping[str, Any] | None = None) -> FixedModel: ...
    def with_quantizer(
        self, placement: _Placement | None = None, dt: float | None = None
    ) -> Model: ...
    def to_dict(self) -> dict[str, Any]: ...
    def content_checksum(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class FixedModel:
    """A fixed-point model of stated integer widths (SPEC H9)."""

    @staticmethod
    def load(path: _Path) -> FixedModel: ...
    def save(self, path: _Path) -> None: ...
    def to_dict(self) -> dict[str, Any]: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def options(self) -> dict[str, Any]: ...

class _Backend:
    def name(self) -> str: ...
    def lmu_matrices(self, config: Mapping[str, Any]) -> dict[str, _Floats]: ...
    def quantize(
        self,
        activation: _Activation,
        dt: float,
        amplitude: float,
        inputs: _Floats,
        initial_state: _Floats,
    ) -> dict[str, npt.NDArray[Any]]: ...
    def forward(
        self,
        model: Model,
        inputs: _Floats,
        trace: _Trace = "counts",
        sample_ids: _Integers | None = None,
    ) -> dict[str, Any]: ...
    def _time_forward(
        self, model: Model, inputs: _Floats, trace: _Trace = "none", repetitions: int = 10
    ) -> list[float]: ...

class _Trainer(_Backend):
    def gradients(
        self,
        model: Model,
        inputs: _Floats,
        labels: _Integers,
        loss: _Loss = "softmax_cross_entropy",
        sample_ids: _Integers | None = None,
    ) -> dict[str, Any]: ...

@final
class Reference(_Trainer):
    """The reference backend: f64, readable (SPEC N5, T)."""

    def __new__(cls) -> Reference: ...

@final
class Optimized(_Trainer):
    """The optimized backend: f32, SIMD, threads (SPEC N5, T)."""

    def __new__(cls, threads: int | None = None) -> Optimized: ...
    @property
    def threads(self) -> int: ...

@final
class Hardware(_Backend):
    """The modeled fixed-point chip (SPEC section H)."""

    def __new__(
        cls,
        options: Mapping[str, Any] | None = None,
        threads: int = 1,
        fixed: FixedModel | None = None,
        engine: _Engine = "fast",
    ) -> Hardware: ...
    def take_counters(self) -> dict[str, Any]: ...
    def energy(self, model: Model, device: str | list[str]) -> dict[str, Any]: ...

def load_psmnist(
    directory: _Path | None = None,
    *,
    recipe: Literal["keras_lmu_example", "nru"] = "keras_lmu_example",
    permutation_seed: int = 0,
    validation_size: int | None = None,
    limit: int | None = None,
) -> dict[str, Any]: ...
def bit_metrics(
    counts: _Integers,
    activation: _Activation = "tanh",
    site: _Site = "hidden",
    fan_out: _Integers | None = None,
    fan_out_last_step: _Integers | None = None,
) -> dict[str, Any]: ...
def device_names() -> list[str]: ...
def site_metrics(records: list[Mapping[str, Any]]) -> list[dict[str, Any]]: ...
def evaluate(
    backend: Reference | Optimized | Hardware,
    model: Model,
    split: _Split = "test",
    data: _Path | None = None,
    limit: int | None = None,
    config: _Path | None = None,
    override_provenance: bool = False,
) -> dict[str, Any]: ...
def reproduce(
    config: _Path | None = None,
    *,
    backend: Reference | Optimized | None = None,
    data: _Path | None = None,
    out: _Path | None = None,
    resume: bool = False,
    force: bool = False,
    progress: Callable[[str, dict[str, Any]], object] | None = None,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]: ...
def import_keras_file(
    path: _Path, keras_config: _Path | None = None, source_name: str | None = None
) -> Model: ...
def keras_export(model: Model) -> dict[str, Any]: ...
def conformance_checks() -> list[tuple[str, str, str]]: ...
def run_conformance_check(port: object, level: str, check: str) -> tuple[str, str | None]: ...
