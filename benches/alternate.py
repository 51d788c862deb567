"""Alternate two or more `hsnn` binaries on the same benchmark and compare their training steps.

This machine's speed moves by 10-20 % within minutes, so a change is measured by running the
binaries in turn, several rounds, and comparing the distributions of all their steps (SPEC
P1's figures, as `hsnn bench --json` reports them). Usage::

    python3 benches/alternate.py /tmp/hsnn.before target/release/hsnn 6

Each round runs every binary once with ``bench --config configs/psmnist-paper.json --steps 5
--json``. Printed per binary: the median, lower quartile and fastest of all its steps, the
range of the peaks it measured, and its fraction of the peak in each run.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "psmnist-paper.json"


def bench(binary: str) -> dict[str, object]:
    """Run one ``hsnn bench --json`` of the paper network and return its report.

    Parameters
    ----------
    binary
        Path of an ``hsnn`` executable.

    Returns
    -------
    dict
        The ``hsnn-bench`` report (SPEC P1).
    """
    command = [binary, "bench", "--config", str(CONFIG), "--steps", "5", "--json"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main(arguments: list[str]) -> int:
    """Alternate the binaries named in ``arguments`` (the last argument: rounds)."""
    if len(arguments) < 2 or not arguments[-1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    binaries, rounds = arguments[:-1], int(arguments[-1])
    steps: dict[str, list[float]] = {binary: [] for binary in binaries}
    peaks: dict[str, list[float]] = {binary: [] for binary in binaries}
    fractions: dict[str, list[float]] = {binary: [] for binary in binaries}
    for _ in range(rounds):
        for binary in binaries:
            report = bench(binary)
            steps[binary] += [float(value) for value in report["train_step_samples_s"]]
            peaks[binary].append(float(report["peak_flops_per_s"]) / 1e9)
            fractions[binary].append(float(report["train_step_fraction_of_peak"]))
    for binary in binaries:
        ordered = sorted(steps[binary])
        print(
            f"{binary}: median {statistics.median(ordered):.4f} s, "
            f"lower quartile {ordered[len(ordered) // 4]:.4f} s, fastest {ordered[0]:.4f} s, "
            f"{len(ordered)} steps; peaks {min(peaks[binary]):.0f}-{max(peaks[binary]):.0f} "
            "GFLOP/s; fraction of the peak per run "
            + ", ".join(f"{fraction * 100:.0f} %" for fraction in fractions[binary])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
