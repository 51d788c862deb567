"""The conformance suite of hsnn, run on any Python implementation (SPEC C6).

The checks are hsnn-conformance's own, the ones every Rust backend passes (docs/CONFORMANCE.md),
run unchanged through a bridge that calls the implementation's methods (docs/PORTING.md).
From the command line::

    python -m hsnn.conformance PATH/TO/FILE.py:OBJECT --level exact|f64|f32|fixed \\
        [--json OUT] [--checks PATTERN]

From a test suite: ``hsnn.conformance.check(port, "exact")`` raises
:class:`ConformanceFailure` naming every failing check. A port declines an input it does not
support by raising :class:`NotSupported`; the check then reports ``not supported``.
"""

from __future__ import annotations

import ctypes
import fnmatch
import importlib
import importlib.util
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hsnn import _native
from hsnn.conformance import _bridge
from hsnn.conformance._bridge import CheckTimeout, NotSupported

__all__ = [
    "LEVELS",
    "STATUSES",
    "CheckResult",
    "ConformanceFailure",
    "NotSupported",
    "check",
    "checks",
    "counts",
    "load",
    "render",
    "report",
    "run",
    "run_check",
    "summary",
]

#: The levels a port declares: ``exact`` (SPEC C1), ``f64`` (C2 with float64 bounds, for an
#: f64 implementation that does not follow Q2's operation order or whose tanh is not
#: faithfully rounded; Q2), ``f32`` (C2, C3 for gradients) and ``fixed`` (H12).
LEVELS = ("exact", "f64", "f32", "fixed")

#: What a check can end as (C6): ``pass``; ``fail``; ``n/a`` (not at this level, or the check
#: never calls the port); ``not implemented`` (a method it needs is missing); ``not supported``
#: (the port declined an input with :class:`NotSupported`).
STATUSES = ("pass", "fail", "n/a", "not implemented", "not supported")

#: Longest cell of the printed matrix; the whole message is in ``--json`` (``detail``).
CELL_CHARACTERS = 240

#: Seconds a check may take before it is stopped (the slowest check on the numpy port takes
#: a few seconds).
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one implementation (C6).

    Attributes
    ----------
    check : str
        The check's name, which starts with its clause (``q1_...``).
    clause : str
        The SPEC clause, e.g. ``Q1``.
    status : str
        One of :data:`STATUSES`.
    message : str or None
        For anything but a pass, one line: the check's own message, which names the input
        and the values it compared (a property check's failing input and run statistics are
        left out).
    seconds : float
        Time the check took.
    detail : str or None
        The whole message, as the check ended with it (written to ``--json``).
    """

    check: str
    clause: str
    status: str
    message: str | None
    seconds: float
    detail: str | None = None


def summary(message: str | None) -> str | None:
    """The one line of a check's message that a matrix cell shows (C6).

    The check's own sentence: its first line, without the property runner's ``Test failed:``
    prefix and ``minimal failing input`` tail, cut to :data:`CELL_CHARACTERS`.
    """
    if message is None:
        return None
    lines = message.strip().splitlines()
    line = lines[0] if lines else ""
    line = line.removeprefix("Test failed: ")
    line = line.split("; minimal failing input:")[0].rstrip(".")
    if len(line) > CELL_CHARACTERS:
        line = line[: CELL_CHARACTERS - 3].rstrip() + "..."
    return line


def _result(
    name: str, clause: str, status: str, message: str | None, seconds: float
) -> CheckResult:
    return CheckResult(name, clause, status, summary(message), seconds, message)


class ConformanceFailure(AssertionError):
    """Raised by :func:`check` when an implemented check fails; ``results`` has them all."""

    def __init__(self, results: list[CheckResult]) -> None:
        self.results = results
        failed = [r for r in results if r.status == "fail"]
        lines = [f"{len(failed)} conformance check(s) failed:"]
        lines += [f"- {r.check} ({r.clause}): {r.message}" for r in failed]
        super().__init__("\n".join(lines))


def checks(pattern: str | None = None) -> list[tuple[str, str, str]]:
    """Every check, as ``(name, clause, suite)``, optionally only those matching ``pattern``.

    Parameters
    ----------
    pattern : str, optional
        A glob (``e1_*``, ``*golden*``) on the check's name; without wildcards, a substring.
        A clause id (``Q1``) selects that clause's checks.
    """
    listed = [tuple(entry) for entry in _native.conformance_checks()]
    if pattern is None:
        return listed  # type: ignore[return-value]
    glob = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
    return [
        entry
        for entry in listed  # type: ignore[misc]
        if fnmatch.fnmatch(entry[0], glob.lower()) or entry[1] == pattern.upper()
    ]


def _stop(thread: threading.Thread) -> None:
    """Raises :class:`CheckTimeout` inside ``thread`` the next time it runs Python code."""
    _bridge.stop(thread)
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(CheckTimeout)
        )


def _run_one(port: Any, level: str, name: str, clause: str, timeout: float) -> CheckResult:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = _native.run_conformance_check(port, level, name)
        except BaseException as error:  # noqa: BLE001 - a check's failure, never the runner's
            box["error"] = error

    start = time.perf_counter()
    thread = threading.Thread(target=target, name=f"hsnn-check-{name}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        _stop(thread)
        thread.join(30.0)
        note = (
            ""
            if not thread.is_alive()
            else (
                "; it could not be stopped (blocked outside Python) and runs on in the background"
            )
        )
        return _result(
            name,
            clause,
            "fail",
            f"timed out after {timeout:g} s in check {name}{note}",
            time.perf_counter() - start,
        )
    seconds = time.perf_counter() - start
    if "error" in box:
        error = box["error"]
        return _result(name, clause, "fail", f"{type(error).__name__}: {error}", seconds)
    status, message = box["result"]
    return _result(name, clause, status, message, seconds)


def run_check(port: Any, level: str, name: str, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """Runs the one check called ``name`` on ``port`` at ``level`` (C6): the building block of
    one pytest test per check.

    Parameters
    ----------
    port : object
        The implementation under test.
    level : {"exact", "f64", "f32", "fixed"}
        Its declared level.
    name : str
        A check's exact name, as :func:`checks` lists them.
    timeout : float
        Seconds before the check is stopped and failed.

    Examples
    --------
    >>> import pytest, hsnn.conformance as conformance
    >>> @pytest.mark.parametrize("name", [name for name, _, _ in conformance.checks()])
    ... def test_conformance(name):
    ...     result = conformance.run_check(MyPort(), "exact", name)
    ...     assert result.status != "fail", result.message
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    clauses = {entry[0]: entry[1] for entry in checks()}
    if name not in clauses:
        raise ValueError(f"no conformance check is named {name!r}")
    return _run_one(port, level, name, clauses[name], timeout)


