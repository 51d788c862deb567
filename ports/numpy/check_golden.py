"""Checks the numpy port against the golden vectors at SPEC C1 and its gradients by differences.

Run from anywhere::

    python ports/numpy/check_golden.py [path/to/hsnn-golden-v2.json]

Prints one line per case and exits with status 1 if any case fails. The checks:

- every quantizer, Legendre and network case of ``spec/vectors/hsnn-golden-v2.json`` at SPEC
  C1 (``Level::Exact``): integers identical, each real ``y`` within
  ``1e-12 * max(|x|, 1)`` of the expected ``x``; for the network cases also the trace's sites,
  fan-outs, ``hidden``, the bit metrics recomputed from the port's trace (SPEC B) equal to the
  file's exactly, and trace levels ``none`` and ``counts`` recording what N3 promises without
  changing the logits;
- the Legendre cases once more with ``scipy.linalg.expm`` (SPEC L2: any accurate expm meets C1);
- the scipy fixtures ``spec/vectors/independent/scipy_lmu.json`` (SPEC C4: Abar rows and Bbar to
  1e-9, spectral radius to 5e-8);
- the hand-derived examples of SPEC Q2, Q3, L1, N1 and B6;
- gradients (SPEC T1-T3): central differences on small random non-spiking networks (T3), and on
  the spiking network restated as a smooth function with derivative ``alpha f'`` at every
  quantized site (T2), relative error below 1e-6 (plus 1e-9 absolute).
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsnn_numpy_port import (
    NumpyPort,
    bit_metrics,
    continuous_matrices,
    initial_state_key,
    initial_state_value,
    splitmix64,
)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "spec" / "vectors" / "hsnn-golden-v2.json"
SCIPY_FIXTURES = REPO / "spec" / "vectors" / "independent" / "scipy_lmu.json"
EXACT_RELATIVE = 1e-12
GRADIENT_RELATIVE = 1e-6
GRADIENT_ABSOLUTE = 1e-9
FD_STEP = 1e-5
NON_SPIKING_PROBLEMS = 16
SPIKING_PROBLEMS = [
    ("hidden", 1.0, 1.5, "tanh"),
    ("hidden", 2.0, 0.7, "tanh"),
    ("hidden", 10.0, 1.0, "tanh"),
    ("memory_input", 1.0, 1.5, "tanh"),
    ("memory_input", 2.0, 0.7, "identity"),
    ("both", 1.0, 0.7, "tanh"),
    ("both", 2.0, 1.5, "tanh"),
    ("both", 3.0, 1.0, "identity"),
    ("memory_state", 2.0, 0.7, "tanh"),
    ("hidden+memory_input+memory_state", 1.0, 1.5, "tanh"),
]

Result = tuple[str, bool, str]


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------


def relative_error(actual: Any, expected: Any) -> float:
    """Largest ``|y - x| / max(|x|, 1)`` over the elements (SPEC C1's measure)."""
    y = np.asarray(actual, dtype=np.float64).ravel()
    x = np.asarray(expected, dtype=np.float64).ravel()
    if y.shape != x.shape:
        return math.inf
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(y - x) / np.maximum(np.abs(x), 1.0)))


def reals_exact(actual: Any, expected: Any) -> bool:
    """SPEC C1 for reals: every ``|y - x| <= 1e-12 max(|x|, 1)``."""
    return relative_error(actual, expected) <= EXACT_RELATIVE


def integers_identical(actual: Any, expected: Sequence[int]) -> bool:
    """SPEC C1 for integers: identical, same length."""
    return [int(v) for v in np.asarray(actual).ravel().tolist()] == [int(v) for v in expected]


def bits_identical(actual: Any, expected: Any) -> bool:
    """Byte equality of two real buffers (informative beyond C1)."""
    y = np.asarray(actual, dtype=np.float64).ravel()
    x = np.asarray(expected, dtype=np.float64).ravel()
    return y.shape == x.shape and bool(np.all(y.view(np.uint64) == x.view(np.uint64)))


def load_golden(path: Path = GOLDEN) -> dict[str, Any]:
    """Reads the golden file and checks its header (SPEC C4, E2: ("hsnn-vectors", 1 or 2);
    version 2 adds the memory-state cases)."""
    vectors = json.loads(path.read_text())
    header = (vectors.get("format"), vectors.get("format_version"))
    if header not in (("hsnn-vectors", 1), ("hsnn-vectors", 2)):
        raise SystemExit(f"{path}: found {header}, this checker reads ('hsnn-vectors', 1 or 2)")
    return vectors


