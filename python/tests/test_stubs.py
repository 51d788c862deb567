"""The type stubs of the native module agree with the built module (the binding's contract).

``python/hsnn/_native.pyi`` is written by hand; ``mypy.stubtest`` imports the built
``hsnn._native`` and compares every class, function, argument name, kind and default with the
stub. A Rust signature changed without its stub (or the reverse) fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hsnn


def test_native_stubs_match_the_built_module() -> None:
    stub = Path(hsnn.__file__).with_name("_native.pyi")
    assert stub.is_file(), f"the package ships no stub beside {hsnn.__file__}"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "hsnn._native"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
