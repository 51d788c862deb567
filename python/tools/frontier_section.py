"""Writes docs/HARDWARE.md's paper frontier from the points the sweep has kept so far.

Usage: ``python python/tools/frontier_section.py [--check]``. The section sits between the
markers ``<!-- frontier:start -->`` and ``<!-- frontier:end -->``. It is made from
``docs/results/paper-frontier-kept`` (the finished points of
``configs/sweeps/paper-frontier.json``) with :func:`hsnn.sweep.kept_results`,
:func:`hsnn.sweep.frontier` (chosen by validation) and :func:`hsnn.sweep.frontier_section`, so
it says how many points it rests on. Run it after a point is kept; ``--check`` exits 1 when the
section is stale (the test suite runs it, so the page cannot drift from the kept rows).
"""

from __future__ import annotations

import sys
from pathlib import Path

from markers import rewrite_between

from hsnn import sweep as sweeps

ROOT = Path(__file__).resolve().parents[2]
START, END = "<!-- frontier:start -->", "<!-- frontier:end -->"
PAGE = ROOT / "docs" / "HARDWARE.md"
SWEEP = ROOT / "configs" / "sweeps" / "paper-frontier.json"
KEPT = ROOT / "docs" / "results" / "paper-frontier-kept"
# The devices whose whole frontier the page lists: the neuromorphic chip the paper prices
# and the per-operation table that prices widths.
DETAILED = ("loihi", "horowitz_45nm")


def render() -> str:
    """The section, as Markdown."""
    sweep = sweeps.load_sweep(SWEEP)
    results, missing = sweeps.kept_results(sweep, KEPT)
    front = sweeps.frontier(results)
    return sweeps.frontier_section(front, len(sweep.points), missing, DETAILED)


def main(argv: list[str]) -> int:
    """Rewrites the section, or with ``--check`` reports whether it is current."""
    return rewrite_between(PAGE, (START, END), render() + "\n", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
