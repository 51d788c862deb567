"""The type stubs of the native module agree with the built module (the binding's contract).

``python/hsnn/_native.pyi`` is written by hand; ``mypy.stubtest`` imports the built
``hsnn._native`` and compares every class, function, argument name, kind and default with the
stub. A Rust signature changed without its stub (or the reverse) fails here. Stubtest does
not compare a ``Literal``'s words with what the module accepts, so the word aliases that follow
a descriptor or registry in Rust (activations, SPEC Q5; sites, SPEC N2) are compared here with
the words the module lists when it refuses one.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

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


def _literal_words(alias: str) -> list[str]:
    """The words of ``alias: TypeAlias = Literal[...]`` in the shipped stub, in their order."""
    stub = Path(hsnn.__file__).with_name("_native.pyi")
    for node in ast.parse(stub.read_text()).body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == alias
            and isinstance(node.value, ast.Subscript)
        ):
            words = node.value.slice
            elements = words.elts if isinstance(words, ast.Tuple) else [words]
            return [ast.literal_eval(element) for element in elements]
    raise AssertionError(f"the stub has no Literal alias {alias}")


def _accepted_words(call: Callable[[str], object]) -> list[str]:
    """The words the native module lists when ``call`` hands it a word it does not know."""
    with pytest.raises(ValueError, match="must be one of") as refusal:
        call("no_such_word")
    listed = re.search(r"must be one of (.*), got", str(refusal.value))
    assert listed is not None, str(refusal.value)
    return listed.group(1).split(", ")


@pytest.mark.parametrize(
    ("alias", "argument"),
    [("_Activation", "activation"), ("_Site", "site")],
)
def test_word_aliases_list_what_the_module_accepts(alias: str, argument: str) -> None:
    counts = np.zeros((1, 2, 3), dtype=np.int64)
    accepted = _accepted_words(lambda word: hsnn._native.bit_metrics(counts, **{argument: word}))
    assert _literal_words(alias) == accepted
