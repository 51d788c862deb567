"""Per-tensor norms of trained LMUs, side by side (docs/REPRODUCTION.md, "What the paper's
weights say about training").

Each argument is ``LABEL=PATH``: a model file (plain or gzipped), a Keras file (imported with
:func:`hsnn.import_keras`), or an hsnn checkpoint (its current weights, ``model``). Prints a
Markdown table of the Frobenius norm and the largest absolute entry of every weight (SPEC N4).

Usage::

    python python/tools/weight_norms.py paper=models/paper-lmu/psMNIST-standard.hdf5 \\
        shipped=models/psmnist-paper/model-non_spiking.json.gz \\
        before=runs/exact/epoch2/checkpoint-non_spiking.json
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import hsnn

NAMES = (
    "encoder_input",
    "encoder_hidden",
    "encoder_memory",
    "kernel_input",
    "kernel_hidden",
    "kernel_memory",
    "readout_kernel",
    "readout_bias",
)


def weights_of(path: Path) -> dict[str, np.ndarray]:
    """The weights of a model file, Keras file or checkpoint, by N4 name."""
    head = path.read_bytes()[:8]
    if head.startswith((b"\x89HDF", b"PK\x03\x04")):
        return _present(hsnn.import_keras(path).to_dict()["weights"])
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if raw[:2] == b"\x1f\x8b" else raw.decode()
    document: dict[str, Any] = json.loads(text)
    if document.get("format") == "hsnn-checkpoint":
        document = document["model"]
    tensors = document["weights"]
    return {
        name: np.asarray(tensor["data"], dtype=np.float64).reshape(tensor["rows"], tensor["cols"])
        for name, tensor in tensors.items()
        if tensor is not None
    }


def _present(weights: dict[str, Any]) -> dict[str, np.ndarray]:
    return {name: value for name, value in weights.items() if value is not None}


def main(arguments: list[str]) -> int:
    """Prints the table; returns the exit status."""
    if not arguments or any("=" not in argument for argument in arguments):
        print(__doc__, file=sys.stderr)
        return 2
    columns = [argument.split("=", 1) for argument in arguments]
    loaded = [(label, weights_of(Path(path))) for label, path in columns]
    header = " | ".join(f"{label}: norm / max" for label, _ in loaded)
    print(f"| tensor | {header} |")
    print("|---|" + "---:|" * len(loaded))
    for name in NAMES:
        cells = []
        for _, weights in loaded:
            tensor = weights.get(name)
            cells.append(
                "-"
                if tensor is None
                else f"{np.linalg.norm(tensor):.3f} / {np.abs(tensor).max():.3f}"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
