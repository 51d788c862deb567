"""hsnn.sweep on Ray, the proofs of resumability and of clusters (SPEC T8, H13).

- A sweep on a two-node Ray cluster, started on loopback by the test, gives the local run's
  rows bit for bit, with trials on both nodes.
- Killing a trial's process makes Tune retry it from hsnn's checkpoint, and the point's final
  weights equal an uninterrupted run's.
- Killing the driver mid-sweep and running the command again trains no finished point again.
- A sweep resumed with a keep folder it was not started with has its trials keep their points.

Every Ray process a test starts runs in a session of its own (``start_new_session``: the
``ray start`` daemons, a driver's local Ray and their workers keep the session id), and the
test stops exactly that session's processes afterwards, so a Ray that runs beside the tests (a
long sweep of this machine) is left running. ``ray stop`` would stop every Ray of the machine.
They skip where Ray is not installed (.ci/run runs them in target/sweep-venv).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_sweep import write_sweep

import hsnn
from hsnn import sweep as sweeps

ray = pytest.importorskip("ray", reason="Ray Tune is the optional [sweep] extra")

RAY = str(Path(sys.executable).with_name("ray"))


#: Where ``ray start --head`` records the latest cluster, which a later ``ray.init()``
#: without an address would try to join.
CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")


def session_processes(session: int) -> list[int]:
    """The live processes of Linux session ``session`` (field 6 of ``/proc/PID/stat``; a
    zombie, state ``Z``, has stopped and waits only for its parent to read its status)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def stop_session(session: int, port: int | None = None) -> None:
    """Stops every process of ``session`` (SIGTERM, then SIGKILL for what is left after 10 s),
    and forgets the cluster on ``port`` when ``ray start`` recorded it as the latest."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_processes(session):
            try:
                os.kill(pid, signal_number)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while session_processes(session) and time.monotonic() < deadline:
            time.sleep(0.1)
    recorded = CURRENT_CLUSTER.read_text().strip() if CURRENT_CLUSTER.exists() else ""
    if port is not None and recorded.endswith(f":{port}"):
        CURRENT_CLUSTER.unlink(missing_ok=True)
    assert not session_processes(session), f"session {session} outlived SIGKILL"


def test_stopping_a_session_leaves_other_processes_running() -> None:
    """The helper the Ray tests clean up with stops its session and nothing else."""
    inside = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)",
        ],
        start_new_session=True,
    )
    outside = subprocess.Popen(["sleep", "60"])
    try:
        wait_for(lambda: len(session_processes(inside.pid)) == 2, 10, "the child in the session")
        stop_session(inside.pid)
        assert inside.wait(timeout=10) != 0
        assert outside.poll() is None, "a process outside the session was stopped"
    finally:
        inside.kill()
        outside.kill()
        outside.wait()


def rows_without_nodes(results_file: Path) -> list[dict[str, Any]]:
    return json.loads(results_file.read_text())["rows"]


def node_ids(storage: Path) -> set[str]:
    return {
        json.loads(rows.read_text())["node_id"]
        for rows in (storage / "tiny" / "points").glob("*/rows.json")
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def longer_sweep(folder: Path) -> Path:
    """The tiny sweep with a spiking stage of 8 epochs: long enough to be killed inside."""
    path = write_sweep(folder)
    base = folder / "tiny-experiment.json"
    experiment = json.loads(base.read_text())
    experiment["stages"][-1]["epochs"] = 8
    base.write_text(json.dumps(experiment))
    return path


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_two_node_cluster_gives_the_local_rows_bit_for_bit(tmp_path: Path) -> None:
    sweep_file = write_sweep(tmp_path, cpus_per_trial=1)
    try:
        local = sweeps.run(sweep_file, storage=tmp_path / "local", num_cpus=2)
    finally:
        ray.shutdown()
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    sessions: list[int] = []
    try:
        for arguments in (
            ["start", "--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false"],
            ["start", f"--address=127.0.0.1:{port}", "--num-cpus=1"],
        ):
            node = subprocess.Popen(
                [RAY, *arguments, "--disable-usage-stats"],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            sessions.append(node.pid)
            output, _ = node.communicate(timeout=120)
            assert node.returncode == 0, output
        try:
            cluster = sweeps.run(
                sweep_file, storage=tmp_path / "cluster", address=f"127.0.0.1:{port}"
            )
        finally:
            ray.shutdown()
    finally:
        for session in sessions:
            stop_session(session, port)
    assert rows_without_nodes(cluster) == rows_without_nodes(local)
    assert len(node_ids(tmp_path / "cluster")) == 2, "trials ran on both nodes"


def test_a_killed_trial_is_retried_from_its_checkpoint_to_the_same_weights(
    tmp_path: Path,
) -> None:
    sweep_file = longer_sweep(tmp_path)
    sweep = sweeps.load_sweep(sweep_file)
    point = sweep.points[0]
    # The same point, uninterrupted and without Ray.
    expected = hsnn.Model.load(
        sweeps.train_point(sweep, point, tmp_path / "uninterrupted", threads=1)
    ).to_dict()["weights"]

    storage = tmp_path / "storage"
    run_folder = storage / "tiny" / "points" / point.name / "run"
    driver = subprocess.Popen(
        [sys.executable, "-m", "hsnn.sweep", str(sweep_file), "--storage", str(storage)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    killed = False
    try:
        # The trial's process holds the run folder's lock while it trains (each call of hsnn's
        # engine takes and releases it); kill it once it has a checkpoint of its spiking
        # stage and before the stage ends.
        holder: list[int] = []

        def training_with_a_checkpoint() -> bool:
            try:
                holder[:] = [int((run_folder / ".hsnn-lock").read_text().split()[0])]
            except (FileNotFoundError, ValueError, IndexError):
                return False
            return (run_folder / "checkpoint-spiking.json").exists()

        wait_for(training_with_a_checkpoint, 300, "a trial training past a checkpoint")
        assert not (run_folder / "results.json").exists(), "the point finished too early"
        os.kill(holder[0], signal.SIGKILL)
        killed = True
        output, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
        stop_session(driver.pid)
    assert killed
    assert driver.returncode == 0, output
    retried = hsnn.Model.load(run_folder / "model-spiking.json").to_dict()["weights"]
    assert retried.keys() == expected.keys()
    for name, weights in expected.items():
        np.testing.assert_array_equal(retried[name], weights, err_msg=name)


def driver_command(sweep_file: Path, storage: Path) -> list[str]:
    """The sweep's command line, as a user runs it."""
    return [sys.executable, "-m", "hsnn.sweep", str(sweep_file), "--storage", str(storage)]


