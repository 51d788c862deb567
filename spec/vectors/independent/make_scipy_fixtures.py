"""Independent check values for the Legendre memory (SPEC.md clauses L1-L3), from scipy.

Run: python make_scipy_fixtures.py > scipy_lmu.json
Needs numpy and scipy (any recent version; the file records which ones produced it).
"""
import json

import numpy as np
import scipy
from scipy.signal import cont2discrete


def legendre(order, theta):
    q = np.arange(order)
    scale = (2 * q + 1)[:, None] / theta
    j, i = np.meshgrid(q, q)
    a = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * scale
    b = (-1.0) ** q[:, None] * scale
    return a, b


cases = []
for order, theta in [(1, 1.0), (4, 10.0), (12, 30.5), (32, 784.0), (256, 784.0)]:
    a, b = legendre(order, theta)
    system = (a, b, np.eye(order), np.zeros((order, 1)))
    a_bar, b_bar, *_ = cont2discrete(system, dt=1.0, method="zoh")
    rows = sorted({0, min(1, order - 1), order // 2, order - 1})
    cases.append(
        {
            "order": order,
            "theta": theta,
            "rows": rows,
            "a_bar_rows": [a_bar[row].tolist() for row in rows],
            "b_bar": b_bar[:, 0].tolist(),
            "spectral_radius": float(max(abs(np.linalg.eigvals(a_bar)))),
        }
    )

print(
    json.dumps(
        {
            "producer": f"scipy {scipy.__version__}, numpy {np.__version__}: "
            "scipy.signal.cont2discrete(method='zoh'), numpy.linalg.eigvals",
            "cases": cases,
        },
        indent=1,
    )
)
