"""Sequence files from numpy (SPEC D7, E2 version 4): arrays saved with ``numpy.savez`` train
and evaluate a network through the Rust engine, and a network that cannot take them is refused
before it trains."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_training import TINY

import hsnn

STEPS = 12


def task(count: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes a small LMU separates and a constant guess cannot (chance 1/3): a rising
    ramp, a falling ramp and a bump on feature 0, scaled per sequence; feature 1 is noise."""
    rng = np.random.default_rng(first)
    labels = (np.arange(first, first + count) % 3).astype(np.int64)
    time = np.linspace(0.0, 1.0, STEPS)
    shapes = np.stack([time - 0.5, 0.5 - time, 0.5 - 2.0 * np.abs(time - 0.5)])
    amplitude = rng.uniform(0.5, 1.0, size=(count, 1))
    x = np.empty((count, STEPS, 2), dtype=np.float32)
    x[:, :, 0] = amplitude * shapes[labels] + rng.normal(0.0, 0.1, size=(count, STEPS))
    x[:, :, 1] = rng.normal(0.0, 0.5, size=(count, STEPS))
    return x, labels


def experiment(tmp_path: Path, **network: Any) -> Path:
    config = copy.deepcopy(TINY)
    config["name"] = "python-sines"
    config["data"] = {"validation_size": 30, "limit": None, "permutation_seed": 0}
    config["network"]["lmu"].update(input_size=2, hidden_size=8, order=6, theta=float(STEPS))
    config["network"]["output_size"] = 3
    config["network"]["lmu"].update(network)
    config["batch_size"] = 30
    config["stages"][0]["epochs"] = 5
    config["evaluation_dts"] = []
    path = tmp_path / "sines.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def sequence_file(tmp_path: Path) -> Path:
    x_train, y_train = task(240, 0)
    x_test, y_test = task(90, 10_000)
    path = tmp_path / "sines.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_numpy_arrays_train_and_evaluate_far_above_chance(
    tmp_path: Path, sequence_file: Path
) -> None:
    hsnn.reproduce(experiment(tmp_path), data=sequence_file, out=tmp_path / "run", progress=False)
    model = hsnn.Model.load(tmp_path / "run" / "model-non_spiking.json")
    recorded = model.to_dict()["provenance"]["data"]
    assert recorded["source"] == "sequence_file"
    assert recorded["file"]["path"] == str(sequence_file)
    assert (recorded["train_samples"], recorded["validation_samples"]) == (210, 30)
    evaluation = hsnn.evaluate(hsnn.Optimized(), model, split="test", data=sequence_file)
    assert evaluation["samples"] == 90
    assert evaluation["accuracy"] >= 0.8, evaluation


def test_arrays_train_directly_and_a_resumed_run_needs_the_same_arrays(tmp_path: Path) -> None:
    x_train, y_train = task(240, 0)
    x_test, y_test = task(90, 10_000)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    config = experiment(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(hsnn.UsageError, match="out="):
        hsnn.reproduce(config, data=arrays, progress=False)
    with pytest.raises(hsnn.RunInterrupted):
        hsnn.reproduce(config, data=arrays, out=out, progress=False, stop_after_epochs=1)
    kept = out / "sequences.npz"
    first = kept.read_bytes()
    # The file is numpy's own format, and the same arrays give the same bytes.
    with np.load(kept) as read:
        assert (read["x_train"] == x_train).all() and (read["y_test"] == y_test).all()
    # It names its format and what wrote it, in an entry numpy loads like the arrays, and
    # loaded whole it saves again to the same bytes.
    with np.load(kept) as read:
        made_by = json.loads(str(read["hsnn"]))
        whole = dict(read)
    assert (made_by["format"], made_by["format_version"]) == ("hsnn-sequences", 1)
    assert made_by["generator"] == "hsnn.save_sequences"
    assert hsnn.save_sequences(tmp_path / "whole.npz", whole).read_bytes() == first
    again = hsnn.save_sequences(tmp_path / "again.npz", arrays)
    assert again.read_bytes() == first
    changed = dict(arrays, y_train=(y_train + 1) % 3)
    with pytest.raises(hsnn.UsageError, match="other arrays"):
        hsnn.reproduce(config, data=changed, out=out, progress=False, resume=True)
    assert kept.read_bytes() == first
    # Neither resumed nor forced, the folder's arrays stay too (the run there refuses anyway).
    with pytest.raises(hsnn.UsageError, match="other arrays"):
        hsnn.reproduce(config, data=changed, out=out, progress=False)
    assert kept.read_bytes() == first
    hsnn.reproduce(config, data=arrays, out=out, progress=False, resume=True)
    model = hsnn.Model.load(out / "model-non_spiking.json")
    assert model.to_dict()["provenance"]["data"]["file"]["path"] == str(kept)
    # The same arrays evaluate as the recorded file does, and are recognised as it.
    from_arrays = hsnn.evaluate(hsnn.Optimized(), model, data=arrays)
    recorded = hsnn.evaluate(hsnn.Optimized(), model)
    assert from_arrays["accuracy"] == recorded["accuracy"] >= 0.8
    assert from_arrays["note"] is None
    other = hsnn.evaluate(hsnn.Optimized(), model, data=changed)
    assert "another file" in other["note"]
    with pytest.raises(hsnn.UsageError, match="missing"):
        hsnn.save_sequences(tmp_path / "bad.npz", {"x_train": x_train})


def test_a_network_that_cannot_take_the_file_is_refused(
    tmp_path: Path, sequence_file: Path
) -> None:
    with pytest.raises(hsnn.UsageError, match=r"lmu\.input_size"):
        hsnn.reproduce(
            experiment(tmp_path, input_size=1),
            data=sequence_file,
            out=tmp_path / "run",
            progress=False,
        )
    assert not (tmp_path / "run" / "model-non_spiking.json").exists()
    broken = tmp_path / "broken.npz"
    x, y = task(20, 0)
    np.savez(broken, x_train=x, y_train=y, x_test=x)
    with pytest.raises(hsnn.UsageError, match="y_test"):
        hsnn.reproduce(experiment(tmp_path), data=broken, out=tmp_path / "r2", progress=False)
