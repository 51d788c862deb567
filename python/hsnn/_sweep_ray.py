"""The Ray Tune side of :mod:`hsnn.sweep`: one trial per training point, resumable.

Imported only by :func:`hsnn.sweep.run`, so the package works without Ray.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hsnn._errors import UsageError
from hsnn.sweep import (
    RESULTS_FORMAT,
    RESULTS_FORMAT_VERSION,
    ROWS_FILE,
    Sweep,
    TrainingPoint,
    _write_atomically,
    check_fingerprint,
    keep_rows,
    load_sweep,
    measure_point,
    read_keep_note,
    read_rows,
    train_point,
    training_record,
    write_frontier,
    write_keep_note,
    write_rows,
)

try:
    import ray
    from ray import tune
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError(
        'hsnn.sweep.run needs Ray Tune: pip install "./python[sweep]" (ray[tune] 2.60)'
    ) from error


def _trial(config: dict[str, Any]) -> None:
    """One training point: train (resuming from hsnn's checkpoints), then measure."""
    sweep = load_sweep(config["sweep_file"])
    point = TrainingPoint(**config["point"])
    folder = Path(config["points_folder"]) / point.name
    threads = int(config["threads"])
    rows_file = folder / ROWS_FILE

    def report_epoch(summary: dict[str, Any], run_folder: Path) -> None:
        # Tune's checkpoint points at hsnn's run folder: a marker naming it, not a copy.
        with tempfile.TemporaryDirectory() as marker:
            (Path(marker) / "hsnn-run.json").write_text(json.dumps({"run": str(run_folder)}))
            tune.report(
                {
                    "stage": summary.get("stage"),
                    "epoch": summary.get("epoch"),
                    "validation_accuracy": summary.get("validation_accuracy"),
                    "measured": False,
                },
                checkpoint=tune.Checkpoint.from_directory(marker),
            )

    if not rows_file.exists():
        model_file = train_point(sweep, point, folder, threads, report=report_epoch)
        rows = measure_point(sweep, point, model_file, threads)
        write_rows(
            sweep,
            point,
            folder,
            rows,
            ray.get_runtime_context().get_node_id(),
            training=training_record(folder / "run"),
        )
        # The keep folder of the sweep's current run, which a restored Tuner's configuration
        # may not know.
        keep = read_keep_note(Path(config["points_folder"]).parent)
        if keep is not None:
            # Only this trial's own point: another trial may be writing its own copy.
            kept = keep / point.name / ROWS_FILE
            kept.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(kept, rows_file.read_text())
    rows = read_rows(rows_file, sweep)
    best = max(row["validation_accuracy"] for row in rows)
    tune.report({"measured": True, "rows": len(rows), "best_validation_accuracy": best})


def _trial_name(trial: tune.experiment.Trial) -> str:
    """A trial's name in Tune's table and its folder: its training point's."""
    return TrainingPoint(**trial.config["point"]).name


def run_on_ray(
    sweep_file: str | os.PathLike[str],
    *,
    address: str | None,
    storage: str | os.PathLike[str] | None,
    num_cpus: int | None,
    max_failures: int,
    keep: str | os.PathLike[str] | None = None,
) -> Path:
    """:func:`hsnn.sweep.run`, with Ray imported (parameters, returns and errors there).

    A sweep already started in ``storage`` resumes (``Tuner.restore``) when its fingerprint
    (the sweep file's and the base experiment's text) is the one it started with, and is
    refused otherwise, before anything trains.
    """
    sweep = load_sweep(sweep_file)
    storage_path = Path(storage) if storage is not None else Path("runs") / "sweeps"
    storage_path = storage_path.resolve()
    storage_path.mkdir(parents=True, exist_ok=True)
    check_fingerprint(sweep, storage_path / sweep.name)
    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UsageError(f"cannot reach the Ray cluster at {address!r}: {error}") from error
    points_folder = storage_path / sweep.name / "points"
    keep_folder = None if keep is None else Path(keep).resolve()
    if keep_folder is not None:
        keep_rows(sweep, points_folder, keep_folder)
    previous_keep = read_keep_note(storage_path / sweep.name)
    if previous_keep is not None and keep_folder is None:
        print(
            f"hsnn-sweep: this run keeps no finished points; the run before kept them in "
            f"{previous_keep} (give --keep {previous_keep} to go on keeping them there)",
            file=sys.stderr,
        )
    write_keep_note(storage_path / sweep.name, keep_folder)
    trainable = tune.with_resources(_trial, {"cpu": sweep.cpus_per_trial})
    experiment_path = storage_path / sweep.name / "tune"
    if tune.Tuner.can_restore(str(experiment_path)):
        tuner = tune.Tuner.restore(str(experiment_path), trainable=trainable, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space={
                "sweep_file": str(Path(sweep_file).resolve()),
                "points_folder": str(points_folder),
                "threads": sweep.cpus_per_trial,
                "point": tune.grid_search(
                    [
                        {"seed": p.seed, "end_dt": p.end_dt, "placement": p.placement}
                        for p in sweep.points
                    ]
                ),
            },
            tune_config=tune.TuneConfig(
                trial_name_creator=_trial_name, trial_dirname_creator=_trial_name
            ),
            run_config=tune.RunConfig(
                name="tune",
                storage_path=str(storage_path / sweep.name),
                failure_config=tune.FailureConfig(max_failures=max_failures),
            ),
        )
    started = time.time()
    try:
        grid = tuner.fit()
    finally:
        # Points finished before a stop (a trial killed between its rows and its copy) reach
        # the keep folder here.
        if keep_folder is not None:
            keep_rows(sweep, points_folder, keep_folder)
    errors = [result.error for result in grid if result.error is not None]
    if errors:
        raise UsageError(
            f"{len(errors)} trial(s) of sweep {sweep.name} failed after {max_failures} "
            f"retries; run the command again to resume: {errors[0]}"
        )
    results = write_results(sweep, points_folder, storage_path / sweep.name, time.time() - started)
    write_frontier(results)
    return results


def write_results(sweep: Sweep, points_folder: Path, out: Path, seconds: float) -> Path:
    """Gathers every point's rows into the sweep's results file, in grid order.

    Parameters
    ----------
    sweep : Sweep
        The sweep.
    points_folder : Path
        The folder of its points.
    out : Path
        Where ``results.json`` goes.
    seconds : float
        Wall-clock seconds of this run of the sweep (not of resumed parts).

    Returns
    -------
    Path
        The results file (format ``hsnn-sweep-results`` version 1).

    Raises
    ------
    UsageError
        A point without measurements, or measured by another version of the sweep.
    """
    rows = []
    for point in sweep.points:
        rows_file = points_folder / point.name / ROWS_FILE
        if not rows_file.exists():
            raise UsageError(f"point {point.name} has no measurements ({rows_file})")
        rows.extend(read_rows(rows_file, sweep))
    import hsnn

    results = {
        "format": RESULTS_FORMAT,
        "format_version": RESULTS_FORMAT_VERSION,
        "generator": f"hsnn {hsnn.__version__} (hsnn.sweep.run)",
        "sweep": sweep.name,
        "sweep_file": str(sweep.path),
        "base_experiment": str(sweep.base),
        "data": None if sweep.data is None else str(sweep.data),
        "sweep_fingerprint": sweep.fingerprint,
        "seconds_this_run": seconds,
        "rows": rows,
    }
    path = out / "results.json"
    _write_atomically(path, json.dumps(results, indent=1) + "\n")
    return path