def run(
    port: Any,
    level: str,
    pattern: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Any = None,
) -> list[CheckResult]:
    """Runs every check (or those matching ``pattern``) on ``port`` at ``level`` (C6).

    Parameters
    ----------
    port : object
        An implementation of some of the methods of docs/PORTING.md.
    level : {"exact", "f64", "f32", "fixed"}
        Its declared conformance level (SPEC C1, Q2 and C2, C2/C3, H12).
    pattern : str, optional
        Only the checks :func:`checks` selects with it.
    timeout : float
        Seconds per check before it is stopped and failed.
    progress : callable, optional
        Called with each :class:`CheckResult` as it ends.

    Returns
    -------
    list of CheckResult
        One per check, in the order of docs/CONFORMANCE.md.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if not (timeout > 0):
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    selected = checks(pattern)
    if not selected:
        raise ValueError(f"no conformance check matches {pattern!r}")
    results = []
    for name, clause, _suite in selected:
        result = _run_one(port, level, name, clause, timeout)
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def check(
    port: Any, level: str, pattern: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> list[CheckResult]:
    """:func:`run`, raising :class:`ConformanceFailure` if any implemented check fails.

    Use it in a port's own test suite: ``hsnn.conformance.check(MyPort(), "exact")``.
    """
    results = run(port, level, pattern, timeout)
    if any(r.status == "fail" for r in results):
        raise ConformanceFailure(results)
    return results


def load(target: str) -> Any:
    """The object ``FILE.py:NAME`` or ``module:NAME`` names; a class is instantiated.

    Parameters
    ----------
    target : str
        ``ports/numpy/hsnn_numpy_port.py:NumpyPort`` or ``my_package.port:MyPort``.
    """
    location, sep, name = target.rpartition(":")
    if not sep or not location or not name:
        raise ValueError(f"expected FILE.py:OBJECT or module:OBJECT, got {target!r}")
    if location.endswith(".py"):
        path = Path(location)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {location}")
        module_name = f"hsnn_port_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {location}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent.resolve()))
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(location)
    if not hasattr(module, name):
        raise AttributeError(f"{location} has no object named {name!r}")
    found = getattr(module, name)
    return found() if isinstance(found, type) else found


def _cell(result: CheckResult) -> str:
    if result.status == "pass":
        return "pass"
    text = (summary(result.message) or "").replace("|", "/").replace("`", "'")
    if result.status == "fail":
        return f"FAIL: {text}"
    return f"{result.status}: {text}"


def counts(results: Sequence[CheckResult]) -> dict[str, int]:
    """How many results end in each of :data:`STATUSES`."""
    return {status: sum(r.status == status for r in results) for status in STATUSES}


def render(results: Sequence[CheckResult], implementation: str, level: str) -> str:
    """The conformance matrix of docs/CONFORMANCE.md for one implementation, as Markdown."""
    lines = [
        f"| clause | check | {implementation} ({level}) |",
        "|---|---|---|",
    ]
    lines += [f"| {r.clause} | `{r.check}` | {_cell(r)} |" for r in results]
    tally = counts(results)
    lines.append("")
    lines.append(
        f"{tally['pass']} pass, {tally['fail']} fail, {tally['n/a']} n/a, "
        f"{tally['not implemented']} not implemented, {tally['not supported']} not supported, "
        f"of {len(results)} checks."
    )
    return "\n".join(lines) + "\n"


def report(results: Sequence[CheckResult], implementation: str, level: str) -> dict[str, Any]:
    """The JSON report of ``--json``: format ``hsnn-conformance-report`` version 1."""
    from hsnn import __version__

    return {
        "format": "hsnn-conformance-report",
        "format_version": 1,
        "generator": f"hsnn {__version__} (python -m hsnn.conformance)",
        "implementation": implementation,
        "level": level,
        "passed": all(r.status != "fail" for r in results),
        "results": [asdict(r) for r in results],
    }