# ---------------------------------------------------------------------------------------------
# Golden cases (SPEC C4 at C1)
# ---------------------------------------------------------------------------------------------


def check_quantizer_case(port: NumpyPort, case: Mapping[str, Any]) -> Result:
    """One ``QuantizerCase`` at C1 (SPEC Q1-Q5 through N5 ``quantize``)."""
    run = port.quantize(
        case["activation"], case["dt"], case["amplitude"], case["inputs"], case["initial_state"]
    )
    expected = case["expected"]
    problems = []
    if not integers_identical(run["counts"], expected["counts"]):
        problems.append("counts differ")
    errors = {}
    for key in ("outputs", "integrator", "final_state"):
        errors[key] = relative_error(run[key], expected[key])
        if errors[key] > EXACT_RELATIVE:
            problems.append(f"{key} off by {errors[key]:.3g}")
    bitwise = all(
        bits_identical(run[k], expected[k]) for k in ("outputs", "integrator", "final_state")
    )
    detail = (
        "; ".join(problems)
        if problems
        else (f"counts identical, reals {'bit-identical' if bitwise else 'within 1e-12'}")
    )
    return f"quantizer/{case['name']}", not problems, detail


def check_lmu_case(port: NumpyPort, case: Mapping[str, Any]) -> Result:
    """One ``LmuCase`` at C1 (SPEC L1-L3 through N5 ``lmu_matrices``)."""
    matrices = port.lmu_matrices(case)
    a_error = relative_error(matrices["a_bar"], case["a_bar"]["data"])
    b_error = relative_error(matrices["b_bar"], case["b_bar"]["data"])
    shapes = matrices["a_bar"].shape == (case["a_bar"]["rows"], case["a_bar"]["cols"]) and matrices[
        "b_bar"
    ].shape == (case["b_bar"]["rows"], case["b_bar"]["cols"])
    ok = shapes and max(a_error, b_error) <= EXACT_RELATIVE
    bitwise = bits_identical(matrices["a_bar"], case["a_bar"]["data"]) and bits_identical(
        matrices["b_bar"], case["b_bar"]["data"]
    )
    detail = (
        f"Abar {a_error:.2g}, Bbar {b_error:.2g} relative"
        + (", bit-identical" if bitwise else "")
        + ("" if shapes else ", wrong shapes")
    )
    return f"lmu/{case['name']} [{port.name()}]", ok, detail


def check_network_case(port: NumpyPort, case: Mapping[str, Any]) -> Result:
    """One ``NetworkCase`` at C1 (SPEC L4, N1-N5, B), and N3's trace levels."""
    out = port.forward(case["model"], case["inputs"], "full")
    trace, expected = out["trace"], case["trace"]
    problems = []
    logits = case["logits"]
    if out["logits"].shape != (logits["rows"], logits["cols"]):
        problems.append("logits shape")
    elif not reals_exact(out["logits"], logits["data"]):
        problems.append(f"logits off by {relative_error(out['logits'], logits['data']):.3g}")
    if trace["dt"] != expected["dt"]:
        problems.append("trace dt")
    if not reals_exact(trace["hidden"], expected["hidden"]):
        problems.append(f"hidden off by {relative_error(trace['hidden'], expected['hidden']):.3g}")
    if [s["site"] for s in trace["sites"]] != [s["site"] for s in expected["sites"]]:
        problems.append("sites differ")
    else:
        for mine, theirs in zip(trace["sites"], expected["sites"], strict=True):
            for key in ("activation", "batch", "steps", "neurons", "fan_out", "fan_out_last_step"):
                if mine[key] != theirs[key]:
                    problems.append(f"{mine['site']}.{key}")
            if not integers_identical(mine["counts"], theirs["counts"]):
                problems.append(f"{mine['site']} counts differ")
            if not reals_exact(mine["integrator"], theirs["integrator"]):
                error = relative_error(mine["integrator"], theirs["integrator"])
                problems.append(f"{mine['site']} integrator off by {error:.3g}")
    if bit_metrics(trace) != case["metrics"]:
        problems.append("bit metrics differ")
    # N3: the other levels record what they promise and change no result.
    for level in ("counts", "none"):
        other = port.forward(case["model"], case["inputs"], level)
        if not np.array_equal(other["logits"], out["logits"]):
            problems.append(f"logits at level {level} differ")
        t = other["trace"]
        if len(t["hidden"]) != 0 or t["dt"] != trace["dt"]:
            problems.append(f"level {level}: hidden or dt")
        if level == "none" and t["sites"]:
            problems.append("level none records sites")
        if level == "counts":
            if [s["site"] for s in t["sites"]] != [s["site"] for s in trace["sites"]]:
                problems.append("level counts: sites")
            for a, b in zip(t["sites"], trace["sites"], strict=True):
                if len(a["integrator"]) != 0 or not np.array_equal(a["counts"], b["counts"]):
                    problems.append("level counts: counts or integrator")
    worst = max(
        [
            relative_error(out["logits"], logits["data"]),
            relative_error(trace["hidden"], expected["hidden"]),
        ]
        + [
            relative_error(m["integrator"], t["integrator"])
            for m, t in zip(trace["sites"], expected["sites"], strict=True)
        ]
    )
    detail = (
        "; ".join(problems)
        if problems
        else (f"counts identical, metrics identical, reals within {worst:.2g}")
    )
    return f"network/{case['name']}", not problems, detail


