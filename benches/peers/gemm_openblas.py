"""GFLOP/s of numpy's OpenBLAS (2 threads) on the shapes of examples/gemm_throughput.rs, with the
batch of both cores in one product (OpenBLAS threads inside): the comparison for the
optimized backend's "75 % of OpenBLAS" target. Run with the peers virtualenv's python:
benches/peers/.venv/bin/python benches/peers/gemm_openblas.py"""
import time
import numpy as np

def best(f, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); f(); times.append(time.perf_counter() - start)
    return min(times)

rows = 784 * 100
m = np.random.rand(rows, 256).astype(np.float32)
d = np.random.rand(rows, 212).astype(np.float32)
s = best(lambda: m.T @ d)
print(f"weight gradient 256x78400 times 78400x212: {2 * rows * 256 * 212 / s / 1e9:.0f} GFLOP/s")
for k, n in [(256, 256), (256, 212), (212, 212)]:
    a = np.random.rand(100, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
    def chain():
        out = np.zeros((100, n), np.float32)
        for _ in range(784):
            out += a @ b
    s = best(chain)
    print(f"784 x (100x{k} times {k}x{n}), chained: {2 * 784 * 100 * k * n / s / 1e9:.0f} GFLOP/s")
