"""``python -m hsnn.conformance``: the conformance matrix of one implementation (SPEC C6).

Exits 0 when every implemented check holds, 1 when one fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from hsnn.conformance import DEFAULT_TIMEOUT, LEVELS, CheckResult, load, render, report, run


def main(argv: list[str] | None = None) -> int:
    """Parses ``argv``, runs the checks, prints the matrix; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m hsnn.conformance",
        description="Run hsnn's conformance suite (SPEC C6) on an implementation in Python.",
    )
    parser.add_argument("target", help="FILE.py:OBJECT or module:OBJECT (a class is instantiated)")
    parser.add_argument(
        "--level",
        required=True,
        choices=LEVELS,
        help="the level the implementation declares (SPEC C1-C3, Q2 for f64, H12)",
    )
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    parser.add_argument(
        "--checks",
        metavar="PATTERN",
        help="only checks matching PATTERN (a glob, a substring or a clause)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per check before it is stopped (default {DEFAULT_TIMEOUT:g})",
    )
    arguments = parser.parse_args(argv)
    try:
        port = load(arguments.target)
        name_method = getattr(port, "name", None)
        name = str(name_method()) if callable(name_method) else type(port).__name__
    except Exception as error:  # noqa: BLE001 - any failure to load is the user's to fix
        print(
            f"error: cannot load {arguments.target}: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return 2

    def progress(result: CheckResult) -> None:
        print(f"{result.status:>15}  {result.check}  ({result.seconds:.2f} s)", file=sys.stderr)

    try:
        results = run(port, arguments.level, arguments.checks, arguments.timeout, progress)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render(results, name, arguments.level), end="")
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as out:
            json.dump(report(results, name, arguments.level), out, indent=2)
            out.write("\n")
    failed = any(r.status == "fail" for r in results)
    # A check that timed out may still run on a thread that cannot be stopped: leave now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