def check_scipy_fixtures(port: NumpyPort, path: Path = SCIPY_FIXTURES) -> Iterator[Result]:
    """SPEC C4's independent fixtures: Abar rows and Bbar to 1e-9, spectral radius to 5e-8."""
    fixtures = json.loads(path.read_text())
    for case in fixtures["cases"]:
        config = {"order": case["order"], "theta": case["theta"], "discretizer": "zero_order_hold"}
        matrices = port.lmu_matrices(config)
        rows = matrices["a_bar"][case["rows"], :]
        a_error = float(np.max(np.abs(rows - np.asarray(case["a_bar_rows"]))))
        b_error = float(np.max(np.abs(matrices["b_bar"][:, 0] - np.asarray(case["b_bar"]))))
        radius = float(np.max(np.abs(np.linalg.eigvals(matrices["a_bar"]))))
        r_error = abs(radius - case["spectral_radius"])
        ok = a_error <= 1e-9 and b_error <= 1e-9 and r_error <= 5e-8 and radius < 1.0
        yield (
            f"scipy/order_{case['order']}_theta_{case['theta']:g} [{port.name()}]",
            ok,
            f"Abar rows {a_error:.2g}, Bbar {b_error:.2g} absolute, spectral radius {r_error:.2g}",
        )


# ---------------------------------------------------------------------------------------------
# Hand-derived examples of the specification
# ---------------------------------------------------------------------------------------------


def tiny_network_model(spiking: bool) -> dict[str, Any]:
    """SPEC N1's tiny example: every size 1, theta 1, identity hidden unit, ``v_0 = 0``."""

    def t(value: float) -> dict[str, Any]:
        return {"rows": 1, "cols": 1, "data": [value]}

    return {
        "format": "hsnn-model",
        "format_version": 1,
        "config": {
            "lmu": {
                "input_size": 1,
                "hidden_size": 1,
                "memory_size": 1,
                "order": 1,
                "theta": 1.0,
                "discretizer": "zero_order_hold",
                "hidden_activation": "identity",
                "connections": {
                    "input_to_hidden": True,
                    "hidden_to_memory": True,
                    "memory_to_memory": True,
                },
            },
            "output_size": 1,
            "quantizer": {
                "placement": "hidden" if spiking else "none",
                "dt": 1.0,
                "amplitude": 1.0,
                "initial_state": {"kind": "zero"},
            },
        },
        "weights": {
            "encoder_input": t(1.0),
            "encoder_hidden": t(0.5),
            "encoder_memory": t(0.25),
            "kernel_input": t(2.0),
            "kernel_hidden": t(0.5),
            "kernel_memory": t(0.0),
            "readout_kernel": t(3.0),
            "readout_bias": t(0.25),
        },
    }


