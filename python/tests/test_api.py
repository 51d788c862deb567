"""The Python API over the Rust crates: results checked against independent computations
(numpy's own permutation, the numpy port of ports/numpy), errors that name the argument, and
hypothesis-made arrays of every dtype, shape and layout that must give a result or an
``HsnnError``, never a crash (SPEC E1); arguments of the wrong Python type are the binding's
``TypeError`` (test_boundary.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import hsnn
from conftest import PAPER_MODEL
from hsnn_numpy_port import NumpyPort, jsonable
from hsnn_numpy_port import bit_metrics as port_bit_metrics

SMALL = {
    "lmu": {
        "input_size": 1,
        "hidden_size": 5,
        "memory_size": 1,
        "order": 4,
        "theta": 6.0,
        "discretizer": "zero_order_hold",
        "hidden_activation": "tanh",
        "connections": {
            "input_to_hidden": True,
            "hidden_to_memory": True,
            "memory_to_memory": True,
        },
    },
    "output_size": 3,
    "quantizer": {
        "placement": "hidden",
        "dt": 1.0,
        "amplitude": 1.0,
        "initial_state": {"kind": "uniform", "seed": 0},
    },
}


@pytest.fixture(scope="module")
def small() -> hsnn.Model:
    return hsnn.Model.initial(SMALL, 3)


def inputs(batch: int = 2, steps: int = 7) -> np.ndarray:
    return np.random.default_rng(1).uniform(-1, 1, (batch, steps, 1))


def test_embedded_permutation_is_numpys_own() -> None:
    data = hsnn.load_psmnist()
    expected = np.random.RandomState(0).permutation(784)
    assert np.array_equal(data["permutation"], expected)
    x, y = data["test"]
    assert x.shape == (1000, 784, 1) and x.dtype == np.float64 and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) == set(range(10))


def test_nru_recipe_draws_both_permutations_from_one_stream() -> None:
    data = hsnn.load_psmnist(recipe="nru", permutation_seed=50, validation_size=500)
    stream = np.random.RandomState(50)
    stream.permutation(3000)  # the training file's shuffle comes first (SPEC D6)
    assert np.array_equal(data["permutation"], stream.permutation(784))


def test_forward_matches_the_independent_numpy_port(small: hsnn.Model) -> None:
    x = inputs()
    ours = hsnn.Reference().forward(small, x, trace="full")
    model = small.to_dict()
    batch = {"batch": 2, "steps": 7, "features": 1, "data": x.ravel(), "sample_ids": [0, 1]}
    theirs = NumpyPort().forward(jsonable(model, tensors=True), batch, "full")
    assert np.array_equal(ours["logits"], np.asarray(theirs["logits"]))
    counts = ours["trace"]["sites"][0]["counts"]
    assert counts.shape == (2, 7, 5) and counts.dtype == np.int64
    assert np.array_equal(counts.ravel(), theirs["trace"]["sites"][0]["counts"])
    assert ours["trace"]["hidden"].shape == (2, 7, 5)


def test_bit_metrics_match_the_independent_port(small: hsnn.Model) -> None:
    x = inputs(batch=3, steps=9)
    site = hsnn.Reference().forward(small, x)["trace"]["sites"][0]
    ours = hsnn.bit_metrics(
        site["counts"],
        activation="tanh",
        fan_out=site["fan_out"],
        fan_out_last_step=site["fan_out_last_step"],
    )
    port_site = dict(site, counts=site["counts"].ravel())
    theirs = port_bit_metrics({"sites": [port_site]})["sites"][0]
    for key in ("activity_bits", "activity_bits_signed", "max_abs_count", "mean_popcount"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12), key
    assert ours["events"] == theirs["events"]


def tally_by_hand(counts: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """SPEC N3's tally of int64 counts ``[batch, steps, neurons]``, counted with numpy: the
    (neuron, count) pairs of every step but the last, and of the last, each with its times."""
    neurons = counts.shape[2]

    def cells(block: np.ndarray) -> dict[str, np.ndarray]:
        neuron = np.broadcast_to(np.arange(neurons), block.shape).ravel()
        pairs, times = np.unique(
            np.stack([neuron, block.ravel()], axis=1), axis=0, return_counts=True
        )
        return {"neuron": pairs[:, 0], "count": pairs[:, 1], "times": times.astype(np.int64)}

    return {"steps": cells(counts[:, :-1, :]), "last_step": cells(counts[:, -1:, :])}


@pytest.mark.parametrize(
    "backend", [hsnn.Reference(), hsnn.Optimized(threads=2), hsnn.Hardware()], ids=str
)
def test_tally_level_gives_the_tally_of_the_counts(backend: object, small: hsnn.Model) -> None:
    x = inputs(batch=4, steps=11) * 3.0
    counted = backend.forward(small, x, trace="counts")  # type: ignore[attr-defined]
    tallied = backend.forward(small, x, trace="tally")  # type: ignore[attr-defined]
    assert np.array_equal(counted["logits"], tallied["logits"])
    counts = counted["trace"]["sites"][0]["counts"]
    site = tallied["trace"]["sites"][0]
    assert site["counts"] is None and counted["trace"]["sites"][0]["tally"] is None
    assert len(np.unique(counts)) >= 3, "counts varied enough to tell a tally from totals"
    expected = tally_by_hand(counts)
    for kind in ("steps", "last_step"):
        for column in ("neuron", "count", "times"):
            got = site["tally"][kind][column]
            assert got.dtype == np.int64
            assert np.array_equal(got, expected[kind][column]), (kind, column)


def test_site_metrics_of_tallied_batches_equal_the_port_on_all_counts(
    small: hsnn.Model,
) -> None:
    x = inputs(batch=6, steps=9) * 3.0
    reference = hsnn.Reference()
    first, second = (
        reference.forward(small, part, trace="tally", sample_ids=ids)["trace"]["sites"][0]
        for part, ids in ((x[:2], np.arange(2)), (x[2:], np.arange(2, 6)))
    )
    ours = hsnn.site_metrics([first, second])
    site = reference.forward(small, x, trace="counts")["trace"]["sites"][0]
    theirs = port_bit_metrics({"sites": [dict(site, counts=site["counts"].ravel())]})
    theirs = theirs["sites"][0]
    for key in ("activity_bits", "activity_bits_signed", "max_abs_count", "mean_popcount"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12), key
    assert ours["events"] == theirs["events"]
    assert ours["events"]["neuron_updates"] == 6 * 9 * 5
    # A record at level counts gives the same metrics as its tally.
    assert hsnn.site_metrics(site) == ours


def test_site_metrics_refuses_records_that_do_not_fit(small: hsnn.Model) -> None:
    site = hsnn.Reference().forward(small, inputs(), trace="tally")["trace"]["sites"][0]
    with pytest.raises(hsnn.InvalidConfigError, match="at least one"):
        hsnn.site_metrics([])
    zero = {kind: dict(cells) for kind, cells in site["tally"].items()}
    zero["steps"]["times"] = np.zeros_like(zero["steps"]["times"])
    with pytest.raises(hsnn.InvalidConfigError, match=r"records\[0\]\.tally\.steps"):
        hsnn.site_metrics(dict(site, tally=zero))
    with pytest.raises(hsnn.ShapeMismatchError, match="updates"):
        hsnn.site_metrics(dict(site, batch=site["batch"] + 1))
    with pytest.raises(hsnn.InvalidConfigError, match=r"records\[1\]\.site"):
        hsnn.site_metrics([site, dict(site, site="output")])
    with pytest.raises(hsnn.InvalidConfigError, match="no tally"):
        hsnn.site_metrics(dict(site, tally=None))


def test_optimized_results_do_not_depend_on_threads(small: hsnn.Model) -> None:
    x = inputs(batch=60, steps=5)
    one = hsnn.Optimized(threads=1).forward(small, x)
    two = hsnn.Optimized(threads=min(2, os.cpu_count() or 1)).forward(small, x)
    assert np.array_equal(one["logits"], two["logits"])
    assert hsnn.Optimized(threads=1).threads == 1


def test_gradients_are_the_reference_ones_on_the_optimized_backend(small: hsnn.Model) -> None:
    x, labels = inputs(), np.array([0, 2])
    exact = hsnn.Reference().gradients(small, x, labels)
    fast = hsnn.Optimized(threads=1).gradients(small, x, labels)
    assert fast["loss"] == pytest.approx(exact["loss"], rel=1e-5)
    scale = max(np.abs(g).max() for g in exact["gradients"].values() if g is not None)
    for name, gradient in exact["gradients"].items():
        if gradient is not None:
            assert np.abs(fast["gradients"][name] - gradient).max() <= 1e-4 * scale, name


def test_shipped_paper_model_is_well_above_chance_on_embedded_images() -> None:
    model = hsnn.Model.load(PAPER_MODEL).with_quantizer(dt=2.0)
    x, y = hsnn.load_psmnist()["test"]
    logits = hsnn.Optimized().forward(model, x[:100], trace="none")["logits"]
    assert (logits.argmax(axis=1) == y[:100]).mean() > 0.8


def test_model_round_trips_through_dict_and_file(small: hsnn.Model, tmp_path: Path) -> None:
    parts = small.to_dict()
    rebuilt = hsnn.Model.from_config(parts["config"], parts["weights"])
    assert rebuilt == small
    small.save(tmp_path / "m.json")
    assert hsnn.Model.load(tmp_path / "m.json") == small


def test_errors_name_the_argument_and_keep_the_rust_message(small: hsnn.Model) -> None:
    backend = hsnn.Reference()
    with pytest.raises(hsnn.DtypeError, match="`inputs` must have dtype float64, got float32"):
        backend.forward(small, inputs().astype(np.float32))
    with pytest.raises(hsnn.LayoutError, match="C-contiguous"):
        backend.forward(small, np.asfortranarray(inputs(batch=3)))
    bad = inputs()
    bad[1, 2, 0] = np.inf
    with pytest.raises(hsnn.NonFiniteError, match=r"`inputs` contains a non-finite value \(inf\)"):
        backend.forward(small, bad)
    with pytest.raises(hsnn.ShapeMismatchError, match="3-d array"):
        backend.forward(small, inputs()[0])
    with pytest.raises(hsnn.InvalidConfigError, match=r"labels\[1\]"):
        backend.gradients(small, inputs(), np.array([0, 7]))
    with pytest.raises(hsnn.InvalidConfigError, match=r"quantizer\.dt"):
        small.with_quantizer(dt=0.0)
    with pytest.raises(hsnn.InvalidConfigError, match="dt"):
        backend.quantize("tanh", -1.0, 1.0, np.zeros((3, 1)), np.zeros(1))
    with pytest.raises(hsnn.FileError, match=r"/nonexistent/model\.json") as error:
        hsnn.Model.load("/nonexistent/model.json")
    assert isinstance(error.value, OSError)
    with pytest.raises(hsnn.UsageError, match="threads 0: this machine has"):
        hsnn.Optimized(threads=0)


DTYPES = st.sampled_from([np.float64, np.float32, np.int64, np.int32, np.bool_, np.complex128])


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        DTYPES,
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4),
        elements=None,
    ),
    st.booleans(),
)
def test_any_array_gives_a_result_or_an_hsnn_error(array: np.ndarray, transpose: bool) -> None:
    model = hsnn.Model.initial(SMALL, 0)
    candidate = array.T if transpose else array
    for call in (
        lambda: hsnn.Reference().forward(model, candidate),
        lambda: hsnn.Reference().quantize("tanh", 1.0, 1.0, candidate, np.zeros(1)),
        lambda: hsnn.bit_metrics(candidate),
    ):
        try:
            call()
        except hsnn.HsnnError:
            pass


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 3))),
    st.floats(0.05, 50.0),
)
def test_quantizer_counts_equal_the_ports_for_any_finite_input(
    values: np.ndarray, dt: float
) -> None:
    initial = np.zeros(values.shape[1])
    try:
        ours = hsnn.Reference().quantize("tanh", dt, 1.0, values, initial)
    except hsnn.NonFiniteError:
        assert not np.isfinite(values).all()
        return
    theirs = NumpyPort().quantize("tanh", dt, 1.0, values, initial)
    assert np.array_equal(ours["counts"], np.asarray(theirs["counts"]))
    assert np.array_equal(ours["final_state"], np.asarray(theirs["final_state"]))
