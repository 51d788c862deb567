"""Sweeps of a hybrid-spiking LMU on Ray Tune: the accuracy-energy frontier (SPEC T, H11, B).

A sweep file (format ``hsnn-sweep`` version 1) names a base experiment and the axes to cross:

- training axes, one trained model per point: ``seeds``, ``end_dts`` (where the last stage's dt
  schedule ends) and ``placements`` (where the last stage spikes, N2);
- measurement axes, run on every trained model: the evaluation ``dts``, the conversion's
  ``weight_bits`` (H2) and the ``devices`` that price it (H11).

Each training point is one Tune trial. It trains through hsnn's engine (:func:`hsnn.reproduce`)
with ``threads`` equal to the trial's CPUs, one epoch per call, reporting each epoch to Tune with
a checkpoint that points at hsnn's own run folder, so a stopped or failed trial resumes from
hsnn's checkpoint (T8). Then it evaluates the model on the fast fixed-point engine at every dt
and weight width on the splits asked for, and prices each run per device. The driver gathers the
rows into one results file (format ``hsnn-sweep-results`` version 1). Running the same command
again resumes the sweep (``Tuner.restore``): finished trials are not trained again.

Paths in a sweep file (``base``, ``data``) are relative to its folder, and so are a relative
``start_model`` and ``data.file`` in its base experiment: a sweep and its base travel
together. (``hsnn train`` resolves an experiment's ``start_model`` and ``data.file`` against
the working folder instead.)

Files: the sweep's folder in the storage holds ``points/<point>/`` (the experiment file, hsnn's
run folder ``run/``, and ``rows.json``, format ``hsnn-sweep-rows`` version 1), ``tune/`` (Tune's
own state), ``fingerprint.json`` (what a resumed sweep must match), ``results.json`` and the
frontier (:func:`write_frontier`).

Ray is an optional dependency (``pip install "./python[sweep]"``); everything but :func:`run`
works without it.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsnn._errors import UsageError

__all__ = [
    "FRONTIER_FORMAT",
    "FRONTIER_FORMAT_VERSION",
    "KEEP_NOTE_FILE",
    "KEEP_NOTE_FORMAT",
    "KEEP_NOTE_FORMAT_VERSION",
    "PAYS_BELOW",
    "PICTURE_MARGIN_POINTS",
    "RESULTS_FORMAT",
    "RESULTS_FORMAT_VERSION",
    "ROWS_FILE",
    "ROWS_FORMAT",
    "ROWS_FORMAT_VERSION",
    "SWEEP_FORMAT",
    "SWEEP_FORMAT_VERSION",
    "PicturePlan",
    "Sweep",
    "TrainingPoint",
    "check_fingerprint",
    "energy_ratio_table",
    "experiment_for",
    "frontier",
    "frontier_section",
    "keep_rows",
    "kept_results",
    "load_sweep",
    "main",
    "measure_point",
    "pareto_frontier",
    "picture_plan",
    "picture_source",
    "plot_frontier",
    "read_keep_note",
    "read_rows",
    "run",
    "summary_markdown",
    "train_point",
    "training_record",
    "training_table",
    "write_frontier",
    "write_keep_note",
    "write_rows",
]

SWEEP_FORMAT = "hsnn-sweep"
SWEEP_FORMAT_VERSION = 1
RESULTS_FORMAT = "hsnn-sweep-results"
RESULTS_FORMAT_VERSION = 1
ROWS_FORMAT = "hsnn-sweep-rows"
ROWS_FORMAT_VERSION = 1
#: A point's rows, in its folder of the storage and of a keep folder.
ROWS_FILE = "rows.json"
KEEP_NOTE_FORMAT = "hsnn-sweep-keep"
KEEP_NOTE_FORMAT_VERSION = 1
#: The keep folder of the sweep's current run, in the sweep's folder of the storage.
KEEP_NOTE_FILE = "keep.json"

_TOP_LEVEL = {
    "format",
    "format_version",
    "name",
    "base",
    "data",
    "axes",
    "conversion",
    "devices",
    "evaluation",
    "cpus_per_trial",
}
_AXES = {"seeds", "end_dts", "placements"}
_CONVERSION = {"weight_bits"}
_EVALUATION = {"dts", "splits", "limit"}
_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class TrainingPoint:
    """One trained model of a sweep: a seed, where the last stage's dt ends, where it spikes.

    Attributes
    ----------
    seed : int
        The experiment's seed (initial weights, batch order, T6).
    end_dt : float
        Where the last stage's dt schedule ends (T5).
    placement : str
        Where the last stage spikes (N2).
    """

    seed: int
    end_dt: float
    placement: str

    @property
    def name(self) -> str:
        """The trial's name and run folder, plain as hsnn's run names are (letters, digits,
        ``-``, ``_``): ``seed0-dt2-hidden``, ``seed1-dt0p5-both`` for an end dt of 0.5."""
        end_dt = repr(self.end_dt).removesuffix(".0").replace(".", "p").replace("+", "")
        return f"seed{self.seed}-dt{end_dt}-{self.placement}"


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file (format ``hsnn-sweep`` version 1).

    Attributes
    ----------
    name : str
        The sweep's name: its folder in the storage, the prefix of its trials' runs.
    path, base : Path
        The sweep file, and the base experiment it names.
    base_experiment : dict
        The base experiment's contents.
    data : Path or None
        The MNIST folder, or None for the embedded subset.
    seeds, end_dts, placements : tuple
        The training axes; :attr:`points` is their product, in that order.
    weight_bits, devices, dts : tuple
        The measurement axes: conversion widths (H2), priced devices (H11), evaluation dts.
    splits : tuple of str
        The splits measured; always with ``validation``, by which points are chosen.
    limit : int or None
        Sequences per split measured (None: all).
    cpus_per_trial : int
        CPUs of one trial, and the threads it trains and measures with.
    points : tuple of TrainingPoint
        The training points, one Tune trial each.
    fingerprint : str
        SHA-256 of the sweep file's and the base experiment's text: a resumed sweep must have
        the same.
    """

    name: str
    path: Path
    base: Path
    base_experiment: dict[str, Any]
    data: Path | None
    seeds: tuple[int, ...]
    end_dts: tuple[float, ...]
    placements: tuple[str, ...]
    weight_bits: tuple[int, ...]
    devices: tuple[str, ...]
    dts: tuple[float, ...]
    splits: tuple[str, ...] = _SPLITS
    limit: int | None = None
    cpus_per_trial: int = 1
    points: tuple[TrainingPoint, ...] = field(default=(), compare=False)
    fingerprint: str = ""


def _write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file beside it: a reader sees the old
    file or the new one, never a part, and a failed write (a full disk) leaves the old file
    and no temporary one (SPEC E2's rule for hsnn's own files). The temporary file's name is
    its writer's own, so two writers of one file (a trial and its driver copying a kept point)
    never fill the same one."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    partial = Path(name)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise


def _is_plain_name(name: Any) -> bool:
    """hsnn's rule for run names (an experiment's ``name``): letters, digits, ``-``, ``_``."""
    return (
        isinstance(name, str)
        and bool(name)
        and all(c.isascii() and (c.isalnum() or c in "-_") for c in name)
    )