def check_hand_examples(port: NumpyPort) -> Iterator[Result]:
    """The hand-derived values of SPEC Q2, Q3, L1, N1 and B6."""
    table = [
        ("identity", 1.0, 1.0, 0.0, [-0.25] * 5, [-1, 0, 0, 0, -1], [-1, 0, 0, 0, -1], 0.75),
        ("identity", 0.5, 2.0, 0.5, [1.5, 1, 0.5, 3], [1, 0, 1, 1], [4, 0, 4, 4], 0.5),
        ("relu", 4.0, 1.0, 0.25, [0.625, -3, 1.25], [2, 0, 5], [0.5, 0, 1.25], 0.75),
        ("tanh", 8.0, 1.0, 0.0, [0, -40], [0, -8], [0, -1], 0.0),
    ]
    for i, (f, dt, alpha, v0, xs, ns, outs, v_t) in enumerate(table):
        run = port.quantize(f, dt, alpha, np.array(xs, dtype=float)[:, None], [v0])
        ok = (
            run["counts"].ravel().tolist() == ns
            and run["outputs"].ravel().tolist() == [float(a) for a in outs]
            and float(run["final_state"][0]) == v_t
        )
        yield f"hand/q2_row_{i}_{f}", ok, f"counts {run['counts'].ravel().tolist()}"
    keys = [
        ((0, 0, 1, 0), 0x9E443F009112736D, 0.6182288528808131),
        ((11, 0, 1, 0), 0x8D3EB45E3B11D5AE, 0.5517380456977385),
        ((11, 1, 1, 0), 0x0BD5646EF29AA431, 0.0462248583668079),
        ((11, 0, 2, 1), 0x89C18D73C6F2304D, 0.5381096275004402),
    ]
    ok = splitmix64(0) == 0xE220A8397B1DCDAF and all(
        initial_state_key(*args) == key and initial_state_value(*args) == value
        for args, key, value in keys
    )
    yield "hand/q3_splitmix64_and_keys", ok, "splitmix64(0) and the four informative keys"
    a, b = continuous_matrices(3, 1.0)
    ok = a.tolist() == [[-1, -1, -1], [3, -3, -3], [-5, 5, -5]] and b.ravel().tolist() == [1, -3, 5]
    a2, b2 = continuous_matrices(3, 2.0)
    ok = ok and np.array_equal(a2, a / 2) and np.array_equal(b2, b / 2)
    yield "hand/l1_order_3", ok, "A and B for theta 1 and 2"
    out = port.forward(
        tiny_network_model(True),
        {"batch": 1, "steps": 2, "features": 1, "data": [0.7, 0.7], "sample_ids": [0]},
        "full",
    )
    counts = out["trace"]["sites"][0]["counts"].tolist()
    integ = out["trace"]["sites"][0]["integrator"].tolist()
    logit = float(out["logits"][0, 0])
    ok = counts == [1, 2] and abs(logit - 6.25) <= 1e-12 and abs(integ[0] - 1.4) <= 1e-12
    ok = ok and abs(integ[1] - 2.3) <= 1e-12
    yield "hand/n1_tiny_spiking_network", ok, f"counts {counts}, logit {logit!r}"
    trace = {
        "sites": [
            {
                "site": "hidden",
                "activation": "tanh",
                "batch": 1,
                "steps": 4,
                "neurons": 2,
                "fan_out": [10, 10],
                "fan_out_last_step": [3, 3],
                "counts": np.array([0, 1, -3, 4, 6, 5, 0, -1]),
                "integrator": np.zeros(0),
            }
        ]
    }
    site = bit_metrics(trace)["sites"][0]
    ok = (
        site["activity_bits"] == 3.0
        and site["activity_bits_signed"] == 4.0
        and site["max_abs_count"] == 6
        and site["nonzero_fraction"] == 0.75
        and site["mean_significant_bits"] == 10 / 6
        and site["mean_popcount"] == 9 / 6
        and site["events"]
        == {
            "neuron_updates": 8,
            "events": 6,
            "synaptic_events": 53,
            "synaptic_additions": 93,
        }
        and site["histogram"] == {"-3": 1, "-1": 1, "0": 2, "1": 1, "4": 1, "5": 1, "6": 1}
    )
    yield "hand/b1_to_b6_sequence", ok, "B6's hand-computed sequence"


# ---------------------------------------------------------------------------------------------
# Gradients (SPEC T1-T3)
# ---------------------------------------------------------------------------------------------