def kill_the_driver_after_a_point(command: list[str], points: Path) -> set[str]:
    """Starts the sweep's driver, kills it (SIGKILL, with its Ray) once a point is measured,
    and returns the points measured by then, checked to be some but not all of the four."""
    driver = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for(lambda: any(points.glob("*/rows.json")), 600, "a measured point")
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
        stop_session(driver.pid)
    finished = {rows.parent.name for rows in points.glob("*/rows.json")}
    assert finished and len(finished) < 4, "killed mid-sweep"
    return finished


def test_a_killed_driver_is_resumed_by_the_same_command_without_training_again(
    tmp_path: Path,
) -> None:
    sweep_file = longer_sweep(tmp_path)
    storage = tmp_path / "storage"
    points = storage / "tiny" / "points"
    command = driver_command(sweep_file, storage)
    finished = kill_the_driver_after_a_point(command, points)
    stamps = {
        path: path.stat().st_mtime_ns
        for name in finished
        for path in (points / name / "run").glob("checkpoint-*.json")
    }
    again = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = again.communicate(timeout=900)
    finally:
        if again.poll() is None:
            again.kill()
        stop_session(again.pid)
    assert again.returncode == 0, output
    results = json.loads((storage / "tiny" / "results.json").read_text())
    assert len(results["rows"]) == 4 * 1 * 2 * 2
    # The points finished before the kill kept their checkpoints: nothing trained them again.
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


def test_a_sweep_resumed_with_a_keep_folder_has_its_trials_keep_their_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep started without ``--keep`` and resumed with it: Tune restores the trials with
    their first configuration, which names no keep folder, yet each trial that finishes after
    the resume copies its own point there (the sweep's keep note). The driver's own copies, at
    its start and end, are switched off here, so only the trials' copies can be in the folder."""
    sweep_file = longer_sweep(tmp_path)
    storage = tmp_path / "storage"
    points = storage / "tiny" / "points"
    before = kill_the_driver_after_a_point(driver_command(sweep_file, storage), points)
    import hsnn._sweep_ray as ray_driver

    monkeypatch.setattr(ray_driver, "keep_rows", lambda *arguments: ([], []))
    keep = tmp_path / "keep"
    try:
        sweeps.run(sweep_file, storage=storage, num_cpus=2, keep=keep)
    finally:
        ray.shutdown()
    after = {rows.parent.name for rows in points.glob("*/rows.json")}
    assert len(after) == 4
    kept = {rows.parent.name for rows in keep.glob("*/rows.json")}
    assert kept == after - before
    for name in kept:
        assert (keep / name / "rows.json").read_text() == (points / name / "rows.json").read_text()
