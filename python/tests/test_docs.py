"""The generated pages are current (docs/PYTHON.md's API reference is the package's docstrings
as they are now, docs/HARDWARE.md's paper frontier the kept points'), and every public name
documents the SPEC clauses it implements."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

import hsnn
from conftest import ROOT


@pytest.mark.parametrize(
    "generator",
    [
        "api_reference.py",  # docs/PYTHON.md's API reference
        "frontier_section.py",  # docs/HARDWARE.md's paper frontier, from the kept points
    ],
)
def test_generated_pages_are_current(generator: str) -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "python" / "tools" / generator), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def test_every_public_function_and_method_names_its_clauses() -> None:
    missing = []
    for name in hsnn.__all__:
        value = getattr(hsnn, name)
        members = [(name, value)]
        if inspect.isclass(value) and not issubclass(value, Exception):
            members += [
                (f"{name}.{member}", getattr(value, member))
                for member, item in vars(value).items()
                if not member.startswith("_") and callable(getattr(item, "__func__", item))
            ]
        for qualified, item in members:
            if not re.search(r"\bSPEC\b|\b[QLNBCEDTH]\d+\b", item.__doc__ or ""):
                missing.append(qualified)
    assert not missing, f"docstrings without a SPEC clause: {missing}"
