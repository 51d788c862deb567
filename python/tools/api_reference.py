"""Writes the API reference of docs/PYTHON.md from the package's docstrings.

Usage: ``python python/tools/api_reference.py [--check]``. The reference sits between the
markers ``<!-- api:start -->`` and ``<!-- api:end -->``; ``--check`` exits 1 when it is stale
(the test suite runs it, so the page cannot drift from the code).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from markers import rewrite_between

import hsnn
import hsnn.conformance
import hsnn.sweep

START, END = "<!-- api:start -->", "<!-- api:end -->"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "PYTHON.md"


def _signature(name: str, value: Any) -> str:
    try:
        return f"{name}{inspect.signature(value)}"
    except (TypeError, ValueError):
        return f"{name}(...)"


def _doc(value: Any) -> str:
    return inspect.cleandoc(value.__doc__ or "(no docstring)")


def _entry(title: str, value: Any, level: str) -> list[str]:
    return [f"{level} `{title}`", "", "```text", _doc(value), "```", ""]


def render() -> str:
    """The reference, as Markdown: every public class with its methods, every function."""
    lines: list[str] = []
    for module, names in (
        (hsnn, [n for n in hsnn.__all__ if not n.endswith(("Error", "Interrupted"))]),
        (hsnn.conformance, list(hsnn.conformance.__all__)),
        (hsnn.sweep, [n for n in hsnn.sweep.__all__ if not n.isupper()]),
    ):
        for name in names:
            value = getattr(module, name)
            qualified = f"{module.__name__}.{name}"
            if inspect.isclass(value):
                title = _signature(qualified, value)
                lines += _entry(title, value, "###")
                for member, item in sorted(vars(value).items()):
                    if member.startswith("_"):
                        continue
                    target = getattr(item, "__func__", item)
                    if callable(target):
                        lines += _entry(_signature(f"{name}.{member}", target), target, "####")
                    elif isinstance(item, property) or type(item).__name__ == "getset_descriptor":
                        lines += _entry(f"{name}.{member}", item, "####")
            elif callable(value):
                lines += _entry(_signature(qualified, value), value, "###")
            else:
                lines += [f"### `{qualified}` = `{value!r}`", ""]
    errors = [n for n in hsnn.__all__ if n.endswith(("Error", "Interrupted"))]
    lines += ["### Exceptions", ""]
    lines += [f"- `hsnn.{n}`: {_doc(getattr(hsnn, n)).splitlines()[0]}" for n in errors]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """Rewrites the page, or with ``--check`` reports whether it is current."""
    return rewrite_between(PAGE, (START, END), render(), argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