def random_problem(
    rng: np.random.Generator,
    placement: str = "none",
    activation: str | None = None,
    dt: float = 1.0,
    amplitude: float = 1.0,
    steps_range: tuple[int, int] = (1, 6),
    input_scale: float = 1.0,
) -> tuple[dict[str, Any], dict[str, Any], list[int]]:
    """A small random network, batch and labels in the sizes of T3's test.

    Input and memory sizes 1 to 2, hidden size and order 1 to 4, 2 or 3 outputs, 1 or 2
    sequences, random connection flags, discretizer and (unless given) activation; weights
    N(0, 0.5^2), inputs uniform in ``[-input_scale, input_scale]``.
    """
    n_in, n_m = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    n_h, d = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    n_out, size = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    steps = int(rng.integers(steps_range[0], steps_range[1] + 1))
    flags = {
        "input_to_hidden": bool(rng.integers(2)),
        "hidden_to_memory": bool(rng.integers(2)),
        "memory_to_memory": bool(rng.integers(2)),
    }
    config = {
        "lmu": {
            "input_size": n_in,
            "hidden_size": n_h,
            "memory_size": n_m,
            "order": d,
            "theta": float(rng.uniform(1.0, 8.0)),
            "discretizer": str(rng.choice(["zero_order_hold", "euler"])),
            "hidden_activation": activation or str(rng.choice(["tanh", "identity"])),
            "connections": flags,
        },
        "output_size": n_out,
        "quantizer": {
            "placement": placement,
            "dt": dt,
            "amplitude": amplitude,
            "initial_state": {"kind": "uniform", "seed": int(rng.integers(0, 2**62))},
        },
    }
    length = n_m * d
    shapes = {
        "encoder_input": (n_in, n_m),
        "encoder_hidden": (n_h, n_m) if flags["hidden_to_memory"] else None,
        "encoder_memory": (length, n_m) if flags["memory_to_memory"] else None,
        "kernel_input": (n_in, n_h) if flags["input_to_hidden"] else None,
        "kernel_hidden": (n_h, n_h),
        "kernel_memory": (length, n_h),
        "readout_kernel": (n_h, n_out),
        "readout_bias": (1, n_out),
    }
    weights = {
        name: None
        if shape is None
        else {
            "rows": shape[0],
            "cols": shape[1],
            "data": rng.normal(0.0, 0.5, size=shape[0] * shape[1]).tolist(),
        }
        for name, shape in shapes.items()
    }
    model = {"format": "hsnn-model", "format_version": 1, "config": config, "weights": weights}
    batch = {
        "batch": size,
        "steps": steps,
        "features": n_in,
        "data": rng.uniform(-input_scale, input_scale, size=size * steps * n_in).tolist(),
        "sample_ids": [int(i) for i in rng.integers(0, 2**40, size=size)],
    }
    labels = [int(v) for v in rng.integers(0, n_out, size=size)]
    return model, batch, labels


def _mean_cross_entropy(logits: np.ndarray, labels: Sequence[int]) -> float:
    total = 0.0
    for row, label in zip(logits, labels, strict=True):
        top = float(np.max(row))
        total += math.log(float(np.sum(np.exp(row - top)))) + top - float(row[label])
    return total / len(labels)


def compare_to_differences(
    analytic: Mapping[str, np.ndarray | None],
    model: Mapping[str, Any],
    loss_of: Callable[[dict[str, Any]], float],
    step: float = FD_STEP,
) -> tuple[bool, float, int]:
    """Central differences of ``loss_of`` for every weight of every tensor present.

    Returns whether every gradient satisfies ``|g - fd| <= 1e-6 max(|g|, |fd|) + 1e-9``, the
    worst relative error and the number of weights compared.
    """
    worst = 0.0
    compared = 0
    ok = True
    for name, grad in analytic.items():
        if grad is None:
            if model["weights"].get(name) is not None:
                return False, math.inf, compared
            continue
        flat = np.asarray(grad).ravel()
        for index in range(flat.size):
            plus = copy.deepcopy(model)
            minus = copy.deepcopy(model)
            plus["weights"][name]["data"][index] += step
            minus["weights"][name]["data"][index] -= step
            fd = (loss_of(plus) - loss_of(minus)) / (2.0 * step)
            g = float(flat[index])
            error = abs(g - fd)
            scale = max(abs(g), abs(fd))
            if error > GRADIENT_RELATIVE * scale + GRADIENT_ABSOLUTE:
                ok = False
            worst = max(worst, error / max(scale, 1e-3))
            compared += 1
    return ok, worst, compared


