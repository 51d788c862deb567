"""An independent numpy port of the hsnn specification (spec/SPEC.md).

Written from spec/SPEC.md alone. The class :class:`NumpyPort` mirrors the Rust ``Backend``
trait (``name``, ``lmu_matrices``, ``quantize``, ``forward``) and the ``Trainer`` trait
(``gradients_with_loss``, ``gradients``) method for method, on plain Python and numpy data:

- models, configurations and batches are the JSON objects of SPEC C4 (``Model``,
  ``LmuConfig``, ``SequenceBatch``; ``Tensor2`` as ``{rows, cols, data}``), as read by
  :func:`json.load`;
- results are dictionaries of numpy arrays (float64, counts int64) and plain values.

Everything is computed in IEEE-754 binary64. The quantizer follows SPEC Q2's order of
operations literally; every matrix product is summed in increasing index order without BLAS
or fused multiply-add, so results do not depend on the batch size or the machine's BLAS, and
tanh comes from the platform's libm (``math.tanh``), as Q2 asks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "HsnnError",
    "NumpyPort",
    "bit_metrics",
    "continuous_matrices",
    "expm_taylor",
    "initial_state_key",
    "initial_state_value",
    "jsonable",
    "keras2_probability",
    "softmax_cross_entropy",
    "splitmix64",
]

MASK64 = (1 << 64) - 1
TWO_POW_52 = 2.0**52
TWO_POW_MINUS_53 = 2.0**-53
MAX_ORDER = 4096
MAX_PARAMETERS = 1 << 28
ACTIVATIONS = ("identity", "relu", "tanh")
SIGNED_ACTIVATIONS = ("identity", "tanh")
SITES = ("hidden", "memory_input", "memory_state")
DISCRETIZERS = ("zero_order_hold", "euler")
TRACE_LEVELS = ("none", "counts", "full")
LOSSES = ("softmax_cross_entropy", "keras2_probability")
SITE_CODES = {"hidden": 1, "memory_input": 2, "memory_state": 3}
WEIGHT_NAMES = (
    "encoder_input",
    "encoder_hidden",
    "encoder_memory",
    "kernel_input",
    "kernel_hidden",
    "kernel_memory",
    "readout_kernel",
    "readout_bias",
)


class HsnnError(ValueError):
    """A typed error of SPEC E1.

    Parameters
    ----------
    kind : str
        One of ``invalid_config``, ``shape_mismatch``, ``non_finite``, ``format_version``,
        ``parse``, ``io``, ``unsupported``, ``numerical`` (SPEC E1).
    message : str
        Names the field or tensor; the wording is not normative.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


# ---------------------------------------------------------------------------------------------
# Q3: SplitMix64 and the initial state
# ---------------------------------------------------------------------------------------------


def splitmix64(z: int) -> int:
    """SplitMix64's output function on a u64, wrapping mod 2^64 (SPEC Q3).

    Parameters
    ----------
    z : int
        The input, taken mod 2^64.

    Returns
    -------
    int
        The mixed value in [0, 2^64). ``splitmix64(0) == 0xE220A8397B1DCDAF``.
    """
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def initial_state_key(seed: int, sample_id: int, site_code: int, neuron: int) -> int:
    """The counter-based key of SPEC Q3, keyed by (seed, sample id, site, neuron).

    Parameters
    ----------
    seed, sample_id : int
        u64 values.
    site_code : int
        1 for the hidden units, 2 for the memory input (SPEC Q3, N2).
    neuron : int
        0-based index within the site, below 2^32.

    Returns
    -------
    int
        ``splitmix64(splitmix64(splitmix64(seed) ^ sample_id) ^ ((site_code << 32) | neuron))``.
    """
    if not 0 <= neuron < (1 << 32):
        raise HsnnError("invalid_config", f"neuron index {neuron} must be below 2^32 (Q3)")
    inner = splitmix64(splitmix64(seed & MASK64) ^ (sample_id & MASK64))
    return splitmix64(inner ^ (((site_code << 32) | neuron) & MASK64))


def initial_state_value(seed: int, sample_id: int, site_code: int, neuron: int) -> float:
    """The uniform initial state ``v_0 = (key >> 11) * 2^-53`` of SPEC Q3, in [0, 1).

    Parameters
    ----------
    seed, sample_id, site_code, neuron : int
        As :func:`initial_state_key`.

    Returns
    -------
    float
        The exact binary64 value of ``(key >> 11) * 2^-53``.
    """
    return float(initial_state_key(seed, sample_id, site_code, neuron) >> 11) * TWO_POW_MINUS_53


# ---------------------------------------------------------------------------------------------
# Q5: base activations
# ---------------------------------------------------------------------------------------------

_LIBM_TANH = np.frompyfunc(math.tanh, 1, 1)


def _tanh(x: np.ndarray) -> np.ndarray:
    """tanh from the platform's libm (Python's ``math.tanh``), elementwise (SPEC Q2 "Libm")."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    return np.asarray(_LIBM_TANH(x), dtype=np.float64).reshape(x.shape)


def _rate(activation: str, x: np.ndarray) -> np.ndarray:
    """The base activation ``f(x)`` of SPEC Q5's table."""
    if activation == "identity":
        return np.array(x, dtype=np.float64, copy=True)
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "tanh":
        return _tanh(x)
    raise HsnnError("invalid_config", f"unknown activation {activation!r}")


def _derivative(activation: str, x: np.ndarray) -> np.ndarray:
    """The derivative ``f'(x)`` of SPEC Q5's table (relu: ``f'(0) = 0``)."""
    if activation == "identity":
        return np.ones_like(x, dtype=np.float64)
    if activation == "relu":
        return (x > 0.0).astype(np.float64)
    if activation == "tanh":
        t = _tanh(x)
        return 1.0 - t * t
    raise HsnnError("invalid_config", f"unknown activation {activation!r}")


# ---------------------------------------------------------------------------------------------
# Q1, Q2, Q4: one quantizer step
# ---------------------------------------------------------------------------------------------


