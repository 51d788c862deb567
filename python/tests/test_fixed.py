"""Fixed point from Python (SPEC H9-H13): both engines of ``hsnn.Hardware`` (the chip and
the fast one) on the fixed models of the golden file give the file's integers, which the
reference's fixed-point mode computed; conversion and fixed model files round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import hsnn
from conftest import PAPER_MODEL, ROOT

GOLDEN = json.loads((ROOT / "spec" / "vectors" / "hsnn-golden-fixed-v2.json").read_text())


@pytest.mark.parametrize("engine", ["fast", "chip"])
@pytest.mark.parametrize("case", GOLDEN["cases"], ids=lambda case: case["name"])
def test_chip_reproduces_the_fixed_golden_integers(case: dict, engine: str, tmp_path: Path) -> None:
    path = tmp_path / "fixed.json"
    path.write_text(json.dumps(case["fixed_model"]))
    fixed = hsnn.FixedModel.load(path)
    model = hsnn.Model.initial(fixed.config, 0)  # its weights are ignored: the chip is pinned
    given = case["inputs"]
    inputs = np.asarray(given["data"], dtype=np.float64).reshape(
        given["batch"], given["steps"], given["features"]
    )
    run = hsnn.Hardware(fixed=fixed, engine=engine).forward(model, inputs, trace="counts")
    expected = case["expected"]
    logits = np.asarray(expected["logits"], dtype=np.float64) * 2.0 ** -expected["logit_exponent"]
    assert np.array_equal(run["logits"].ravel(), logits)
    sites = {site["site"]: site["counts"].ravel() for site in run["trace"]["sites"]}
    for site in ("hidden", "memory_input", "memory_state"):
        key = f"{site}_counts"
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


def test_several_devices_are_priced_on_the_same_counters() -> None:
    """H11: a list of devices prices one run's counters on each, as one device alone would."""
    model = hsnn.Model.load(PAPER_MODEL)
    x = hsnn.load_psmnist(limit=3)["test"][0]
    chip = hsnn.Hardware()
    chip.forward(model, x, trace="none")
    alone = chip.energy(model, "cpu")
    chip.forward(model, x, trace="none")
    both = chip.energy(model, ["loihi", "cpu"])
    assert set(both) == {"loihi", "cpu"}
    assert both["cpu"] == alone
    # Loihi is event-driven and CPU is not: one run's counters, two different prices.
    assert both["loihi"]["hybrid"]["total_joules"] != both["cpu"]["hybrid"]["total_joules"]
    chip.forward(model, x, trace="none")
    with pytest.raises(hsnn.HsnnError, match="lohi"):
        chip.energy(model, ["cpu", "lohi"])
    with pytest.raises(hsnn.DtypeError, match="device"):
        chip.energy(model, 3)
    with pytest.raises(hsnn.InvalidConfigError, match="at least one device"):
        chip.energy(model, [])
    # Refused lists leave the counters to a correct call.
    assert chip.energy(model, "cpu") == alone


def test_both_engines_give_the_same_integers_and_counters() -> None:
    """H13: ``engine="fast"`` and ``engine="chip"`` agree on logits, counts and counters."""
    model = hsnn.Model.load(PAPER_MODEL)
    x = hsnn.load_psmnist(limit=2)["test"][0]
    runs = {}
    for engine in ("fast", "chip"):
        backend = hsnn.Hardware(engine=engine, threads=2)
        out = backend.forward(model, x, trace="counts")
        runs[engine] = (out, backend.take_counters())
    fast, chip = runs["fast"], runs["chip"]
    np.testing.assert_array_equal(fast[0]["logits"], chip[0]["logits"])
    np.testing.assert_array_equal(
        fast[0]["trace"]["sites"][0]["counts"], chip[0]["trace"]["sites"][0]["counts"]
    )
    assert fast[1] == chip[1]
    assert chip[1]["sites"][0]["events"] > 0
    with pytest.raises(hsnn.InvalidConfigError, match=r"engine.*fast, chip"):
        hsnn.Hardware(engine="gpu")