def check_gradients_non_spiking(port: NumpyPort, seed: int) -> Result:
    """SPEC T3: the plain network's gradient against central differences of T1's loss."""
    rng = np.random.default_rng(seed)
    model, batch, labels = random_problem(rng)
    out = port.gradients(model, batch, labels)
    loss_ok = abs(out["loss"] - _mean_cross_entropy(out["logits"], labels)) <= 1e-12 * max(
        1.0, abs(out["loss"])
    )

    def loss_of(m: dict[str, Any]) -> float:
        return _mean_cross_entropy(port.forward(m, batch, "none")["logits"], labels)

    ok, worst, compared = compare_to_differences(out["gradients"], model, loss_of)
    lmu = model["config"]["lmu"]
    desc = (
        f"{lmu['hidden_activation']} {lmu['discretizer']} flags "
        f"{''.join('1' if v else '0' for v in lmu['connections'].values())}, "
        f"{batch['batch']}x{batch['steps']} steps"
    )
    return (
        f"gradients/t3_non_spiking_seed_{seed}",
        ok and loss_ok,
        f"{compared} weights, worst {worst:.2g} ({desc})",
    )


def restated_logits(
    port: NumpyPort,
    model: Mapping[str, Any],
    batch: Mapping[str, Any],
    offsets: dict[str, np.ndarray] | None,
    spikes: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The spiking network restated as a smooth function (SPEC T2's test), written from L4.

    At a quantized site with input ``y_t`` the value fed forward is ``alpha f(y_t) + c_t``,
    ``c_t`` frozen. With ``spikes`` given (the spiking outputs ``a_t`` of the port's run) the
    pass feeds those and returns the offsets ``c_t = a_t - alpha f(y_t)``, so that the smooth
    function equals the spiking network at these weights and has derivative ``alpha f'``.
    One sequence at a time, plain loops over the memory dimensions.
    """
    config, w = model["config"], model["weights"]
    lmu, q = config["lmu"], config["quantizer"]
    alpha = q["amplitude"]
    n_m, d, n_h = lmu["memory_size"], lmu["order"], lmu["hidden_size"]
    f = lmu["hidden_activation"]
    mats = port.lmu_matrices(lmu)
    a_bar, b_bar = mats["a_bar"], mats["b_bar"][:, 0]

    def tensor(name: str) -> np.ndarray | None:
        value = w.get(name)
        if value is None:
            return None
        return np.asarray(value["data"], dtype=float).reshape(value["rows"], value["cols"])

    def rate(y: np.ndarray) -> np.ndarray:
        if f == "tanh":
            return np.tanh(y)
        if f == "relu":
            return np.maximum(y, 0.0)
        return y

    e_x, e_h, e_m = tensor("encoder_input"), tensor("encoder_hidden"), tensor("encoder_memory")
    w_x, w_h, w_m = tensor("kernel_input"), tensor("kernel_hidden"), tensor("kernel_memory")
    w_o, b_o = tensor("readout_kernel"), tensor("readout_bias")
    assert e_x is not None and w_h is not None and w_m is not None
    assert w_o is not None and b_o is not None
    placed = {"none": set(), "both": {"hidden", "memory_input"}}.get(
        q["placement"], set(q["placement"].split("+"))
    )
    spike_h = "hidden" in placed
    spike_u = "memory_input" in placed
    spike_s = "memory_state" in placed
    size, steps, feats = batch["batch"], batch["steps"], batch["features"]
    x_all = np.asarray(batch["data"], dtype=float).reshape(size, steps, feats)
    found = {
        "hidden": np.zeros((size, steps, n_h)),
        "memory_input": np.zeros((size, steps, n_m)),
        "memory_state": np.zeros((size, steps, n_m * d)),
    }
    logits = np.zeros((size, config["output_size"]))

    def fed(site: str, s: int, t: int, rate_value: np.ndarray) -> np.ndarray:
        """What a quantized site feeds forward at (s, t): the port's spikes, recording the
        offset ``c_t = a_t - alpha r_t``, or the smooth ``alpha r_t + c_t``."""
        if spikes is not None:
            found[site][s, t] = spikes[site][s, t] - alpha * rate_value
            return spikes[site][s, t]
        assert offsets is not None
        return alpha * rate_value + offsets[site][s, t]

    for s in range(size):
        h = np.zeros(n_h)
        mem = [np.zeros(d) for _ in range(n_m)]
        for t in range(steps):
            x = x_all[s, t]
            flat = np.concatenate(mem)
            u = (
                x @ e_x
                + (h @ e_h if e_h is not None else 0.0)
                + (flat @ e_m if e_m is not None else 0.0)
            )
            if spike_u:
                u = fed("memory_input", s, t, u)
            mem = [a_bar @ mem[j] + b_bar * u[j] for j in range(n_m)]
            flat = np.concatenate(mem)
            # What W_m reads: the memory state's spikes where it spikes (N2); mem stays dense.
            into_w_m = fed("memory_state", s, t, flat) if spike_s else flat
            z = h @ w_h + into_w_m @ w_m + (x @ w_x if w_x is not None else 0.0)
            h = fed("hidden", s, t, rate(z)) if spike_h else rate(z)
        logits[s] = h @ w_o + b_o[0]
    return logits, found


def check_gradients_spiking(
    port: NumpyPort,
    seed: int,
    placement: str,
    dt: float,
    amplitude: float,
    activation: str = "tanh",
) -> Result:
    """SPEC T2: the spiking gradient against differences of the restated smooth network."""
    rng = np.random.default_rng(seed)
    model, batch, labels = random_problem(rng, placement, activation, dt, amplitude, (3, 8), 2.0)
    out = port.gradients(model, batch, labels)
    run = port.forward(model, batch, "full")
    cfg = model["config"]["lmu"]
    size, steps = batch["batch"], batch["steps"]
    spikes = {}
    for site in run["trace"]["sites"]:
        n = site["neurons"]
        spikes[site["site"]] = (amplitude * site["counts"].astype(float) / dt).reshape(
            size, steps, n
        )
    spikes.setdefault("hidden", np.zeros((size, steps, cfg["hidden_size"])))
    spikes.setdefault("memory_input", np.zeros((size, steps, cfg["memory_size"])))
    spikes.setdefault("memory_state", np.zeros((size, steps, cfg["memory_size"] * cfg["order"])))
    base, offsets = restated_logits(port, model, batch, None, spikes)
    same = relative_error(base, run["logits"]) <= 1e-12
    smooth, _ = restated_logits(port, model, batch, offsets)
    same = same and relative_error(smooth, run["logits"]) <= 1e-12

    def loss_of(m: dict[str, Any]) -> float:
        return _mean_cross_entropy(restated_logits(port, m, batch, offsets)[0], labels)

    ok, worst, compared = compare_to_differences(out["gradients"], model, loss_of)
    events = sum(int(np.count_nonzero(s["counts"])) for s in run["trace"]["sites"])
    return (
        f"gradients/t2_{activation}_{placement}_dt_{dt:g}_alpha_{amplitude:g}_seed_{seed}",
        ok and same,
        f"{compared} weights, worst {worst:.2g}, {events} nonzero counts"
        + ("" if same else ", restated network differs from the spiking one"),
    )


def gradient_checks(port: NumpyPort) -> Iterator[Result]:
    """A few random problems of each kind (SPEC T2, T3)."""
    for seed in range(NON_SPIKING_PROBLEMS):
        yield check_gradients_non_spiking(port, seed)
    for offset, (placement, dt, amplitude, activation) in enumerate(SPIKING_PROBLEMS):
        yield check_gradients_spiking(port, 100 + offset, placement, dt, amplitude, activation)


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------


def golden_checks(vectors: Mapping[str, Any], port: NumpyPort) -> Iterator[Result]:
    """Every golden case of SPEC C4 at C1."""
    for case in vectors["quantizer"]:
        yield check_quantizer_case(port, case)
    for case in vectors["lmu"]:
        yield check_lmu_case(port, case)
    for case in vectors["network"]:
        yield check_network_case(port, case)


def all_checks(golden_path: Path = GOLDEN) -> Iterator[Result]:
    """Every check this script runs, in order."""
    vectors = load_golden(golden_path)
    port = NumpyPort()
    scipy_port = NumpyPort(expm="scipy")
    yield from golden_checks(vectors, port)
    for case in vectors["lmu"]:
        yield check_lmu_case(scipy_port, case)
    if SCIPY_FIXTURES.exists():
        yield from check_scipy_fixtures(port)
    yield from check_hand_examples(port)
    yield from gradient_checks(port)


def main(argv: Sequence[str]) -> int:
    """Runs :func:`all_checks`, prints one line per case, returns 1 on any failure."""
    path = Path(argv[1]) if len(argv) > 1 else GOLDEN
    failures = 0
    total = 0
    for name, ok, detail in all_checks(path):
        total += 1
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    print(f"{total - failures} of {total} checks pass" + (f", {failures} FAIL" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