def _quantizer_step(
    v: np.ndarray, r: np.ndarray, dt: float, amplitude: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step of the quantized activation, elementwise, in Q2's order.

    Parameters
    ----------
    v : np.ndarray
        States ``v_{t-1}``, each in [0, 1).
    r : np.ndarray
        Rates ``r_t = f(x_t)`` (SPEC Q5), same shape.
    dt, amplitude : float
        The time step and ``alpha`` (SPEC Q1).

    Returns
    -------
    counts : np.ndarray
        int64 counts ``n_t`` after the carry rule.
    v_next : np.ndarray
        ``v_t`` in [0, 1).
    w : np.ndarray
        The integrator ``w_t`` before floor and carry (SPEC N3).
    a : np.ndarray
        Outputs ``a_t = (alpha * n_t) / dt`` (SPEC Q4).

    Raises
    ------
    HsnnError
        Kind ``numerical`` when some ``w`` is NaN, infinite, or ``|w| >= 2^52`` (SPEC Q2).
    """
    p = dt * r  # one rounded product
    w = v + p  # one rounded sum; numpy never fuses this with the product
    bad = ~np.isfinite(w) | (np.abs(w) >= TWO_POW_52)
    if np.any(bad):
        value = w[bad].ravel()[0]
        raise HsnnError(
            "numerical",
            f"quantizer integrator {value!r} is not finite or has |w| >= 2^52 (Q2)",
        )
    floor = np.floor(w)  # exact
    v_next = w - floor  # one rounded subtraction
    counts = floor.astype(np.int64)
    carry = v_next == 1.0  # carry rule
    if np.any(carry):
        counts = counts + carry.astype(np.int64)
        v_next = np.where(carry, 0.0, v_next)
    a = (amplitude * counts.astype(np.float64)) / dt  # Q4: product first, then quotient
    return counts, v_next, w, a


# ---------------------------------------------------------------------------------------------
# L1-L3: Legendre matrices
# ---------------------------------------------------------------------------------------------


def continuous_matrices(order: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """The continuous Legendre system ``A`` (d x d) and ``B`` (d x 1) of SPEC L1.

    ``A[i][j] = (2i+1)/theta * (-1 if i < j else (-1)^(i-j+1))`` and
    ``B[i] = (2i+1)/theta * (-1)^i``; the quotient is rounded once and the sign is exact.

    Parameters
    ----------
    order : int
        d >= 1.
    theta : float
        The window in time steps, finite and > 0.

    Returns
    -------
    tuple of np.ndarray
        ``(A, B)``.
    """
    a = np.empty((order, order), dtype=np.float64)
    b = np.empty((order, 1), dtype=np.float64)
    for i in range(order):
        scale = (2 * i + 1) / theta
        for j in range(order):
            if i < j:
                a[i, j] = -scale
            else:
                a[i, j] = scale if (i - j + 1) % 2 == 0 else -scale
        b[i, 0] = scale if i % 2 == 0 else -scale
    return a, b


def _matmul_in_index_order(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``p @ q`` with every entry summed in increasing index order, no fused multiply-add.

    ``p`` may carry leading batch axes (``[..., n]`` times ``[n, m]``). Each product and each
    partial sum is rounded separately (numpy elementwise operations): the plain loop of SPEC
    L2's "Algorithm". Used for every product of the port, so that results do not depend on the
    BLAS library, on FMA kernels or on the batch size (SPEC Q3: results MUST NOT depend on how
    the sequences were batched).
    """
    out = np.zeros((*p.shape[:-1], q.shape[1]), dtype=np.float64)
    for k in range(p.shape[-1]):
        out = out + p[..., k : k + 1] * q[k]
    return out


_mm = _matmul_in_index_order


def _sum_in_order(values: np.ndarray) -> float:
    """A sum in increasing index order, each partial sum rounded (no pairwise summation)."""
    total = 0.0
    for value in np.asarray(values, dtype=np.float64).ravel().tolist():
        total += value
    return total


def expm_taylor(m: np.ndarray) -> np.ndarray:
    """The matrix exponential by the reference's algorithm spelled out in SPEC L2.

    ``s`` is the smallest ``s >= 0`` with ``||M||_1 / 2^s <= 1/2`` (largest column sum of
    ``|M|``); ``X = M / 2^s``; ``E = sum_{k=0..18} X^k / k!``, each term the previous one times
    ``X`` (on the right), divided by ``k``; then ``s`` squarings of ``E``. Every matrix product is
    summed in increasing index order.

    Parameters
    ----------
    m : np.ndarray
        A square matrix.

    Returns
    -------
    np.ndarray
        ``expm(m)``.
    """
    m = np.asarray(m, dtype=np.float64)
    n = m.shape[0]
    norm = 0.0
    for j in range(n):
        column = 0.0
        for i in range(n):
            column += abs(float(m[i, j]))
        norm = max(norm, column)
    s = 0
    while norm / 2.0**s > 0.5:
        s += 1
    x = m / 2.0**s
    term = np.eye(n, dtype=np.float64)
    e = term.copy()
    for k in range(1, 19):
        term = _matmul_in_index_order(term, x) / float(k)
        e = e + term
    for _ in range(s):
        e = _matmul_in_index_order(e, e)
    return e


def _expm_scipy(m: np.ndarray) -> np.ndarray:
    """scipy's Pade-based ``expm`` (SPEC L2: the algorithm is not normative)."""
    from scipy.linalg import expm

    return np.asarray(expm(m), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# Parsing and validation of C4's JSON shapes (E1)
# ---------------------------------------------------------------------------------------------


def _tensor(value: Any, name: str) -> np.ndarray:
    """A ``Tensor2`` ``{rows, cols, data}`` (SPEC N5) or a 2-d array, as a float64 matrix."""
    if isinstance(value, np.ndarray):
        if value.ndim != 2:
            raise HsnnError("shape_mismatch", f"{name}: expected a 2-d array, found {value.ndim}-d")
        array = np.array(value, dtype=np.float64, copy=True)
    elif isinstance(value, Mapping):
        rows, cols = int(value["rows"]), int(value["cols"])
        data = value["data"]
        if len(data) != rows * cols:
            raise HsnnError(
                "shape_mismatch",
                f"{name}: expected {rows * cols} values ({rows} x {cols}), "
                f"found {len(data)} values",
            )
        array = np.array(data, dtype=np.float64).reshape(rows, cols)
    else:
        raise HsnnError("parse", f"{name}: expected a Tensor2 {{rows, cols, data}}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        index = int(bad[0])
        raise HsnnError(
            "non_finite", f"{name}: value {array.ravel()[index]!r} at index {index} is not finite"
        )
    return array


def _positive_finite(field: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise HsnnError("invalid_config", f"{field}: expected a number, got {value!r}") from error
    if not (math.isfinite(number) and number > 0.0):
        raise HsnnError(
            "invalid_config", f"{field}: must be a finite number greater than 0, got {number}"
        )
    return number


def _at_least_one(field: str, value: Any) -> int:
    number = int(value)
    if number < 1:
        raise HsnnError("invalid_config", f"{field}: must be at least 1, got {number}")
    return number


def _placement_sites(field: str, value: Any) -> frozenset[str]:
    """The sites a placement word names (SPEC N2): ``none``, ``both`` (hidden and memory input),
    or site words joined by ``+`` in any order, each at most once."""
    if value == "none":
        return frozenset()
    if value == "both":
        return frozenset(("hidden", "memory_input"))
    parts = str(value).split("+")
    if any(part not in SITES for part in parts) or len(set(parts)) != len(parts):
        raise HsnnError(
            "invalid_config",
            f"{field}: must be none, both, or site words joined by '+' (sites: "
            f"{', '.join(SITES)}), got {value!r}",
        )
    return frozenset(parts)


def _choice(field: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise HsnnError("invalid_config", f"{field}: must be one of {list(choices)}, got {value!r}")
    return str(value)


def _parse_lmu_config(config: Mapping[str, Any], prefix: str = "lmu") -> dict[str, Any]:
    """Validates an ``LmuConfig`` (SPEC L4, E1); order and theta only when sizes are absent."""
    order = int(config["order"])
    if order < 1:
        raise HsnnError("invalid_config", f"{prefix}.order: must be at least 1, got {order}")
    if order > MAX_ORDER:
        raise HsnnError(
            "invalid_config", f"{prefix}.order: must be at most {MAX_ORDER}, got {order}"
        )
    theta = _positive_finite(f"{prefix}.theta", config["theta"])
    out: dict[str, Any] = {
        "order": order,
        "theta": theta,
        "discretizer": _choice(
            f"{prefix}.discretizer", config.get("discretizer", "zero_order_hold"), DISCRETIZERS
        ),
    }
    if "input_size" in config:
        for key in ("input_size", "hidden_size", "memory_size"):
            out[key] = _at_least_one(f"{prefix}.{key}", config[key])
        out["hidden_activation"] = _choice(
            f"{prefix}.hidden_activation", config["hidden_activation"], ACTIVATIONS
        )
        connections = config["connections"]
        out["connections"] = {
            key: bool(connections[key])
            for key in ("input_to_hidden", "hidden_to_memory", "memory_to_memory")
        }
    return out


def _parse_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Validates a ``NetworkConfig`` (SPEC C4, N2, E1)."""
    lmu = _parse_lmu_config(config["lmu"], "lmu")
    output_size = _at_least_one("output_size", config["output_size"])
    q = config["quantizer"]
    placement = q.get("placement", "none")
    _placement_sites("quantizer.placement", placement)
    dt = _positive_finite("quantizer.dt", q["dt"])
    amplitude = _positive_finite("quantizer.amplitude", q.get("amplitude", 1.0))
    state = q.get("initial_state") or {"kind": "uniform", "seed": 0}
    kind = _choice(
        "quantizer.initial_state.kind", state.get("kind"), ("zero", "constant", "uniform")
    )
    initial: dict[str, Any] = {"kind": kind}
    if kind == "constant":
        value = float(state["value"])
        if not 0.0 <= value < 1.0:
            raise HsnnError(
                "invalid_config", f"quantizer.initial_state.value: must lie in [0, 1), got {value}"
            )
        initial["value"] = value
    elif kind == "uniform":
        seed = int(state.get("seed", 0))
        if not 0 <= seed <= MASK64:
            raise HsnnError("invalid_config", f"quantizer.initial_state.seed: not a u64: {seed}")
        initial["seed"] = seed
    parsed = {
        "lmu": lmu,
        "output_size": output_size,
        "quantizer": {
            "placement": placement,
            "dt": dt,
            "amplitude": amplitude,
            "initial_state": initial,
        },
    }
    total = sum(rows * cols for _, rows, cols in _weight_shapes(parsed))
    if total > MAX_PARAMETERS or lmu["order"] * lmu["order"] > MAX_PARAMETERS:
        raise HsnnError("invalid_config", f"lmu: sizes imply {total} values, more than 2^28")
    return parsed


def _weight_shapes(config: Mapping[str, Any]) -> list[tuple[str, int, int]]:
    """The tensors present under ``config`` with their shapes (SPEC N4)."""
    lmu = config["lmu"]
    n_in, n_h, n_m = lmu["input_size"], lmu["hidden_size"], lmu["memory_size"]
    length = n_m * lmu["order"]
    flags = lmu["connections"]
    shapes = [("encoder_input", n_in, n_m)]
    if flags["hidden_to_memory"]:
        shapes.append(("encoder_hidden", n_h, n_m))
    if flags["memory_to_memory"]:
        shapes.append(("encoder_memory", length, n_m))
    if flags["input_to_hidden"]:
        shapes.append(("kernel_input", n_in, n_h))
    shapes += [
        ("kernel_hidden", n_h, n_h),
        ("kernel_memory", length, n_h),
        ("readout_kernel", n_h, config["output_size"]),
        ("readout_bias", 1, config["output_size"]),
    ]
    return shapes


_FLAG_OF = {
    "encoder_hidden": "hidden_to_memory",
    "encoder_memory": "memory_to_memory",
    "kernel_input": "input_to_hidden",
}


def _parse_weights(
    weights: Mapping[str, Any], config: Mapping[str, Any]
) -> dict[str, np.ndarray | None]:
    """Validates the ``Weights`` against the configuration (SPEC N4, E1)."""
    unknown = sorted(set(weights) - set(WEIGHT_NAMES))
    if unknown:
        raise HsnnError("parse", f"weights: unknown tensor {unknown[0]!r}")
    expected = {name: (rows, cols) for name, rows, cols in _weight_shapes(config)}
    parsed: dict[str, np.ndarray | None] = {}
    for name in WEIGHT_NAMES:
        value = weights.get(name)
        if name not in expected:
            if value is not None:
                raise HsnnError(
                    "invalid_config",
                    f"weights.{name}: present, but the configuration disables {_FLAG_OF[name]}",
                )
            parsed[name] = None
            continue
        rows, cols = expected[name]
        if value is None:
            flag = _FLAG_OF.get(name, "")
            raise HsnnError(
                "shape_mismatch", f"weights.{name}: no tensor, but {flag or 'it'} is required"
            )
        array = _tensor(value, f"weights.{name}")
        if array.shape != (rows, cols):
            raise HsnnError(
                "shape_mismatch",
                f"weights.{name}: expected {rows} x {cols}, "
                f"found {array.shape[0]} x {array.shape[1]}",
            )
        parsed[name] = array
    return parsed


def _parse_model(model: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray | None]]:
    """Reads a ``Model`` of SPEC C4/E2: header first, then configuration, then weights."""
    if "format" in model or "format_version" in model:
        fmt = model.get("format", "<missing>")
        version = model.get("format_version", 0)
        if fmt != "hsnn-model" or version not in (1, 2):
            raise HsnnError(
                "format_version",
                f"model: found ({fmt!r}, {version!r}); this port reads ('hsnn-model', 1 or 2)",
            )
    config = _parse_config(model["config"])
    weights = _parse_weights(model["weights"], config)
    return config, weights


def _parse_batch(batch: Mapping[str, Any], input_size: int) -> tuple[np.ndarray, list[int]]:
    """Validates a ``SequenceBatch`` (SPEC N5, E1); returns data ``[batch, steps, features]``."""
    size = int(batch["batch"])
    steps = int(batch["steps"])
    features = int(batch["features"])
    if size < 1:
        raise HsnnError("invalid_config", f"input batch: batch must be at least 1, got {size}")
    if steps < 1:
        raise HsnnError("invalid_config", f"input batch: steps must be at least 1, got {steps}")
    if features != input_size:
        raise HsnnError(
            "shape_mismatch", f"input batch: features {features} != lmu.input_size {input_size}"
        )
    data = np.asarray(batch["data"], dtype=np.float64).ravel()
    if data.size != size * steps * features:
        raise HsnnError(
            "shape_mismatch",
            f"input batch: expected {size * steps * features} values "
            f"({size} x {steps} x {features}), found {data.size} values",
        )
    bad = np.flatnonzero(~np.isfinite(data))
    if bad.size:
        raise HsnnError("non_finite", f"input batch: value at index {int(bad[0])} is not finite")
    ids = batch.get("sample_ids")
    sample_ids = list(range(size)) if ids is None else [int(i) for i in ids]
    if len(sample_ids) != size:
        raise HsnnError(
            "shape_mismatch", f"input batch: {len(sample_ids)} sample_ids for {size} sequences"
        )
    return data.reshape(size, steps, features), sample_ids


def _initial_states(
    initial: Mapping[str, Any], sample_ids: Sequence[int], site: str, neurons: int
) -> np.ndarray:
    """``v_0`` of every sequence and neuron of one site, ``[batch, neurons]`` (SPEC Q3)."""
    if initial["kind"] == "zero":
        return np.zeros((len(sample_ids), neurons))
    if initial["kind"] == "constant":
        return np.full((len(sample_ids), neurons), float(initial["value"]))
    code = SITE_CODES[site]
    return np.array(
        [
            [initial_state_value(initial["seed"], sid, code, k) for k in range(neurons)]
            for sid in sample_ids
        ],
        dtype=np.float64,
    ).reshape(len(sample_ids), neurons)


def _fan_outs(config: Mapping[str, Any], site: str) -> tuple[list[int], list[int]]:
    """Structural fan-outs of SPEC B6: every step but the last, and the last step."""
    lmu = config["lmu"]
    if site == "hidden":
        every = lmu["hidden_size"] + (
            lmu["memory_size"] if lmu["connections"]["hidden_to_memory"] else 0
        )
        return [every] * lmu["hidden_size"], [config["output_size"]] * lmu["hidden_size"]
    if site == "memory_state":
        # A memory-state event reaches its row of W_m, at the last step too.
        length = lmu["memory_size"] * lmu["order"]
        return [lmu["hidden_size"]] * length, [lmu["hidden_size"]] * length
    return [lmu["order"]] * lmu["memory_size"], [lmu["order"]] * lmu["memory_size"]


# ---------------------------------------------------------------------------------------------
# T1, T1b: losses
# ---------------------------------------------------------------------------------------------


def softmax_cross_entropy(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy of one sequence and its gradient (SPEC T1).

    ``L = log(sum_k exp(l_k - max l)) + max l - l_y``; ``dL/dl = softmax(l) - onehot(y)``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    top = float(np.max(logits))
    exps = np.exp(logits - top)
    total = _sum_in_order(exps)
    loss = math.log(total) + top - float(logits[label])
    grad = exps / total
    grad[label] -= 1.0
    return loss, grad


def keras2_probability(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    """Keras 2.2's categorical cross-entropy after a softmax, in binary32 (SPEC T1b).

    Every operation is rounded to binary32, every sum in index order. Returns the loss and
    ``dL/dl`` converted to binary64 (the batch mean is taken in binary64 by the caller).
    """
    f32 = np.float32
    lg = [f32(v) for v in np.asarray(logits, dtype=np.float64)]
    k_count = len(lg)
    top = lg[0]
    for value in lg[1:]:
        top = max(top, value)
    # exp and log in binary64, then rounded: numpy's own float32 exp and log (SIMD) may be
    # an ulp off the correctly rounded result that libm's expf and logf give.
    e = [f32(np.exp(np.float64(f32(value - top)))) for value in lg]
    e_sum = f32(0.0)
    for value in e:
        e_sum = f32(e_sum + value)
    s = [f32(value / e_sum) for value in e]
    big_s = f32(0.0)
    for value in s:
        big_s = f32(big_s + value)
    q = f32(s[label] / big_s)
    eps = f32(1e-7)
    one_minus_eps = f32(f32(1.0) - eps)
    c = min(max(q, eps), one_minus_eps)
    loss = f32(-f32(np.log(np.float64(c))))
    g_q = f32(-f32(1.0) / c) if eps <= q <= one_minus_eps else f32(0.0)
    g_big_s = f32(g_q * f32(f32(f32(-s[label]) / big_s) / big_s))
    g_s = [f32(f32(g_q / big_s) + g_big_s) if k == label else g_big_s for k in range(k_count)]
    dot = f32(0.0)
    for k in range(k_count):
        dot = f32(dot + f32(g_s[k] * s[k]))
    grad = np.array([float(f32(f32(g_s[k] - dot) * s[k])) for k in range(k_count)])
    return float(loss), grad


_LOSS_FUNCTIONS: dict[str, Callable[[np.ndarray, int], tuple[float, np.ndarray]]] = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "keras2_probability": keras2_probability,
}


# ---------------------------------------------------------------------------------------------
# B: bit metrics
# ---------------------------------------------------------------------------------------------


def _bitlen(m: int) -> int:
    return int(m).bit_length()


def _trailing_zeros(m: int) -> int:
    return (m & -m).bit_length() - 1 if m else 0


def bit_metrics(traces: dict[str, Any] | Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The bit metrics of SPEC B1-B6 from one or several traces (``BitMetrics`` of C4).

    Parameters
    ----------
    traces : dict or sequence of dict
        Traces as :meth:`NumpyPort.forward` returns them (level ``counts`` or ``full``); several
        traces accumulate as one concatenated batch (SPEC B5).

    Returns
    -------
    dict
        ``{"sites": [SiteMetrics, ...]}``, sites in the order of the first trace.
    """
    if isinstance(traces, Mapping):
        traces = [traces]
    order: list[str] = []
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for trace in traces:
        for site in trace["sites"]:
            if site["site"] not in groups:
                order.append(site["site"])
                groups[site["site"]] = []
            groups[site["site"]].append(site)
    sites = []
    for name in order:
        records = groups[name]
        first = records[0]
        neurons = int(first["neurons"])
        max_abs = [0] * neurons
        histogram: dict[int, int] = {}
        updates = events = syn_events = syn_additions = sig_total = pop_total = 0
        for record in records:
            b, t, k = int(record["batch"]), int(record["steps"]), int(record["neurons"])
            counts = np.asarray(record["counts"], dtype=np.int64).ravel()
            if k != neurons or counts.size != b * t * k:
                raise HsnnError(
                    "shape_mismatch",
                    f"trace of {name}: expected {b * t * k} values, found {counts.size} values",
                )
            fan, fan_last = list(record["fan_out"]), list(record["fan_out_last_step"])
            if len(fan) != k or len(fan_last) != k:
                raise HsnnError("shape_mismatch", f"trace of {name}: one fan-out per neuron")
            updates += b * t * k
            for index, value in enumerate(counts.tolist()):
                histogram[value] = histogram.get(value, 0) + 1
                if value == 0:
                    continue
                neuron = index % k
                step = (index // k) % t
                magnitude = abs(value)
                max_abs[neuron] = max(max_abs[neuron], magnitude)
                sig = _bitlen(magnitude) - _trailing_zeros(magnitude)
                fan_out = fan_last[neuron] if step == t - 1 else fan[neuron]
                events += 1
                sig_total += sig
                pop_total += magnitude.bit_count()
                syn_events += fan_out
                syn_additions += fan_out * sig
        bits = sum(_bitlen(m) for m in max_abs)
        activity = bits / neurons if neurons else 0.0
        signed = first["activation"] in SIGNED_ACTIVATIONS
        sites.append(
            {
                "site": name,
                "neurons": neurons,
                "activity_bits": float(activity),
                "activity_bits_signed": float(activity + (1.0 if signed else 0.0)),
                "max_abs_count": max(max_abs) if max_abs else 0,
                "mean_significant_bits": float(sig_total) / float(events) if events else 0.0,
                "mean_popcount": float(pop_total) / float(events) if events else 0.0,
                "nonzero_fraction": float(events) / float(updates) if updates else 0.0,
                "histogram": {str(key): histogram[key] for key in sorted(histogram)},
                "events": {
                    "neuron_updates": updates,
                    "events": events,
                    "synaptic_events": syn_events,
                    "synaptic_additions": syn_additions,
                },
            }
        )
    return {"sites": sites}


def jsonable(value: Any, tensors: bool = True) -> Any:
    """Converts a result of :class:`NumpyPort` to plain JSON values (SPEC C4's encoding).

    Parameters
    ----------
    value : Any
        A result, or any nesting of dicts, lists and numpy values.
    tensors : bool
        With ``True``, 2-d arrays become ``Tensor2`` objects ``{rows, cols, data}`` (N5, the
        ``logits`` of a ``NetworkCase``); with ``False`` every array becomes a flat row-major list
        (a ``QuantizerRun`` of C4). Other arrays are flat lists either way; int64 counts stay
        integers.
    """
    if isinstance(value, np.ndarray):
        if tensors and value.ndim == 2:
            rows, cols = value.shape
            return {"rows": rows, "cols": cols, "data": value.ravel().tolist()}
        return value.ravel().tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: jsonable(item, tensors) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, tensors) for item in value]
    return value


# ---------------------------------------------------------------------------------------------
# The port
# ---------------------------------------------------------------------------------------------


class NumpyPort:
    """The hsnn backend and trainer of SPEC N5 and T, in numpy float64.

    Parameters
    ----------
    expm : {"taylor", "scipy"}
        Matrix exponential of the zero-order hold (SPEC L2): ``"taylor"`` is the reference's
        spelled-out algorithm (the default, the reference's bits); ``"scipy"`` is
        ``scipy.linalg.expm`` (L2: the algorithm is not normative).
    """

    def __init__(self, expm: str = "taylor") -> None:
        if expm not in ("taylor", "scipy"):
            raise ValueError(f"expm must be 'taylor' or 'scipy', got {expm!r}")
        self._expm = expm
        self._matrices_cache: dict[tuple[int, float, str], dict[str, np.ndarray]] = {}

    # -- Backend ----------------------------------------------------------------------------

    def name(self) -> str:
        """A short name of this implementation (SPEC C5, ``Backend::name``)."""
        return "numpy-port" if self._expm == "taylor" else "numpy-port-scipy-expm"

    def lmu_matrices(self, config: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The Legendre matrices of one memory (SPEC L1-L3, N5 ``lmu_matrices``).

        Parameters
        ----------
        config : dict
            An ``LmuConfig`` (C4); only ``order``, ``theta`` and ``discretizer`` are read
            (a golden ``LmuCase`` serves too).

        Returns
        -------
        dict
            ``a`` (d x d), ``b`` (d x 1), ``a_bar`` (d x d), ``b_bar`` (d x 1), float64.

        Raises
        ------
        HsnnError
            ``invalid_config`` for an order outside 1..4096 or a bad theta (E1); ``numerical``
            for non-finite discretized matrices.
        """
        lmu = _parse_lmu_config(config)
        key = (lmu["order"], lmu["theta"], lmu["discretizer"])
        if key not in self._matrices_cache:
            d = lmu["order"]
            a, b = continuous_matrices(d, lmu["theta"])
            if lmu["discretizer"] == "euler":
                a_bar = a + np.eye(d)  # L3: I + A (only the diagonal is rounded)
                b_bar = b.copy()
            else:
                augmented = np.zeros((d + 1, d + 1))
                augmented[:d, :d] = a
                augmented[:d, d] = b[:, 0]
                e = expm_taylor(augmented) if self._expm == "taylor" else _expm_scipy(augmented)
                a_bar = np.array(e[:d, :d])
                b_bar = np.array(e[:d, d : d + 1])
            if not (np.all(np.isfinite(a_bar)) and np.all(np.isfinite(b_bar))):
                raise HsnnError("numerical", "lmu: discretized matrices are not finite")
            self._matrices_cache[key] = {"a": a, "b": b, "a_bar": a_bar, "b_bar": b_bar}
        return {name: value.copy() for name, value in self._matrices_cache[key].items()}

    def quantize(
        self,
        activation: str,
        dt: float,
        amplitude: float,
        inputs: np.ndarray | Mapping[str, Any],
        initial_state: Sequence[float] | np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The quantized activation alone over a sequence (SPEC Q1-Q5, N5 ``quantize``).

        Each step is Q2's order: ``p = dt * r``, ``w = v + p``, range check, ``n = floor(w)``,
        ``v' = w - n``, carry rule, ``a = (alpha * n) / dt``.

        Parameters
        ----------
        activation : {"identity", "relu", "tanh"}
            The base activation ``f`` (Q5).
        dt, amplitude : float
            Finite and > 0 (Q1).
        inputs : np.ndarray or Tensor2 dict
            ``[steps, neurons]``.
        initial_state : sequence of float
            ``v_0``, one per neuron, each in [0, 1).

        Returns
        -------
        dict
            ``counts`` (int64), ``outputs`` (``a_t``), ``integrator`` (``w_t``), ``rates``
            (``f(x_t)``), each ``[steps, neurons]``, and ``final_state`` (``v_T``, ``[neurons]``).

        Raises
        ------
        HsnnError
            For a bad dt, amplitude, activation, initial state or non-finite input (E1), and
            kind ``numerical`` when ``|w| >= 2^52`` or ``w`` is not finite (Q2).
        """
        _choice("activation", activation, ACTIVATIONS)
        dt = _positive_finite("quantizer.dt", dt)
        amplitude = _positive_finite("quantizer.amplitude", amplitude)
        x = _tensor(
            inputs if isinstance(inputs, Mapping) else np.asarray(inputs, dtype=np.float64),
            "quantizer inputs",
        )
        steps, neurons = x.shape
        v = np.asarray(initial_state, dtype=np.float64).ravel()
        if v.size != neurons:
            raise HsnnError(
                "shape_mismatch",
                f"quantizer initial state: expected {neurons} values (one per neuron), "
                f"found {v.size} values",
            )
        outside = np.flatnonzero(~((v >= 0.0) & (v < 1.0)))
        if outside.size:
            index = int(outside[0])
            raise HsnnError(
                "invalid_config",
                f"quantizer initial state [{index}]: must lie in [0, 1), got {v[index]}",
            )
        counts = np.zeros((steps, neurons), dtype=np.int64)
        outputs = np.zeros((steps, neurons))
        integrator = np.zeros((steps, neurons))
        rates = _rate(activation, x)
        v = v.copy()
        for t in range(steps):
            counts[t], v, integrator[t], outputs[t] = _quantizer_step(v, rates[t], dt, amplitude)
        return {
            "counts": counts,
            "outputs": outputs,
            "integrator": integrator,
            "rates": rates,
            "final_state": v,
        }

    def forward(
        self,
        model: Mapping[str, Any],
        batch: Mapping[str, Any],
        trace: str = "counts",
    ) -> dict[str, Any]:
        """The hybrid network's forward pass over a batch (SPEC L4, N1-N5).

        Parameters
        ----------
        model : dict
            A ``Model`` (C4/E2).
        batch : dict
            A ``SequenceBatch`` (N5); ``sample_ids`` default to ``0..batch-1``.
        trace : {"none", "counts", "full"}
            The trace level of N3 (``ForwardOptions.trace``; default ``counts``).

        Returns
        -------
        dict
            ``logits``: ``[batch, output_size]``; ``trace``: ``{dt, sites, hidden}`` (N3) with
            ``sites`` hidden first, each a ``SiteTrace`` whose ``counts`` (int64) and
            ``integrator`` are flat in the batch-major layout of N3, and ``hidden`` flat
            ``batch * steps * hidden_size`` at level ``full``.
        """
        config, weights = _parse_model(model)
        _choice("trace", trace, TRACE_LEVELS)
        logits, record = self._run(config, weights, batch, trace, keep=False)
        return {"logits": logits, "trace": record["trace"]}

    # -- Trainer ----------------------------------------------------------------------------

    def gradients_with_loss(
        self,
        model: Mapping[str, Any],
        batch: Mapping[str, Any],
        labels: Sequence[int],
        loss: str = "softmax_cross_entropy",
    ) -> dict[str, Any]:
        """Mean loss over the batch and its gradients (SPEC T1, T1b, T2, T3).

        The forward pass spikes as configured; the backward pass uses
        ``d a_t / d x_t := alpha f'(x_t)`` at every quantized site (T2) and backpropagation
        through time (T3), with no gradient through the quantizer states.

        Parameters
        ----------
        model : dict
            A ``Model`` (C4/E2), at its current quantizer settings.
        batch : dict
            A ``SequenceBatch`` (N5).
        labels : sequence of int
            One class per sequence, each below ``output_size`` (T1, E1).
        loss : {"softmax_cross_entropy", "keras2_probability"}
            T1 or T1b.

        Returns
        -------
        dict
            ``loss`` (float, batch mean), ``gradients`` (name -> array shaped like the weight,
            ``None`` for an absent tensor), ``logits`` (``[batch, output_size]``).
        """
        config, weights = _parse_model(model)
        _choice("loss", loss, LOSSES)
        logits, record = self._run(config, weights, batch, "none", keep=True)
        size, outputs = logits.shape
        labels = [int(label) for label in labels]
        if len(labels) != size:
            raise HsnnError("invalid_config", f"labels: {len(labels)} labels for {size} sequences")
        for label in labels:
            if not 0 <= label < outputs:
                raise HsnnError(
                    "invalid_config", f"labels: label {label} is not below output_size {outputs}"
                )
        function = _LOSS_FUNCTIONS[loss]
        losses = np.zeros(size)
        dlogits = np.zeros((size, outputs))
        for b in range(size):
            losses[b], dlogits[b] = function(logits[b], labels[b])
        mean_loss = _sum_in_order(losses) / size
        dlogits = dlogits / size
        grads = self._backward(config, weights, record, dlogits)
        return {"loss": mean_loss, "gradients": grads, "logits": logits}

    def gradients(
        self,
        model: Mapping[str, Any],
        batch: Mapping[str, Any],
        labels: Sequence[int],
        loss: str = "softmax_cross_entropy",
    ) -> dict[str, Any]:
        """``Trainer::gradients``: :meth:`gradients_with_loss`, T1's loss by default."""
        return self.gradients_with_loss(model, batch, labels, loss)

    # -- internals --------------------------------------------------------------------------

    def _run(
        self,
        config: dict[str, Any],
        weights: dict[str, np.ndarray | None],
        batch: Mapping[str, Any],
        level: str,
        keep: bool,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """The recurrence of SPEC L4 and N1-N3 over a batch, all sequences at once.

        ``keep`` stores what the backward pass of T3 needs.
        """
        lmu = config["lmu"]
        q = config["quantizer"]
        x_all, sample_ids = _parse_batch(batch, lmu["input_size"])
        size, steps, _ = x_all.shape
        n_h, n_m, d = lmu["hidden_size"], lmu["memory_size"], lmu["order"]
        length = n_m * d
        activation = lmu["hidden_activation"]
        placement = q["placement"]
        dt, alpha = q["dt"], q["amplitude"]
        sites_placed = _placement_sites("quantizer.placement", placement)
        spike_hidden = "hidden" in sites_placed
        spike_memory = "memory_input" in sites_placed
        spike_state = "memory_state" in sites_placed
        matrices = self.lmu_matrices(lmu)
        a_bar, b_bar = matrices["a_bar"], matrices["b_bar"][:, 0]
        e_x, e_h, e_m = (
            weights["encoder_input"],
            weights["encoder_hidden"],
            weights["encoder_memory"],
        )
        w_x, w_h, w_m = weights["kernel_input"], weights["kernel_hidden"], weights["kernel_memory"]

        v_h = (
            _initial_states(q["initial_state"], sample_ids, "hidden", n_h) if spike_hidden else None
        )
        v_u = (
            _initial_states(q["initial_state"], sample_ids, "memory_input", n_m)
            if spike_memory
            else None
        )
        v_s = (
            _initial_states(q["initial_state"], sample_ids, "memory_state", length)
            if spike_state
            else None
        )
        record_counts = level in ("counts", "full")
        record_full = level == "full"
        counts_h = np.zeros((size, steps, n_h), dtype=np.int64) if spike_hidden else None
        counts_u = np.zeros((size, steps, n_m), dtype=np.int64) if spike_memory else None
        integ_h = np.zeros((size, steps, n_h)) if spike_hidden else None
        integ_u = np.zeros((size, steps, n_m)) if spike_memory else None
        counts_s = np.zeros((size, steps, length), dtype=np.int64) if spike_state else None
        integ_s = np.zeros((size, steps, length)) if spike_state else None
        hidden_trace = np.zeros((size, steps, n_h)) if record_full else None
        saved: dict[str, list[np.ndarray]] = {"x": [], "h_prev": [], "m_prev": [], "m": [], "z": []}

        h = np.zeros((size, n_h))
        m = np.zeros((size, n_m, d))  # memory-dimension-major: flat index j*d + i
        for t in range(steps):
            x = x_all[:, t, :]
            m_prev_flat = m.reshape(size, length)
            # L4: u_t = x_t e_x + h_{t-1} e_h + m_{t-1} e_m
            u = _mm(x, e_x)
            if e_h is not None:
                u = u + _mm(h, e_h)
            if e_m is not None:
                u = u + _mm(m_prev_flat, e_m)
            # N2: the memory-input quantizer runs first (base activation identity).
            if spike_memory:
                assert v_u is not None and counts_u is not None and integ_u is not None
                n_u, v_u, w_u, u = _quantizer_step(v_u, u, dt, alpha)
                counts_u[:, t] = n_u
                integ_u[:, t] = w_u
            # L4: m_t = m_{t-1} Abar^T + u~_t^T Bbar^T, per memory dimension
            m = _mm(m, a_bar.T) + u[:, :, None] * b_bar[None, None, :]
            m_flat = m.reshape(size, length)
            # N2: the memory-state quantizer (identity) on m_t as it feeds W_m only; the memory
            # itself, e_m and the next step keep the dense m_t.
            if spike_state:
                assert v_s is not None and counts_s is not None and integ_s is not None
                n_s, v_s, w_s, m_flat = _quantizer_step(v_s, m_flat, dt, alpha)
                counts_s[:, t] = n_s
                integ_s[:, t] = w_s
            # L4: z_t = x_t W_x + h_{t-1} W_h + m_t W_m (the updated m_t, as fed)
            z = _mm(h, w_h) + _mm(m_flat, w_m)
            if w_x is not None:
                z = _mm(x, w_x) + z
            if keep:
                saved["x"].append(x)
                saved["h_prev"].append(h)
                saved["m_prev"].append(m_prev_flat)
                saved["m"].append(m_flat)
                saved["z"].append(z)
            rate = _rate(activation, z)
            if spike_hidden:
                assert v_h is not None and counts_h is not None and integ_h is not None
                n_hid, v_h, w_hid, h = _quantizer_step(v_h, rate, dt, alpha)
                counts_h[:, t] = n_hid
                integ_h[:, t] = w_hid
            else:
                h = rate  # Q5 non-spiking mode: f(z), no alpha
            if hidden_trace is not None:
                hidden_trace[:, t] = h
        logits = _mm(h, weights["readout_kernel"]) + weights["readout_bias"]

        sites = []
        if record_counts:
            for site, spikes, counts, integ, neurons, act in (
                ("hidden", spike_hidden, counts_h, integ_h, n_h, activation),
                ("memory_input", spike_memory, counts_u, integ_u, n_m, "identity"),
                ("memory_state", spike_state, counts_s, integ_s, length, "identity"),
            ):
                if not spikes:
                    continue
                assert counts is not None and integ is not None
                fan, fan_last = _fan_outs(config, site)
                sites.append(
                    {
                        "site": site,
                        "activation": act,
                        "batch": size,
                        "steps": steps,
                        "neurons": neurons,
                        "fan_out": fan,
                        "fan_out_last_step": fan_last,
                        "counts": counts.ravel(),
                        "integrator": integ.ravel() if record_full else np.zeros(0),
                    }
                )
        record: dict[str, Any] = {
            "trace": {
                "dt": dt,
                "sites": sites,
                "hidden": hidden_trace.ravel() if hidden_trace is not None else np.zeros(0),
            }
        }
        if keep:
            record.update(saved)
            record["h_last"] = h
            record["a_bar"] = a_bar
            record["b_bar"] = b_bar
        return logits, record

    def _backward(
        self,
        config: dict[str, Any],
        weights: dict[str, np.ndarray | None],
        record: dict[str, Any],
        dlogits: np.ndarray,
    ) -> dict[str, np.ndarray | None]:
        """Backpropagation through time of SPEC T3 with T2's rule, all sequences at once.

        ``dlogits`` already carries the batch mean's ``1 / batch``, so the summed gradients are
        the gradients of the mean loss.
        """
        lmu = config["lmu"]
        q = config["quantizer"]
        n_m, d = lmu["memory_size"], lmu["order"]
        size = dlogits.shape[0]
        length = n_m * d
        activation = lmu["hidden_activation"]
        alpha = q["amplitude"]
        sites_placed = _placement_sites("quantizer.placement", q["placement"])
        hidden_gain = alpha if "hidden" in sites_placed else 1.0
        memory_gain = alpha if "memory_input" in sites_placed else 1.0
        state_gain = alpha if "memory_state" in sites_placed else 1.0
        a_bar, b_bar = record["a_bar"], record["b_bar"]
        e_h, e_m = weights["encoder_hidden"], weights["encoder_memory"]
        w_x, w_h, w_m = weights["kernel_input"], weights["kernel_hidden"], weights["kernel_memory"]
        w_o = weights["readout_kernel"]
        assert w_h is not None and w_m is not None and w_o is not None

        grads: dict[str, np.ndarray | None] = {
            name: (None if value is None else np.zeros_like(value))
            for name, value in weights.items()
        }
        g = grads  # alias for brevity
        g["readout_kernel"] = _mm(record["h_last"].T, dlogits)
        g["readout_bias"] = _mm(np.ones((1, size)), dlogits)
        dh = _mm(dlogits, w_o.T)
        dm = np.zeros((size, length))
        for t in range(len(record["z"]) - 1, -1, -1):
            x, h_prev = record["x"][t], record["h_prev"][t]
            m_prev, m_t, z = record["m_prev"][t], record["m"][t], record["z"][t]
            dz = dh * _derivative(activation, z)
            if hidden_gain != 1.0:
                dz = dz * hidden_gain
            if w_x is not None:
                g["kernel_input"] = g["kernel_input"] + _mm(x.T, dz)  # type: ignore[operator]
            g["kernel_hidden"] = g["kernel_hidden"] + _mm(h_prev.T, dz)  # type: ignore[operator]
            g["kernel_memory"] = g["kernel_memory"] + _mm(m_t.T, dz)  # type: ignore[operator]
            # m_t here is what fed W_m (the memory state's spikes where it spikes, T2)
            dm = dm + _mm(dz, w_m.T) * state_gain
            dm3 = dm.reshape(size, n_m, d)
            du = _mm(dm3, b_bar[:, None])[..., 0]  # per memory dimension j: sum_i dm[j][i] Bbar[i]
            if memory_gain != 1.0:
                du = du * memory_gain
            g["encoder_input"] = g["encoder_input"] + _mm(x.T, du)  # type: ignore[operator]
            if e_h is not None:
                g["encoder_hidden"] = g["encoder_hidden"] + _mm(h_prev.T, du)  # type: ignore[operator]
            if e_m is not None:
                g["encoder_memory"] = g["encoder_memory"] + _mm(m_prev.T, du)  # type: ignore[operator]
            dh = _mm(dz, w_h.T)
            if e_h is not None:
                dh = dh + _mm(du, e_h.T)
            dm = _mm(dm3, a_bar).reshape(size, length)
            if e_m is not None:
                dm = dm + _mm(du, e_m.T)
        return grads
