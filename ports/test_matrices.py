"""Every cell of docs/PORTS.md's matrices, asserted (SPEC C6): keras-spiking and keras-lmu run
through hsnn's conformance suite, so a change in either library or in hsnn's checks shows.

Needs the virtualenv of ``scripts/keras-env`` with hsnn installed; ``.ci/run`` runs it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("ports_matrices", HERE / "matrices.py")
assert spec is not None and spec.loader is not None
matrices = importlib.util.module_from_spec(spec)
spec.loader.exec_module(matrices)


@pytest.fixture(scope="module")
def generated() -> str:
    """The matrices as the libraries and hsnn's checks give them now."""
    text, _seconds = matrices.generate()
    return text


def committed_rows() -> dict[tuple[str, str], str]:
    """docs/PORTS.md's rows between the markers, keyed by (port section, check)."""
    document = matrices.DOC.read_text(encoding="utf-8")
    block = document.partition(matrices.BEGIN)[2].partition(matrices.END)[0]
    return rows(block)


def rows(block: str) -> dict[tuple[str, str], str]:
    """Each table row and counts line of ``block``, keyed by (section, first cells)."""
    keyed: dict[tuple[str, str], str] = {}
    section = ""
    for line in block.splitlines():
        if line.startswith("### "):
            section = line[4:]
        elif line.startswith("| ") and "`" in line:
            keyed[(section, line.split("|")[2].strip())] = line
        elif line.startswith("- "):
            keyed[(section, line.split(":")[0])] = line
    return keyed


@pytest.mark.parametrize("port", [name for name, _target, _levels in matrices.PORTS])
def test_c6_every_cell_of_the_ports_matrix_holds(generated: str, port: str) -> None:
    """Each row (check x level) and each count line of ``port`` equals docs/PORTS.md's."""
    now = {key: line for key, line in rows(generated).items() if key[0] == port}
    committed = {key: line for key, line in committed_rows().items() if key[0] == port}
    assert now, f"no rows generated for {port}"
    differing = [
        f"{key[1]}:\n  docs/PORTS.md: {committed.get(key)}\n  now:           {line}"
        for key, line in now.items()
        if committed.get(key) != line
    ]
    missing = [key[1] for key in committed if key not in now]
    assert not differing and not missing, "\n".join(differing + [f"gone: {m}" for m in missing])
