"""docs/PYTHON.md's API reference is the package's docstrings as they are now, and every public
name documents the SPEC clauses it implements."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import hsnn
from conftest import ROOT


def test_api_reference_is_current() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "python" / "tools" / "api_reference.py"), "--check"],
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


def test_paper_frontier_section_is_current() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "python" / "tools" / "frontier_section.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
