"""The cost of calling hsnn from Python (issue: Python package): ``hsnn.Optimized().forward`` on
the paper network, batch 100, timed from Python against the same Rust call timed inside Rust,
interleaved in one run so that machine noise hits both alike.

Run (after ``bash scripts/test`` made target/python-venv), on an idle machine:

    target/python-venv/bin/python benches/python/forward_overhead.py [--repetitions 20]

It prints the median of each and the overhead as a ratio; the figure is in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import hsnn

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    """Times both, interleaved, and prints medians and their ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--trace", default="none", choices=["none", "counts", "full"])
    parser.add_argument("--placement", default="none", choices=["none", "hidden"])
    parser.add_argument("--threads", type=int, default=None)
    arguments = parser.parse_args()
    model = hsnn.Model.load(ROOT / "models/psmnist-paper/model-non_spiking.json.gz")
    model = model.with_quantizer(placement=arguments.placement, dt=1.0)
    images = hsnn.load_psmnist()["test"][0][:100]
    backend = hsnn.Optimized(threads=arguments.threads)
    backend.forward(
        model, images, trace=arguments.trace
    )  # warm up: pool, caches, pages
    from_python, inside_rust = [], []
    for repetition in range(arguments.repetitions):
        # ABBA order, so that a drift of the machine's speed favours neither.
        if repetition % 2:
            inside_rust += backend._time_forward(model, images, arguments.trace, 1)
        start = time.perf_counter()
        backend.forward(model, images, trace=arguments.trace)
        from_python.append(time.perf_counter() - start)
        if not repetition % 2:
            inside_rust += backend._time_forward(model, images, arguments.trace, 1)
    python_median = statistics.median(from_python)
    rust_median = statistics.median(inside_rust)
    print(
        f"paper network, batch 100, placement {arguments.placement}, trace {arguments.trace}, "
        f"{backend.threads} threads, {arguments.repetitions} calls each, interleaved"
    )
    print(f"from Python: median {python_median * 1e3:.2f} ms")
    print(f"inside Rust: median {rust_median * 1e3:.2f} ms")
    print(f"overhead: {100 * (python_median / rust_median - 1):+.2f} %")


if __name__ == "__main__":
    main()