def _fail(path: Path, field_name: str, reason: str) -> UsageError:
    return UsageError(f"sweep file {path}: `{field_name}` {reason}")


def _reject_unknown(path: Path, where: str, given: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise _fail(
            path,
            where or unknown[0],
            f"has unknown key(s) {unknown}; known: {sorted(known)}",
        )


def _grid(
    path: Path,
    field_name: str,
    values: Any,
    kind: type,
    check: Callable[[Any], str | None] | None = None,
) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise _fail(path, field_name, "must be a non-empty list")
    out = []
    for value in values:
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _fail(path, field_name, f"must hold {kind.__name__}s, got {value!r}")
        if check is not None:
            reason = check(value)
            if reason:
                raise _fail(path, field_name, f"{reason}, got {value!r}")
        out.append(value)
    if len(set(out)) != len(out):
        raise _fail(path, field_name, f"lists a value twice: {values}")
    return tuple(out)


def _positive_dt(value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else "must be finite and above 0"


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Reads and checks a sweep file before anything trains.

    Parameters
    ----------
    path : str or os.PathLike
        The sweep file; ``base`` and ``data`` in it are relative to its folder.

    Returns
    -------
    Sweep
        The sweep, its base experiment read, and its training points in grid order.

    Raises
    ------
    UsageError
        An unreadable file, another format or version, an unknown key or axis, an empty grid,
        a value of the wrong kind, a placement the base network cannot take, a missing base
        experiment; the message names the file and the field.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageError(f"cannot read sweep file {path}: {error}") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"sweep file {path} is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise UsageError(f"sweep file {path} must hold a JSON object")
    if raw.get("format") != SWEEP_FORMAT or raw.get("format_version") != SWEEP_FORMAT_VERSION:
        raise _fail(
            path,
            "format",
            f"must be {SWEEP_FORMAT!r} version {SWEEP_FORMAT_VERSION}, got "
            f"{raw.get('format')!r} version {raw.get('format_version')!r}",
        )
    _reject_unknown(path, "", raw, _TOP_LEVEL)
    for key in ("name", "base", "axes"):
        if key not in raw:
            raise _fail(path, key, "is missing")
    name = raw["name"]
    if not _is_plain_name(name):
        raise _fail(path, "name", f"must be letters, digits, '-' and '_' only, got {name!r}")
    folder = path.parent
    base = folder / str(raw["base"])
    try:
        base_experiment = json.loads(base.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise _fail(path, "base", f"is not a readable experiment file ({error})") from error
    stages = base_experiment.get("stages")
    if not isinstance(stages, list) or not stages:
        raise _fail(path, "base", f"experiment {base} has no stages")
    data = raw.get("data")
    data_path = None if data is None else folder / str(data)

    axes = raw["axes"]
    if not isinstance(axes, dict):
        raise _fail(path, "axes", "must be an object")
    _reject_unknown(path, "axes", axes, _AXES)
    base_seed = base_experiment.get("seed", 0)
    seeds = _grid(
        path,
        "axes.seeds",
        axes.get("seeds", [base_seed]),
        int,
        lambda value: None if value >= 0 else "must not be negative",
    )
    schedule = stages[-1].get("schedule", {})
    base_end = schedule.get("end", schedule.get("dt"))
    end_dts = _grid(path, "axes.end_dts", axes.get("end_dts", [base_end]), float, _positive_dt)
    # hsnn itself checks each word and that the base network can take it.
    placements = _grid(
        path, "axes.placements", axes.get("placements", [stages[-1].get("placement")]), str
    )
    _check_placements(path, base_experiment, placements)

    conversion = raw.get("conversion", {"weight_bits": [8]})
    if not isinstance(conversion, dict):
        raise _fail(path, "conversion", "must be an object")
    _reject_unknown(path, "conversion", conversion, _CONVERSION)
    weight_bits = _grid(
        path,
        "conversion.weight_bits",
        conversion.get("weight_bits", [8]),
        int,
        lambda value: None if 2 <= value <= 16 else "must be 2 to 16 bits",
    )
    devices = _grid(path, "devices", raw.get("devices", ["loihi"]), str)
    _check_devices(path, devices)

    evaluation = raw.get("evaluation", {})
    if not isinstance(evaluation, dict):
        raise _fail(path, "evaluation", "must be an object")
    _reject_unknown(path, "evaluation", evaluation, _EVALUATION)
    dts = _grid(path, "evaluation.dts", evaluation.get("dts", list(end_dts)), float, _positive_dt)
    splits = _grid(
        path,
        "evaluation.splits",
        evaluation.get("splits", list(_SPLITS)),
        str,
        lambda value: None if value in _SPLITS else f"must be one of {list(_SPLITS)}",
    )
    if "validation" not in splits:
        raise _fail(
            path,
            "evaluation.splits",
            'must hold "validation": the frontier is chosen by validation, never by test',
        )
    limit = evaluation.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise _fail(path, "evaluation.limit", f"must be a count of at least 1, got {limit!r}")
    cpus = raw.get("cpus_per_trial", 1)
    if not isinstance(cpus, int) or isinstance(cpus, bool) or cpus < 1:
        raise _fail(path, "cpus_per_trial", f"must be at least 1, got {cpus!r}")
    points = tuple(
        TrainingPoint(seed, end_dt, placement)
        for seed, end_dt, placement in itertools.product(seeds, end_dts, placements)
    )
    names = [point.name for point in points]
    if len(set(names)) != len(names):
        raise _fail(path, "axes.end_dts", f"gives two points one name: {sorted(names)}")
    if not _is_plain_name(f"{name}-{names[0]}"):
        raise _fail(path, "name", f"gives trial names hsnn refuses: {name}-{names[0]}")
    fingerprint = hashlib.sha256(text.encode() + b"\0" + base.read_bytes()).hexdigest()
    return Sweep(
        fingerprint=fingerprint,
        name=name,
        path=path,
        base=base,
        base_experiment=base_experiment,
        data=data_path,
        seeds=seeds,
        end_dts=end_dts,
        placements=placements,
        weight_bits=weight_bits,
        devices=devices,
        dts=dts,
        splits=splits,
        limit=limit,
        cpus_per_trial=cpus,
        points=points,
    )


def _check_placements(
    path: Path, base_experiment: dict[str, Any], placements: Sequence[str]
) -> None:
    """Each placement on the base network, checked by hsnn itself (N2, E1)."""
    import hsnn

    network = base_experiment.get("network")
    for placement in placements:
        config = copy.deepcopy(network)
        try:
            config["quantizer"]["placement"] = placement
            hsnn.Model.initial(config, 0)
        except (hsnn.HsnnError, KeyError, TypeError) as error:
            raise _fail(
                path,
                "axes.placements",
                f"holds {placement!r}, which the base network cannot take: {error}",
            ) from error


def _check_devices(path: Path, devices: Sequence[str]) -> None:
    """Each device name against the built-in profiles (H11)."""
    from hsnn import _native

    known = _native.device_names()
    for device in devices:
        if device not in known:
            raise _fail(path, "devices", f"holds {device!r}; the known devices are {known}")


def experiment_for(sweep: Sweep, point: TrainingPoint) -> dict[str, Any]:
    """The base experiment at one training point: its seed, and its last stage spiking at
    ``placement`` with the dt schedule ending at ``end_dt``; no dt sweep in the run's report
    (the sweep measures on the fixed-point engine instead).

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    point : TrainingPoint
        The point.

    Returns
    -------
    dict
        An experiment file's contents (format ``hsnn-experiment``).
    """
    experiment = copy.deepcopy(sweep.base_experiment)
    experiment["name"] = f"{sweep.name}-{point.name}"
    experiment["seed"] = point.seed
    last = experiment["stages"][-1]
    last["placement"] = point.placement
    schedule = last["schedule"]
    if schedule.get("kind") == "constant":
        schedule["dt"] = point.end_dt
    else:
        schedule["end"] = point.end_dt
    experiment["evaluation_dts"] = []
    start_model = experiment.get("start_model")
    if start_model is not None and not Path(start_model).is_absolute():
        experiment["start_model"] = str((sweep.base.parent / start_model).resolve())
    data_file = experiment.get("data", {}).get("file")
    if data_file is not None and not Path(data_file).is_absolute():
        experiment["data"]["file"] = str((sweep.base.parent / data_file).resolve())
    return experiment


def train_point(
    sweep: Sweep,
    point: TrainingPoint,
    folder: Path,
    threads: int,
    report: Callable[[dict[str, Any], Path], None] | None = None,
) -> Path:
    """Trains one point of a sweep in ``folder``, resuming from hsnn's checkpoints there (T8);
    returns the last stage's model file. hsnn's engine is called until the run is complete,
    each call stopping after one more epoch (a stage that completes goes on to the next
    stage's first epoch), so each epoch is reported with its checkpoint written.

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    point : TrainingPoint
        The point to train.
    folder : Path
        The point's folder: its experiment file and hsnn's run folder (``run/``) go there.
    threads : int
        Threads of the optimized backend (the trial's CPUs).
    report : callable, optional
        Called for every epoch, in order, with ``(summary, run_folder)``: ``summary`` the
        epoch's line of the run (stage, epoch, losses, accuracies); its checkpoint is written.

    Returns
    -------
    Path
        The model file of the experiment's last stage.

    Raises
    ------
    RunInterrupted
        Ctrl-C stopped the run mid-epoch, after a checkpoint; call again to resume.
    """
    import hsnn

    folder.mkdir(parents=True, exist_ok=True)
    experiment_file = folder / "experiment.json"
    experiment = experiment_for(sweep, point)
    text = json.dumps(experiment, indent=2) + "\n"
    if not experiment_file.exists() or experiment_file.read_text() != text:
        _write_atomically(experiment_file, text)
    run_folder = folder / "run"
    last_stage = experiment["stages"][-1]["name"]
    model_file = run_folder / f"model-{last_stage}.json"
    epochs: list[dict[str, Any]] = []

    def progress(event: str, details: dict[str, Any]) -> None:
        if event == "epoch":
            epochs.append(dict(details))

    while not (run_folder / "results.json").exists():
        epochs.clear()
        try:
            hsnn.reproduce(
                experiment_file,
                backend=hsnn.Optimized(threads=threads),
                data=sweep.data,
                out=run_folder,
                resume=run_folder.exists(),
                progress=progress,
                stop_after_epochs=1,
            )
        except hsnn.RunInterrupted:
            # stop_after_epochs ends a call after an epoch; anything else that interrupts
            # (Ctrl-C) ends it mid-epoch, and then the point stops here, resumable.
            if not epochs:
                raise
        if report is not None:
            for summary in epochs:
                report(summary, run_folder)
    return model_file


def measure_point(
    sweep: Sweep, point: TrainingPoint, model_file: Path, threads: int
) -> list[dict[str, Any]]:
    """Measures one trained model at every dt and weight width on the fast fixed-point engine,
    on each split the sweep names, and prices each run on every device (H11, H13, B).

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    point : TrainingPoint
        The point the model was trained at.
    model_file : Path
        Its model file.
    threads : int
        Threads of the chip model.

    Returns
    -------
    list of dict
        One row per dt x weight width x device: the point, accuracy and loss per split, the
        bit metrics of the validation run (or the first split's), and per split the energy per
        inference of the hybrid network, of the same network without spikes, and their ratio.
    """
    import hsnn

    trained = hsnn.Model.load(model_file)
    rows = []
    for dt in sweep.dts:
        model = trained.with_quantizer(dt=dt)
        for bits in sweep.weight_bits:
            chip = hsnn.Hardware({"weight_bits": bits}, threads=threads)
            per_split: dict[str, Any] = {}
            for split in sweep.splits:
                evaluation = hsnn.evaluate(chip, model, split, data=sweep.data, limit=sweep.limit)
                per_split[split] = (evaluation, chip.energy(model, list(sweep.devices)))
            metrics_split = "validation" if "validation" in per_split else sweep.splits[0]
            for device in sweep.devices:
                row: dict[str, Any] = {
                    "point": point.name,
                    "seed": point.seed,
                    "end_dt": point.end_dt,
                    "placement": point.placement,
                    "dt": dt,
                    "weight_bits": bits,
                    "device": device,
                    "metrics": per_split[metrics_split][0]["metrics"],
                }
                for split, (evaluation, energy) in per_split.items():
                    priced = energy[device]
                    hybrid = priced["hybrid"]["total_joules"]
                    dense = priced["non_spiking"]["total_joules"]
                    row[f"{split}_accuracy"] = evaluation["accuracy"]
                    row[f"{split}_loss"] = evaluation["loss"]
                    row[f"{split}_samples"] = evaluation["samples"]
                    row[f"{split}_joules"] = hybrid
                    row[f"{split}_joules_non_spiking"] = dense
                    row[f"{split}_energy_ratio"] = hybrid / dense if dense > 0 else math.nan
                rows.append(row)
    return rows


def write_rows(
    sweep: Sweep,
    point: TrainingPoint,
    folder: Path,
    rows: list[dict[str, Any]],
    node_id: str | None = None,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Records a measured point's rows in its folder (format ``hsnn-sweep-rows`` version 1),
    atomically: a point is finished exactly when this file exists.

    Parameters
    ----------
    sweep : Sweep
        The sweep (its fingerprint goes into the file).
    point : TrainingPoint
        The point measured.
    folder : Path
        The point's folder.
    rows : list of dict
        What :func:`measure_point` returned.
    node_id : str, optional
        The Ray node that measured it.
    training : mapping, optional
        How the point trained (:func:`training_record`), kept with its rows so that a keep
        folder shows it after the storage is gone.

    Returns
    -------
    Path
        The rows file.

    Raises
    ------
    OSError
        The write failed (a full disk): the folder is as it was.
    """
    import hsnn

    record = {
        "format": ROWS_FORMAT,
        "format_version": ROWS_FORMAT_VERSION,
        "generator": f"hsnn {hsnn.__version__} (hsnn.sweep)",
        "sweep_fingerprint": sweep.fingerprint,
        "point": point.name,
        # Which Ray node measured it: the engine is deterministic, so the rows do not depend
        # on it; a cluster's tests read it to see that every node worked.
        "node_id": node_id,
        "training": None if training is None else dict(training),
        "rows": rows,
    }
    path = folder / ROWS_FILE
    _write_atomically(path, json.dumps(record, indent=1) + "\n")
    return path


def training_record(run_folder: Path) -> dict[str, Any] | None:
    """How a point's model trained, from hsnn's results file in its run folder (T7): per
    stage, its name, the epoch it kept and every epoch's summary (dt, training and validation
    loss and accuracy).

    Parameters
    ----------
    run_folder : Path
        The point's run folder (``<point>/run``).

    Returns
    -------
    dict or None
        ``source`` (the results file's format and generator) and ``stages``; None where the
        run left no results file.
    """
    path = run_folder / "results.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return {
        "source": (
            f"{record.get('format')} {record.get('format_version')} ({record.get('generator')})"
        ),
        "stages": [
            {
                "name": stage.get("name"),
                "kept_epoch": stage.get("kept_epoch"),
                "history": list(stage.get("history", [])),
            }
            for stage in record.get("stages", [])
        ],
    }


def training_table(sweep: Sweep, keep: Path) -> str:
    """The last stage's validation accuracy after each epoch of every kept point, and the
    epoch the stage kept (T7), from the points' rows files (:func:`write_rows`'s
    ``training``), in grid order; a point kept without its training says so.

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    keep : Path
        Its keep folder.

    Returns
    -------
    str
        A Markdown table.

    Raises
    ------
    UsageError
        A kept point measured by another version of the sweep.
    """
    epochs = int(sweep.base_experiment["stages"][-1]["epochs"])
    lines = [
        "| point | " + " | ".join(f"{epoch}" for epoch in range(1, epochs + 1)) + " | kept |",
        "|---|" + "---:|" * (epochs + 1),
    ]
    for point in sweep.points:
        rows_file = keep / point.name / ROWS_FILE
        if not rows_file.is_file():
            continue
        training = _read_point_record(rows_file, sweep).get("training")
        if not training or not training.get("stages"):
            lines.append(f"| {point.name} | " + " | ".join(["—"] * epochs) + " | not kept |")
            continue
        last = training["stages"][-1]
        accuracies = {
            summary["epoch"]: f"{100 * summary['validation_accuracy']:.1f}"
            for summary in last["history"]
        }
        cells = [accuracies.get(epoch, "—") for epoch in range(1, epochs + 1)]
        kept = last.get("kept_epoch")
        lines.append(
            f"| {point.name} | " + " | ".join(cells) + f" | {'—' if kept is None else kept} |"
        )
    return "\n".join(lines)


def _read_record(path: Path, format_name: str, version: int, what: str) -> dict[str, Any]:
    """A JSON file of the sweep's, refused unless it names ``format_name`` at ``version``."""
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise UsageError(f"{path} is not {what}: it is not JSON ({error})") from error
    if (
        not isinstance(record, dict)
        or record.get("format") != format_name
        or record.get("format_version") != version
    ):
        raise UsageError(f"{path} is not {what} ({format_name} {version})")
    return record


def read_rows(rows_file: Path, sweep: Sweep) -> list[dict[str, Any]]:
    """A point's rows, refused when another version of the sweep measured them.

    Parameters
    ----------
    rows_file : Path
        A point's ``rows.json`` (format ``hsnn-sweep-rows`` version 1).
    sweep : Sweep
        The sweep now running.

    Returns
    -------
    list of dict
        The rows.

    Raises
    ------
    UsageError
        Another format, or a fingerprint other than the sweep's.
    """
    return list(_read_point_record(rows_file, sweep)["rows"])


def _read_point_record(rows_file: Path, sweep: Sweep) -> dict[str, Any]:
    """A point's whole rows file (its rows and its training), refused as :func:`read_rows`
    refuses it."""
    record = _read_record(rows_file, ROWS_FORMAT, ROWS_FORMAT_VERSION, "a sweep point's rows")
    if record.get("sweep_fingerprint") != sweep.fingerprint:
        raise UsageError(
            f"{rows_file} was measured by another version of sweep {sweep.name} (its sweep "
            "file or base experiment changed): give the sweep another name or storage"
        )
    return record


def keep_rows(sweep: Sweep, points_folder: Path, keep: Path) -> tuple[list[str], list[str]]:
    """Carries finished points between the sweep's storage and a keep folder (SPEC H14), both
    ways: a point measured in the storage is copied to ``keep/<point>/rows.json``, and one
    measured only in the keep folder is copied into the storage, where its trial then finds
    it finished and trains nothing. A sweep whose storage does not outlive its machine (a
    scratch disk, a fresh clone) keeps its finished points in a folder that does (a
    repository, a shared disk) and resumes from them elsewhere.

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    points_folder : Path
        The folder of its points in the storage.
    keep : Path
        The keep folder; made if missing.

    Returns
    -------
    tuple of (list of str, list of str)
        The points copied to the keep folder, and those copied from it, in grid order.

    Raises
    ------
    UsageError
        A point in the keep folder measured by another version of the sweep (nothing is
        copied then).
    OSError
        A copy failed (a full disk): the file it was writing is as it was.
    """
    stored = {point.name: points_folder / point.name / ROWS_FILE for point in sweep.points}
    kept = {point.name: keep / point.name / ROWS_FILE for point in sweep.points}
    # Every kept point is checked before anything moves, so a foreign keep folder changes
    # nothing.
    for path in kept.values():
        if path.exists():
            read_rows(path, sweep)
    sent, taken = [], []
    for point in sweep.points:
        source, copy = stored[point.name], kept[point.name]
        if source.exists() and not copy.exists():
            copy.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(copy, source.read_text())
            sent.append(point.name)
        elif copy.exists() and not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(source, copy.read_text())
            taken.append(point.name)
    return sent, taken


def check_fingerprint(sweep: Sweep, folder: Path) -> None:
    """Records the sweep's fingerprint in its folder, or refuses a sweep whose file or base
    experiment changed since it started there.

    Parameters
    ----------
    sweep : Sweep
        The sweep about to run.
    folder : Path
        Its folder in the storage.

    Raises
    ------
    UsageError
        The folder holds another version of the sweep.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fingerprint.json"
    if path.exists():
        recorded = json.loads(path.read_text()).get("sha256")
        if recorded != sweep.fingerprint:
            raise UsageError(
                f"{folder} holds sweep {sweep.name} as it was when it started (fingerprint "
                f"{recorded}); its sweep file or base experiment has changed since "
                f"({sweep.fingerprint}): give the sweep another name or storage, or restore "
                "the files"
            )
        return
    _write_atomically(
        path,
        json.dumps({"sweep_file": str(sweep.path), "sha256": sweep.fingerprint}, indent=1) + "\n",
    )


def write_keep_note(folder: Path, keep: Path | None) -> Path:
    """Records in a sweep's folder of the storage where this run of the sweep keeps its finished
    points (SPEC H14; ``None``: nowhere), for its trials to read when they finish. A trial's own
    configuration is fixed when the sweep first starts, so a sweep started without a keep folder
    and resumed with one learns it from here.

    Parameters
    ----------
    folder : Path
        The sweep's folder in the storage (made if missing).
    keep : Path or None
        The keep folder, absolute, or None.

    Returns
    -------
    Path
        The note (format ``hsnn-sweep-keep`` version 1).
    """
    if keep is not None and not keep.is_absolute():
        raise UsageError(f"a keep folder must be absolute for trials on any node: {keep}")
    import hsnn

    folder.mkdir(parents=True, exist_ok=True)
    note = {
        "format": KEEP_NOTE_FORMAT,
        "format_version": KEEP_NOTE_FORMAT_VERSION,
        "generator": f"hsnn {hsnn.__version__} (hsnn.sweep.run)",
        "keep_folder": None if keep is None else str(keep),
    }
    path = folder / KEEP_NOTE_FILE
    _write_atomically(path, json.dumps(note, indent=1) + "\n")
    return path


def read_keep_note(folder: Path) -> Path | None:
    """The keep folder the sweep's current run named (:func:`write_keep_note`; SPEC H14), or
    None where it named none or no run wrote a note.

    Parameters
    ----------
    folder : Path
        The sweep's folder in the storage.

    Returns
    -------
    Path or None
        The keep folder.

    Raises
    ------
    UsageError
        The note is not a keep note of this version.
    """
    path = folder / KEEP_NOTE_FILE
    if not path.exists():
        return None
    note = _read_record(path, KEEP_NOTE_FORMAT, KEEP_NOTE_FORMAT_VERSION, "a sweep's keep note")
    keep = note.get("keep_folder")
    if keep is None:
        return None
    if not Path(str(keep)).is_absolute():
        raise UsageError(f"{path} names a keep folder that is not absolute: {keep}")
    return Path(str(keep))


def pareto_frontier(
    rows: Sequence[Mapping[str, Any]], accuracy: str, energy: str
) -> list[Mapping[str, Any]]:
    """The rows no other row beats: none has at least their accuracy at no more energy, and
    more accuracy or less energy. Ordered by energy.

    Parameters
    ----------
    rows : sequence of mappings
        Rows of one device.
    accuracy, energy : str
        The keys to compare (a validation accuracy and an energy, so that test plays no part).

    Returns
    -------
    list
        The frontier's rows, cheapest first.
    """
    frontier = []
    for row in rows:
        dominated = any(
            other[accuracy] >= row[accuracy]
            and other[energy] <= row[energy]
            and (other[accuracy] > row[accuracy] or other[energy] < row[energy])
            for other in rows
        )
        if not dominated:
            frontier.append(row)
    return sorted(frontier, key=lambda row: (row[energy], -row[accuracy]))


FRONTIER_FORMAT = "hsnn-sweep-frontier"
FRONTIER_FORMAT_VERSION = 1


def frontier(results: Mapping[str, Any]) -> dict[str, Any]:
    """Per device, the Pareto frontier of a sweep's rows: validation accuracy against the
    energy per inference measured on the validation split. Points are chosen by validation,
    never by test; each chosen point carries its test accuracy and test energy.

    Parameters
    ----------
    results : mapping
        A results file's contents (format ``hsnn-sweep-results`` version 1) whose rows have
        the validation split.

    Returns
    -------
    dict
        Format ``hsnn-sweep-frontier`` version 1: ``devices``, each with its ``frontier``
        (rows, cheapest first) and the range of ``energy_ratio`` (hybrid over the same network
        without spikes, on test) over the frontier.

    Raises
    ------
    UsageError
        Another format, or rows without a validation split.
    """
    if (
        results.get("format") != RESULTS_FORMAT
        or results.get("format_version") != RESULTS_FORMAT_VERSION
    ):
        raise UsageError(
            f"not a sweep results file ({RESULTS_FORMAT} {RESULTS_FORMAT_VERSION}): "
            f"{results.get('format')!r} {results.get('format_version')!r}"
        )
    rows = list(results["rows"])
    if any("validation_accuracy" not in row for row in rows):
        raise UsageError(
            "the frontier is chosen by validation: sweep with the validation split "
            "(evaluation.splits)"
        )
    devices: dict[str, Any] = {}
    for device in dict.fromkeys(row["device"] for row in rows):
        own = [row for row in rows if row["device"] == device]
        chosen = pareto_frontier(own, "validation_accuracy", "validation_joules")
        ratios = [row["test_energy_ratio"] for row in chosen if "test_energy_ratio" in row]
        devices[device] = {
            "frontier": chosen,
            "points": len(own),
            "energy_ratio_range": [min(ratios), max(ratios)] if ratios else None,
        }
    import hsnn

    return {
        "format": FRONTIER_FORMAT,
        "format_version": FRONTIER_FORMAT_VERSION,
        "generator": f"hsnn {hsnn.__version__} (hsnn.sweep.frontier)",
        "sweep": results.get("sweep"),
        "devices": devices,
    }


def _point_label(row: Mapping[str, Any]) -> str:
    return (
        f"{row['placement']}, end dt {row['end_dt']:g}, dt {row['dt']:g}, {row['weight_bits']}-bit"
    )


#: Spiking pays at a point whose hybrid network needs less than this fraction of the energy of
#: the same network without spikes (on test): the device profiles are estimates, and a saving
#: below 1 % says nothing about a chip.
PAYS_BELOW = 0.99


def _verdict(entry: Mapping[str, Any]) -> str:
    """Whether spiking pays on one device's frontier (:data:`PAYS_BELOW`), from its points'
    test energy ratios."""
    chosen = entry["frontier"]
    ratios = entry["energy_ratio_range"]
    if ratios is None:
        return "no test split measured"
    span = f"{ratios[0]:.3f}x-{ratios[1]:.3f}x"
    paying = [row for row in chosen if row.get("test_energy_ratio", math.inf) < PAYS_BELOW]
    if len(paying) == len(chosen):
        return f"spiking pays at every frontier point ({span})"
    if not paying:
        return f"spiking does not pay ({span})"
    return f"spiking pays at {len(paying)} of {len(chosen)} frontier points ({span})"


def _percent(row: Mapping[str, Any], key: str) -> str:
    """An accuracy as a percentage, or a dash where the row has none."""
    value = row.get(key)
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _ratio(row: Mapping[str, Any]) -> str:
    """A row's test energy ratio, or a dash where the test split was not measured."""
    value = row.get("test_energy_ratio")
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _frontier_table(chosen: Sequence[Mapping[str, Any]]) -> list[str]:
    """A device's frontier points as the lines of a Markdown table."""
    lines = [
        "| point | validation % | test % | energy per inference (test) | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in chosen:
        lines.append(
            f"| seed {row['seed']}, {_point_label(row)} | "
            f"{_percent(row, 'validation_accuracy')} | {_percent(row, 'test_accuracy')} | "
            f"{_energy(row.get('test_joules', math.nan))} | {_ratio(row)} |"
        )
    return lines


def summary_markdown(front: Mapping[str, Any]) -> str:
    """A Markdown summary of a frontier, device by device: where spiking pays (the frontier's
    points cost less than the same network without spikes) and where it does not.

    Parameters
    ----------
    front : mapping
        What :func:`frontier` returns.

    Returns
    -------
    str
        Markdown: one section per device with its frontier as a table.
    """
    lines = [
        f"# Accuracy-energy frontier of sweep {front.get('sweep')}",
        "",
        "Per device, the points no other point beats on validation accuracy and energy per",
        "inference (both measured on the validation split), cheapest first; test columns are",
        "reported, never used to choose. Ratio: the hybrid network's energy over the same",
        "network's without spikes, on the same device (below 1: spiking pays).",
        "",
    ]
    for device, entry in front["devices"].items():
        chosen = entry["frontier"]
        lines += [f"## {device}: {_verdict(entry)}", "", *_frontier_table(chosen), ""]
    return "\n".join(lines)


def kept_results(sweep: Sweep, keep: Path) -> tuple[dict[str, Any], list[str]]:
    """The results of the points of a sweep kept in a keep folder (SPEC H14; :func:`keep_rows`),
    finished or not: a results mapping (format ``hsnn-sweep-results`` version 1, not written
    anywhere) of the points found, in grid order, and the names of those not there yet. A
    sweep longer than one machine's life reports what it has measured so far from it.

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    keep : Path
        Its keep folder, ``<point>/rows.json`` per finished point.

    Returns
    -------
    tuple of (dict, list of str)
        The results, and the points missing.

    Raises
    ------
    UsageError
        A kept point measured by another version of the sweep, or no point kept at all.
    """
    rows: list[dict[str, Any]] = []
    missing = []
    for point in sweep.points:
        rows_file = keep / point.name / ROWS_FILE
        if rows_file.is_file():
            own = read_rows(rows_file, sweep)
            if not own or any(row.get("point") != point.name for row in own):
                raise UsageError(f"{rows_file} does not hold point {point.name}'s rows")
            rows.extend(own)
        else:
            missing.append(point.name)
    if not rows:
        raise UsageError(f"no point of sweep {sweep.name} is kept in {keep}")
    import hsnn

    results = {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_FORMAT_VERSION,
        "generator": f"hsnn {hsnn.__version__} (hsnn.sweep.kept_results)",
        "sweep": sweep.name,
        "sweep_fingerprint": sweep.fingerprint,
        "rows": rows,
    }
    return results, missing


_ENERGY_UNITS = (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9), ("pJ", 1e-12))


def _energy_unit(joules: float) -> tuple[str, float]:
    """The largest of J, mJ, µJ, nJ and pJ that ``joules`` reaches, and its size in joules."""
    return next(
        ((unit, scale) for unit, scale in _ENERGY_UNITS if joules >= scale), _ENERGY_UNITS[-1]
    )


def _energy(joules: float) -> str:
    """An energy per inference to four significant figures in J, mJ, µJ, nJ or pJ (the largest
    unit it reaches once rounded), or a dash where none was measured."""
    if not math.isfinite(joules):
        return "—"
    rounded = float(f"{joules:.4g}")
    unit, scale = _energy_unit(rounded)
    return f"{rounded / scale:.4g} {unit}"


def _finite(value: Any) -> bool:
    """Whether a row's value was measured: a finite number (not None, not NaN)."""
    return isinstance(value, int | float) and math.isfinite(value)


def frontier_section(
    front: Mapping[str, Any], points: int, missing: Sequence[str], detailed: Sequence[str]
) -> str:
    """A frontier as a section of a document (SPEC H14): one line per device (its verdict, its
    cheapest and its most accurate frontier point), then the whole frontier of the devices in
    ``detailed``. Chosen by validation, as :func:`frontier` chooses; test is reported.

    Parameters
    ----------
    front : mapping
        What :func:`frontier` returns.
    points : int
        The sweep's training points in all.
    missing : sequence of str
        Those not measured yet (:func:`kept_results`); the section says the frontier is of the
        others.
    detailed : sequence of str
        The devices whose whole frontier is listed.

    Returns
    -------
    str
        Markdown, without a heading of its own.
    """
    measured = points - len(missing)
    if missing:
        lines = [
            f"{measured} of the sweep's {points} trained points are measured so far; the "
            "frontier below is of those (not yet measured: " + ", ".join(missing) + ").",
        ]
    else:
        lines = [f"All {points} trained points are measured."]
    lines += [
        "",
        (
            "| device | frontier rows / measured rows | where spiking pays (test energy over the "
            f"same network without spikes below {PAYS_BELOW:g}) | cheapest: validation / test %, "
            "ratio | most accurate: validation / test %, ratio |"
        ),
        "|---|---:|---|---|---|",
    ]

    def brief(row: Mapping[str, Any]) -> str:
        return (
            f"seed {row['seed']}, {_point_label(row)}: "
            f"{_percent(row, 'validation_accuracy')} / {_percent(row, 'test_accuracy')}, "
            f"{_ratio(row)}x"
        )

    for device, entry in front["devices"].items():
        chosen = entry["frontier"]
        best = max(chosen, key=lambda row: row["validation_accuracy"])
        lines.append(
            f"| {device} | {len(chosen)} / {entry['points']} | {_verdict(entry)} | "
            f"{brief(chosen[0])} | {brief(best)} |"
        )
    for device in detailed:
        if device not in front["devices"]:
            raise UsageError(
                f"no frontier of device {device!r} (the sweep priced {', '.join(front['devices'])})"
            )
        chosen = front["devices"][device]["frontier"]
        lines += ["", f"The frontier on {device}, cheapest first:", "", *_frontier_table(chosen)]
    return "\n".join(lines)


def energy_ratio_table(results: Mapping[str, Any], device: str) -> str:
    """How the energy ratio of one device moves with placement and dt, over every measured row
    (SPEC H14): a Markdown table, a row per placement and a column per dt, each cell the range
    of the test energy ratio (hybrid over the same network without spikes) over the seeds, end
    dts and weight widths measured there.

    Parameters
    ----------
    results : mapping
        A results file's contents (format ``hsnn-sweep-results`` version 1).
    device : str
        A device the sweep priced.

    Returns
    -------
    str
        The table, then a sentence on how far the weight width alone moves a ratio (the largest
        difference between widths at one trained point and dt).

    Raises
    ------
    UsageError
        A device the results do not price.
    """
    rows = [
        row
        for row in results["rows"]
        if row["device"] == device and _finite(row.get("test_energy_ratio"))
    ]
    if not rows:
        raise UsageError(f"no test energy of device {device!r} in the results")
    dts = sorted({row["dt"] for row in rows}, reverse=True)
    lines = [
        "| placement | " + " | ".join(f"dt {dt:g}" for dt in dts) + " |",
        "|---|" + "---:|" * len(dts),
    ]
    for placement in dict.fromkeys(row["placement"] for row in rows):
        cells = []
        for dt in dts:
            ratios = [
                row["test_energy_ratio"]
                for row in rows
                if row["placement"] == placement and row["dt"] == dt
            ]
            if not ratios:
                cells.append("—")
            elif f"{min(ratios):.3f}" == f"{max(ratios):.3f}":
                cells.append(f"{min(ratios):.3f}")
            else:
                cells.append(f"{min(ratios):.3f}-{max(ratios):.3f}")
        lines.append(f"| {placement} | " + " | ".join(cells) + " |")
    by_width: dict[tuple[Any, Any], list[float]] = {}
    for row in rows:
        by_width.setdefault((row.get("point"), row["dt"]), []).append(row["test_energy_ratio"])
    widths = {row.get("weight_bits") for row in rows}
    if len(widths) > 1:
        moved = max(max(ratios) - min(ratios) for ratios in by_width.values())
        lines += [
            "",
            (
                f"The weight width alone ({', '.join(f'{bits}' for bits in sorted(widths))} "
                f"bits) moves a ratio by {moved:.3f} at most."
            ),
        ]
    return "\n".join(lines)


#: A picture draws the accuracies from this many points below its device's least accurate
#: frontier point upwards: the frontier's differences are tenths of a point, and a collapsed
#: run at 50 % would squeeze them into one line. The points left out are counted on the picture.
PICTURE_MARGIN_POINTS = 3.0


@dataclass(frozen=True)
class PicturePlan:
    """What one device's frontier picture shows (SPEC H14), worked out before any drawing.

    Attributes
    ----------
    unit, scale : str, float
        The energy axis's unit and its size in joules (the largest unit the dearest point
        reaches).
    floor : float or None
        Accuracies (%) below it are not drawn; None when every point is drawn.
    left_out : int
        Points below the floor.
    lowest : float or None
        The lowest accuracy (%) left out.
    without_spikes : dict of int to tuple of float
        Per weight width, the energies (J, four significant figures, each once) of the same
        networks without spikes, drawn as lines in that width's style: a point of that width
        left of its line costs less than its network without spikes.
    """

    unit: str
    scale: float
    floor: float | None
    left_out: int
    lowest: float | None
    without_spikes: dict[int, tuple[float, ...]]


def picture_plan(
    rows: Sequence[Mapping[str, Any]], chosen: Sequence[Mapping[str, Any]]
) -> PicturePlan:
    """The scales, the accuracy floor and the lines without spikes of one device's picture.

    Parameters
    ----------
    rows : sequence of mappings
        Every row of the device (validation accuracy and energy); rows without a finite
        validation accuracy and energy are not drawn and play no part.
    chosen : sequence of mappings
        Its frontier (:func:`pareto_frontier`).

    Returns
    -------
    PicturePlan
        The accuracy floor lies :data:`PICTURE_MARGIN_POINTS` below the least accurate
        frontier point, rounded down to a whole percent; it is None when no row lies below it.

    Raises
    ------
    UsageError
        No row, or no frontier row, with a finite validation accuracy and energy.
    """
    drawable = [row for row in rows if _drawable(row)]
    frontier_rows = [row for row in chosen if _drawable(row)]
    if not drawable or not frontier_rows:
        raise UsageError("nothing to draw: no row with a validation accuracy and energy")
    unit, scale = _energy_unit(max(row["validation_joules"] for row in drawable))
    accuracies = [100 * row["validation_accuracy"] for row in drawable]
    floor: float | None = math.floor(
        min(100 * row["validation_accuracy"] for row in frontier_rows) - PICTURE_MARGIN_POINTS
    )
    below = [accuracy for accuracy in accuracies if accuracy < floor]
    if not below:
        floor = None
    dense_by_width: dict[int, set[float]] = {}
    for row in drawable:
        dense = row.get("validation_joules_non_spiking")
        if _finite(dense):
            dense_by_width.setdefault(row["weight_bits"], set()).add(float(f"{dense:.4g}"))
    return PicturePlan(
        unit=unit,
        scale=scale,
        floor=floor,
        left_out=len(below),
        lowest=min(below) if below else None,
        without_spikes={bits: tuple(sorted(values)) for bits, values in dense_by_width.items()},
    )


def _drawable(row: Mapping[str, Any]) -> bool:
    """Whether a row has the validation accuracy and energy a picture places it by."""
    return _finite(row.get("validation_accuracy")) and _finite(row.get("validation_joules"))


def picture_source(results: Mapping[str, Any]) -> str:
    """What a frontier picture was drawn from, as its PNG names it (text key ``Source``): the
    sweep, its fingerprint and the SHA-256 of its rows in canonical JSON. A picture whose
    source differs from the results at hand is stale, even with as many rows.

    Parameters
    ----------
    results : mapping
        A results file's contents (format ``hsnn-sweep-results`` version 1).

    Returns
    -------
    str
        One line.
    """
    canonical = json.dumps(results["rows"], sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return (
        f"sweep {results.get('sweep')} (fingerprint {results.get('sweep_fingerprint')}), "
        f"{len(results['rows'])} rows, sha256 {digest}"
    )


def plot_frontier(
    front: Mapping[str, Any],
    results: Mapping[str, Any],
    out: Path,
    devices: Sequence[str] | None = None,
) -> list[Path]:
    """One picture per device (SPEC H14): every point of the sweep, validation accuracy against
    energy per inference (both on the validation split), colour by placement and marker by
    weight width, the frontier drawn through the chosen points and the energies of the same
    networks without spikes as a line per width (:func:`picture_plan` sets the scales). Each PNG
    names its format (``hsnn-sweep-frontier`` 1), its generator, what it leaves out and its
    source (:func:`picture_source`) in its text chunks.

    Parameters
    ----------
    front : mapping
        What :func:`frontier` returns.
    results : mapping
        The results file's contents it was made from.
    out : Path
        The folder to write ``frontier-<device>.png`` into.
    devices : sequence of str, optional
        The devices to draw; default every device of the frontier.

    Returns
    -------
    list of Path
        The pictures written.

    Raises
    ------
    UsageError
        A device the sweep did not price.
    """
    unknown = [device for device in devices or () if device not in front["devices"]]
    if unknown:
        raise UsageError(
            f"no frontier of device {unknown[0]!r} (the sweep priced {', '.join(front['devices'])})"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import hsnn

    markers = ("o", "^", "s", "D", "v", "P")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for device in devices if devices is not None else list(front["devices"]):
        rows = [row for row in results["rows"] if row["device"] == device]
        chosen = front["devices"][device]["frontier"]
        plan = picture_plan(rows, chosen)
        drawn = [
            row
            for row in rows
            if _drawable(row)
            and (plan.floor is None or 100 * row["validation_accuracy"] >= plan.floor)
        ]
        figure, axes = plt.subplots(figsize=(10.5, 5), dpi=120)
        widths = sorted({row["weight_bits"] for row in rows}, reverse=True)
        styles = ("--", ":", "-.")
        for index, bits in enumerate(widths):
            energies = plan.without_spikes.get(bits, ())
            for number, joules in enumerate(energies):
                axes.axvline(
                    joules / plan.scale,
                    color="dimgrey",
                    linestyle=styles[index % len(styles)],
                    linewidth=1.2,
                    label=(
                        f"without spikes, {bits}-bit weights: "
                        + ", ".join(_energy(value) for value in energies)
                    )
                    if number == 0
                    else None,
                )
        colours = {
            placement: f"C{index}"
            for index, placement in enumerate(dict.fromkeys(row["placement"] for row in rows))
        }
        for placement, colour in colours.items():
            for index, bits in enumerate(widths):
                own = [
                    row
                    for row in drawn
                    if row["placement"] == placement and row["weight_bits"] == bits
                ]
                if own:
                    axes.scatter(
                        [row["validation_joules"] / plan.scale for row in own],
                        [100 * row["validation_accuracy"] for row in own],
                        color=colour,
                        marker=markers[index % len(markers)],
                        alpha=0.7,
                        label=f"spikes at {placement}, {bits}-bit weights",
                    )
        axes.plot(
            [row["validation_joules"] / plan.scale for row in chosen if _drawable(row)],
            [100 * row["validation_accuracy"] for row in chosen if _drawable(row)],
            color="black",
            linewidth=1,
            drawstyle="steps-post",
            label="frontier: the best accuracy at this energy or less",
        )
        left_out = "every row is drawn"
        if plan.floor is not None:
            # A quarter point below the floor, so that a marker on it is drawn whole.
            axes.set_ylim(bottom=plan.floor - 0.25)
            left_out = (
                f"{plan.left_out} of {len(rows)} rows lie below {plan.floor:g} % and are not "
                f"drawn (the lowest: {plan.lowest:.1f} %)"
            )
            figure.text(0.01, 0.01, left_out, fontsize="small")
        axes.ticklabel_format(axis="x", style="plain", useOffset=False)
        axes.set_xlabel(f"energy per inference on {device} ({plan.unit}, validation split)")
        axes.set_ylabel("validation accuracy (%)")
        axes.set_title(
            f"sweep {front.get('sweep')}: accuracy against energy on {device}", fontsize="medium"
        )
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
        figure.tight_layout(rect=(0, 0.04, 1, 1))
        path = out / f"frontier-{device}.png"
        figure.savefig(
            path,
            metadata={
                "Title": f"accuracy-energy frontier of sweep {front.get('sweep')} on {device}",
                "Software": f"hsnn {hsnn.__version__} (hsnn.sweep.plot_frontier)",
                "Description": (
                    f"format {FRONTIER_FORMAT} {FRONTIER_FORMAT_VERSION}: validation accuracy "
                    "against validation energy per inference of every row of the sweep's "
                    "results on this device, its Pareto frontier chosen by validation; " + left_out
                ),
                "Source": picture_source(results),
            },
        )
        plt.close(figure)
        written.append(path)
    return written


def write_frontier(results_file: str | os.PathLike[str]) -> dict[str, Any]:
    """Writes a sweep's frontier beside its results file: ``frontier.json``, ``frontier.md``
    and one ``frontier-<device>.png`` per device (matplotlib, the [sweep] extra).

    Parameters
    ----------
    results_file : str or os.PathLike
        A results file (format ``hsnn-sweep-results`` version 1).

    Returns
    -------
    dict
        The paths written, by kind: ``json`` and ``markdown`` (a Path each), ``pictures`` (a
        list of Paths).
    """
    results_file = Path(results_file)
    results = json.loads(results_file.read_text())
    front = frontier(results)
    folder = results_file.parent
    json_path = folder / "frontier.json"
    _write_atomically(json_path, json.dumps(front, indent=1) + "\n")
    markdown = folder / "frontier.md"
    _write_atomically(markdown, summary_markdown(front) + "\n")
    pictures = plot_frontier(front, results, folder)
    return {"json": json_path, "markdown": markdown, "pictures": pictures}


def check_address(address: str | None, timeout: float = 5.0) -> None:
    """Refuses a Ray cluster address nothing answers at, within ``timeout`` seconds.

    Parameters
    ----------
    address : str or None
        ``HOST:PORT`` or ``ray://HOST:PORT``; None, ``auto`` and ``local`` are not checked (Ray
        finds or starts the cluster).
    timeout : float
        Seconds to wait for a TCP connection.

    Raises
    ------
    UsageError
        The address is malformed, or no connection opens within ``timeout``.
    """
    import socket

    if address is None or address in ("auto", "local"):
        return
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"Ray cluster address {address!r} is not HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise UsageError(
            f"cannot reach the Ray cluster at {address!r} ({error}); start it with "
            "`ray start --head`, or leave --address and RAY_ADDRESS unset for a local Ray"
        ) from error


def run(
    sweep_file: str | os.PathLike[str],
    *,
    address: str | None = None,
    storage: str | os.PathLike[str] | None = None,
    num_cpus: int | None = None,
    max_failures: int = 2,
    keep: str | os.PathLike[str] | None = None,
) -> Path:
    """Runs a sweep on Ray Tune and writes its results file; run again, it resumes the sweep.

    Parameters
    ----------
    sweep_file : str or os.PathLike
        The sweep file (format ``hsnn-sweep`` version 1).
    address : str, optional
        A running Ray cluster (``ray start --head``); default ``RAY_ADDRESS``, else a local
        Ray started here. A trial needs ``cpus_per_trial`` CPUs on one node.
    storage : str or os.PathLike, optional
        Where trials, hsnn's run folders and the results go, a path every node sees; default
        ``runs/sweeps`` in the current folder.
    num_cpus : int, optional
        CPUs of the local Ray (ignored with a cluster); default: all.
    max_failures : int
        Times Tune retries a failed trial, each time from hsnn's last checkpoint.
    keep : str or os.PathLike, optional
        A folder that outlives the storage (a repository, a shared disk): every finished
        point's rows are copied there as the point finishes, and points found there are not
        trained again (:func:`keep_rows`).

    Returns
    -------
    Path
        The results file (format ``hsnn-sweep-results`` version 1): one row per trained model x
        dt x weight width x device; beside it the frontier (:func:`write_frontier`).

    Raises
    ------
    UsageError
        A bad sweep file (before anything trains), an unreachable cluster, or trials that
        failed every retry (run the command again to resume).
    ImportError
        Ray Tune is not installed (``pip install "./python[sweep]"``).
    """
    # Both refusals come before Ray starts: a bad file, and a cluster nobody answers at (Ray
    # itself would wait minutes for it).
    load_sweep(sweep_file)
    check_address(address or os.environ.get("RAY_ADDRESS"))
    from hsnn._sweep_ray import run_on_ray

    return run_on_ray(
        sweep_file,
        address=address,
        storage=storage,
        num_cpus=num_cpus,
        max_failures=max_failures,
        keep=keep,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``hsnn-sweep SWEEP.json [--address ...] [--storage ...] [--keep ...]``: :func:`run` from a
    shell.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: 0 when the results file is written, 2 on a usage error.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="hsnn-sweep",
        description="Run a sweep (format hsnn-sweep 1) on Ray Tune; run again to resume.",
    )
    parser.add_argument("sweep_file", type=Path)
    parser.add_argument(
        "--address", help="a running Ray cluster (default: RAY_ADDRESS, else local)"
    )
    parser.add_argument(
        "--storage", type=Path, help="a path every node sees (default: runs/sweeps)"
    )
    parser.add_argument("--num-cpus", type=int, help="CPUs of a local Ray (default: all)")
    parser.add_argument(
        "--keep",
        type=Path,
        help="a folder that outlives the storage: finished points are copied there, and "
        "points found there are not trained again",
    )
    arguments = parser.parse_args(argv)
    try:
        results = run(
            arguments.sweep_file,
            address=arguments.address,
            storage=arguments.storage,
            num_cpus=arguments.num_cpus,
            keep=arguments.keep,
        )
    except (UsageError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    folder = results.parent
    print(f"wrote {results}, {folder / 'frontier.md'} and the frontier's pictures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
