"""The conformance matrices of the field's own libraries as hsnn ports (docs/PORTS.md).

Runs ``python -m hsnn.conformance`` on each adapter of ``ports/`` at each level it can claim
(SPEC C6: ``exact``, and ``f64``, the level of a float64 library that does not follow Q2's
operation order or whose tanh is not faithful; neither library can claim ``f32``, whose
checks assume binary32), each in its own process (keras-spiking needs Keras 2, keras-lmu
Keras 3; two at a time, one per core), and writes the tables
between the markers of docs/PORTS.md. With ``--check`` it writes nothing and exits 1 when any
cell differs from the committed file: a change in either library or in hsnn's checks shows.

Run it with the python of ``scripts/keras-env`` (hsnn installed there)::

    python ports/matrices.py            # rewrite docs/PORTS.md's tables
    python ports/matrices.py --check    # compare every cell with docs/PORTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PORTS.md"
BEGIN = "<!-- ports matrix: begin (python ports/matrices.py) -->"
END = "<!-- ports matrix: end -->"

#: Seconds per check. keras-spiking's property checks make one Keras call per time step and
#: take about a minute each on an idle core (over 300 s, the runner's default, while builds
#: share the machine); the limit is there to stop a hang, not to time the libraries.
TIMEOUT = 1800

#: (column name, adapter, levels), in the order of the document.
PORTS = (
    (
        "keras-spiking",
        "ports/keras-spiking/keras_spiking_port.py:KerasSpikingPort",
        ("exact", "f64"),
    ),
    ("keras-lmu", "ports/keras-lmu/keras_lmu_port.py:KerasLmuPort", ("exact", "f64")),
)


def run_port(target: str, level: str) -> list[dict[str, object]]:
    """The results of ``python -m hsnn.conformance TARGET --level LEVEL`` (its ``--json``)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "hsnn.conformance",
                target,
                "--level",
                level,
                "--json",
                str(out),
                "--timeout",
                str(TIMEOUT),
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode not in (0, 1) or not out.exists():
            raise RuntimeError(
                f"{target} at {level} exited {completed.returncode}:\n{completed.stderr[-4000:]}"
            )
        return json.loads(out.read_text())["results"]


def cell(result: dict[str, object]) -> str:
    """A result as its matrix cell: the status and, unless a pass, the one-line message."""
    status = str(result["status"])
    if status == "pass":
        return "pass"
    message = str(result["message"] or "").replace("|", "/").replace("`", "'")
    return f"{'FAIL' if status == 'fail' else status}: {message}"


def tables(columns: dict[str, list[dict[str, object]]]) -> str:
    """One Markdown table per port (rows: checks; columns: its levels), with the counts."""
    text: list[str] = []
    for name, _target, levels in PORTS:
        keys = [f"{name} {level}" for level in levels]
        rows = columns[keys[0]]
        text.append(f"### {name}\n")
        text.append("| clause | check | " + " | ".join(levels) + " |")
        text.append("|---|---|" + "---|" * len(levels))
        for index, result in enumerate(rows):
            cells = [cell(columns[key][index]) for key in keys]
            text.append(f"| {result['clause']} | `{result['check']}` | " + " | ".join(cells) + " |")
        text.append("")
        for level, key in zip(levels, keys, strict=True):
            statuses = [str(r["status"]) for r in columns[key]]
            counts = ", ".join(
                f"{statuses.count(s)} {s}"
                for s in ("pass", "fail", "not supported", "not implemented", "n/a")
            )
            text.append(f"- {level}: {counts}, of {len(statuses)} checks.")
        text.append("")
    return "\n".join(text)


def generate() -> tuple[str, float]:
    """The tables of every port at every level, and the seconds they took."""
    start = time.perf_counter()
    runs = [
        (f"{name} {level}", target, level) for name, target, levels in PORTS for level in levels
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(lambda run: run_port(run[1], run[2]), runs)
        columns = {
            key: results for (key, _target, _level), results in zip(runs, found, strict=True)
        }
    return tables(columns), time.perf_counter() - start


def splice(document: str, generated: str) -> str:
    """``document`` with the text between the markers replaced by ``generated``."""
    head, found, rest = document.partition(BEGIN)
    _old, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"{DOC} lacks the markers {BEGIN!r} and {END!r}")
    return f"{head}{BEGIN}\n\n{generated}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """Regenerates (or, with ``--check``, compares) the matrices of docs/PORTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    arguments = parser.parse_args(argv)
    generated, seconds = generate()
    document = DOC.read_text(encoding="utf-8")
    updated = splice(document, generated)
    print(f"ports: matrices generated in {seconds:.0f} s", file=sys.stderr)
    if arguments.check:
        if updated != document:
            print(generated)
            print("ports: docs/PORTS.md differs from the matrices above", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
