"""Shared fixtures: the repository's files and the independent numpy port (ports/numpy)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORT_FILE = ROOT / "ports" / "numpy" / "hsnn_numpy_port.py"
PAPER_MODEL = ROOT / "models" / "psmnist-paper" / "model-spiking.json.gz"

sys.path.insert(0, str(PORT_FILE.parent))


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's root."""
    return ROOT
