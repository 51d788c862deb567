"""hsnn.sweep: sweep files, training points, the frontier rule, and a tiny sweep on Ray.

The Ray tests skip where Ray is not installed (``pip install "./python[sweep]"``; .ci/run runs
them in target/sweep-venv).
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from test_training import TINY

import hsnn
from hsnn import sweep as sweeps

# test_training's tiny network, with a spiking stage for the sweep to vary.
TINY_EXPERIMENT: dict[str, Any] = {
    **copy.deepcopy(TINY),
    "name": "tiny-sweep",
    "data": {"validation_size": 50, "limit": 200, "permutation_seed": 0},
    "batch_size": 25,
    "stages": [
        {
            "name": "non_spiking",
            "epochs": 1,
            "placement": "none",
            "schedule": {"kind": "constant", "dt": 1.0},
        },
        {
            "name": "spiking",
            "epochs": 2,
            "placement": "hidden",
            "schedule": {"kind": "exponential", "start": 10.0, "end": 1.0, "minibatches": 4},
        },
    ],
    "evaluation_dts": [2.0],
}

TINY_SWEEP: dict[str, Any] = {
    "format": "hsnn-sweep",
    "format_version": 1,
    "name": "tiny",
    "base": "tiny-experiment.json",
    "data": None,
    "axes": {"seeds": [0, 1], "end_dts": [2.0, 1.0], "placements": ["hidden"]},
    "conversion": {"weight_bits": [8, 4]},
    "devices": ["loihi", "cpu"],
    "evaluation": {"dts": [2.0], "splits": ["validation", "test"], "limit": 20},
    "cpus_per_trial": 1,
}


def write_sweep(folder: Path, **changes: Any) -> Path:
    (folder / "tiny-experiment.json").write_text(json.dumps(TINY_EXPERIMENT))
    sweep = copy.deepcopy(TINY_SWEEP)
    sweep.update(changes)
    path = folder / "sweep.json"
    path.write_text(json.dumps(sweep))
    return path


def test_a_sweep_file_gives_its_grid_of_training_points(tmp_path: Path) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    assert [point.name for point in sweep.points] == [
        "seed0-dt2-hidden",
        "seed0-dt1-hidden",
        "seed1-dt2-hidden",
        "seed1-dt1-hidden",
    ]
    experiment = sweeps.experiment_for(sweep, sweep.points[3])
    assert experiment["seed"] == 1
    assert experiment["stages"][-1]["schedule"]["end"] == 1.0
    assert experiment["stages"][-1]["placement"] == "hidden"
    assert experiment["evaluation_dts"] == []
    # The base is untouched: every point starts from the same file.
    assert sweep.base_experiment["seed"] == 0


def test_a_base_experiments_sequence_file_is_found_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "sweeps"
    folder.mkdir()
    base = copy.deepcopy(TINY_EXPERIMENT)
    base["format_version"] = 2
    base["data"] = {**base["data"], "file": "data/task.npz"}
    (folder / "tiny-experiment.json").write_text(json.dumps(base))
    (folder / "sweep.json").write_text(json.dumps(TINY_SWEEP))
    sweep = sweeps.load_sweep(folder / "sweep.json")
    experiment = sweeps.experiment_for(sweep, sweep.points[0])
    assert experiment["data"]["file"] == str((folder / "data" / "task.npz").resolve())
    assert sweep.base_experiment["data"]["file"] == "data/task.npz"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"axes": {"seeds": [0], "learning_rates": [0.1]}}, "axes"),
        ({"axes": {"seeds": []}}, "axes.seeds"),
        ({"axes": {"placements": ["everywhere"]}}, "axes.placements"),
        ({"axes": {"end_dts": [0.0]}}, "axes.end_dts"),
        ({"devices": ["lohi"]}, "devices"),
        ({"conversion": {"weight_bits": [1]}}, "conversion.weight_bits"),
        ({"evaluation": {"splits": ["train"]}}, "evaluation.splits"),
        ({"evaluation": {"splits": ["test"]}}, "evaluation.splits"),
        ({"name": "tiny.v2"}, "name"),
        ({"axes": {"end_dts": [1.0, 1]}}, "axes.end_dts"),
        ({"format_version": 2}, "format"),
        ({"base": "missing.json"}, "base"),
        ({"epochs": 3}, "epochs"),
    ],
)
def test_a_bad_sweep_file_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(hsnn.UsageError, match=f"`{field}`"):
        sweeps.load_sweep(write_sweep(tmp_path, **changes))


def test_the_frontier_keeps_the_rows_nothing_beats() -> None:
    rows = [
        {"name": "a", "acc": 0.9, "j": 3.0},
        {"name": "b", "acc": 0.8, "j": 1.0},
        {"name": "c", "acc": 0.8, "j": 2.0},  # b is as accurate and cheaper
        {"name": "d", "acc": 0.95, "j": 3.0},  # beats a at the same energy
        {"name": "e", "acc": 0.7, "j": 1.0},  # b is more accurate at the same energy
    ]
    frontier = sweeps.pareto_frontier(rows, "acc", "j")
    assert [row["name"] for row in frontier] == ["b", "d"]


def test_a_point_trains_resumably_and_measures_every_dt_width_and_device(tmp_path: Path) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    point = sweep.points[0]
    epochs: list[tuple[str, int]] = []
    model_file = sweeps.train_point(
        sweep,
        point,
        tmp_path / point.name,
        threads=1,
        report=lambda summary, _run: epochs.append((summary["stage"], summary["epoch"])),
    )
    # Every epoch reported, in order, after its checkpoint.
    assert epochs == [("non_spiking", 1), ("spiking", 1), ("spiking", 2)]
    trained = hsnn.Model.load(model_file)
    assert trained.config["quantizer"]["placement"] == "hidden"
    rows = sweeps.measure_point(sweep, point, model_file, threads=1)
    assert len(rows) == 1 * 2 * 2  # dts x weight widths x devices
    for row in rows:
        assert row["validation_samples"] == 20 and row["test_samples"] == 20
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert row["test_joules"] > 0 and row["test_joules_non_spiking"] > 0
        assert row["metrics"]["sites"][0]["site"] == "hidden"
    # H11: a device that is not event-driven (cpu) charges the hybrid network what it charges
    # the same network without spikes; an event-driven one (loihi) prices the spikes.
    for row in rows:
        if row["device"] == "cpu":
            assert row["test_energy_ratio"] == 1.0
            assert row["test_joules"] == row["test_joules_non_spiking"]
        else:
            assert row["test_energy_ratio"] != 1.0
    # How it trained goes with its rows, so that a keep folder shows it without the storage:
    # every epoch reported above, each stage's kept epoch, and the table of the last stage.
    training = sweeps.training_record(tmp_path / point.name / "run")
    assert training is not None and training["source"].startswith("hsnn-results ")
    assert [
        (stage["name"], summary["epoch"])
        for stage in training["stages"]
        for summary in stage["history"]
    ] == epochs
    assert all(stage["kept_epoch"] in (1, 2) for stage in training["stages"])
    sweeps.write_rows(sweep, point, tmp_path / point.name, rows, training=training)
    last = training["stages"][-1]
    expected = " | ".join(
        f"{100 * summary['validation_accuracy']:.1f}" for summary in last["history"]
    )
    assert sweeps.training_table(sweep, tmp_path).splitlines() == [
        "| point | 1 | 2 | kept |",
        "|---|---:|---:|---:|",
        f"| {point.name} | {expected} | {last['kept_epoch']} |",
    ]
    # A point kept without its training (an older rows file) says so; an unfinished run has
    # no record.
    other = sweep.points[1]
    (tmp_path / other.name).mkdir()
    sweeps.write_rows(sweep, other, tmp_path / other.name, rows)
    assert sweeps.training_table(sweep, tmp_path).splitlines()[3] == (
        f"| {other.name} | — | — | not kept |"
    )
    assert sweeps.training_record(tmp_path / other.name / "run") is None
    # Training the point again trains nothing: its run is complete.
    again: list[Any] = []
    sweeps.train_point(
        sweep, point, tmp_path / point.name, threads=1, report=lambda *epoch: again.append(epoch)
    )
    assert again == []


def test_a_tiny_sweep_runs_on_a_local_ray_and_resumes_without_training_again(
    tmp_path: Path,
) -> None:
    ray = pytest.importorskip("ray", reason="Ray Tune is the optional [sweep] extra")
    sweep_file = write_sweep(tmp_path)
    storage = tmp_path / "storage"
    try:
        results_file = sweeps.run(sweep_file, storage=storage, num_cpus=2)
    finally:
        ray.shutdown()
    results = json.loads(results_file.read_text())
    assert results["format"] == "hsnn-sweep-results"
    assert len(results["rows"]) == 4 * 1 * 2 * 2  # points x dts x widths x devices
    # Each trial kept how its point trained with its rows: both epochs of the spiking stage.
    for rows_file in (storage / "tiny" / "points").glob(f"*/{sweeps.ROWS_FILE}"):
        stages = json.loads(rows_file.read_text())["training"]["stages"]
        assert [summary["epoch"] for summary in stages[-1]["history"]] == [1, 2]
    checkpoints = sorted((storage / "tiny" / "points").glob("*/run/checkpoint-*.json"))
    stamps = {path: path.stat().st_mtime_ns for path in checkpoints}
    assert len(stamps) == 4 * 2
    # The same command again: Tune restores the finished sweep and nothing trains again.
    try:
        again = sweeps.run(sweep_file, storage=storage, num_cpus=2)
    finally:
        ray.shutdown()
    assert json.loads(again.read_text())["rows"] == results["rows"]
    assert {path: path.stat().st_mtime_ns for path in checkpoints} == stamps


def synthetic_results() -> dict[str, Any]:
    rows = []
    # Two devices, four points: on "cheap" spiking always pays, on "dense" it never does.
    for device, ratio in (("cheap", 0.5), ("dense", 1.5)):
        for name, accuracy, joules, test_accuracy in (
            ("a", 0.90, 3.0, 0.80),
            ("b", 0.85, 1.0, 0.99),  # best on test, but chosen only for its validation
            ("c", 0.85, 2.0, 0.70),  # b is as accurate on validation and cheaper
            ("d", 0.95, 3.0, 0.90),
        ):
            rows.append(
                {
                    "point": name,
                    "seed": 0,
                    "end_dt": 2.0,
                    "placement": "hidden",
                    "dt": 2.0,
                    "weight_bits": 8,
                    "device": device,
                    "validation_accuracy": accuracy,
                    "validation_joules": joules,
                    "test_accuracy": test_accuracy,
                    "test_joules": joules,
                    "test_energy_ratio": ratio,
                }
            )
    return {
        "format": sweeps.RESULTS_FORMAT,
        "format_version": sweeps.RESULTS_FORMAT_VERSION,
        "sweep": "synthetic",
        "rows": rows,
    }


def test_the_frontier_is_chosen_by_validation_per_device_and_says_where_spiking_pays() -> None:
    front = sweeps.frontier(synthetic_results())
    assert front["format"] == "hsnn-sweep-frontier"
    for device in ("cheap", "dense"):
        assert [row["point"] for row in front["devices"][device]["frontier"]] == ["b", "d"]
    summary = sweeps.summary_markdown(front)
    assert "## cheap: spiking pays at every frontier point (0.500x-0.500x)" in summary
    assert "## dense: spiking does not pay (1.500x-1.500x)" in summary
    # A saving under 1 % does not pay (PAYS_BELOW): at 0.995 the verdict says so, though the
    # ratio is below 1.
    results = synthetic_results()
    for row in results["rows"]:
        row["test_energy_ratio"] = 0.995
    assert "spiking does not pay (0.995x-0.995x)" in sweeps.summary_markdown(
        sweeps.frontier(results)
    )
    results = synthetic_results()
    results["rows"][0].pop("validation_accuracy")
    with pytest.raises(hsnn.UsageError, match="by validation"):
        sweeps.frontier(results)
    with pytest.raises(hsnn.UsageError, match="not a sweep results file"):
        sweeps.frontier({"format": "hsnn-results", "format_version": 4, "rows": []})


def test_the_frontier_pictures_are_written_per_device(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the pictures need the [sweep] extra")
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(synthetic_results()))
    written = sweeps.write_frontier(results_file)
    assert [path.name for path in written["pictures"]] == [
        "frontier-cheap.png",
        "frontier-dense.png",
    ]
    for picture in written["pictures"]:
        data = picture.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        # Every file hsnn writes names its format and how it was made: a PNG in its text chunks.
        assert b"hsnn-sweep-frontier 1" in data
        assert b"hsnn.sweep.plot_frontier" in data
    assert json.loads(written["json"].read_text())["sweep"] == "synthetic"
    assert "spiking pays" in written["markdown"].read_text()
    # The rows a picture was drawn from are named in it, so a stale picture can be told, and
    # so is what it leaves out.
    data = written["pictures"][0].read_bytes()
    assert sweeps.picture_source(synthetic_results()).encode() in data
    assert b"every row is drawn" in data
    changed = synthetic_results()
    changed["rows"][0]["validation_accuracy"] = 0.91  # as many rows, one of them other
    assert sweeps.picture_source(changed) != sweeps.picture_source(synthetic_results())
    collapsed = synthetic_results()
    collapsed["rows"].append(dict(collapsed["rows"][0], point="e", validation_accuracy=0.4))
    results_file.write_text(json.dumps(collapsed))
    data = sweeps.write_frontier(results_file)["pictures"][0].read_bytes()
    assert b"1 of 5 rows lie below 82 % and are not drawn (the lowest: 40.0 %)" in data
    front = sweeps.frontier(synthetic_results())
    only = sweeps.plot_frontier(front, synthetic_results(), tmp_path / "only", ["dense"])
    assert [path.name for path in only] == ["frontier-dense.png"]
    with pytest.raises(hsnn.UsageError, match="no frontier of device 'loihi'"):
        sweeps.plot_frontier(front, synthetic_results(), tmp_path / "none", ["loihi"])
    assert not (tmp_path / "none").exists()


def test_the_energy_ratio_table_spans_every_measured_row_by_placement_and_dt() -> None:
    def row(placement: str, dt: float, bits: int, ratio: float | None) -> dict[str, Any]:
        return {
            "point": placement,
            "device": "loihi",
            "placement": placement,
            "dt": dt,
            "weight_bits": bits,
            "test_energy_ratio": ratio,
        }

    results = {
        "rows": [
            row("hidden", 1.0, 8, 0.91),
            row("hidden", 1.0, 4, 0.98),
            row("hidden", 4.0, 8, 1.5),
            row("hidden", 4.0, 4, 1.5004),  # equal to three decimals: one value
            row("both", 4.0, 8, 1.6),
            row("both", 1.0, 8, math.nan),  # not measured: no part, as the next two
            row("both", 1.0, 4, None),
            dict(row("both", 1.0, 8, 0.1), device="cpu"),  # another device's row
        ]
    }
    assert sweeps.energy_ratio_table(results, "loihi").splitlines() == [
        "| placement | dt 4 | dt 1 |",
        "|---|---:|---:|",
        "| hidden | 1.500 | 0.910-0.980 |",
        "| both | 1.600 | — |",
        "",
        "The weight width alone (4, 8 bits) moves a ratio by 0.070 at most.",
    ]
    with pytest.raises(hsnn.UsageError, match="no test energy of device 'gpu'"):
        sweeps.energy_ratio_table(results, "gpu")


def test_a_frontier_picture_draws_near_the_frontier_and_counts_the_points_it_leaves_out() -> None:
    rows = [row for row in synthetic_results()["rows"] if row["device"] == "cheap"]
    chosen = sweeps.pareto_frontier(rows, "validation_accuracy", "validation_joules")
    # Every point lies within 3 points of the least accurate frontier point (b, 85 %): all drawn.
    plan = sweeps.picture_plan(rows, chosen)
    assert (plan.floor, plan.left_out, plan.lowest) == (None, 0, None)
    assert (plan.unit, plan.scale) == ("J", 1.0)
    assert plan.without_spikes == {}  # the synthetic rows price no network without spikes
    # A collapsed run at 40 % would squeeze the frontier's tenths of a point into a line: the
    # floor sits 3 points below 85 %, and the picture says what it left out.
    collapsed = dict(rows[0], point="e", validation_accuracy=0.40, validation_joules=2.5)
    plan = sweeps.picture_plan([*rows, collapsed], chosen)
    assert (plan.floor, plan.left_out, plan.lowest) == (82, 1, pytest.approx(40.0))
    # The energy axis takes the largest unit the dearest point reaches; the band without
    # spikes spans the least and the greatest of their energies.
    small = [
        dict(
            row,
            validation_joules=row["validation_joules"] * 1e-3,
            validation_joules_non_spiking=(2.0 + index) * 1e-3,
        )
        for index, row in enumerate(rows)
    ]
    small[1]["weight_bits"] = 4
    plan = sweeps.picture_plan(small, chosen)
    assert (plan.unit, plan.scale) == ("mJ", 1e-3)
    # Per width, each energy without spikes once: a point of a width is compared with its own.
    assert plan.without_spikes == {8: (2.0e-3, 4.0e-3, 5.0e-3), 4: (3.0e-3,)}
    # A row without a validation energy is not drawn and sets no scale; nothing drawable is
    # refused by name.
    unmeasured = dict(rows[0], validation_joules=math.nan)
    assert sweeps.picture_plan([*small, unmeasured], chosen).unit == "mJ"
    with pytest.raises(hsnn.UsageError, match="nothing to draw"):
        sweeps.picture_plan([unmeasured], [unmeasured])


def test_a_sweep_changed_since_it_started_is_refused_before_anything_runs(tmp_path: Path) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    folder = tmp_path / "storage" / sweep.name
    sweeps.check_fingerprint(sweep, folder)
    sweeps.check_fingerprint(sweep, folder)  # the same sweep resumes
    changed = sweeps.load_sweep(write_sweep(tmp_path, devices=["loihi"]))
    assert changed.fingerprint != sweep.fingerprint
    with pytest.raises(hsnn.UsageError, match="has changed since"):
        sweeps.check_fingerprint(changed, folder)
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(
        json.dumps(
            {
                "format": sweeps.ROWS_FORMAT,
                "format_version": sweeps.ROWS_FORMAT_VERSION,
                "sweep_fingerprint": sweep.fingerprint,
                "rows": [{"point": "p"}],
            }
        )
    )
    assert sweeps.read_rows(rows_file, sweep) == [{"point": "p"}]
    with pytest.raises(hsnn.UsageError, match="another version of sweep"):
        sweeps.read_rows(rows_file, changed)


def rows_record(sweep: sweeps.Sweep, point: str) -> str:
    return json.dumps(
        {
            "format": sweeps.ROWS_FORMAT,
            "format_version": sweeps.ROWS_FORMAT_VERSION,
            "sweep_fingerprint": sweep.fingerprint,
            "point": point,
            "rows": [{"point": point}],
        }
    )


def test_kept_points_travel_both_ways_and_a_foreign_keep_folder_moves_nothing(
    tmp_path: Path,
) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    first, second, third = (point.name for point in sweep.points[:3])
    storage, keep = tmp_path / "points", tmp_path / "keep"
    # first: measured here only; second: kept from another machine only; third: both, and
    # the two copies differ, so neither is overwritten.
    (storage / first).mkdir(parents=True)
    (storage / first / "rows.json").write_text(rows_record(sweep, first))
    (keep / second).mkdir(parents=True)
    (keep / second / "rows.json").write_text(rows_record(sweep, second))
    for folder, marker in ((storage, "here"), (keep, "there")):
        (folder / third).mkdir(parents=True)
        (folder / third / "rows.json").write_text(rows_record(sweep, marker))
    assert sweeps.keep_rows(sweep, storage, keep) == ([first], [second])
    assert sweeps.read_rows(keep / first / "rows.json", sweep) == [{"point": first}]
    assert sweeps.read_rows(storage / second / "rows.json", sweep) == [{"point": second}]
    assert sweeps.read_rows(storage / third / "rows.json", sweep) == [{"point": "here"}]
    assert sweeps.read_rows(keep / third / "rows.json", sweep) == [{"point": "there"}]
    assert sweeps.keep_rows(sweep, storage, keep) == ([], [])
    # One kept point written by another version of the sweep (the last in grid order) is
    # refused, and nothing moves, not even the earlier points that could have been copied.
    fourth = sweep.points[3].name
    changed = sweeps.load_sweep(write_sweep(tmp_path, devices=["loihi"]))
    (keep / fourth).mkdir(parents=True)
    (keep / fourth / "rows.json").write_text(rows_record(changed, fourth))
    (storage / second / "rows.json").unlink()
    (keep / first / "rows.json").unlink()
    with pytest.raises(hsnn.UsageError, match="another version of sweep"):
        sweeps.keep_rows(sweep, storage, keep)
    assert not (storage / second / "rows.json").exists()
    assert not (keep / first / "rows.json").exists()


def test_the_keep_note_tells_trials_the_current_runs_keep_folder(tmp_path: Path) -> None:
    folder = tmp_path / "storage" / "tiny"
    # No run wrote a note (a sweep started by an older hsnn): trials keep nothing.
    assert sweeps.read_keep_note(folder) is None
    # A run with a keep folder, then one without, then one with another: the note is the
    # latest run's, whatever the trials' configuration says.
    written = sweeps.write_keep_note(folder, tmp_path / "keep")
    assert json.loads(written.read_text())["format"] == "hsnn-sweep-keep"
    assert sweeps.read_keep_note(folder) == tmp_path / "keep"
    sweeps.write_keep_note(folder, None)
    assert sweeps.read_keep_note(folder) is None
    sweeps.write_keep_note(folder, tmp_path / "other")
    assert sweeps.read_keep_note(folder) == tmp_path / "other"
    (folder / sweeps.KEEP_NOTE_FILE).write_text(json.dumps({"format": "hsnn-sweep-rows"}))
    with pytest.raises(hsnn.UsageError, match="not a sweep's keep note"):
        sweeps.read_keep_note(folder)
    (folder / sweeps.KEEP_NOTE_FILE).write_text("{damaged")
    with pytest.raises(hsnn.UsageError, match="not JSON"):
        sweeps.read_keep_note(folder)
    # Trials may run anywhere, in any working folder: a relative keep folder is refused.
    with pytest.raises(hsnn.UsageError, match="must be absolute"):
        sweeps.write_keep_note(folder, Path("keep"))


def test_kept_points_give_a_partial_frontier_that_says_what_it_rests_on(tmp_path: Path) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    keep = tmp_path / "keep"
    with pytest.raises(hsnn.UsageError, match="no point of sweep"):
        sweeps.kept_results(sweep, keep)
    # Points 0 and 2 kept, with synthetic_results' rows of its points a and b.
    rows = synthetic_results()["rows"]
    kept = [sweep.points[0].name, sweep.points[2].name]
    for name, own in zip(kept, ("a", "b"), strict=True):
        (keep / name).mkdir(parents=True)
        record = json.loads(rows_record(sweep, name))
        record["rows"] = [{**row, "point": name} for row in rows if row["point"] == own]
        (keep / name / "rows.json").write_text(json.dumps(record))
    results, missing = sweeps.kept_results(sweep, keep)
    assert missing == [point.name for point in sweep.points if point.name not in kept]
    assert [row["point"] for row in results["rows"]] == [kept[0]] * 2 + [kept[1]] * 2
    front = sweeps.frontier(results)
    # a: validation 0.90 at 3 J; b: 0.85 at 1 J: neither beats the other, on both devices.
    assert [row["point"] for row in front["devices"]["cheap"]["frontier"]] == kept[::-1]
    section = sweeps.frontier_section(front, len(sweep.points), missing, ["dense"])
    assert section.startswith(f"2 of the sweep's {len(sweep.points)} trained points")
    assert missing[0] in section
    assert "| cheap | 2 / 2 | spiking pays at every frontier point (0.500x-0.500x) |" in section
    assert "| dense | 2 / 2 | spiking does not pay (1.500x-1.500x) |" in section
    # The cheapest is b (validation 85.00, test 99.00); the most accurate a (90.00 / 80.00).
    assert "85.00 / 99.00, 0.500x | seed 0, hidden, end dt 2, dt 2, 8-bit: 90.00 / 80.00" in (
        section
    )
    # Only the detailed device's whole frontier is listed, energies in their unit.
    assert "The frontier on dense, cheapest first:" in section
    assert "The frontier on cheap" not in section
    assert "| 85.00 | 99.00 | 1 J | 1.500 |" in section
    assert sweeps.frontier_section(front, 2, [], []).startswith("All 2 trained points")
    with pytest.raises(hsnn.UsageError, match="no frontier of device 'loihi'"):
        sweeps.frontier_section(front, 2, [], ["loihi"])
    # Energies are rounded before their unit is chosen; what was not measured is a dash.
    for row in results["rows"]:
        row["test_joules"] = 9.9996e-4
    row = results["rows"][0]
    row.pop("test_accuracy")
    row.pop("test_energy_ratio")
    section = sweeps.frontier_section(sweeps.frontier(results), 2, [], ["cheap", "dense"])
    assert "| 1 mJ |" in section and "µJ" not in section
    assert "| 90.00 | — | 1 mJ | — |" in section
    # A kept file holding another point's rows is refused, not counted as this point.
    (keep / kept[1] / "rows.json").write_text((keep / kept[0] / "rows.json").read_text())
    with pytest.raises(hsnn.UsageError, match="does not hold point"):
        sweeps.kept_results(sweep, keep)


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 4 MiB tmpfs (root only, as in CI, where HSNN_REQUIRE_MOUNT makes it required)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        assert "HSNN_REQUIRE_MOUNT" not in os.environ, mounted.stderr
        pytest.skip("cannot mount a tmpfs here (not root?)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True, check=False)


def test_a_full_disk_loses_no_finished_point(tmp_path: Path, small_disk: Path) -> None:
    sweep = sweeps.load_sweep(write_sweep(tmp_path))
    first, second = sweep.points[:2]
    folder = small_disk / first.name
    model_file = sweeps.train_point(sweep, first, folder, threads=1)
    rows = sweeps.measure_point(sweep, first, model_file, threads=1)
    rows_file = sweeps.write_rows(sweep, first, folder, rows)
    finished = rows_file.read_bytes()
    # Fill the disk to the last byte.
    with (small_disk / "filler").open("wb") as filler, pytest.raises(OSError):
        while True:
            filler.write(b"\0" * 65536)
            filler.flush()
    # The next point cannot start, and says why; the finished point's rows cannot be
    # rewritten, and stay as they were.
    with pytest.raises((OSError, hsnn.HsnnError)):
        sweeps.train_point(sweep, second, small_disk / second.name, threads=1)
    with pytest.raises(OSError):
        sweeps.write_rows(sweep, first, folder, rows + rows)
    assert rows_file.read_bytes() == finished
    assert sweeps.read_rows(rows_file, sweep) == json.loads(json.dumps(rows))
    assert not list(small_disk.rglob("*.partial"))


def test_an_unreachable_cluster_is_refused_before_anything_starts(tmp_path: Path) -> None:
    sweep_file = write_sweep(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the probe is closed
    started = time.monotonic()
    with pytest.raises(hsnn.UsageError, match="cannot reach the Ray cluster"):
        sweeps.run(sweep_file, storage=tmp_path / "storage", address=f"127.0.0.1:{closed_port}")
    assert time.monotonic() - started < 10
    assert not (tmp_path / "storage").exists(), "nothing started"
    with pytest.raises(hsnn.UsageError, match="HOST:PORT"):
        sweeps.check_address("no-port-here")
