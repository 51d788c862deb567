"""Fixed point from Python (SPEC H9-H12): the chip run through ``hsnn.Hardware`` on the fixed
models of the golden file gives the file's integers, which the reference's fixed-point mode
computed; conversion and fixed model files round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hsnn
from conftest import PAPER_MODEL, ROOT

GOLDEN = json.loads((ROOT / "spec" / "vectors" / "hsnn-golden-fixed-v1.json").read_text())


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["name"])
def test_chip_reproduces_the_fixed_golden_integers(case: dict, tmp_path: Path) -> None:
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(case["fixed_model"]))
    fixed = hsnn.FixedModel.load(path)
    model = hsnn.Model.initial(fixed.config, 0)  # its weights are ignored: the chip is pinned
    given = case["inputs"]
    inputs = np.asarray(given["data"], dtype=np.float64).reshape(
        given["batch"], given["steps"], given["features"]
    )
    run = hsnn.Hardware(fixed=fixed).forward(model, inputs, trace="counts")
    expected = case["expected"]
    logits = np.asarray(expected["logits"], dtype=np.float64) * 2.0 ** -expected["logit_exponent"]
    assert np.array_equal(run["logits"].ravel(), logits)
    sites = {site["site"]: site["counts"].ravel() for site in run["trace"]["sites"]}
    for site, key in (("hidden", "hidden_counts"), ("memory_input", "memory_input_counts")):
        if expected.get(key):
            assert np.array_equal(sites[site], np.asarray(expected[key])), key


def test_conversion_round_trips_through_a_fixed_model_file(tmp_path: Path) -> None:
    model = hsnn.Model.load(PAPER_MODEL)
    fixed = model.convert({"weight_bits": 8})
    assert fixed.options["weight_bits"] == 8
    fixed.save(tmp_path / "paper-fixed.json")
    again = hsnn.FixedModel.load(tmp_path / "paper-fixed.json")
    assert again.to_dict() == fixed.to_dict()
    x = hsnn.load_psmnist(limit=20)["test"][0]
    pinned = hsnn.Hardware(fixed=again).forward(model, x, trace="none")["logits"]
    converted = hsnn.Hardware({"weight_bits": 8}).forward(model, x, trace="none")["logits"]
    assert np.array_equal(pinned, converted)


def test_model_and_fixed_model_files_are_told_apart(tmp_path: Path) -> None:
    hsnn.Model.load(PAPER_MODEL).convert().save(tmp_path / "f.json")
    with pytest.raises(hsnn.UsageError, match=r"FixedModel\.load"):
        hsnn.Model.load(tmp_path / "f.json")
    with pytest.raises(hsnn.UsageError, match=r"Model\.load"):
        hsnn.FixedModel.load(PAPER_MODEL)
    with pytest.raises(hsnn.InvalidConfigError):
        hsnn.Model.load(PAPER_MODEL).convert({"weight_bits": 0})
    with pytest.raises(hsnn.ParseError, match="conversion options"):
        hsnn.Hardware({"weight_bitz": 8})


def test_a_mistyped_device_keeps_the_counters() -> None:
    model = hsnn.Model.load(PAPER_MODEL)
    chip = hsnn.Hardware()
    chip.forward(model, hsnn.load_psmnist(limit=3)["test"][0], trace="none")
    with pytest.raises(hsnn.HsnnError, match="lohi"):
        chip.energy(model, "lohi")
    energy = chip.energy(model, "loihi")
    assert energy["sequences"] == 3 and energy["hybrid"]["total_joules"] > 0
