"""The Python boundary under hypothesis (SPEC E1, E3): arrays of every dtype, shape, layout
and value (NaN, inf, huge, empty), and configurations with any JSON value in any field, go into
every public function. Each call gives a result or an ``Exception``; a Rust panic would arrive
as ``pyo3_runtime.PanicException``, a ``BaseException``, and fail the test, and a crash would
end the run."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_api import SMALL

import hsnn

# hypothesis casts huge floats into float16 arrays on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")

DTYPES = st.sampled_from(
    [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint64, np.bool_, np.complex64]
)
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.just(1e308), st.just(-0.0), st.just(0.0)
)


def arrays() -> st.SearchStrategy[np.ndarray]:
    """Arrays of any dtype and shape (empty included), float ones with any value."""
    return DTYPES.flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
            elements=VALUES if np.dtype(dtype).kind == "f" else None,
        )
    ).flatmap(lambda a: st.sampled_from([a, a.T, a[::2] if a.ndim else a]))


# Integers small or far beyond every limit (2^53 + 1 as an order once aborted the process on a
# failed allocation, now refused by validate_order): a valid order between a few hundred and
# MAX_ORDER (4096) is accepted and takes minutes to hours to discretize (L2's order^3), which
# is slowness, not a failure, and has no place in the suite.
INTEGERS = st.integers(-1000, 300) | st.sampled_from(
    [2**31, 2**32 + 1, 2**53 + 1, 2**63 - 1, 2**64, -(2**63), 10**30]
)
JSON = st.recursive(
    st.none() | st.booleans() | INTEGERS | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


def leaves(value: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in leaves(item, (*path, key))] + [path]
    return [path]


def replaced(config: dict, path: tuple, new: Any) -> dict:
    result = copy.deepcopy(config)
    if not path:
        return new
    target = result
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return result


def survives(call: Any) -> None:
    """Runs ``call``: a result or an ``Exception`` is fine; a panic propagates."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any exception is a refusal, a panic is not one
        assert str(error), f"{type(error).__name__} without a message"


MODEL = hsnn.Model.initial(SMALL, 0)
PATHS = leaves(SMALL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrays(), arrays())
def test_every_array_argument(first: np.ndarray, second: np.ndarray) -> None:
    reference = hsnn.Reference()
    weights = MODEL.to_dict()["weights"]
    survives(lambda: reference.forward(MODEL, first, trace="full"))
    survives(lambda: reference.forward(MODEL, first, sample_ids=second))
    survives(lambda: reference.quantize("relu", 0.5, 2.0, first, second))
    survives(lambda: reference.gradients(MODEL, first, second))
    survives(
        lambda: hsnn.Optimized(threads=1).gradients(MODEL, first, second, "keras2_probability")
    )
    survives(lambda: hsnn.Hardware().forward(MODEL, first))
    survives(lambda: hsnn.bit_metrics(first, fan_out=second))
    for name in weights:
        survives(lambda name=name: hsnn.Model.from_config(SMALL, {**weights, name: first}))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PATHS), JSON)
def test_any_value_in_any_config_field(path: tuple, value: Any) -> None:
    config = replaced(SMALL, path, value)
    survives(lambda: hsnn.Model.initial(config, 0))
    survives(
        lambda: hsnn.Reference().lmu_matrices(
            config.get("lmu") if isinstance(config, dict) else config
        )
    )
    survives(lambda: hsnn.Hardware(value if isinstance(value, dict) else {"weight_bits": value}))
    survives(lambda: MODEL.convert({"weight_bits": value}))
    survives(lambda: MODEL.with_quantizer(placement=value))


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    st.one_of(st.none(), st.integers(-(2**70), 2**70)),
    st.integers(-(2**40), 2**40),
    st.text(max_size=8),
)
def test_any_data_arguments(limit: Any, validation: Any, seed: int, recipe: str) -> None:
    survives(
        lambda: hsnn.load_psmnist(limit=limit, validation_size=validation, permutation_seed=seed)
    )
    survives(lambda: hsnn.load_psmnist(recipe=recipe, limit=1))
    survives(lambda: hsnn.Optimized(threads=limit))


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=12), st.binary(max_size=12), JSON))
def test_any_path_or_argument_to_files_and_runs(value: Any) -> None:
    survives(lambda: hsnn.Model.load(value))
    survives(lambda: hsnn.FixedModel.load(value))
    survives(lambda: MODEL.save(f"/dev/null/{value!s}"))  # an unwritable place, any name
    survives(lambda: hsnn.evaluate(hsnn.Reference(), MODEL, split=value, limit=1))
    survives(lambda: hsnn.evaluate(hsnn.Reference(), MODEL, limit=value))
    survives(lambda: hsnn.reproduce(value, out="/dev/null/hsnn-run", progress=False))


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_in_a_model_file(tmp_path_factory: Any, content: bytes) -> None:
    path = tmp_path_factory.mktemp("files") / "model.json"
    path.write_bytes(content)
    survives(lambda: hsnn.Model.load(path))
    survives(lambda: hsnn.FixedModel.load(path))
