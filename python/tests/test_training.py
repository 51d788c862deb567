"""Evaluation and training from Python through the Rust engine (SPEC B, T): the shipped model's
accuracy equals the command line's, and a short run stopped after an epoch resumes to exactly
the weights of an uninterrupted run (T8)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

import hsnn
from conftest import PAPER_MODEL, ROOT

TINY = {
    "format": "hsnn-experiment",
    "format_version": 1,
    "name": "python-tiny",
    "data": {"validation_size": 100, "limit": 100, "permutation_seed": 0},
    "network": {
        "lmu": {
            "input_size": 1,
            "hidden_size": 4,
            "memory_size": 1,
            "order": 4,
            "theta": 784.0,
            "discretizer": "zero_order_hold",
            "hidden_activation": "tanh",
            "connections": {
                "input_to_hidden": True,
                "hidden_to_memory": True,
                "memory_to_memory": True,
            },
        },
        "output_size": 10,
        "quantizer": {
            "placement": "none",
            "dt": 1.0,
            "amplitude": 1.0,
            "initial_state": {"kind": "uniform", "seed": 0},
        },
    },
    "seed": 0,
    "batch_size": 50,
    "optimizer": {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-7},
    "stages": [
        {
            "name": "non_spiking",
            "epochs": 2,
            "placement": "none",
            "schedule": {"kind": "constant", "dt": 1.0},
        },
    ],
    "evaluation_dts": [1.0],
}


def test_evaluate_equals_the_command_line() -> None:
    model = hsnn.Model.load(PAPER_MODEL)
    ours = hsnn.evaluate(hsnn.Optimized(), model, limit=200)
    completed = subprocess.run(
        [
            "cargo",
            "run",
            "--release",
            "--quiet",
            "-p",
            "hsnn-cli",
            "--",
            "eval",
            "--model",
            str(PAPER_MODEL),
            "--limit",
            "200",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    if completed.returncode != 0:
        pytest.skip(f"the hsnn binary did not run: {completed.stderr[-400:]}")
    theirs = json.loads(completed.stdout)
    assert ours["samples"] == theirs["samples"] == 200
    assert ours["accuracy"] == theirs["accuracy"] and ours["accuracy"] > 0.8
    assert ours["loss"] == theirs["loss"]


def test_evaluate_refuses_a_bad_split_and_backend() -> None:
    model = hsnn.Model.load(PAPER_MODEL)
    with pytest.raises(hsnn.InvalidConfigError, match="split"):
        hsnn.evaluate(hsnn.Reference(), model, split="dev")
    with pytest.raises(hsnn.DtypeError, match="backend"):
        hsnn.evaluate("optimized", model)


def test_a_stopped_run_resumes_to_the_uninterrupted_weights(tmp_path: Path) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    events: list[str] = []
    straight = hsnn.reproduce(
        config, out=tmp_path / "straight", progress=lambda event, _: events.append(event)
    )
    assert {"run_started", "stage_started", "minibatch", "epoch"} <= set(events)
    with pytest.raises(hsnn.RunInterrupted, match="resume"):
        hsnn.reproduce(config, out=tmp_path / "stopped", progress=False, stop_after_epochs=1)
    with pytest.raises(hsnn.UsageError):
        hsnn.reproduce(config, out=tmp_path / "stopped", progress=False)  # neither resume nor force
    resumed = hsnn.reproduce(config, out=tmp_path / "stopped", progress=False, resume=True)
    a = hsnn.Model.load(tmp_path / "straight" / "model-non_spiking.json").to_dict()["weights"]
    b = hsnn.Model.load(tmp_path / "stopped" / "model-non_spiking.json").to_dict()["weights"]
    assert all((a[k] is None and b[k] is None) or (a[k] == b[k]).all() for k in a)
    assert straight["rows"] == resumed["rows"]


def test_an_exception_in_the_progress_callable_stops_the_run_and_is_raised(
    tmp_path: Path,
) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))

    def fail(event: str, _details: dict) -> None:
        if event == "minibatch":
            raise KeyError("from the callable")

    with pytest.raises(KeyError, match="from the callable"):
        hsnn.reproduce(config, out=tmp_path / "run", progress=fail)
    # Stopped after its first minibatch: a checkpoint, and no finished stage.
    assert (tmp_path / "run" / "checkpoint-non_spiking.json").exists()
    assert not (tmp_path / "run" / "model-non_spiking.json").exists()


def test_ctrl_c_stops_the_run_after_a_checkpoint(tmp_path: Path) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))

    sent: list[bool] = []

    def interrupt(event: str, _details: dict) -> None:
        if event == "minibatch" and not sent:
            sent.append(True)
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C would, from the worker thread
            time.sleep(0.5)  # the calling thread looks every 0.1 s

    # Python's own Ctrl-C handler, whatever the test runner inherited: a shell starts a
    # background job with SIGINT ignored, and then the signal above would never arrive.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(hsnn.RunInterrupted, match="resume"):
            hsnn.reproduce(config, out=tmp_path / "run", progress=interrupt)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (tmp_path / "run" / "checkpoint-non_spiking.json").exists()
    assert not (tmp_path / "run" / "model-non_spiking.json").exists()
