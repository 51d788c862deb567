"""Writes docs/HARDWARE.md's paper frontier from the points the sweep has kept so far.

Usage: ``python python/tools/frontier_section.py [--check | --pictures]``. The section sits
between the markers ``<!-- frontier:start -->`` and ``<!-- frontier:end -->``. It is made from
``docs/results/paper-frontier-kept`` (the finished points of
``configs/sweeps/paper-frontier.json``) with :func:`hsnn.sweep.kept_results`,
:func:`hsnn.sweep.frontier` (chosen by validation), :func:`hsnn.sweep.frontier_section` and
:func:`hsnn.sweep.energy_ratio_table`, so it says how many points it rests on. Run it after a
point is kept; ``--check`` exits 1 when the section is stale (the test suite runs it, so the
page cannot drift from the kept rows). ``--pictures`` also draws the detailed devices' pictures
(:func:`hsnn.sweep.plot_frontier`, which needs matplotlib, the ``[sweep]`` extra: run it with
``target/sweep-venv/bin/python``) into ``docs/results/paper-frontier``; the section links them,
and refuses a picture drawn from other rows than the kept ones (:func:`hsnn.sweep.picture_source`).
The kept folder's README gets the table of how each point trained, between
``<!-- training:start -->`` and ``<!-- training:end -->`` (:func:`hsnn.sweep.training_table`).
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
PICTURES = ROOT / "docs" / "results" / "paper-frontier"
OPTIONS = {"--check", "--pictures"}
KEPT_README = KEPT / "README.md"
TRAINING_MARKERS = ("<!-- training:start -->", "<!-- training:end -->")


def render(sweep: sweeps.Sweep, pictures: bool = False) -> str:
    """The section, as Markdown.

    Parameters
    ----------
    sweep : hsnn.sweep.Sweep
        The paper frontier's sweep.
    pictures : bool
        Draw the detailed devices' pictures afresh first.

    Returns
    -------
    str
        The section, without its markers.
    """
    results, missing = sweeps.kept_results(sweep, KEPT)
    front = sweeps.frontier(results)
    if pictures:
        sweeps.plot_frontier(front, results, PICTURES, DETAILED)
    section = sweeps.frontier_section(front, len(sweep.points), missing, DETAILED)
    for device in DETAILED:
        section += (
            f"\n\nThe energy ratio on {device} over every measured point, by placement and dt"
            " (test; the range over seeds, end dts and weight widths):\n\n"
            + sweeps.energy_ratio_table(results, device)
        )
    source = sweeps.picture_source(results).encode()
    links = []
    for device in DETAILED:
        picture = PICTURES / f"frontier-{device}.png"
        if not picture.is_file():
            continue
        if source not in picture.read_bytes():
            raise SystemExit(
                f"{picture} was drawn from other rows than the kept ones: run "
                "target/sweep-venv/bin/python python/tools/frontier_section.py --pictures"
            )
        links.append(f"![The frontier on {device}](results/paper-frontier/frontier-{device}.png)")
    if links:
        section += (
            "\n\nEvery measured row, validation accuracy against validation energy, with the"
            " frontier drawn through the chosen rows (drawn by `--pictures`, the same kept rows):"
            "\n\n" + "\n\n".join(links)
        )
    return section


def main(argv: list[str]) -> int:
    """Rewrites the section (``--pictures``: and draws its pictures), or with ``--check``
    reports whether it is current; returns the exit status."""
    unknown = [argument for argument in argv if argument not in OPTIONS]
    if unknown or OPTIONS <= set(argv):
        print(f"usage: frontier_section.py [--check | --pictures] (got {argv})", file=sys.stderr)
        return 2
    sweep = sweeps.load_sweep(SWEEP)
    page = rewrite_between(PAGE, (START, END), render(sweep, "--pictures" in argv) + "\n", argv)
    training = sweeps.training_table(sweep, KEPT)
    readme = rewrite_between(KEPT_README, TRAINING_MARKERS, training + "\n", argv)
    return max(page, readme)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
