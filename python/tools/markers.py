"""Rewrites the generated part of a documentation page between two markers, or checks it.

The page generators in this folder (``api_reference.py``, ``frontier_section.py``) share it:
``--check`` exits 1 when the page is stale, and the test suite runs each with it, so a page
cannot drift from what generates it.
"""

from __future__ import annotations

import sys
from pathlib import Path


def rewrite_between(page: Path, markers: tuple[str, str], body: str, argv: list[str]) -> int:
    """Puts ``body`` between ``markers`` in ``page``, or with ``--check`` in ``argv`` reports
    whether it is there already; returns the exit status."""
    start, end = markers
    text = page.read_text(encoding="utf-8")
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise SystemExit(f"{page} must hold {start} once, then {end} once")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    updated = f"{head}{start}\n\n{body}\n{end}{tail}"
    if "--check" in argv:
        if updated != text:
            generator = Path(sys.argv[0]).name
            print(f"{page} is stale: run python python/tools/{generator}", file=sys.stderr)
            return 1
        return 0
    page.write_text(updated, encoding="utf-8")
    return 0
